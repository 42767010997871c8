"""The shape of the code, checked: no import cycles, the stages follow the flow (nothing imports the CLI or
the board, no stage imports a later one), only the store writes its tables, and the CLI stays thin."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "breachkit"

# The flow, in order: a module may import its own layer and the ones before it, never a later one.
LAYERS = [
    ("base", ["breachkit", "breachkit.errors", "breachkit.config", "breachkit.workspace", "breachkit.times",
              "breachkit.locales", "breachkit.document", "breachkit.resources", "breachkit.safecsv",
              "breachkit.session"]),
    ("logs", ["breachkit.logs"]),
    ("sample", ["breachkit.sample"]),
    ("detect", ["breachkit.detect"]),
    ("incidents", ["breachkit.incidents"]),
    ("subjects", ["breachkit.subjects"]),
    ("notices", ["breachkit.notices"]),
    ("cron", ["breachkit.scan", "breachkit.remind", "breachkit.schemas"]),
    ("demo", ["breachkit.demo"]),
    ("web", ["breachkit.web"]),  # the board sits above every stage; only the CLI (serve) imports it
    ("cli", ["breachkit.cli", "breachkit.__main__"]),
]
# The session is where the use cases get their store: it opens it, or the store's direct SQLite reader, lazily
# (inside a method). That one upward reach is allowed, nothing else is.
ALLOWED_UPWARD = {("breachkit.session", "breachkit.incidents.store"),
                  ("breachkit.session", "breachkit.incidents.store.head"),
                  ("breachkit.session", "breachkit.incidents.store.sqlite_reader"),
                  ("breachkit.session", "breachkit.incidents.regimes")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """Every breachkit module `path` imports at run time (function-level imports too; TYPE_CHECKING ones not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(node: ast.AST) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                yield from (x for n in child.orelse for x in walk(n))
                continue
            if isinstance(child, ast.Import):
                yield from (a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    yield full if full in known else base
            yield from walk(child)

    for target in walk(tree):
        while target and target not in known and "." in target:
            target = target.rpartition(".")[0]
        if target in known and target.startswith("breachkit") and target != name:
            yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imports(path, name, known)) for name, path in found.items()}


def layer(name: str) -> int:
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{name} belongs to no layer: add it to LAYERS"
    return rank


def test_no_import_cycles():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert cycles == [], f"import cycles: {cycles}"


def test_the_stages_follow_the_flow():
    wrong = [(a, b) for a, targets in graph().items() for b in sorted(targets)
             if layer(b) > layer(a) and (a, b) not in ALLOWED_UPWARD]
    assert wrong == [], "against the flow (module → later stage):\n" + "\n".join(f"{a} → {b}" for a, b in wrong)


def test_only_the_cli_imports_the_board():
    """The board is an adapter over the use cases: nothing in the library depends on it."""
    wrong = sorted((a, b) for a, targets in graph().items() for b in targets
                   if b.startswith("breachkit.web") and not a.startswith(("breachkit.web", "breachkit.cli")))
    assert wrong == []


STORE_TABLES = ("incidents", "timeline", "tasks", "records", "detections", "audit", "outbox", "subject_builds",
                "approvals", "filed_documents", "outbox_messages",
                "reminders", "scan_state", "scan_seen", "users", "web_sessions")
_DML = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(" + "|".join(STORE_TABLES) + r")\b", re.I)


def test_only_the_store_writes_its_tables():
    """Every write to the incident store's tables goes through breachkit.incidents.store (whose repositories append
    the timeline entry and audit row): nothing else imports the table definitions or writes SQL against them."""
    offenders = []
    for name, path in modules().items():
        if name.startswith(("breachkit.incidents.store", "breachkit.incidents.tables")):
            continue
        text = path.read_text(encoding="utf-8")
        if "breachkit.incidents import tables" in text or "breachkit.incidents.tables" in text:
            offenders.append(f"{name} imports the store's tables")
        offenders += [f"{name}: {m.group(0)!r}" for m in _DML.finditer(text)]
    assert offenders == []


def _logic_lines(path: Path) -> int:
    """Lines of a module that are code: not blank, not comments, not docstrings, not decorators/option lists."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                skip.update(range(deco.lineno, (deco.end_lineno or deco.lineno) + 1))
        if isinstance(node, ast.ImportFrom | ast.Import):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    lines = path.read_text(encoding="utf-8").splitlines()
    return sum(1 for number, line in enumerate(lines, 1)
               if number not in skip and line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("path", sorted((ROOT / "cli").glob("*.py")), ids=lambda p: p.name)
def test_cli_modules_stay_thin(path):
    """A command parses, calls one library function and prints: no CLI module carries more than ~150 lines of
    code beyond its option declarations."""
    assert _logic_lines(path) <= 150, f"{path.name}: {_logic_lines(path)} lines of logic"
