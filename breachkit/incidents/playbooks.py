"""Playbooks: YAML files that turn an incident into owned, timed tasks (format: playbooks/README.md).

Loading is strict and located: the YAML is composed into nodes first so that every problem — a YAML
syntax error, a duplicate key, a pydantic validation error, an unknown role, a dependency cycle —
is reported with its file, line and field path, all of them in one `InputError`.

Due offsets are exact elapsed time from `aware_at` (`4h` after 00:30 UTC on the night clocks go
forward is 04:30 UTC), like the regimes' hour clocks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from breachkit import resources
from breachkit.errors import InputError, Location, Problem, UsageError
from breachkit.incidents.model import Task, TaskAction
from breachkit.incidents.regimes import Regime, builtin_regimes
from breachkit.wording import counted

# The playbooks shipped with breachkit (in a checkout or an editable install: <repo>/playbooks).
PLAYBOOK_SUFFIXES = (".yaml", ".yml")

Loc = tuple[str | int, ...]

# ---------------------------------------------------------------------------------------------- offsets

_OFFSET = re.compile(r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_OFFSET_HELP = "write whole numbers with the units w, d, h, m and no spaces, e.g. 30m, 4h, 72h, 7d or 1d12h"


def parse_offset(text: str) -> timedelta:
    """`30m`, `4h`, `72h`, `7d`, `2w`, `1d12h` → an exact timedelta. Raises ValueError otherwise."""
    match = _OFFSET.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a due offset: {_OFFSET_HELP}")
    return sum((int(v) * _UNITS[u] for u, v in match.groupdict().items() if v), timedelta())


def format_offset(offset: timedelta) -> str:
    """The inverse of `parse_offset` for whole minutes: 72h stays `72h`, 30 days become `30d`."""
    minutes = offset // timedelta(minutes=1)
    hours, rest = divmod(minutes, 60)
    if rest:
        return f"{hours}h{rest}m" if hours else f"{rest}m"
    return f"{hours // 24}d" if hours > 72 and hours % 24 == 0 else f"{hours}h"


def _offset(value: object) -> timedelta:
    if isinstance(value, timedelta) and value >= timedelta():
        return value
    if isinstance(value, str):
        return parse_offset(value)
    plain_number = isinstance(value, int) and not isinstance(value, bool)
    raise ValueError(f"{value} has no unit: {_OFFSET_HELP}" if plain_number
                     else f"expected a due offset (or null for no fixed deadline): {_OFFSET_HELP}")


def _ident(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
        raise ValueError(f"{value!r} is not an id: use lower-case letters, digits, '-' and '_' (e.g. contain-access)")
    return value


Offset = Annotated[timedelta, PlainValidator(_offset), PlainSerializer(format_offset, return_type=str)]
Ident = Annotated[str, AfterValidator(_ident)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

# ----------------------------------------------------------------------------------------------- models

_SKIP_CROSS_CHECK = "breachkit.playbooks.located"  # validation context key: the loader reports these itself


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlaybookTask(_Model):
    """One task of a playbook. `due` is required; `null` means no fixed deadline (e.g. "on request")."""

    id: Ident
    title: Text
    role: Text  # one of the playbook's roles
    due: Offset | None
    description: str = ""
    checklist: list[Text] = Field(default_factory=list)
    depends_on: list[Text] = Field(default_factory=list)  # ids of earlier-due tasks of the playbook
    # The actions that complete the task by themselves: one mapping, or a list of alternatives (any one).
    completed_by: list[TaskAction] = Field(default_factory=list)

    @field_validator("completed_by", mode="before")
    @classmethod
    def _alternatives(cls, value: object) -> object:
        return [value] if isinstance(value, Mapping) else value


class Playbook(_Model):
    id: Ident
    name: Text
    description: str = ""
    regimes: list[str] = Field(default_factory=list)  # ids of breachkit/incidents/regimes.toml (or custom ones)
    references: list[Text] = Field(default_factory=list)  # legal texts and guidance the playbook follows
    roles: dict[Ident, Text] = Field(min_length=1)  # role id → what that role does
    tasks: list[PlaybookTask] = Field(min_length=1)
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Playbook:
        if info.context and info.context.get(_SKIP_CROSS_CHECK):
            return self
        found = _cross_check(self.model_dump(), None)
        if found:
            raise ValueError("; ".join(f"{_field(loc)}: {message}" for loc, message in found))
        return self

    @property
    def source(self) -> Path | None:
        """The file the playbook was loaded from (None when built in code)."""
        return self._source

    def task(self, task_id: str) -> PlaybookTask:
        return next(t for t in self.tasks if t.id == task_id)


def _as_offset(value: object) -> timedelta | None:
    try:
        return _offset(value) if value is not None else None
    except ValueError:
        return None


def _check_actions(tasks: Mapping[int, Mapping[str, Any]], known_regimes: Collection[str] | None
                   ) -> list[tuple[Loc, str]]:
    """`completed_by` names regimes and stages that exist (stages are checked when the regimes are known)."""
    found: list[tuple[Loc, str]] = []
    stages = ({r.id: [s.id for s in r.stages] for r in known_regimes.values()}
              if isinstance(known_regimes, Mapping) else None)
    for i, task in tasks.items():
        actions = task.get("completed_by")
        listed = [actions] if isinstance(actions, Mapping) else actions if isinstance(actions, list) else []
        for j, action in enumerate(listed):
            if not isinstance(action, Mapping) or not isinstance(action.get("regime"), str):
                continue
            loc: Loc = ("tasks", i, "completed_by", j) if isinstance(actions, list) else ("tasks", i, "completed_by")
            regime, stage = action["regime"], action.get("stage")
            if known_regimes is not None and regime not in known_regimes:
                found.append(((*loc, "regime"), f"unknown regime {regime!r}"))
            elif stages is not None and regime in stages and isinstance(stage, str) and stage not in stages[regime]:
                found.append(((*loc, "stage"), f"unknown stage {stage!r} of {regime} (stages: "
                                               f"{', '.join(stages[regime])})"))
    return found


def _cross_check(data: Any, known_regimes: Collection[str] | None) -> list[tuple[Loc, str]]:
    """References between parts of a (possibly malformed) playbook document; shapes pydantic rejects are skipped."""
    found: list[tuple[Loc, str]] = []
    if not isinstance(data, Mapping):
        return found
    regimes = data.get("regimes")
    if known_regimes is not None and isinstance(regimes, list):
        for i, regime in enumerate(regimes):
            if isinstance(regime, str) and regime not in known_regimes:
                found.append((("regimes", i), f"unknown regime {regime!r} (known: {', '.join(sorted(known_regimes))})"))
    roles = data.get("roles")
    declared = [r for r in roles if isinstance(r, str)] if isinstance(roles, Mapping) else None
    raw_tasks = data.get("tasks")
    tasks = {i: t for i, t in enumerate(raw_tasks) if isinstance(t, Mapping)} if isinstance(raw_tasks, list) else {}
    first: dict[str, int] = {}
    for i, task in tasks.items():
        task_id, role = task.get("id"), task.get("role")
        if isinstance(task_id, str):
            if task_id in first:
                found.append((("tasks", i, "id"), f"duplicate task id {task_id!r} (also tasks[{first[task_id]}])"))
            else:
                first[task_id] = i
        if declared is not None and isinstance(role, str) and role not in declared:
            found.append((("tasks", i, "role"), f"unknown role {role!r} (declared: {', '.join(declared)})"))
    graph: dict[str, list[tuple[str, Loc]]] = {}
    for i, task in tasks.items():
        deps = task.get("depends_on")
        task_id = task.get("id")
        if not isinstance(deps, list) or not isinstance(task_id, str) or first.get(task_id) != i:
            continue
        for j, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            loc: Loc = ("tasks", i, "depends_on", j)
            if dep not in first:
                found.append((loc, f"unknown task {dep!r} (tasks: {', '.join(first)})"))
                continue
            graph.setdefault(task_id, []).append((dep, loc))
    cycles = _cycles(graph)
    cyclic = [set(cycle) for _, _, cycle in cycles]
    for task_id, deps in graph.items():
        i = first[task_id]
        due = _as_offset(tasks[i].get("due"))
        for dep, _ in deps:
            dep_due = _as_offset(tasks[first[dep]].get("due"))
            same_cycle = any({task_id, dep} <= c for c in cyclic)
            if due is not None and dep_due is not None and due < dep_due and not same_cycle:
                found.append((("tasks", i, "due"), f"due {format_offset(due)}, before {dep!r} that it depends on "
                                                   f"(due {format_offset(dep_due)})"))
    found.extend((loc, message) for loc, message, _ in cycles)
    found.extend(_check_actions(tasks, known_regimes))
    return found


def _cycles(graph: Mapping[str, list[tuple[str, Loc]]]) -> list[tuple[Loc, str, list[str]]]:
    """Every back edge of a depth-first walk closes one cycle; each is reported where it is written."""
    found: list[tuple[Loc, str, list[str]]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep, loc in graph.get(node, []):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep):], dep]
                found.append((loc, f"task {dep!r} depends on itself" if len(cycle) == 2
                              else f"dependency cycle: {' → '.join(cycle)}", cycle))
            elif dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return found


# ------------------------------------------------------------------------------------ located loading

_MERGE_TAG = "tag:yaml.org,2002:merge"


def _field(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _line(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest node on `loc` that exists (a missing key: the line of its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], found: list[tuple[Loc, int, str]],
          stack: frozenset[int] = frozenset()) -> None:
    """Record the line of every key and item; duplicate keys go to `found` (PyYAML keeps the last silently)."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if id(node) in stack:  # a recursive alias
        return
    stack = stack | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                continue
            line = key.start_mark.line + 1
            if key.value in seen:
                found.append(((*loc, key.value), line, f"duplicate key {key.value!r} (also on line {seen[key.value]})"))
                continue
            seen[key.value] = line
            lines[(*loc, key.value)] = line
            _walk(value, (*loc, key.value), lines, found, stack)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines, found, stack)


def _compose(text: str, where: str) -> tuple[Any, dict[Loc, int], list[Problem]]:
    """YAML text → (data, line of every key path, problems). Data is None when the file cannot be used."""
    lines: dict[Loc, int] = {}
    duplicates: list[tuple[Loc, int, str]] = []
    try:
        loader = yaml.SafeLoader(text)  # the reader checks the characters here already
        try:
            node = loader.get_single_node()
            if node is None:
                return None, lines, [Problem("the file is empty: a playbook is a YAML mapping with id, name, roles "
                                             "and tasks", Location(where))]
            _walk(node, (), lines, duplicates)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = exc.problem or str(exc)
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            detail += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        elif exc.context:
            detail += f" ({exc.context})"
        return None, lines, [Problem(f"YAML syntax error: {detail}", Location(where, mark.line + 1 if mark else None))]
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        character = getattr(exc, "character", None)
        detail = f"{exc.reason}: #x{character:04x}" if isinstance(exc, yaml.reader.ReaderError) and \
            isinstance(character, int) else str(exc)
        return None, lines, [Problem(f"YAML syntax error: {detail}", Location(where, line))]
    return data, lines, [Problem(m, Location(where, line, _field(loc))) for loc, line, m in duplicates]


_KEYS: dict[str, list[str]] = {"playbook": list(Playbook.model_fields), "task": list(PlaybookTask.model_fields)}


def _describe(error: Mapping[str, Any]) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    kind, message = error["type"], str(error["msg"]).removeprefix("Value error, ")
    parent = loc[:-1]
    keys = _KEYS["playbook"] if not parent else _KEYS["task"] if len(parent) == 2 and parent[0] == "tasks" else None
    if kind == "extra_forbidden":
        allowed = f" (allowed: {', '.join(keys)})" if keys else ""
        return loc, f"unknown key {loc[-1]!r}{allowed}"
    if kind in {"string_too_short", "too_short"}:
        return loc, "must not be empty"
    if kind == "missing":
        return loc, f"missing required key {loc[-1]!r}"
    if kind in {"model_type", "model_attributes_type"} and not loc:
        return loc, "a playbook is a YAML mapping with id, name, roles and tasks"
    if kind == "model_type":
        return loc, "expected a mapping (id, title, role, due, checklist…)"
    return loc, message


class _Checked(NamedTuple):
    playbook: Playbook | None
    problems: list[Problem]
    lines: dict[Loc, int]


def _check(text: str, where: str, known_regimes: Collection[str]) -> _Checked:
    data, lines, problems = _compose(text, where)
    if data is None and problems:
        return _Checked(None, problems, lines)
    located: list[tuple[Loc, str]] = []
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate(data, context={_SKIP_CROSS_CHECK: True})
    except ValidationError as exc:
        located.extend(_describe(e) for e in exc.errors())
    located.extend(_cross_check(data, known_regimes))
    problems.extend(Problem(m, Location(where, _line(lines, loc), _field(loc) or None)) for loc, m in located)
    problems.sort(key=lambda p: p.location.line or 0)
    return _Checked(None if problems else playbook, problems, lines)


def _known(known_regimes: Iterable[str] | Mapping[str, Regime] | None) -> Collection[str]:
    """The known regimes: a mapping (ids and their stages, so `completed_by` stages are checked too) or ids."""
    if known_regimes is None:
        return builtin_regimes()
    if isinstance(known_regimes, Mapping):
        return dict(known_regimes)
    return frozenset(known_regimes)


def _read(path: Path, known: Collection[str]) -> _Checked:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return _Checked(None, [Problem(f"cannot read: {reason}", Location(str(path)))], {})
    checked = _check(text, str(path), known)
    if checked.playbook is not None:
        checked.playbook._source = path
    return checked


def parse_playbook(text: str, where: str = "-", *, known_regimes: Iterable[str] | None = None) -> Playbook:
    """A playbook from YAML text (`where` names it in errors). Raises InputError with every problem."""
    checked = _check(text, where, _known(known_regimes))
    _raise(checked.problems)
    assert checked.playbook is not None
    return checked.playbook


def load_playbook(path: Path, *, known_regimes: Iterable[str] | None = None) -> Playbook:
    """One playbook file. `known_regimes` defaults to the built-in regime ids (pass custom ones too)."""
    checked = _read(path, _known(known_regimes))
    _raise(checked.problems)
    assert checked.playbook is not None
    return checked.playbook


def playbook_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Files named directly, and *.yaml / *.yml under folders (recursively, sorted)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in PLAYBOOK_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem("no such playbook file or folder", Location(str(path))))
    return files, problems


def _collect(paths: Sequence[Path], known: Collection[str]) -> tuple[dict[str, Playbook], list[Problem]]:
    files, problems = playbook_files(paths)
    playbooks: dict[str, Playbook] = {}
    for path in files:
        checked = _read(path, known)
        problems.extend(checked.problems)
        if checked.playbook is None:
            continue
        other = playbooks.get(checked.playbook.id)
        if other is not None:
            problems.append(Problem(f"duplicate playbook id {checked.playbook.id!r}: also defined in {other.source}",
                                    Location(str(path), checked.lines.get(("id",)), "id")))
        else:
            playbooks[checked.playbook.id] = checked.playbook
    return playbooks, problems


def _raise(problems: list[Problem]) -> None:
    if problems:
        files = {p.location.path for p in problems}
        raise InputError(f"invalid playbook{'s' if len(files) > 1 else ''}: {counted(len(problems), 'problem')}",
                         path=files.pop() if len(files) == 1 else None, problems=problems)


def load_playbooks(paths: Sequence[Path], *, known_regimes: Iterable[str] | None = None) -> dict[str, Playbook]:
    """Every playbook under `paths` by id. Problems of all files (and duplicate ids) are raised together."""
    playbooks, problems = _collect(paths, _known(known_regimes))
    _raise(problems)
    return playbooks


def find_playbook(id_or_path: str, extra: Sequence[Path] = (), *, known_regimes: Iterable[str] | None = None,
                  bundled: bool = True) -> Playbook:
    """A playbook by file path, or by id among the bundled ones and those under `extra`.

    A playbook under `extra` with a bundled playbook's id replaces it (as custom regimes do).
    """
    known = _known(known_regimes)
    candidate = Path(id_or_path)
    if candidate.suffix in PLAYBOOK_SUFFIXES or len(candidate.parts) > 1:
        return load_playbook(candidate, known_regimes=known)
    shipped, problems = _collect([resources.bundled("playbooks")], known) if bundled else ({}, [])
    custom, more = _collect(extra, known) if extra else ({}, [])
    _raise(problems + more)
    available = {**shipped, **custom}
    if id_or_path not in available:
        raise UsageError(f"unknown playbook {id_or_path!r} (known: {', '.join(sorted(available)) or 'none'})",
                         hint="give a playbook id or the path of a playbook file (.yaml)")
    return available[id_or_path]


def tasks_for(playbook: Playbook, incident_id: str, aware_at: datetime) -> list[Task]:
    """The incident's tasks, in playbook order: due_at = aware_at + offset, in exact elapsed time (UTC)."""
    if aware_at.tzinfo is None or aware_at.utcoffset() is None:
        raise ValueError("aware_at must be timezone-aware")
    start = aware_at.astimezone(UTC)  # adding to a zoned time would add wall-clock time across a DST change
    return [Task(incident_id=incident_id, key=t.id, title=t.title, role=t.role, description=t.description,
                 depends_on=list(t.depends_on), due_at=None if t.due is None else start + t.due,
                 checklist=list(t.checklist), done_when=list(t.completed_by))
            for t in playbook.tasks]
