"""The layout docs/architecture.md describes holds: imports run one way, and every docs/ page cited exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pfcn", "pseg", "elb", "baselines", "bench")
# What pfcn and pseg may import from bench besides the dataset format: leaves that import nothing in bench, no torch.
SHARED_WITH_BUILDERS = ("cli_help", "progress")


def _imports(path: Path) -> set[str]:
    """Every module of the project that ``path`` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module in PACKAGES else [node.module]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _bench_graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in (ROOT / "bench").glob("*.py")}
    return {name: {m.split(".")[1] for m in _imports(path) if m.startswith("bench.") and m.split(".")[1] in modules}
            for name, path in modules.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def test_bench_imports_form_no_cycle():
    graph = _bench_graph()
    cycles = [m for m in graph if m in _reachable(graph, m)]
    assert not cycles, f"import cycles through {cycles}"


def test_evaluation_and_the_format_stay_below_training():
    graph = _bench_graph()
    assert "train" not in _reachable(graph, "evaluate") and "train" not in _reachable(graph, "checkpoint")
    for low in ("dataset", "machine", "paper", "registry", *SHARED_WITH_BUILDERS):
        assert not graph[low], f"bench.{low} imports {graph[low]}"


def test_dataset_builders_use_only_the_dataset_format():
    for package in ("pfcn", "pseg"):
        for path in (ROOT / package).glob("*.py"):
            allowed = ("bench.dataset", *(f"bench.{m}" for m in SHARED_WITH_BUILDERS))
            bad = {m for m in _imports(path) if not m.startswith(package)
                   and m not in ("bench", "bench.__version__") and not m.startswith(allowed)}
            assert not bad, (f"{package}/{path.name}", bad)


def test_peer_scripts_use_only_the_dataset_format_and_the_machine_facts():
    # they run in .venv-peers (numpy<2, no torch): anything more of the harness would not import there
    for path in (ROOT / "peers").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        bad = {m for m in imported if m.split(".")[0] in (*PACKAGES, "torch")} - {"bench.dataset", "bench.machine"}
        assert not bad, (f"peers/{path.name}", bad)


def test_what_the_builders_share_imports_no_torch():
    for name in SHARED_WITH_BUILDERS:
        tree = ast.parse((ROOT / "bench" / f"{name}.py").read_text(encoding="utf-8"))
        top = {a.name for node in tree.body if isinstance(node, ast.Import) for a in node.names}
        top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
        assert not {m for m in top if m.split(".")[0] == "torch"}, f"bench/{name}.py imports torch"


def test_cited_docs_exist():
    cited = set()
    for path in [*ROOT.glob("*/*.py"), ROOT / "README.md"]:
        cited.update(re.findall(r"docs/[a-z_]+\.md", path.read_text(encoding="utf-8")))
    assert cited, "no docs/ page is cited"
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert not missing, missing
