"""Chained correlations (Sigma v2: a correlation's `rules:` may name correlations).

Window semantics and boundaries are pinned as YAML cases in tests/data/semantics (corr_chain_*.yml) on every
engine; here: the Sigma specification's and pySigma's own chain examples run unmodified (a pipeline maps
their Windows field names, a logsource mapping says which events they cover), and what a chain cannot be.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from breachkit.detect.engines import TimeWindow
from breachkit.detect.logsources import LogsourceMap
from breachkit.detect.rules import RuleSet, load_rules
from breachkit.detect.ruletest import local_engine_for, reference_engine_for
from breachkit.detect.run import detect_correlation, run
from breachkit.logs.schema import ARROW_SCHEMA

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "sigma-correlation"
SPEC_CHAIN = (SHARED / "sigma-specification" / "extracted_examples"
              / "15_correlation_multiple_failed_logins_followed_by_suc.yml")
PYSIGMA_CHAIN = SHARED / "pySigma" / "extracted_from_tests" / "test_conversion_correlations_007.yml"
WINDOWS = [LogsourceMap(product="windows", service="security", datasets=("*",))]
T0 = datetime(2026, 3, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def windows_pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "windows.yml"
    path.write_text("name: windows security log in breachkit events\npriority: 10\ntransformations:\n"
                    "  - id: fields\n    type: field_name_mapping\n    mapping:\n"
                    "      EventID: event.action\n      User: user.name\n")
    return path


def logons(fails: int, gap: int, then_success_after: int | None, user: str = "alice") -> list[dict[str, Any]]:
    events = [{"@timestamp": T0 + timedelta(seconds=i * gap), "event.action": "4625", "user.name": user}
              for i in range(fails)]
    if then_success_after is not None:
        last = events[-1]["@timestamp"] if events else T0
        events.append({"@timestamp": last + timedelta(seconds=then_success_after), "event.action": "4624",
                       "user.name": user})
    return events


def batch(events: list[dict[str, Any]]) -> pa.RecordBatch:
    rows = [{**e, "event.id": f"e{i:06d}", "event.dataset": "auth", "log.file.path": "case", "log.file.line": i + 1,
             "log.original": f"{e['event.action']} {e['user.name']}"} for i, e in enumerate(events)]
    return pa.RecordBatch.from_pylist(rows, schema=ARROW_SCHEMA)


Opener = Callable[[pa.RecordBatch], contextlib.AbstractContextManager[Any]]


def fired(ruleset: RuleSet, title: str, events: list[dict[str, Any]], open_engine: Opener) -> list[set[int]]:
    corr = next(c for c in ruleset.correlations if c.meta.title == title)
    with open_engine(batch(events)) as engine:
        found = detect_correlation(corr, ruleset.by_id(), engine, TimeWindow())
    return sorted(({int(e[1:]) for e in d.event_ids} for d in found), key=sorted)


@pytest.mark.realdata
@pytest.mark.parametrize("example", [SPEC_CHAIN, PYSIGMA_CHAIN], ids=["spec-15", "pysigma-007"])
@pytest.mark.parametrize("engine", ["reference", "local", "elasticsearch", "opensearch"])
def test_the_published_chain_examples_run_unmodified(example, engine, windows_pipeline, request):
    if not example.is_file():
        pytest.fail(f"{example} is missing (../shared/data)")
    open_engine: Opener = {"reference": reference_engine_for, "local": local_engine_for}.get(engine) \
        or request.getfixturevalue("es_case_engine" if engine == "elasticsearch" else "os_case_engine")
    ruleset = load_rules([example], pipelines=[windows_pipeline], logsources=WINDOWS)
    assert not ruleset.problems and not ruleset.skipped, (ruleset.problems, ruleset.skipped)
    title = "Correlation - Multiple Failed Logins Followed by Successful Login" if example == SPEC_CHAIN \
        else "Multiple Failed Logins Followed by Successful Login"
    chain = next(c for c in ruleset.correlations if c.meta.title == title)
    inner = ruleset.by_id()[chain.rules[0]]
    assert chain.type == "temporal_ordered" and inner.type == "event_count"  # type: ignore[union-attr]
    assert chain.reach == 1200  # two 10-minute windows: what a scan must look back
    # ten failures within ten minutes, then a success ten minutes after the tenth: fires with all eleven
    assert fired(ruleset, title, logons(10, 60, 600), open_engine) == [set(range(11))]
    assert fired(ruleset, title, logons(10, 60, 601), open_engine) == []  # one second late
    assert fired(ruleset, title, logons(9, 60, 1), open_engine) == []  # nine failures are not "multiple" here
    assert fired(ruleset, title, logons(10, 67, 1), open_engine) == []  # ten failures over more than 10 minutes
    # the inner correlation generates detections of its own only where the rule says so (pySigma's example)
    assert inner.generate is (example == PYSIGMA_CHAIN)  # type: ignore[union-attr]


def test_a_chain_groups_only_by_what_the_inner_correlation_groups_by(tmp_path):
    (tmp_path / "r.yml").write_text(
        "title: Failure\nid: 9c000000-0000-4000-8000-000000000001\nname: f\nstatus: test\n"
        "logsource: {product: breachkit, service: api}\ndetection:\n  sel: {event.outcome: failure}\n"
        "  condition: sel\n---\n"
        "title: Failures per account\nid: 9c000000-0000-4000-8000-000000000002\nname: per_account\nstatus: test\n"
        "correlation:\n  type: event_count\n  rules: [f]\n  group-by: [user.id]\n  timespan: 5m\n"
        "  condition: {gte: 3}\n---\n"
        "title: Per address over per account\nid: 9c000000-0000-4000-8000-000000000003\nstatus: test\n"
        "correlation:\n  type: event_count\n  rules: [per_account]\n  group-by: [source.ip]\n  timespan: 1h\n"
        "  condition: {gte: 2}\n")
    ruleset = load_rules([tmp_path / "r.yml"])
    (skipped,) = ruleset.skipped
    assert skipped.meta.title == "Per address over per account"
    assert "groups by user.id; its firings carry no source.ip" in skipped.reason
    assert [c.meta.title for c in ruleset.correlations] == ["Failures per account"]


def test_a_chain_through_a_skipped_rule_is_skipped_with_the_reason(tmp_path):
    (tmp_path / "r.yml").write_text(
        "title: Proxy hit\nid: 9c000000-0000-4000-8000-000000000011\nname: p\nstatus: test\n"
        "logsource: {category: proxy}\ndetection:\n  sel: {c-uri|contains: x}\n  condition: sel\n---\n"
        "title: Many proxy hits\nid: 9c000000-0000-4000-8000-000000000012\nname: many\nstatus: test\n"
        "correlation:\n  type: event_count\n  rules: [p]\n  group-by: [source.ip]\n  timespan: 5m\n"
        "  condition: {gte: 3}\n---\n"
        "title: Chain over it\nid: 9c000000-0000-4000-8000-000000000013\nstatus: test\n"
        "correlation:\n  type: event_count\n  rules: [many]\n  group-by: [source.ip]\n  timespan: 1h\n"
        "  condition: {gte: 2}\n")
    reasons = {s.meta.title: s.reason for s in load_rules([tmp_path / "r.yml"]).skipped}
    assert "proxy logs" in reasons["Proxy hit"]
    assert reasons["Many proxy hits"].startswith("referenced rule 'p' does not run: logsource (category: proxy)")
    assert reasons["Chain over it"].startswith("referenced correlation 'many' does not run: referenced rule 'p'")


def test_a_cycle_is_a_problem_not_a_hang(tmp_path):
    (tmp_path / "r.yml").write_text(
        "title: A\nid: 9c000000-0000-4000-8000-000000000021\nname: a\nstatus: test\n"
        "correlation:\n  type: event_count\n  rules: [b]\n  group-by: [source.ip]\n  timespan: 5m\n"
        "  condition: {gte: 2}\n---\n"
        "title: B\nid: 9c000000-0000-4000-8000-000000000022\nname: b\nstatus: test\n"
        "correlation:\n  type: event_count\n  rules: [a]\n  group-by: [source.ip]\n  timespan: 5m\n"
        "  condition: {gte: 2}\n")
    ruleset = load_rules([tmp_path / "r.yml"])
    assert ruleset.correlations == ()
    assert any("cycle" in p.message for p in ruleset.problems)
    assert {n.kind for n in ruleset.not_run} <= {"broken", "skipped"} and ruleset.not_run


def test_the_pack_chain_needs_five_failures(tmp_path):
    """The shipped "success after failures" rule is a chain: a typo then the right password is quiet."""
    from breachkit.resources import bundled

    pack = load_rules([bundled("rules")])
    corr = next(c for c in pack.correlations if c.meta.id == "f876ea5e-eb77-412f-92f7-4b2705a4660c")
    inner = pack.by_id()[corr.rules[0]]
    assert inner.type == "event_count" and inner.bounds == (("gte", 5),)  # type: ignore[union-attr]
    events = [{"@timestamp": T0 + timedelta(seconds=s), "event.action": "login", "event.outcome": o,
               "user.id": "u1", "event.dataset": "api", "event.id": f"e{i:06d}", "log.file.path": "x"}
              for i, (s, o) in enumerate([(0, "failure"), (20, "success")])]
    with reference_engine_for(pa.RecordBatch.from_pylist(events, schema=ARROW_SCHEMA)) as engine:
        assert run(pack, engine, select=lambda m: m.id == corr.meta.id).detections == ()
