"""The board's actions (POST): assign, tick, complete or reopen a task; add a note; record the authority's reference
or the reasons for a delay. Each goes through the same use case as the CLI, as the signed-in user, and names the
version its form was rendered from: a stale form gets the conflict and the current value (409), never an
overwrite. A malformed form is refused (400) before anything is read or written."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from breachkit.errors import ConflictError, InputError, NotFoundError, UsageError
from breachkit.incidents import api as incidents
from breachkit.incidents import tasks_api
from breachkit.incidents.access import Permission
from breachkit.session import Session
from breachkit.web.auth import WebUser
from breachkit.web.context import BoardContext, board_of, redirect
from breachkit.web.pages import incident_id_of, render_incident

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_TEXT = 4000


@dataclass(frozen=True)
class Conflict:
    what: str  # "task", "incident"
    title: str
    now: list[tuple[str, str]]  # the current values, in words
    yours: str  # the change that was not applied


def _text(form: FormData, name: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise HTTPException(400, f"The field {name!r} must be text.")
    value = value.strip()
    if required and not value:
        raise HTTPException(400, f"The field {name!r} is required: nothing was changed.")
    if len(value) > limit or _CONTROL.search(value):
        raise HTTPException(400, f"The field {name!r} is too long or holds control characters: nothing was changed.")
    return value


def _version(form: FormData) -> int:
    raw = form.get("version")
    if not isinstance(raw, str) or not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise HTTPException(400, "The form does not say which version it was made from: nothing was changed. "
                                 "Reload the page and try again.")
    return int(raw)


def _key(request: Request) -> str:
    key = str(request.path_params.get("key", ""))
    if not _KEY.match(key):
        raise HTTPException(404, f"No task {key[:40]!r}.")
    return key


def _apply(board: BoardContext, request: Request, user: WebUser, iid: str, change: Callable[[Session], Any],
           saved: str, anchor: str, conflict: Callable[[Session], Conflict]) -> Response:
    session = board.session.as_actor(user.name)
    try:
        change(session)
    except ConflictError:
        return render_incident(board, request, user, iid, status=409, conflict=conflict(session))
    except NotFoundError:
        raise
    except (UsageError, InputError) as exc:
        return render_incident(board, request, user, iid, status=400, problem=exc.message)
    return redirect(f"/incidents/{quote(iid)}?saved={saved}#{anchor}")


def _task_conflict(iid: str, key: str, yours: str) -> Callable[[Session], Conflict]:
    def describe(session: Session) -> Conflict:
        task = tasks_api.get_task(session, iid, key)
        done = f" by {task.completed_by}" if task.completed_by else ""
        return Conflict("task", task.title, [
            ("state", task.state.value + done), ("assignee", task.assignee or "nobody"),
            ("checklist", f"{len(task.checked)} of {len(task.checklist)} ticked"), ("version", str(task.version))],
            yours)
    return describe


async def task_action(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request, Permission.WORK_TASKS)
    iid, key = incident_id_of(request), _key(request)
    action = request.url.path.rsplit("/", 1)[-1]
    form = await board.form(request, user)
    version = _version(form)
    change: Callable[[Session], Any]
    if action == "assign":
        assignee = _text(form, "assignee", required=True, limit=320)
        change, yours = (lambda s: tasks_api.assign_task(s, iid, key, assignee, if_version=version),
                         f"assign to {assignee}")
    elif action == "checklist":
        raw = form.getlist("item")
        if not all(isinstance(i, str) and i.isdigit() and 0 < int(i) <= 1000 for i in raw):
            raise HTTPException(400, "Checklist items are numbers: nothing was changed.")
        items = [int(str(i)) for i in raw]
        change, yours = (lambda s: tasks_api.set_checklist(s, iid, key, items, if_version=version),
                         f"tick items {', '.join(map(str, items)) or 'none'}")
    elif action == "complete":
        note = _text(form, "note", required=False)
        change, yours = lambda s: tasks_api.complete_task(s, iid, key, note, if_version=version), "mark it done"
    elif action == "reopen":
        reason = _text(form, "reason", required=True)
        change, yours = lambda s: tasks_api.reopen_task(s, iid, key, reason=reason, if_version=version), "reopen it"
    else:  # pragma: no cover — the routes name the actions
        raise HTTPException(404, "No such action.")
    return await run_in_threadpool(_apply, board, request, user, iid, change, f"{action}:{key}", f"task-{key}",
                                   _task_conflict(iid, key, yours))


async def add_note(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request, Permission.ADD_NOTES)
    iid = incident_id_of(request)
    form = await board.form(request, user)
    text = _text(form, "text", required=True)

    def no_conflict(session: Session) -> Conflict:  # pragma: no cover — notes are appended, never conflict
        raise AssertionError("a note cannot conflict")

    return await run_in_threadpool(_apply, board, request, user, iid, lambda s: incidents.add_note(s, iid, text),
                                   "note", "history", no_conflict)


def _incident_conflict(iid: str, field: str, label: str, yours: str) -> Callable[[Session], Conflict]:
    def describe(session: Session) -> Conflict:
        incident = incidents.get_incident(session, iid)
        value = getattr(incident, field) or "not recorded"
        return Conflict("incident", f"{incident.id} · {incident.title}",
                        [(label, str(value)), ("version", str(incident.version))], yours)
    return describe


async def record_field(request: Request) -> Response:
    """The authority's reference (`/reference`) or the reasons for a delay (`/delay-reasons`)."""
    board = board_of(request)
    user = await board.user(request, Permission.RECORD_REFERENCE)
    iid = incident_id_of(request)
    form = await board.form(request, user)
    version = _version(form)
    if request.url.path.endswith("/reference"):
        field, label, saved = "authority_reference", "authority reference", "reference"
        value = _text(form, "reference", required=True, limit=200)
    else:
        field, label, saved = "delay_reasons", "reasons for the delay", "delay"
        value = _text(form, "delay_reasons", required=True)

    def change(session: Session) -> Any:
        return incidents.update_incident(session, iid, {field: value}, reason=f"{label} recorded on the board",
                                         if_version=version)

    return await run_in_threadpool(_apply, board, request, user, iid, change, saved, "clocks",
                                   _incident_conflict(iid, field, label, f"set it to {value!r}"))
