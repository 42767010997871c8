"""Data-driven rule tests: YAML cases (rule, events, expected detections) run on an engine.

A case file (`rules/tests/<anything>.yml`) names a rule by id and lists cases::

    rule: 6b3c7c0e-…                  # id of the rule (a single-event rule or a correlation)
    cases:
      - name: twelve failures from one address within five minutes
        events:                       # events in the event schema; @timestamp is required
          - {"@timestamp": "2026-03-02T10:00:00Z", event.action: login, event.outcome: failure,
             source.ip: 203.0.113.5, user.id: u1, event.dataset: api}
          - {"@timestamp": "2026-03-02T10:00:20Z", …, repeat: 11, every: 20s}   # 11 more, 20 s apart
        expect:                       # the detections, each as the indexes of its events
          - [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
      - name: benign traffic stays quiet
        events: [...]
        expect: []

A case (or the whole file) may name `format: jsonl` or `format: csv`: its events' `log.original` is then
read as such a line, and the keyword text is derived from it as the ingest does (`breachkit.logs.derive`);
the decoded URL fields are always derived. An empty string stays an empty value; a missing field or `~`
is missing.

`repeat: N` with `every: <seconds>s|m|h` stands for N copies of the event, each `every` later than the
previous (the first at the given time); indexes count the expanded events. `event.dataset` defaults
to the rule's first logsource dataset when missing. Each case runs in its own empty store.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from breachkit.detect.engines import Engine, LocalEngine, ReferenceEngine, SearchEngine, TimeWindow
from breachkit.detect.rules import Correlation, Rule, RuleSet
from breachkit.detect.run import detect_correlation, detect_rule
from breachkit.errors import InputError, Location, Problem
from breachkit.logs.derive import add_derived
from breachkit.logs.local import LocalStore
from breachkit.logs.parsers.times import parse_iso
from breachkit.logs.schema import ARROW_SCHEMA, FIELD_NAMES, FIELD_TYPES, Event, FieldType, coerce
from breachkit.logs.search import SearchStore

_EVERY_RE = re.compile(r"^(\d+)([smh])$")
_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Case:
    file: str
    line: int | None
    rule_id: str
    name: str
    events: tuple[Event, ...]
    expect: tuple[frozenset[int], ...]
    format: str = ""  # the ingest format whose derivations apply to log.original (jsonl, csv; "": none)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    engine: str
    passed: bool
    got: tuple[frozenset[int], ...]
    message: str = ""


def _event(raw: dict[str, Any], where: Location) -> list[Event]:
    raw = dict(raw)
    repeat = int(raw.pop("repeat", 1))
    every_text = str(raw.pop("every", "0s"))
    m = _EVERY_RE.match(every_text)
    if m is None:
        raise InputError(f"every: {every_text!r} is not like 30s, 5m or 1h", path=where.path, line=where.line)
    step = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    unknown = [k for k in raw if k not in FIELD_NAMES]
    if unknown:
        raise InputError(f"unknown event fields: {', '.join(unknown)}", path=where.path, line=where.line)
    if "@timestamp" not in raw:
        raise InputError("an event needs @timestamp", path=where.path, line=where.line)
    base: Event = {}
    for name, value in raw.items():
        if FIELD_TYPES[name] is FieldType.DATE:
            base[name] = parse_iso(str(value).replace("Z", "+00:00")) if not hasattr(value, "tzinfo") else value
        elif value == "" and FIELD_TYPES[name] is FieldType.KEYWORD:
            base[name] = ""  # an empty value, logged as such: not the same as a missing field (`~` / absent)
        else:
            try:
                base[name] = coerce(name, value)
            except ValueError as exc:
                raise InputError(f"{name}: {exc}", path=where.path, line=where.line) from None
    return [{**base, "@timestamp": base["@timestamp"] + i * step} for i in range(repeat)]


def load_cases(paths: Sequence[Path]) -> tuple[list[Case], list[Problem]]:
    cases: list[Case] = []
    problems: list[Problem] = []
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.yml")) if path.is_dir() else [path])
    for file in files:
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or "rule" not in doc or not isinstance(doc.get("cases"), list):
                raise InputError("a case file needs `rule:` and a list of `cases:`", path=file)
            for n, raw in enumerate(doc["cases"], start=1):
                where = Location(str(file), None, f"cases[{n}]")
                events: list[Event] = []
                for item in raw.get("events", []):
                    events.extend(_event(item, where))
                expect = tuple(frozenset(int(i) for i in group) for group in raw.get("expect", []))
                bad = [i for group in expect for i in group if not 0 <= i < len(events)]
                if bad:
                    raise InputError(f"{raw.get('name')}: expected event indexes out of range: {bad}", path=file)
                cases.append(Case(str(file), None, str(doc["rule"]), str(raw.get("name", f"case {n}")),
                                  tuple(events), expect, str(raw.get("format", doc.get("format", "")))))
        except InputError as exc:
            problems.append(Problem(exc.message, exc.location))
        except (OSError, yaml.YAMLError, TypeError, ValueError) as exc:
            problems.append(Problem(f"invalid case file: {exc}", Location(str(file))))
    return cases, problems


def case_batch(case: Case, dataset: str | None) -> pa.RecordBatch:
    rows = []
    for i, event in enumerate(case.events):
        row = {**event, "event.id": f"e{i:06d}", "log.file.path": "case", "log.file.line": i + 1}
        row.setdefault("event.dataset", dataset or "api")
        row.setdefault("log.original", " ".join(f"{k}={v}" for k, v in event.items() if k != "@timestamp"))
        add_derived(row, row["log.original"], case.format)  # as the ingest derives them
        rows.append(row)
    return pa.RecordBatch.from_pylist(rows, schema=ARROW_SCHEMA)


def run_case(case: Case, ruleset: RuleSet, open_engine: Callable[[pa.RecordBatch], Any]) -> CaseResult:
    """Run one case; `open_engine(batch)` is a context manager yielding an Engine over just those events."""
    rules = ruleset.by_id()
    target = rules.get(case.rule_id)
    if target is None:
        return CaseResult(case, "-", False, (), f"no rule with id {case.rule_id}")
    first_rule = first_base_rule(target, rules)
    batch = case_batch(case, first_rule.datasets[0] if first_rule and first_rule.datasets else None)
    with open_engine(batch) as engine:
        engine_: Engine = engine
        found = (detect_rule(target, engine_, TimeWindow()) if isinstance(target, Rule)
                 else detect_correlation(target, rules, engine_, TimeWindow()))
    index = {f"e{i:06d}": i for i in range(len(case.events))}
    got = tuple(sorted((frozenset(index[e] for e in d.event_ids) for d in found), key=sorted))
    want = tuple(sorted(case.expect, key=sorted))
    ok = got == want
    message = "" if ok else f"expected {[sorted(g) for g in want]}, got {[sorted(g) for g in got]}"
    return CaseResult(case, engine_.name, ok, got, message)


def first_base_rule(item: Rule | Correlation, rules: Mapping[str, Rule | Correlation]) -> Rule | None:
    """The rule itself, or the first single-event rule at the bottom of a correlation (chain)."""
    seen: set[str] = set()
    while isinstance(item, Correlation) and item.meta.id not in seen:
        seen.add(item.meta.id)
        nxt = rules.get(item.rules[0])
        if nxt is None:
            return None
        item = nxt
    return item if isinstance(item, Rule) else None


@contextlib.contextmanager
def local_engine_for(batch: pa.RecordBatch) -> Iterator[LocalEngine]:
    """An embedded engine over just `batch` (in memory)."""
    store = LocalStore(None)
    try:
        store.load(batch, "case")
        with LocalEngine(store) as engine:
            yield engine
    finally:
        store.close()


@contextlib.contextmanager
def reference_engine_for(batch: pa.RecordBatch) -> Iterator[ReferenceEngine]:
    """The pure-Python reference evaluator over `batch`."""
    yield ReferenceEngine(batch.to_pylist())


def search_engine_factory(store: SearchStore) -> Callable[[pa.RecordBatch], Any]:
    """Engines (Elasticsearch or OpenSearch) over one case's events in a fresh index
    `<store index>-case-<n>`, deleted afterwards."""
    counter = iter(range(1, 1 << 30))

    @contextlib.contextmanager
    def open_engine(batch: pa.RecordBatch) -> Iterator[SearchEngine]:
        index = f"{store.index}-case-{next(counter)}"
        case_store = SearchStore(store.conn, index, bulk_threads=store.bulk_threads,  # private: no run registry
                                 bulk_chunk_size=store.bulk_chunk_size, use_wildcard=store.use_wildcard,
                                 track_runs=False)
        try:
            case_store.load(batch, "case")
            yield SearchEngine.over(case_store)
        finally:
            with store.conn.errors():
                store.conn.delete_index(index)
                store.conn.delete_index_template(index)

    return open_engine


elasticsearch_engine_factory = search_engine_factory  # the name before OpenSearch joined
