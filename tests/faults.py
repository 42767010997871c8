"""The fault report: which kinds of fault the tests tried, how many times, and what was lost (must be nothing).

A pytest plugin (loaded by tests/conftest.py). A fault test takes the `fault_report` fixture and, after
checking its own outcome, records it::

    def test_truncated_gzip(fault_report):
        ...
        fault_report.record("ingest.truncated_gzip", tried=1, lost=missing)
        assert missing == 0

`tried` counts the faults injected (lines corrupted, crashes simulated, …), `lost` what an investigation
would miss because of them — lines without an event, events gone from the store, lines dated wrongly —
as the test measured it independently of the code under test. At the end of the session the report
lists each kind (`breachkit fault report` section), so a run shows what was tried, not only that tests
passed. Kinds are dotted by area (`ingest.*`; clock, scan and rule faults add their own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest


@dataclass
class FaultTally:
    tried: int = 0
    lost: int = 0
    tests: int = 0
    details: list[str] = field(default_factory=list)


class FaultReport:
    def __init__(self) -> None:
        self.kinds: dict[str, FaultTally] = {}

    def record(self, kind: str, *, tried: int, lost: int, detail: str = "") -> None:
        if tried < 0 or lost < 0:
            raise ValueError("tried and lost are counts")
        tally = self.kinds.setdefault(kind, FaultTally())
        tally.tried += tried
        tally.lost += lost
        tally.tests += 1
        if detail and lost:
            tally.details.append(detail)

    @property
    def lost(self) -> int:
        return sum(t.lost for t in self.kinds.values())

    def lines(self) -> list[str]:
        width = max((len(k) for k in self.kinds), default=10)
        out = [f"{'fault kind':<{width}}  {'tests':>5}  {'tried':>7}  {'lost':>5}"]
        for kind, t in sorted(self.kinds.items()):
            out.append(f"{kind:<{width}}  {t.tests:>5}  {t.tried:>7}  {t.lost:>5}")
            out += [f"    lost: {d}" for d in t.details[:5]]
        out.append(f"{len(self.kinds)} kinds, {sum(t.tried for t in self.kinds.values())} faults tried, "
                   f"{self.lost} lost")
        return out


_KEY = pytest.StashKey[FaultReport]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = FaultReport()


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> FaultReport:
    return request.config.stash[_KEY]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    report = config.stash.get(_KEY, None)
    if report is None or not report.kinds:
        return
    terminalreporter.section("breachkit fault report")
    for line in report.lines():
        terminalreporter.write_line(line, red=report.lost > 0)
