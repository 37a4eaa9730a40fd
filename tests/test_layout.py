"""The layout docs/architecture.md describes holds: bench/ is a house of rooms whose imports run one way, the dataset
builders and the peers' scripts use only the leaves they may, and every docs/ page cited exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pfcn", "pseg", "elb", "baselines", "bench")
# bench's top level: the leaves every room may use (and __init__, __main__)
BASE = ("errors", "defaults", "devices", "registry", "progress", "machine")
# the rooms, lowest first: a room imports from the base and from rooms at or below its own place, never above
ROOMS = ("data", "runs", "deploy", "eval", "train", "segment", "report", "robustness", "speed", "runall", "cli")
# what the dataset builders (pfcn, pseg) may import from bench, and what the peers' scripts may (their environment
# has numpy < 2 and no torch)
FOR_BUILDERS = ("bench.data.format", "bench.data.io", "bench.cli.help", "bench.progress", "bench.errors")
FOR_PEERS = ("bench.data.format", "bench.data.io", "bench.errors", "bench.machine", "bench.speed.timing",
             "bench.robustness.clip_files")
TORCH_FREE = ("bench/errors.py", "bench/defaults.py", "bench/devices.py", "bench/progress.py", "bench/machine.py",
              "bench/cli/help.py", "bench/data/format.py", "bench/data/io.py", "bench/data/preprocess.py",
              "bench/speed/timing.py", "bench/runs/folder.py", "bench/report/folder.py", "bench/eval/metrics.py",
              "bench/eval/records.py", "bench/eval/predictions.py", "bench/eval/bootstrap.py",
              "bench/data/photometric.py", "bench/data/augment.py", "bench/data/framing.py",
              "bench/robustness/perturb.py", "bench/robustness/clips.py",
              "bench/robustness/stability.py", "bench/robustness/clip_files.py",
              *(f"bench/{room}/__init__.py" for room in ROOMS))
# The files of a report folder (bench run-all --out), named only by the module that owns it.
REPORT_FOLDER = "bench/report/folder.py"
REPORT_FILES = ("results.csv", "run_info.json", "significance.md", "speed.csv", "peers.csv")


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Every module of the project (or anything, for ``top_level_only``) that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module in PACKAGES else [node.module]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found if top_level_only else {m for m in found if m.split(".")[0] in PACKAGES}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _bench_modules() -> dict[str, Path]:
    return {_module(p): p for p in (ROOT / "bench").rglob("*.py")}


def _room(module: str) -> str:
    """``base`` for bench's top-level modules, else the room (subpackage) the module is in."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else "base"


def _bench_graph() -> dict[str, set[str]]:
    modules = _bench_modules()
    graph = {}
    for name, path in modules.items():
        deps = set()
        for m in _imports(path):
            while m and m not in modules:  # bench.data.format.read_dataset -> bench.data.format
                m = m.rpartition(".")[0]
            if m and m != name and not m.endswith("__init__") and m != "bench":
                deps.add(m)
        graph[name] = deps
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def test_bench_is_a_few_rooms_and_a_small_top_level():
    top = sorted(p.stem for p in (ROOT / "bench").glob("*.py"))
    assert len(top) <= 8 and set(top) == {*BASE, "__init__", "__main__"}, top
    rooms = sorted(p.name for p in (ROOT / "bench").iterdir() if (p / "__init__.py").is_file())
    assert rooms == sorted(ROOMS)


def test_bench_imports_form_no_cycle():
    graph = _bench_graph()
    cycles = [m for m in graph if m in _reachable(graph, m)]
    assert not cycles, f"import cycles through {cycles}"


def test_imports_run_one_way_between_rooms():
    rank = {room: i for i, room in enumerate(ROOMS)}
    bad = []
    for module, deps in _bench_graph().items():
        room = _room(module)
        for dep in deps:
            target = _room(dep)
            if room == "base" and target != "base" and module != "bench.__main__":
                bad.append(f"{module} (base) imports {dep}")
            elif room != "base" and target != "base" and rank[target] > rank[room]:
                bad.append(f"{module} ({room}) imports {dep} ({target}, a room above)")
    assert not bad, bad


def test_the_dataset_builders_use_only_the_leaves_they_may():
    for package in ("pfcn", "pseg"):
        for path in (ROOT / package).glob("*.py"):
            bad = {m for m in _imports(path) if not m.startswith(package)
                   and m not in ("bench", "bench.__version__") and not m.startswith(FOR_BUILDERS)}
            assert not bad, (f"{package}/{path.name}", bad)


def test_peer_scripts_use_only_what_their_environment_can_import():
    for path in (ROOT / "peers").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        bad = {m for m in imported if m.split(".")[0] in (*PACKAGES, "torch")} - set(FOR_PEERS)
        assert not bad, (f"peers/{path.name}", bad)


def test_the_shared_leaves_import_no_torch():
    for rel in TORCH_FREE:
        top = _imports(ROOT / rel, top_level_only=True)
        assert not {m for m in top if m.split(".")[0] == "torch"}, f"{rel} imports torch"
        inside = {m for m in _imports(ROOT / rel) if m.startswith("bench.")}
        assert all(any(m.startswith(t.replace("/", ".").removesuffix(".py")) for t in TORCH_FREE) for m in inside), \
            (rel, inside)


def test_only_the_report_folders_module_names_its_files():
    """Like the run folder's (bench/runs/folder.py), a report folder's file names are spelled in one module, which
    every room reads and writes them through (prose, help texts and defaults of a command may quote them)."""
    bad = []
    for path in (ROOT / "bench").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel == REPORT_FOLDER:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # a path built: folder / "results.csv"
                names = [n.value for n in (node.left, node.right) if isinstance(n, ast.Constant)]
                bad += [f"{rel}:{node.lineno} {name}" for name in names if name in REPORT_FILES]
    assert not bad, bad


def test_cited_docs_exist():
    cited = set()
    for path in [*ROOT.glob("*/*.py"), *ROOT.glob("bench/*/*.py"), ROOT / "README.md"]:
        cited.update(re.findall(r"docs/[a-z_]+\.md", path.read_text(encoding="utf-8")))
    assert cited, "no docs/ page is cited"
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert not missing, missing
