"""The code shows its architecture: no import cycle inside ``automl/`` (function-level imports and the
implicit import of parent packages included), small modules, one copy of the slot loop, and Optuna's
private API in one compatibility module only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    mods = {}
    for path in (ROOT / "automl").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """module -> the automl modules it imports anywhere in its body (a package's __init__ counts for
    every module below it: importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__``)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([node.module] if node.module else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".")[0] != "automl":
                    continue
                target = _resolve(name, mods)
                parts = (target or "").split(".")
                for i in range(1, len(parts) + 1):  # the target and the packages above it
                    dep = ".".join(parts[:i])
                    if dep in mods and dep != mod and not mod.startswith(dep + "."):
                        graph[mod].add(dep)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_scan_sees_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_automl() -> None:
    graph = import_graph()
    assert "automl.pipeline.runner" in graph and graph["automl.pipeline.runner"]  # the scan reads real imports
    assert cycles(graph) == []


def test_no_module_is_long() -> None:
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_one_copy_of_the_slot_loop() -> None:
    """The worker command is started in two places only: the local runner and the Airflow factory's slots
    (plus its Kubernetes pods' arguments); the benchmarks, the CLI and the demo use the runner."""
    users = set()
    for path in [
        *ROOT.glob("automl/**/*.py"),
        *ROOT.glob("plugins/**/*.py"),
        *ROOT.glob("benchmarks/*.py"),
        *ROOT.glob("scripts/*.py"),
    ]:
        if re.search(r"\bworker_command\(", path.read_text()):
            users.add(str(path.relative_to(ROOT)))
    assert users == {
        "automl/worker.py",
        "automl/pipeline/runner.py",
        "plugins/automl_airflow/factory.py",
        "plugins/automl_airflow/k8s_pods.py",
    }
