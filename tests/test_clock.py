"""Deadline vectors for the legal clock (issue 4): exact hours across DST, working days, chained stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from breachkit.errors import ConfigError
from breachkit.incidents.clock import Status, add_months, deadlines
from breachkit.incidents.regimes import builtin_regimes, load_regimes

REGIMES = builtin_regimes()
BERLIN, NEW_YORK, SAO_PAULO = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("America/Sao_Paulo")


def one(regime: str, aware: datetime, now: datetime | None = None, **filed: datetime):
    return {d.stage: d for d in deadlines(REGIMES[regime], aware, now or aware, filed)}


@pytest.mark.parametrize("aware,due_local", [
    # Berlin, spring forward (2026-03-29 02:00 → 03:00): 72 elapsed hours end at 00:30, not 23:30
    (datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN), datetime(2026, 4, 1, 0, 30, tzinfo=BERLIN)),
    # Berlin, fall back (2026-10-25 03:00 → 02:00): they end at 22:30, not 23:30
    (datetime(2026, 10, 24, 23, 30, tzinfo=BERLIN), datetime(2026, 10, 27, 22, 30, tzinfo=BERLIN)),
    # New York, spring forward (2026-03-08 02:00 → 03:00)
    (datetime(2026, 3, 7, 23, 0, tzinfo=NEW_YORK), datetime(2026, 3, 11, 0, 0, tzinfo=NEW_YORK)),
    # New York, fall back (2026-11-01 02:00 → 01:00)
    (datetime(2026, 10, 31, 23, 0, tzinfo=NEW_YORK), datetime(2026, 11, 3, 22, 0, tzinfo=NEW_YORK)),
    # 23:59 UTC on 31 December: into the next year
    (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 3, 23, 59, tzinfo=UTC)),
])
def test_gdpr_72_hours_are_elapsed_time(aware, due_local):
    d = one("gdpr-33", aware)["authority"]
    assert d.due_at == aware.astimezone(UTC) + timedelta(hours=72)
    assert d.due_at == due_local
    assert d.due_at.tzinfo is UTC


@pytest.mark.parametrize("aware,due", [
    # Thursday before Good Friday (3 Apr 2026): Fri holiday, weekend, then Mon 1, Tue 2, Wed 3 → end of Wed
    (datetime(2026, 4, 2, 15, 0, tzinfo=SAO_PAULO), datetime(2026, 4, 9, 0, 0, tzinfo=SAO_PAULO)),
    # Friday before Tiradentes (Tue 21 Apr): Mon 1, (Tue holiday), Wed 2, Thu 3
    (datetime(2026, 4, 17, 9, 0, tzinfo=SAO_PAULO), datetime(2026, 4, 24, 0, 0, tzinfo=SAO_PAULO)),
    # aware late on Saturday evening São Paulo time (already Sunday in UTC): Mon, Tue, Wed
    (datetime(2026, 3, 8, 1, 30, tzinfo=UTC), datetime(2026, 3, 12, 0, 0, tzinfo=SAO_PAULO)),
])
def test_lgpd_three_working_days(aware, due):
    assert one("lgpd", aware)["anpd"].due_at == due


def test_nis2_three_stages_and_final_report_from_the_filed_notification():
    aware = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    before = one("nis2", aware, now=aware + timedelta(hours=30))
    assert before["early_warning"].due_at == aware + timedelta(hours=24)
    assert before["early_warning"].status is Status.OVERDUE and before["early_warning"].needs_delay_reasons
    assert before["notification"].due_at == aware + timedelta(hours=72)
    assert before["notification"].remaining == timedelta(hours=42)
    assert before["final_report"].due_at == datetime(2026, 4, 5, 10, 0, tzinfo=UTC)
    assert before["final_report"].provisional
    filed = one("nis2", aware, now=aware + timedelta(days=3), early_warning=aware + timedelta(hours=20),
                notification=datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    assert filed["early_warning"].status is Status.MET
    assert filed["notification"].status is Status.MET
    assert filed["final_report"].due_at == datetime(2026, 4, 4, 9, 0, tzinfo=UTC)
    assert not filed["final_report"].provisional and filed["final_report"].status is Status.RUNNING


def test_late_filing_needs_reasons_and_undue_delay_has_no_deadline():
    aware = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    late = one("gdpr-33", aware, now=aware + timedelta(days=5), authority=aware + timedelta(hours=73))["authority"]
    assert late.status is Status.LATE and late.needs_delay_reasons
    subjects = one("gdpr-34", aware, now=aware + timedelta(hours=5))["subjects"]
    assert (subjects.due_at, subjects.status, subjects.elapsed) == (None, Status.OPEN, timedelta(hours=5))


def test_custom_regime_with_a_follow_up_after_the_first_report(tmp_path: Path):
    path = tmp_path / "regimes.toml"
    path.write_text(
        '[[regime]]\nid = "dpa-follow-up"\nname = "Authority asks for a follow-up within 10 days"\n'
        '[[regime.stage]]\nid = "initial"\ntitle = "Initial report"\ndue = { hours = 72 }\n'
        '[[regime.stage]]\nid = "follow_up"\ntitle = "Follow-up report"\ndue = { hours = 240, after = "initial" }\n')
    regime = load_regimes([path])["dpa-follow-up"]
    aware = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    first = aware + timedelta(hours=50)
    result = {d.stage: d for d in deadlines(regime, aware, first + timedelta(hours=1), {"initial": first})}
    assert result["initial"].status is Status.MET
    assert result["follow_up"].due_at == first + timedelta(hours=240)


def test_bad_regime_file_lists_every_problem(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[regime]]\nid = "x"\nname = "x"\n'
        '[[regime.stage]]\nid = "a"\ntitle = "a"\ndue = { hours = 24, after = "b" }\n'
        '[[regime.stage]]\nid = "b"\ntitle = "b"\ndue = { working_days = 3 }\n'
        '[[regime.stage]]\nid = "c"\ntitle = "c"\ndue = { hours = 1, zone = "Mars/Base" }\ncolour = "red"\n')
    with pytest.raises(ConfigError) as err:
        load_regimes([path])
    text = str(err.value)
    assert "working_days needs a calendar" in text
    assert "unknown time zone 'Mars/Base'" in text
    assert "colour" in text
    assert all(p.location.path == str(path) for p in err.value.problems)


def test_months_clamp_and_naive_times_are_refused():
    assert add_months(datetime(2026, 1, 31, 12, tzinfo=UTC), 1) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        deadlines(REGIMES["gdpr-33"], datetime(2026, 3, 2, 10, 0), datetime(2026, 3, 2, 11, 0, tzinfo=UTC))
