"""The task list as it stands: tasks completed by what was done (a playbook task names the actions that complete
it, `completed_by`), ordered by due time. Pure: the actions, the deadlines and `now` are given. How a task or a stage
stands in words is `breachkit.incidents.timing`.

A task completed by an action is shown done at the time of the action, by whoever did it, with the action named
(`done_by_action`); the stored task is not changed, so the task list always follows the record of what was done
and no crash can leave the two apart. A `not_required` alternative skips the task when its regime stage is not
required (a recorded decision) and nothing else completed it. A task someone completed, skipped or reopened by
hand keeps that state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from breachkit.incidents.actions import Actions, Fulfilment, delivery_fulfilment, filing_fulfilment
from breachkit.incidents.clock import Deadline, Status
from breachkit.incidents.model import ActionKind, FilingKind, Task, TaskAction, TaskState


def _first(found: Sequence[Fulfilment]) -> Fulfilment | None:
    return min(found, key=lambda f: f.at) if found else None


def happened(action: TaskAction, actions: Actions) -> Fulfilment | None:
    """When `action` first happened, or None (a `not_required` action is not an action: None)."""
    kinds = set(action.kind)
    match action.action:
        case ActionKind.FILING | ActionKind.PUBLIC_COMMUNICATION:
            public = action.action is ActionKind.PUBLIC_COMMUNICATION
            return _first([filing_fulfilment(f) for f in actions.filings
                           if (action.regime is None or (f.regime, f.stage) == (action.regime, action.stage))
                           and (f.kind is FilingKind.PUBLIC_COMMUNICATION) == public
                           and (public or not kinds or f.kind.value in kinds)])
        case ActionKind.NOTICES_DELIVERED:
            return _first([delivery_fulfilment(d) for d in actions.deliveries if d.kind == "subject"])
        case ActionKind.DECISION:
            firsts = []
            for kind in sorted(kinds):
                made = [d for d in actions.decisions if d.kind.value == kind]
                if not made:
                    return None
                first = min(made, key=lambda d: d.decided_at)
                firsts.append(Fulfilment(first.decided_at, "decision",
                                         f"decision {kind}: {'yes' if first.decision else 'no'}", first.decided_by))
            last = max(firsts, key=lambda f: f.at)
            return Fulfilment(last.at, "decision", "; ".join(f.detail for f in firsts), last.by)
        case ActionKind.APPROVAL:
            return _first([Fulfilment(a.approved_at, "approval", f"{a.kind} version {a.version} approved",
                                      a.approved_by)
                           for a in actions.approvals if not kinds or a.kind in kinds])
    return None


def effective_tasks(tasks: Sequence[Task], actions: Actions, deadlines: Sequence[Deadline]) -> list[Task]:
    """The tasks with those that actions completed (or made not apply) shown as such."""
    waived = {(d.regime, d.stage): d for d in deadlines if d.status is Status.NOT_REQUIRED}
    out: list[Task] = []
    for task in tasks:
        if task.state is not TaskState.OPEN or not task.done_when:
            out.append(task)
            continue
        done = _first([f for a in task.done_when if (f := happened(a, actions)) is not None])
        if done is not None:
            out.append(task.model_copy(update={"state": TaskState.DONE, "completed_at": done.at,
                                               "completed_by": done.by or None,
                                               "done_by_action": f"{done.action}: {done.detail}"}))
            continue
        skip = next((waived[(a.regime or "", a.stage or "")] for a in task.done_when
                     if a.action is ActionKind.NOT_REQUIRED and (a.regime, a.stage) in waived), None)
        if skip is not None:
            why = f"{skip.regime}.{skip.stage} not required: {skip.detail}"
            out.append(task.model_copy(update={"state": TaskState.SKIPPED, "completed_at": skip.met_at,
                                               "done_by_action": why}))
            continue
        out.append(task)
    return out


def by_due_time(tasks: Sequence[Task]) -> list[Task]:
    """Tasks by due time (those without one last), playbook order among equals."""
    return sorted(tasks, key=lambda t: (t.due_at is None, t.due_at or datetime.min))
