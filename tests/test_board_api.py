"""The library behind the board and the terminal views: what is due next across incidents, the legal window of the
timeline, task versions (optimistic locking in the store), words for durations, and the 80-column tables."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from breachkit.errors import ConflictError, UsageError
from breachkit.incidents import api as incidents
from breachkit.incidents import tasks_api
from breachkit.incidents.board_api import board
from breachkit.incidents.clock import deadlines, due_words, duration_words, legal_window
from breachkit.incidents.regimes import builtin_regimes
from tests.board_world import cheap_hashing, make_world

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path, store_url, monkeypatch):
    cheap_hashing(monkeypatch)
    w = make_world(tmp_path, store_url, now=NOW)
    yield w
    w.session.close()


def test_the_board_puts_the_nearest_deadline_first_and_counts_the_task_load(world):
    found = board(world.session, due_soon=timedelta(hours=6))
    assert [r.incident.id for r in found.rows] == [world.overdue, world.running, world.people]
    first = found.rows[0]
    assert first.next_deadline is not None and (first.next_deadline.regime, first.next_deadline.stage) == (
        "nis2", "early_warning")
    assert first.delay_reasons_required and [d.stage for d in first.overdue_stages] == ["early_warning"]
    assert first.tasks.overdue == sum(1 for t in tasks_api.list_tasks(world.session, world.overdue)
                                      if t.due_at is not None and t.due_at < NOW)
    assert first.tasks.next is not None and first.tasks.next.key == "triage"  # due first, overdue first
    running = found.rows[1]
    assert running.next_deadline is not None and running.next_deadline.stage == "authority"
    assert running.tasks.overdue == 1 and running.tasks.due_soon == 2  # triage (1 h) late; contain, evidence in 4 h
    filed = found.rows[2]  # gdpr-33 filed: only "without undue delay" (Art. 34) is left
    assert filed.next_deadline is not None and filed.next_deadline.due_at is None
    incidents.update_incident(world.session, world.overdue, {"delay_reasons": "the CSIRT portal was down"},
                              reason="reasons")
    assert not board(world.session).rows[0].delay_reasons_required


def test_closed_incidents_are_not_on_the_board(world):
    from breachkit.incidents import decisions_api

    decisions_api.decide(world.session, world.running, authority=False, reason="no risk: disk encrypted")
    incidents.close_incident(world.session, world.running, reason="encrypted disk")
    assert world.running not in [r.incident.id for r in board(world.session).rows]


def test_the_legal_window_runs_from_awareness_to_the_last_firm_deadline():
    regimes = builtin_regimes()
    aware = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    later = aware + timedelta(days=10)
    gdpr = deadlines(regimes["gdpr-33"], aware, later) + deadlines(regimes["gdpr-34"], aware, later)
    assert legal_window(aware, gdpr, later) == (aware, aware + timedelta(hours=72))  # however old the incident
    nis2 = deadlines(regimes["nis2"], aware, later)
    assert legal_window(aware, nis2, later) == (aware, aware + timedelta(hours=72))  # the final report is provisional
    filed = deadlines(regimes["nis2"], aware, later, {"early_warning": aware + timedelta(hours=20),
                                                      "notification": aware + timedelta(hours=60)})
    assert legal_window(aware, filed, later)[1] == datetime(2026, 4, 3, 20, 0, tzinfo=UTC)  # now a firm month
    assert legal_window(aware, deadlines(regimes["gdpr-34"], aware, later), later) == (aware, later)
    assert legal_window(aware, [], aware) == (aware, aware + timedelta(hours=1))


def test_words_for_durations():
    assert duration_words(timedelta(days=2, hours=3, minutes=4)) == "2 d 3 h"
    assert duration_words(timedelta(hours=3, minutes=5)) == "3 h 05 min"
    assert duration_words(timedelta(minutes=-12, seconds=-3)) == "12 min"
    assert duration_words(timedelta(seconds=40)) == "40 s"
    assert due_words(timedelta(hours=1)) == "due in 1 h 00 min"
    assert due_words(timedelta(hours=-25)) == "OVERDUE by 1 d 1 h"
    assert due_words(timedelta(hours=1), timedelta(hours=6)) == "due soon: in 1 h 00 min"
    assert due_words(timedelta(hours=1), timedelta(hours=6), countdown=True) == "1 h 00 min left (due soon)"


def test_task_updates_name_the_version_they_read(world):
    iid = world.running
    task = tasks_api.get_task(world.session, iid, "contain")
    assert task.version == 1
    assigned = tasks_api.assign_task(world.session, iid, "contain", "a@example.org", if_version=1)
    assert assigned.version == 2 and tasks_api.get_task(world.session, iid, "contain").version == 2
    before = len(world.session.store.timeline(iid))
    with pytest.raises(ConflictError, match="version 2, you read version 1"):
        tasks_api.complete_task(world.session, iid, "contain", if_version=1)
    assert tasks_api.get_task(world.session, iid, "contain").state.value == "open"
    assert len(world.session.store.timeline(iid)) == before  # nothing written
    ticked = tasks_api.set_checklist(world.session, iid, "contain", [1, 3], if_version=2)
    assert ticked.checked == [0, 2] and ticked.version == 3
    with pytest.raises(UsageError, match="checklist items 1"):
        tasks_api.set_checklist(world.session, iid, "contain", [99])
    # without a version the store still checks against what the call read
    assert tasks_api.check_items(world.session, iid, "contain", [2]).checked == [0, 1, 2]


SOON = timedelta(hours=6)


def test_terminal_views_fit_80_columns_with_full_due_times_and_words(world):
    from rich.console import Console

    from breachkit.cli.views import deadline_table, task_table

    zone = ZoneInfo("Europe/Berlin")
    clock = incidents.clock(world.session)
    tasks = tasks_api.list_tasks(world.session, world.overdue)
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    console.print(deadline_table(clock.deadlines, zone, "clock", SOON))
    console.print(task_table(tasks, zone, NOW, SOON))
    text = out.getvalue()
    flat = " ".join(text.split())
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # nothing cut
    assert "2026-03-30 12:00" in text  # the NIS2 early warning (10:00 UTC), whole, in local time (CEST)
    assert "OVERDUE by 1 d 2 h · reasons for the delay required" in flat
    assert "due soon: in 1 h 00 min" in tasks_text(tasks_api.list_tasks(world.session, world.running), zone)
    assert "security: sec@example.org" in flat  # the owner of "contain"


def tasks_text(tasks, zone) -> str:
    from rich.console import Console

    from breachkit.cli.views import task_table

    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(task_table(tasks, zone, NOW, SOON))
    return " ".join(out.getvalue().split())
