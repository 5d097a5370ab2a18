"""The shape of the package, checked on every run: one package per domain in a fixed order of
layers, no import cycle, no upward import, the HTTP edge never imported by a service, AWS reached
only from stores, the environment read only by the settings module, and small modules."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "engine" / "recengine"

# A package may import its own modules and those of packages of a lower layer, never of its own
# layer or a higher one: the domains form a DAG that a newcomer can read top to bottom.
LAYERS: dict[str, int] = {
    "recengine": 0, "errors": 0, "engine": 0,
    "settings": 1, "observability": 1, "aws": 1,
    "concurrency": 2,
    "tenancy": 3,
    "http": 4, "analytics": 4,  # analytics: daily counters the meter and ingestion write beside their own
    "attribution": 5, "billing": 5,
    "catalogue": 6, "events": 6,
    "models": 7, "portal": 7,
    "ranking": 8,
    "batch": 9, "decisioning": 9,  # decisioning composes ranking (its rule language, later its candidates)
    "users": 10, "graphql": 10, "stored_recommendations": 10,  # graphql: an edge like http, over the REST routes' services
    "runtime": 11,
}
# The wire formats: request/response models and presenters. Services and stores never import them.
EDGE_MODULES = ("schemas", "responses", "presenters")
# The only modules that may talk to AWS (boto3 / botocore): the stores, and the shared AWS plumbing.
STORES = {
    "aws.clients", "aws.dynamo", "tenancy.store", "tenancy.keys", "catalogue.store", "events.store",
    "events.users", "events.claims", "attribution.store", "billing.store", "models.registry", "models.job_store",
    "models.markers", "models.artefacts", "aws.queue", "batch.store", "ranking.stored_lists",
    "attribution.secret", "batch.outputs", "billing.customers", "decisioning.store", "portal.accounts", "portal.end_users",
    "analytics.counters", "models.spark_runs", "models.export_store",
}
MAX_MODULE_LINES = 400
MAX_HANDLER_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(parts)


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    """Module name relative to recengine ("" for the package itself) -> file."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, name: str, is_package: bool) -> list[tuple[str, int]]:
    """(absolute module imported, line) for every import that runs, at any depth."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["recengine", *name.split(".")] if name else ["recengine"]
                base = base if is_package else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            for alias in node.names:  # `from . import rules` imports the module recengine.<pkg>.rules
                found.append((f"{target}.{alias.name}", node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@lru_cache(maxsize=None)
def graph() -> dict[str, list[tuple[str, int]]]:
    """Module -> the recengine modules it imports (names relative to recengine), with lines."""
    known = modules()
    out: dict[str, list[tuple[str, int]]] = {}
    for name, path in known.items():
        edges = []
        for target, line in _imports(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            if target == "recengine" or target.startswith("recengine."):
                relative = target.removeprefix("recengine").removeprefix(".")
                if relative in known and relative != name:
                    edges.append((relative, line))
        out[name] = edges
    return out


def external_imports(name: str) -> list[tuple[str, int]]:
    path = modules()[name]
    return [(t, line) for t, line in _imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
            if not t.startswith("recengine")]


def package_of(name: str) -> str:
    return name.split(".")[0] if name else "recengine"


def test_every_package_has_a_layer():
    assert {package_of(m) for m in modules()} <= set(LAYERS)


def test_there_is_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target, _ in graph()[node]:
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[node] = 2

    for module in graph():
        if module not in state:
            walk(module)
    assert cycles == []


def test_no_module_imports_upward_or_sideways():
    wrong = []
    for module, edges in graph().items():
        mine = package_of(module)
        for target, line in edges:
            theirs = package_of(target)
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                wrong.append(f"{module}:{line} imports {target} ({theirs} is not below {mine})")
    assert wrong == []


# Whole packages that are wire formats: no service or store may import them.
EDGE_PACKAGES = ("http", "graphql")


def _is_edge(name: str) -> bool:
    return package_of(name) in EDGE_PACKAGES or name.split(".")[-1] in EDGE_MODULES


def test_services_and_stores_never_import_the_http_edge():
    wrong = [f"{module}:{line} imports {target}" for module, edges in graph().items()
             if not _is_edge(module) and package_of(module) != "runtime"
             for target, line in edges if _is_edge(target)]
    assert wrong == []


def test_only_stores_talk_to_aws():
    talking = {m for m in modules() if any(t.split(".")[0] in ("boto3", "botocore") for t, _ in external_imports(m))}
    assert talking <= STORES, sorted(talking - STORES)


def test_the_engine_is_pure():
    forbidden = ("boto3", "botocore", "aws_lambda_powertools", "pydantic", "os")
    wrong = [f"{m}:{line} imports {t}" for m in modules() if package_of(m) == "engine"
             for t, line in external_imports(m) if t.split(".")[0] in forbidden]
    outside = [f"{m}:{line} imports {t}" for m, edges in graph().items() if package_of(m) == "engine"
               for t, line in edges if package_of(t) != "engine"]
    assert wrong == [] and outside == []


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and \
                any(a.name in ("environ", "getenv") for a in node.names):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment():
    readers = {m: lines for m, p in modules().items() if (lines := _reads_environment(ast.parse(p.read_text())))}
    assert set(readers) <= {"settings"}, readers


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"recengine.{name} has {lines} lines"


@pytest.mark.parametrize("handler", sorted((ROOT / "functions").glob("*/app.py")), ids=lambda p: p.parent.name)
def test_handlers_are_thin(handler):
    source = handler.read_text()
    assert len(source.splitlines()) <= MAX_HANDLER_LINES
    imports = _imports(ast.parse(source), "app", False)
    assert not any(t.split(".")[0] in ("boto3", "botocore") for t, _ in imports), "a handler talks to AWS"
    assert not _reads_environment(ast.parse(source)), "a handler reads the environment"


def test_the_checker_sees_imports():
    """The scan itself: relative, nested and `from . import x` imports all count."""
    assert ("models.serving", 15) in graph()["ranking.serve"] or any(
        t == "models.serving" for t, _ in graph()["ranking.serve"])
    assert any(t == "ranking.rules" for t, _ in graph()["ranking.schemas"])
    assert any(t == "tenancy.service" for t, _ in graph()["runtime"])  # imported inside a method
