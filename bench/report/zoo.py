"""The model zoo as a table (``bench zoo``, the README's zoo section) and as JSON rows, read from the manifests."""

from __future__ import annotations

from collections.abc import Iterable

from bench.deploy.zoo import ZooEntry

COLUMNS = ("name", "model", "dataset", "profile", "origin", "size", "miou", "miou_native", "boundary_f",
           "boundary_f_native", "megabytes", "sha256")


def zoo_rows(entries: Iterable[ZooEntry]) -> list[dict[str, object]]:
    """One plain row per entry: what `bench zoo --json` prints."""
    rows = []
    for e in entries:
        m, metrics = e.manifest, e.manifest.get("metrics", {})
        rows.append({"name": e.name, "model": e.model, "dataset": m["dataset"]["name"], "profile": m.get("profile"),
                     "origin": m.get("origin"), "size": e.size, "miou": metrics.get("miou"),
                     "miou_native": metrics.get("miou_native"), "boundary_f": metrics.get("boundary_f"),
                     "boundary_f_native": metrics.get("boundary_f_native"),
                     "scored_on": f"{metrics.get('dataset')} {metrics.get('split')} ({metrics.get('images')} images)",
                     "megabytes": round(m["bytes"] / 1e6, 2), "sha256": e.sha256, "file": str(e.path)})
    return rows


def zoo_table(entries: Iterable[ZooEntry], fps: dict[str, str] | None = None) -> str:
    """A markdown table of the entries; ``fps`` (name -> text) adds a best-back-end FPS column."""
    rows = zoo_rows(entries)
    if not rows:
        return "The zoo is empty (bench zoo add)."
    head = ["name", "model", "data", "profile", "input", "mIoU", "mIoU native", "boundary F", *(["FPS"] if fps else []),
            "MB", "sha256"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"], r["model"], r["dataset"], r["origin"] if r["profile"] == "published" else r["profile"],
                 f"{r['size']}x{r['size']}", _f(r["miou"]), _f(r["miou_native"]), _f(r["boundary_f"]),
                 *([fps.get(str(r["name"]), "")] if fps else []), f"{r['megabytes']:.2f}", str(r["sha256"])[:12]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _f(v: object) -> str:
    return "" if v is None else f"{float(v):.2f}"
