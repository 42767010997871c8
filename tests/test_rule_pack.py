"""The shipped rule pack: every rule is valid, tagged, has cases, and its cases pass on every engine."""

from __future__ import annotations

import re

import pytest

from breachkit.detect.rules import load_rules
from breachkit.detect.ruletest import (
    load_cases,
    local_engine_for,
    reference_engine_for,
    run_case,
)
from breachkit.resources import bundled

BUNDLED_RULES = bundled("rules")

PACK = load_rules([BUNDLED_RULES], strict_fields=True)
CASES, CASE_PROBLEMS = load_cases([BUNDLED_RULES / "tests"])
ALERTING = list(PACK.alerting)


def test_pack_is_valid_and_large_enough():
    assert PACK.problems == () and PACK.skipped == () and CASE_PROBLEMS == []
    assert len(ALERTING) >= 25
    assert len(PACK.correlations) >= 8
    assert all(not r.warnings for r in PACK.rules)


@pytest.mark.parametrize("item", ALERTING, ids=[i.meta.title for i in ALERTING])
def test_every_rule_is_tagged_and_tested(item):
    assert any(re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t) for t in item.meta.tags), item.meta.tags
    assert item.meta.level in ("low", "medium", "high", "critical")
    tested = [c for c in CASES if c.rule_id == item.meta.id]
    assert any(c.expect for c in tested), "needs a case that fires"
    assert any(not c.expect for c in tested), "needs a case that stays quiet"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule_id[:8]}-{c.name}" for c in CASES])
@pytest.mark.parametrize("engine", ["reference", "local", "local-sql-only"])
def test_case_in_process(case, engine):
    from tests.test_detect_semantics import local_sql_only

    open_engine = {"reference": reference_engine_for, "local": local_engine_for,
                   "local-sql-only": local_sql_only}[engine]
    result = run_case(case, PACK, open_engine)
    assert result.passed, result.message


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule_id[:8]}-{c.name}" for c in CASES])
def test_case_on_search_engine(case, search_case_engine):
    result = run_case(case, PACK, search_case_engine)
    assert result.passed, result.message
