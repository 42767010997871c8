"""Playbook tasks of an incident: list, assign, tick checklist items, complete, skip, reopen — each recorded in
the incident's timeline with who did it. A task the playbook lets an action complete (`completed_by`: a filing,
the delivery of the approved notices, a decision…) is shown done when that action is on record. Each change takes
`if_version`: only if the task is still at the version the caller read (a form rendered earlier, a script);
otherwise a ConflictError and nothing is written."""

from __future__ import annotations

from collections.abc import Iterable

from breachkit.errors import NotFoundError, UsageError
from breachkit.incidents.api import incident_state, normalize_id
from breachkit.incidents.model import Task, TaskState
from breachkit.session import Session


def list_tasks(session: Session, incident_id: str) -> list[Task]:
    """The tasks by due time, as the actions on record left them (see `breachkit.incidents.progress`)."""
    return incident_state(session, incident_id).tasks


def get_task(session: Session, incident_id: str, key: str) -> Task:
    iid = normalize_id(incident_id)
    found = next((t for t in session.store.tasks(iid) if t.key == key), None)
    if found is None:
        raise NotFoundError(f"{iid} has no task {key!r}", field="task",
                            hint=f"`breachkit incident task list {iid}` shows them")
    return found


def _change(session: Session, incident_id: str, key: str, changes: dict[str, object], reason: str,
            if_version: int | None) -> Task:
    return session.store.update_task(normalize_id(incident_id), key, changes, actor=session.actor,
                                     now=session.now(), reason=reason, expected_version=if_version)


def assign_task(session: Session, incident_id: str, key: str, assignee: str, *, if_version: int | None = None
                ) -> Task:
    """Give a task to someone (an email: reminders go there)."""
    if not assignee.strip():
        raise UsageError("an assignee is needed", field="assignee")
    return _change(session, incident_id, key, {"assignee": assignee.strip()}, f"assigned to {assignee.strip()}",
                   if_version)


def check_items(session: Session, incident_id: str, key: str, items: Iterable[int], *,
                uncheck: bool = False, if_version: int | None = None) -> Task:
    """Tick (or untick) checklist items by number (1 = the first)."""
    current = get_task(session, incident_id, key)
    if_version = current.version if if_version is None else if_version  # computed from what was read here
    checked, picked = set(current.checked), {i - 1 for i in items}
    return _change(session, incident_id, key,
                   {"checked": sorted(checked - picked if uncheck else checked | picked)}, "checklist",
                   if_version)


def complete_task(session: Session, incident_id: str, key: str, note: str = "", *, if_version: int | None = None
                  ) -> Task:
    return _change(session, incident_id, key, {"state": TaskState.DONE.value, **({"note": note} if note else {})},
                   note or "done", if_version)


def skip_task(session: Session, incident_id: str, key: str, *, reason: str, if_version: int | None = None) -> Task:
    """A task that does not apply to this incident (the reason is recorded)."""
    if not reason.strip():
        raise UsageError("skipping a task needs a reason", field="reason")
    return _change(session, incident_id, key, {"state": TaskState.SKIPPED.value, "note": reason}, reason,
                   if_version)


def reopen_task(session: Session, incident_id: str, key: str, *, reason: str, if_version: int | None = None
                ) -> Task:
    if not reason.strip():
        raise UsageError("reopening a task needs a reason", field="reason")
    shown = next((t for t in list_tasks(session, incident_id) if t.key == key), None)
    if shown is not None and shown.done_by_action and get_task(session, incident_id, key).state is TaskState.OPEN:
        raise UsageError(f"task {key!r} follows what was done ({shown.done_by_action}): it cannot be reopened by hand",
                         hint="it opens again only if the record changes (e.g. a new decision)")
    return _change(session, incident_id, key, {"state": TaskState.OPEN.value}, reason, if_version)


def set_checklist(session: Session, incident_id: str, key: str, checked: Iterable[int], *,
                  if_version: int | None = None) -> Task:
    """Make exactly these checklist items (by number, 1 = the first) the ticked ones — what a form with a box per
    item says. Numbers outside the checklist are refused."""
    current = get_task(session, incident_id, key)
    picked = sorted({i - 1 for i in checked})
    bad = [i + 1 for i in picked if not 0 <= i < len(current.checklist)]
    if bad:
        raise UsageError(f"task {key!r} has checklist items 1–{len(current.checklist)}, not "
                         f"{', '.join(map(str, bad))}", field="checked")
    return _change(session, incident_id, key, {"checked": picked}, "checklist",
                   current.version if if_version is None else if_version)
