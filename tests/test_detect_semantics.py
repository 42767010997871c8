"""Sigma semantics pinned by YAML cases (tests/data/semantics), on every engine and the reference evaluator."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from breachkit.detect.rules import load_rules
from breachkit.detect.ruletest import (
    load_cases,
    local_engine_for,
    reference_engine_for,
    run_case,
)

DATA = Path(__file__).parent / "data" / "semantics"
RULES = load_rules([DATA])
CASES, CASE_PROBLEMS = load_cases([DATA / "tests"])


def test_semantics_rules_and_cases_load():
    assert RULES.problems == () and RULES.skipped == () and CASE_PROBLEMS == []
    alerting = {r.meta.id for r in RULES.alerting}
    assert {c.rule_id for c in CASES} == alerting


@contextlib.contextmanager
def local_sql_only(batch):
    """The embedded engine evaluating events with derived fields in SQL too (as it does when there are many)."""
    with local_engine_for(batch) as engine:
        engine.sparse_limit = 0
        yield engine


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("engine", ["reference", "local", "local-sql-only"])
def test_case_in_process(case, engine):
    open_engine = {"reference": reference_engine_for, "local": local_engine_for,
                   "local-sql-only": local_sql_only}[engine]
    result = run_case(case, RULES, open_engine)
    assert result.passed, result.message


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_on_search_engine(case, search_case_engine):
    result = run_case(case, RULES, search_case_engine)
    assert result.passed, result.message
