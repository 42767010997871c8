"""Sigma semantics pinned by YAML cases (tests/data/semantics), on every engine and the reference evaluator."""

from __future__ import annotations

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
    alerting = {r.meta.id for r in RULES.rules if r.generate} | {c.meta.id for c in RULES.correlations}
    assert {c.rule_id for c in CASES} == alerting


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("engine", ["reference", "local"])
def test_case_in_process(case, engine):
    open_engine = reference_engine_for if engine == "reference" else local_engine_for
    result = run_case(case, RULES, open_engine)
    assert result.passed, result.message


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_on_search_engine(case, search_case_engine):
    result = run_case(case, RULES, search_case_engine)
    assert result.passed, result.message
