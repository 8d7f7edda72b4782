"""The package's imports point one way and never in a circle.

Every module of engine/ and detectors/ is parsed with `ast`, so imports under
``if TYPE_CHECKING:`` and inside functions count as much as those at the top: a circle
that only type checkers see is still a circle a reader has to untangle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"pique_engine": ROOT / "engine", "pique_engine.detectors": ROOT / "detectors"}
ADAPTERS = ("worker", "api", "cli", "dev", "webhooks", "storage", "store")


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `module` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            # `from . import hookspecs` names a module; `from .detector import Media` a name in one.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    graph = {m: imports_of(m, p, known) for m, p in files.items()}
    # A package's __init__ runs before any of its modules, but importing a module says nothing
    # about what its package's __init__ re-exports; only explicit imports of the package count.
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle: the groups of modules that reach each other (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(circles)


def layer(module: str) -> str:
    """'detectors', 'media', an adapter's folder name, or 'core' for the flat top of engine/."""
    parts = module.split(".")
    if module == "pique_engine.__main__":  # `python -m pique_engine` runs the CLI
        return "cli"
    if module.startswith("pique_engine.detectors"):
        return "detectors"
    if len(parts) > 2 or (len(parts) == 2 and module_files()[module].name == "__init__.py"):
        return parts[1]
    return "core"


def test_the_walk_sees_type_checking_and_function_level_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .judge import Judge\n"
        "def f():\n    from .media import probe\n    import pique_engine.errors\n"
    )
    known = {"pique_engine.judge", "pique_engine.media", "pique_engine.media.probe", "pique_engine.errors"}
    assert imports_of("pique_engine.m", source, known) == {"pique_engine.judge", "pique_engine.media.probe", "pique_engine.errors"}


def test_import_circles_finds_every_circle_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"a"}}
    assert import_circles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_covers_every_layer():
    graph = import_graph()
    assert {layer(m) for m in graph} >= {"core", "media", "detectors", *ADAPTERS}
    assert "pique_engine.judge" in graph["pique_engine.hookspecs"]  # a TYPE_CHECKING import


def test_no_import_circle_anywhere_in_the_package():
    assert import_circles(import_graph()) == []


def test_core_media_and_detectors_import_no_adapter():
    wrong = [
        f"{m} imports {t}"
        for m, targets in import_graph().items()
        if layer(m) in ("core", "media", "detectors")
        for t in targets
        if layer(t) in ADAPTERS
    ]
    assert wrong == []


def test_media_imports_nothing_of_the_pipeline_but_errors():
    wrong = [
        f"{m} imports {t}"
        for m, targets in import_graph().items()
        if layer(m) == "media"
        for t in targets
        if layer(t) not in ("media",) and t != "pique_engine.errors"
    ]
    assert wrong == []


def test_detectors_import_only_the_public_package():
    wrong = [
        f"{m} imports {t}"
        for m, targets in import_graph().items()
        if layer(m) == "detectors"
        for t in targets
        if t != "pique_engine"
    ]
    assert wrong == []


def test_evaluating_a_local_file_imports_no_cloud_database_or_http_library():
    code = (
        "import sys\n"
        "from pique_engine.evaluation import Evaluator, MediaSource\n"
        "from pique_engine.judge import load_judge_file\n"
        "from pique_engine.plugins import load_plugins\n"
        "plugins = load_plugins()\n"
        f"judge = load_judge_file({str(ROOT / 'fixtures/judges/any_media.json')!r}, plugins.detectors)\n"
        f"source = MediaSource.from_path({str(ROOT / 'fixtures/media/contract_576x1024_30fps.mp4')!r})\n"
        "result = Evaluator(plugins).evaluate(source, judge, job_id='job_x')\n"
        "assert result.completed, result.payload\n"
        "heavy = ('google', 'sqlalchemy', 'fastapi', 'httpx')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout
