"""The data-driven parser cases: every event field of every case (tests/data/*_cases.yaml, tests/parsecases.py)."""

from __future__ import annotations

import pytest

from breachkit.logs.schema import FLAGS
from tests import parsecases

FILES = ("auth_cases.yaml", "web_cases.yaml")
CASES = [(fmt, case) for name in FILES for fmt, cases in [parsecases.load(name)] for case in cases]


@pytest.mark.parametrize(("fmt", "case"), CASES, ids=[case["name"] for _, case in CASES])
def test_case(fmt: str, case: dict) -> None:
    got = parsecases.run(fmt, case)
    if "reject" in case:
        assert got.events is None, f"expected a reject, got {got.events}"
        assert case["reject"] in (got.reject or "")
    else:
        assert got.reject is None, f"rejected: {got.reject}"
        assert got.events == case["events"]


def test_cases_are_unique_and_cover_each_flag() -> None:
    names = [case["name"] for _, case in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) > 90
    seen = {flag for _, case in CASES for event in case.get("events", [])
            for flag in event.get("log.flags", "").split(";") if flag}
    # truncated is covered in tests/test_keep_lines.py (a 9,000-character value does not belong in YAML)
    assert seen == FLAGS - {"truncated"}
