"""Dates of classic syslog lines (no year, no zone): inferred right, said, and correctable with --replace."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from breachkit.config import load_config
from breachkit.logs import audit
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.logs.parsers.syslog import Stamp, YearTracker, plan_years, scan_years
from breachkit.logs.reader import Line
from breachkit.workspace import Workspace
from tests.storepair import pair

__all__ = ["pair"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def syslog(stamps: list[str]) -> list[str]:
    return [f"{s} bastion sshd[{100 + i}]: Failed password for root from 192.0.2.{i + 1} port 22 ssh2"
            for i, s in enumerate(stamps)]


def write(path: Path, lines: list[str], mtime: datetime) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


@pytest.fixture
def env(tmp_path):
    config = load_config(environ={}, cwd=tmp_path)
    workspace = Workspace(tmp_path / "ws").ensure()
    store = LocalStore(workspace.events_db)
    yield config, workspace, store
    store.close()


def stored(store: LocalStore) -> list[datetime]:
    return [r[0] for r in store.query('SELECT "@timestamp" FROM events ORDER BY "log.file.line"')]


# --- the rule, pure ------------------------------------------------------------------------------------


def plan(stamps: list[str], reference: datetime, **kw):
    lines = [Line(i + 1, text) for i, text in enumerate(syslog(stamps))]
    return plan_years(scan_years(lines), reference=reference, reference_kind=kw.pop("kind", "mtime"),
                      zone=ZoneInfo(kw.get("zone", "UTC")), zone_name=kw.pop("zone", "UTC"), **kw)


def test_tracker_boundary_is_a_step_back_of_more_than_half_a_year() -> None:
    tracker = YearTracker(2026)
    years = [tracker.year_for(Stamp(m, d, 12, 0, 0), n) for n, (m, d) in
             enumerate([(12, 30), (12, 31), (1, 1), (3, 31), (3, 30), (4, 1), (2, 5)], start=1)]
    # Dec → Jan: a new year; Mar 31 → Mar 30 and Apr → Feb: out of order within the year (less than half)
    assert years == [2026, 2026, 2027, 2027, 2027, 2027, 2027]
    assert (tracker.boundary_count, tracker.out_of_order, tracker.first_out_of_order) == (1, 2, 5)


def test_new_year_file_changed_on_2_january() -> None:
    p = plan(["Dec 30 10:00:00", "Dec 31 23:59:59", "Jan  1 00:00:01", "Jan  2 08:00:00"], utc(2027, 1, 2, 9))
    assert (p.first_year, p.last_year) == (2026, 2027)
    assert "dated 2027, the year of the file's modification time 2027-01-02 09:00 UTC" in p.notes[0]
    assert "1 year boundary before it (line 3: Dec 31 23:59:59 → Jan  1 00:00:01)" in p.notes[0]


def test_december_lines_written_in_february_belong_to_the_year_before() -> None:
    p = plan(["Dec  1 10:00:00", "Dec 15 10:00:00", "Dec 31 22:00:00"], utc(2027, 2, 10, 12))
    assert (p.first_year, p.last_year) == (2026, 2026)
    assert "the year before the file's modification time 2027-02-10 12:00 UTC, as Dec 31 22:00:00 would lie " \
           "after it" in p.notes[0]


def test_lines_going_back_more_than_a_year_are_said_to_be_unknowable() -> None:
    p = plan(["Jan  5 10:00:00", "Jun  1 10:00:00", "Dec 31 10:00:00", "Jan 10 10:00:00"], utc(2027, 1, 11))
    assert (p.first_year, p.last_year) == (2026, 2027)
    assert any("go back more than a year" in n and "cannot be known" in n for n in p.notes)
    within = plan(["Mar  5 10:00:00", "Dec 31 10:00:00", "Jan 10 10:00:00"], utc(2027, 1, 11))
    assert not any("more than a year" in n for n in within.notes)


def test_never_after_the_reference_but_a_day_of_slack_for_zones() -> None:
    # the last line 5 hours after the mtime (a zone set wrong): same year, and said
    p = plan(["Jan  1 20:00:00"], utc(2027, 1, 1, 15))
    assert p.last_year == 2027
    assert any("5.0 h after the file's modification time" in n and "--timezone" in n for n in p.notes)
    # more than a day after it: the year before
    assert plan(["Jan  3 20:00:00"], utc(2027, 1, 1, 15)).last_year == 2026


def test_given_year_is_the_last_lines() -> None:
    p = plan(["Dec 31 23:00:00", "Jan  1 01:00:00"], utc(2030, 6, 1), given_year=2025)
    assert (p.first_year, p.last_year) == (2024, 2025)
    assert "given by --year" in p.notes[0]
    assert not any("copied" in n for n in p.notes)


def test_zone_of_the_reference() -> None:
    # 23:30 UTC on 31 Dec is already 1 Jan in Berlin: a "Jan  1 00:10" line is not in the future there
    p = plan(["Dec 31 23:50:00", "Jan  1 00:10:00"], utc(2026, 12, 31, 23, 30), zone="Europe/Berlin")
    assert (p.first_year, p.last_year) == (2026, 2027)


# --- through ingest --------------------------------------------------------------------------------------


def test_ingest_dates_a_new_year_file_from_its_mtime(env, tmp_path) -> None:
    config, workspace, store = env
    path = write(tmp_path / "auth.log", syslog(["Dec 30 10:00:00", "Dec 31 23:59:59", "Jan  1 00:00:01",
                                                "Jan  2 08:00:00"]), utc(2027, 1, 2, 9))
    summary = ingest_file(str(path), store, config, workspace, now=utc(2027, 3, 1))
    assert stored(store) == [utc(2026, 12, 30, 10), utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1, 0, 0, 1),
                             utc(2027, 1, 2, 8)]
    assert "dated 2027" in summary.notes[0]
    assert any("copied without keeping its modification time" in n for n in summary.notes)


def test_ingest_dates_late_written_december_lines(env, tmp_path) -> None:
    config, workspace, store = env
    path = write(tmp_path / "auth.log.1", syslog(["Dec  1 10:00:00", "Dec 31 22:00:00"]), utc(2027, 2, 10))
    ingest_file(str(path), store, config, workspace)
    assert stored(store) == [utc(2026, 12, 1, 10), utc(2026, 12, 31, 22)]


def test_stdin_uses_now_and_says_so(env) -> None:
    config, workspace, store = env
    data = ("\n".join(syslog(["Dec 31 23:00:00", "Jan  1 01:00:00"])) + "\n").encode()
    summary = ingest_file("-", store, config, workspace, options=IngestOptions(format="auth"),
                          now=utc(2027, 1, 1, 2), stdin=io.BytesIO(data))
    assert stored(store) == [utc(2026, 12, 31, 23), utc(2027, 1, 1, 1)]
    assert "now (stdin has no modification time) 2027-01-01 02:00 UTC" in summary.notes[0]
    assert list(workspace.tmp.iterdir()) == []  # the spool of stdin is gone


def test_timezone_option(env, tmp_path) -> None:
    config, workspace, store = env
    path = write(tmp_path / "auth.log", syslog(["Jul  1 12:00:00"]), utc(2026, 7, 2))
    summary = ingest_file(str(path), store, config, workspace, options=IngestOptions(timezone="Europe/Berlin"))
    assert stored(store) == [utc(2026, 7, 1, 10)]
    assert "read in Europe/Berlin" in summary.notes[0]


def test_a_plain_reingest_with_another_year_says_it_kept_the_first_reading(env, tmp_path) -> None:
    config, workspace, store = env
    path = write(tmp_path / "auth.log", syslog(["Mar  1 10:00:00", "Mar  2 10:00:00"]), utc(2026, 3, 3))
    ingest_file(str(path), store, config, workspace)
    again = ingest_file(str(path), store, config, workspace, options=IngestOptions(year=2025))
    assert (again.added, again.already_present) == (0, 2)
    assert any("2 event(s) were already stored with another time" in n and "--replace" in n for n in again.notes)
    assert stored(store) == [utc(2026, 3, 1, 10), utc(2026, 3, 2, 10)]


def test_year_correction_with_replace_on_both_engines(pair, tmp_path) -> None:
    """A log copied without its mtime (dated a year too late) is corrected with --year … --replace."""
    lines = syslog(["Dec 30 10:00:00", "Dec 31 23:59:59", "Jan  1 00:00:01", "Jan  2 08:00:00"])
    path = write(tmp_path / "auth.log", lines, utc(2027, 3, 5))  # copied in March 2027; written Jan 2026
    for store in pair.stores:
        first = ingest_file(str(path), store, pair.config, pair.workspace)
        assert first.added == 4
        fixed = ingest_file(str(path), store, pair.config, pair.workspace,
                            options=IngestOptions(year=2026, replace=True, reason="copied without mtime"))
        assert (fixed.added, fixed.replaced, fixed.removed, fixed.already_present) == (0, 4, 0, 0)
    want = [("2025-12-30T10:00:00", 1), ("2025-12-31T23:59:59", 2), ("2026-01-01T00:00:01", 3),
            ("2026-01-02T08:00:00", 4)]
    local = [(ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), line)
             for ts, line in pair.rows(pair.local, "@timestamp", "log.file.line")]
    search = [(ts[:19], line) for ts, line in pair.rows(pair.search, "@timestamp", "log.file.line")]
    assert sorted(local, key=lambda r: r[1]) == sorted(search, key=lambda r: r[1]) == want
    assert pair.local.count() == pair.search.count() == 4
    log = [e for e in audit.read(pair.workspace) if e["source"] == "auth.log"]
    assert [(e["action"], e["engine"], e["added"], e["replaced"]) for e in log] == [
        ("ingest", "local", 4, 0), ("replace", "local", 0, 4), ("ingest", pair.engine, 4, 0),
        ("replace", pair.engine, 0, 4)]
    assert log[1]["reason"] == "copied without mtime" and log[1]["options"]["year"] == 2026
    assert oct((pair.workspace.root / audit.FILENAME).stat().st_mode & 0o777) == "0o600"


def test_replace_with_a_shorter_input_removes_the_lines_gone(pair, tmp_path) -> None:
    lines = syslog(["Mar  1 10:00:00", "Mar  1 10:00:01", "Mar  1 10:00:02", "Mar  1 10:00:03"])
    path = write(tmp_path / "auth.log", lines, utc(2026, 3, 2))
    for store in pair.stores:
        ingest_file(str(path), store, pair.config, pair.workspace)
    write(path, [*lines[:2], "Mar  1 10:00:09 bastion sshd[9]: Accepted password for ops from 192.0.2.9 port 22 ssh2"],
          utc(2026, 3, 2))
    for store in pair.stores:
        result = ingest_file(str(path), store, pair.config, pair.workspace, options=IngestOptions(replace=True))
        assert (result.added, result.replaced, result.removed) == (1, 2, 2)
        assert store.count() == 3
    assert pair.rows(pair.local, "log.file.line", "user.name") == pair.rows(pair.search, "log.file.line", "user.name")
