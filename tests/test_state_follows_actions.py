"""State follows actions (issue 13.4) and a clock that cannot lie (11.3), the pure parts: regime stages met by
deliveries, public communications and filings or not required by a recorded decision; playbook tasks completed by
the actions they name; tasks in words; the incident's moments checked against now and each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from breachkit.errors import InputError
from breachkit.incidents.actions import Actions, Delivery
from breachkit.incidents.clock import Status, deadlines, duration_words, incident_deadlines
from breachkit.incidents.model import (
    Approval,
    Decision,
    DecisionKind,
    Filing,
    FilingKind,
    Incident,
    Task,
    TaskAction,
    TaskState,
)
from breachkit.incidents.moments import future_problems, order_problems
from breachkit.incidents.playbooks import find_playbook, parse_playbook, tasks_for
from breachkit.incidents.progress import by_due_time, effective_tasks
from breachkit.incidents.regimes import builtin_regimes
from breachkit.incidents.timing import Timing, task_timing

REGIMES = builtin_regimes()
AWARE = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
IID = "BK-2026-0001"


def decision(kind: DecisionKind, yes: bool, at: datetime, reasons: str = "r") -> Decision:
    return Decision(incident_id=IID, kind=kind, decision=yes, reasons=reasons, decided_by="mgmt", decided_at=at)


def filing(regime: str, stage: str, at: datetime, kind: FilingKind = FilingKind.INITIAL) -> Filing:
    return Filing(incident_id=IID, regime=regime, stage=stage, kind=kind, filed_at=at, filed_by="dpo",
                  recipient="LDA", reference="LDA-1")


def stages(actions: Actions, now: datetime, regimes: tuple[str, ...] = ("gdpr-33", "gdpr-34")) -> dict[str, object]:
    return {f"{d.regime}.{d.stage}": d for d in incident_deadlines(regimes, REGIMES, AWARE, actions, now)}


def test_delivering_every_approved_notice_meets_art_34_at_that_moment_and_the_clock_stops():
    sent = AWARE + timedelta(hours=50)
    now = AWARE + timedelta(days=248)
    d = stages(Actions(deliveries=[Delivery("subject", 1, 216, sent, "dpo")]), now)["gdpr-34.subjects"]
    assert d.status is Status.MET and d.met_at == sent and d.met_by == "notices_delivered"  # type: ignore[attr-defined]
    assert "216 approved notices" in d.detail  # type: ignore[attr-defined]
    assert d.elapsed == timedelta(hours=50)  # type: ignore[attr-defined]  # not 248 days: it stopped when met
    open_ = stages(Actions(), now)["gdpr-34.subjects"]
    assert open_.status is Status.OPEN and open_.elapsed == timedelta(days=248)  # type: ignore[attr-defined]


def test_a_public_communication_meets_art_34_and_a_filing_meets_art_33_on_time_or_late():
    actions = Actions(filings=[filing("gdpr-34", "subjects", AWARE + timedelta(hours=5),
                                      FilingKind.PUBLIC_COMMUNICATION),
                               filing("gdpr-33", "authority", AWARE + timedelta(hours=80))])
    found = stages(actions, AWARE + timedelta(days=10))
    assert found["gdpr-34.subjects"].met_by == "public_communication"  # type: ignore[attr-defined]
    late = found["gdpr-33.authority"]
    assert late.status is Status.LATE and late.needs_delay_reasons  # type: ignore[attr-defined]
    assert late.remaining == -timedelta(hours=8)  # type: ignore[attr-defined]  # measured when it was filed


def test_a_decision_not_to_notify_makes_the_stage_not_required_until_a_later_yes():
    no = decision(DecisionKind.NOTIFY_AUTHORITY, False, AWARE + timedelta(hours=20), "encrypted, key safe")
    now = AWARE + timedelta(days=30)
    waived = stages(Actions(decisions=[no]), now)["gdpr-33.authority"]
    assert waived.status is Status.NOT_REQUIRED and not waived.needs_delay_reasons  # type: ignore[attr-defined]
    assert waived.met_at == no.decided_at and "encrypted, key safe" in waived.detail  # type: ignore[attr-defined]
    assert waived.remaining is None  # type: ignore[attr-defined]
    yes = decision(DecisionKind.NOTIFY_AUTHORITY, True, AWARE + timedelta(hours=30))
    assert stages(Actions(decisions=[no, yes]), now)["gdpr-33.authority"].status is Status.OVERDUE  # type: ignore[attr-defined]
    # what was done wins over a decision not to do it
    filed = Actions(decisions=[no], filings=[filing("gdpr-33", "authority", AWARE + timedelta(hours=10))])
    assert stages(filed, now)["gdpr-33.authority"].status is Status.MET  # type: ignore[attr-defined]
    subjects_no = Actions(decisions=[decision(DecisionKind.NOTIFY_SUBJECTS, False, AWARE + timedelta(hours=3))])
    assert stages(subjects_no, now)["gdpr-34.subjects"].status is Status.NOT_REQUIRED  # type: ignore[attr-defined]


def test_a_stage_counted_from_a_waived_stage_is_not_required_either(tmp_path):
    from breachkit.incidents.regimes import load_regimes

    path = tmp_path / "regimes.toml"
    path.write_text('[[regime]]\nid = "x"\nname = "X"\n'
                    '[[regime.stage]]\nid = "first"\ntitle = "First"\ndue = { hours = 24 }\n'
                    'not_required_by = "notify_authority"\n'
                    '[[regime.stage]]\nid = "final"\ntitle = "Final"\ndue = { months = 1, after = "first" }\n',
                    encoding="utf-8")
    regime = load_regimes([path])["x"]
    no = decision(DecisionKind.NOTIFY_AUTHORITY, False, AWARE + timedelta(hours=2))
    found = {d.stage: d for d in deadlines(regime, AWARE, AWARE + timedelta(days=60), actions=Actions(decisions=[no]))}
    assert found["first"].status is Status.NOT_REQUIRED and found["final"].status is Status.NOT_REQUIRED
    assert "first is not required" in found["final"].detail


def test_regimes_refuse_unknown_actions_and_decisions(tmp_path):
    from breachkit.errors import ConfigError
    from breachkit.incidents.regimes import load_regimes

    path = tmp_path / "r.toml"
    path.write_text('[[regime]]\nid = "x"\nname = "X"\n[[regime.stage]]\nid = "a"\ntitle = "A"\n'
                    'met_by = ["telepathy"]\nnot_required_by = "notify_pets"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_regimes([path])
    text = " ".join(p.message for p in err.value.problems)
    assert "telepathy" in text and "notify_pets" in text


def _task(key: str, due_hours: float | None, *actions: TaskAction, state: TaskState = TaskState.OPEN) -> Task:
    return Task(incident_id=IID, key=key, title=key, role="dpo", state=state, done_when=list(actions),
                due_at=None if due_hours is None else AWARE + timedelta(hours=due_hours))


def test_tasks_are_completed_by_the_actions_they_name_and_skipped_when_not_required():
    submit = _task("submit", 72, TaskAction(action="filing", regime="gdpr-33", stage="authority"),
                   TaskAction(action="not_required", regime="gdpr-33", stage="authority"))
    send = _task("send", 72, TaskAction(action="notices_delivered"),
                 TaskAction(action="public_communication", regime="gdpr-34", stage="subjects"),
                 TaskAction(action="not_required", regime="gdpr-34", stage="subjects"))
    decide = _task("decide", 36, TaskAction(action="decision", kind=["notify_authority", "notify_subjects"]))
    review = _task("review", 60, TaskAction(action="approval", kind="authority"))
    follow = _task("follow-up", 24 * 14, TaskAction(action="filing", regime="gdpr-33", stage="authority",
                                                    kind=["follow_up"]))
    manual = _task("manual", 4, TaskAction(action="notices_delivered"), state=TaskState.SKIPPED)
    tasks = [submit, send, decide, review, follow, manual]
    now = AWARE + timedelta(days=3)

    def run(actions: Actions) -> dict[str, Task]:
        found = incident_deadlines(("gdpr-33", "gdpr-34"), REGIMES, AWARE, actions, now)
        return {t.key: t for t in effective_tasks(tasks, actions, found)}

    nothing = run(Actions())
    assert {t.state for t in nothing.values() if t.key != "manual"} == {TaskState.OPEN}
    filed_at, sent_at = AWARE + timedelta(hours=60), AWARE + timedelta(hours=70)
    done = run(Actions(filings=[filing("gdpr-33", "authority", filed_at)],
                     deliveries=[Delivery("subject", 1, 3, sent_at, "dpo")],
                     decisions=[decision(DecisionKind.NOTIFY_AUTHORITY, True, AWARE + timedelta(hours=30))],
                     approvals=[Approval(id=1, incident_id=IID, kind="authority", version=1, approved_at=filed_at,
                                         approved_by="dpo", reason="ok", messages=1, sha256="0" * 64)]))
    assert done["submit"].state is TaskState.DONE and done["submit"].completed_at == filed_at
    assert done["submit"].done_by_action and done["submit"].done_by_action.startswith("filing")
    assert done["send"].state is TaskState.DONE and done["send"].completed_at == sent_at
    assert done["review"].state is TaskState.DONE
    assert done["decide"].state is TaskState.OPEN  # only one of the two decisions is recorded
    assert done["follow-up"].state is TaskState.OPEN  # an initial filing is not the follow-up
    assert done["manual"].state is TaskState.SKIPPED and done["manual"].done_by_action is None  # by hand: kept
    waived = run(Actions(decisions=[decision(DecisionKind.NOTIFY_AUTHORITY, False, AWARE + timedelta(hours=20)),
                                  decision(DecisionKind.NOTIFY_SUBJECTS, False, AWARE + timedelta(hours=21))]))
    assert waived["submit"].state is TaskState.SKIPPED and waived["send"].state is TaskState.SKIPPED
    assert waived["decide"].state is TaskState.DONE and waived["decide"].completed_at == AWARE + timedelta(hours=21)
    assert "not required" in (waived["send"].done_by_action or "")


def test_task_timing_in_words_and_order_by_due_time():
    now = AWARE + timedelta(hours=10)
    soon = timedelta(hours=12)
    overdue, due_soon, later, undated = (_task("a", 8), _task("b", 15), _task("c", 72), _task("d", None))
    assert task_timing(overdue, now, soon).text == "OVERDUE by 2 h 00 min"
    assert task_timing(due_soon, now, soon).state is Timing.DUE_SOON
    assert task_timing(due_soon, now, soon).text == "due soon: in 5 h 00 min"
    assert task_timing(later, now, soon).text == "due in 2 d 14 h"
    assert task_timing(undated, now, soon).state is Timing.NO_DEADLINE
    assert task_timing(_task("e", 1, state=TaskState.DONE), now, soon).state is Timing.DONE
    assert [t.key for t in by_due_time([undated, later, overdue, due_soon])] == ["a", "b", "c", "d"]
    assert duration_words(timedelta(minutes=90)) == "1 h 30 min" and duration_words(timedelta(seconds=20)) == "20 s"


def test_the_bundled_gdpr_playbook_names_the_actions_that_complete_its_tasks():
    book = find_playbook("gdpr-personal-data-breach", known_regimes=REGIMES)
    tasks = {t.key: t for t in tasks_for(book, IID, AWARE)}
    assert tasks["authority-report-submit"].done_when[0].describe() == "filing gdpr-33.authority"
    assert any(a.action == "notices_delivered" for a in tasks["subject-communication-send"].done_when)
    nis2 = {t.key: t for t in tasks_for(find_playbook("nis2-significant-incident", known_regimes=REGIMES), IID, AWARE)}
    assert nis2["early-warning"].done_when[0].describe() == "filing nis2.early_warning"


def test_completed_by_problems_are_located():
    text = ("id: x\nname: X\nroles: {dpo: DPO}\ntasks:\n  - id: a\n    title: A\n    role: dpo\n    due: 4h\n"
            "    completed_by: {action: filing, regime: gdpr-33, stage: nowhere}\n"
            "  - id: b\n    title: B\n    role: dpo\n    due: 4h\n"
            "    completed_by:\n      - {action: decision}\n      - {action: teleport}\n")
    with pytest.raises(InputError) as err:
        parse_playbook(text, "x.yaml", known_regimes=REGIMES)
    found = {(p.location.line, p.location.field): p.message for p in err.value.problems}
    assert any(line == 9 and "unknown stage 'nowhere'" in m for (line, _), m in found.items()), found
    assert any(line == 15 and "needs kind" in m for (line, _), m in found.items()), found
    assert any(line == 16 and "'notices_delivered'" in m for (line, _), m in found.items()), found


def _incident(**moments: datetime | None) -> Incident:
    return Incident(id=IID, title="t", aware_at=moments.pop("aware_at", AWARE), aware_justification="j",
                    created_at=AWARE, updated_at=AWARE, **moments)


def test_moments_in_the_future_and_out_of_order_are_found():
    now = AWARE + timedelta(hours=1)
    skew = timedelta(minutes=5)
    assert future_problems(_incident(), now, skew) == []
    assert [p.location.field for p in future_problems(_incident(aware_at=now + timedelta(minutes=4)), now, skew)] == []
    late = future_problems(_incident(aware_at=now + timedelta(days=400), occurred_at=AWARE), now, skew)
    assert [p.location.field for p in late] == ["aware_at"] and "in the future" in late[0].message
    assert future_problems(_incident(aware_at=now + timedelta(days=1)), now, skew, frozenset({"occurred_at"})) == []
    wrong = _incident(occurred_at=AWARE + timedelta(hours=1), detected_at=AWARE + timedelta(hours=2))
    problems = order_problems(wrong)  # occurred after aware, detected after aware
    assert [p.location.field for p in problems] == ["aware_at", "aware_at"]
    assert "occurred_at" in problems[0].message and "detected_at" in problems[1].message
    assert order_problems(_incident(occurred_at=AWARE - timedelta(days=1), detected_at=AWARE)) == []
