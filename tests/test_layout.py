"""The architecture, enforced: what runs inside a web process, and which way imports point.

The import graph is read from the source with ``ast`` (every import, at module level or inside a
function), so a bad import fails here at once, not when some code path first runs it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import redis

import tracking_worker

PACKAGE = Path(tracking_worker.__file__).parent
#: Never inside a web process: the worker side and the tools around it.
NOT_WEB = (
    "tracking_worker.delivery",
    "tracking_worker.worker",
    "tracking_worker.devtools",
    "tracking_worker.cli",
    "tracking_worker.sandbox",
    "requests",
    "sentry_sdk",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _parsed(name: str) -> tuple[ast.Module, str]:
    """The module's syntax tree, and the package its relative imports start from."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return ast.parse(path.read_text(encoding="utf-8")), package


def _base(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*parent, node.module] if node.module else parent)


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every module ``name`` imports, absolute, anywhere in the file."""
    tree, package = _parsed(name)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base(node, package)
            names = {f"{base}.{alias.name}" for alias in node.names}
            # ``from pkg import module`` depends on the module; ``from m import name`` on m.
            found.update(names if names <= modules().keys() else {base, *names})
    return frozenset(m for m in found if m in modules() or not m.startswith("tracking_worker"))


def reachable(start: str) -> set[str]:
    """``start`` and everything it imports, transitively, within the package."""
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [m for m in imports_of(current) if m in modules()]
    return seen


def reaches(start: str, forbidden: tuple[str, ...]) -> list[str]:
    hits = []
    for mod in sorted(reachable(start)):
        bad = [i for i in imports_of(mod) if i.startswith(forbidden)]
        hits += [f"{mod} imports {i}" for i in sorted(bad)]
    return hits


@pytest.mark.parametrize(
    "start", sorted(m for m in modules() if m.startswith("tracking_worker.producer"))
)
def test_the_web_side_never_imports_worker_code(start: str) -> None:
    assert reaches(start, NOT_WEB) == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "tracking_worker.providers",
            (
                "tracking_worker.store",
                "tracking_worker.delivery",
                "tracking_worker.worker",
                "tracking_worker.producer",
                "redis",
                "celery",
                "requests",
            ),
        ),
        (
            "tracking_worker.store",
            (
                "tracking_worker.delivery",
                "tracking_worker.worker",
                "tracking_worker.producer",
                "tracking_worker.cli",
                "tracking_worker.devtools",
                "celery",
                "requests",
            ),
        ),
        (
            "tracking_worker.delivery",
            (
                "tracking_worker.worker",
                "tracking_worker.producer",
                "tracking_worker.cli",
                "tracking_worker.devtools",
                "celery",
            ),
        ),
        (
            "tracking_worker.worker",
            ("tracking_worker.producer", "tracking_worker.cli", "tracking_worker.devtools"),
        ),
        (
            "tracking_worker.sandbox",
            (
                "tracking_worker.store",
                "tracking_worker.delivery",
                "tracking_worker.worker",
                "tracking_worker.producer",
                "tracking_worker.devtools",
            ),
        ),
    ],
)
def test_imports_point_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{mod} imports {i}"
        for mod in sorted(modules())
        if mod == layer or mod.startswith(layer + ".")
        for i in sorted(imports_of(mod))
        if i.startswith(forbidden)
    ]
    assert bad == []


def test_no_import_circles_between_modules() -> None:
    """Module-level imports only (a lazy import inside a function cannot deadlock a load)."""
    graph = {m: {i for i in _top_level_imports(m) if i in modules() and i != m} for m in modules()}
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                assert not (nxt == start and not start.startswith(nxt + ".")), " -> ".join(
                    [*path, nxt]
                )
                if nxt not in seen and not start.startswith(nxt + "."):
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))


def _top_level_imports(name: str) -> set[str]:
    tree, package = _parsed(name)
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = _base(node, package)
            found.update({base, *(f"{base}.{a.name}" for a in node.names)})
    # A package's __init__ importing its own children is how packages work, not a circle.
    return {m for m in found if not (package == name and m.startswith(name + "."))}


def test_track_until_a_trigger_loads_no_worker_code(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """In a fresh interpreter, as a web process: configure, fill a batch so a deliver message
    is sent, then look at what got imported."""
    code = f"""
import json, sys, redis, tracking_worker
tracking_worker.configure(
    redis={{"url": {redis_url!r}}},
    producer={{"spool_dir": {str(tmp_path)!r}}},
    providers={{"graspil": {{"api_key": "key-1234", "targets": {{"purchase": 1}}}}}},
)
tracking_worker.track_many([{{"name": "purchase", "telegram_id": n}} for n in range(1, 101)])
sent = redis.Redis.from_url({redis_url!r}).llen("tracking.graspil")
print(json.dumps({{"sent": sent, "modules": sorted(sys.modules)}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKING_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["sent"] == 1, "the full batch sent one deliver message"
    loaded = [m for m in result["modules"] if m == "requests" or m.startswith(NOT_WEB)]
    assert loaded == []
