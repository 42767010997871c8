"""The board's pages (GET): each asks the library's use cases and renders what it got. Pages of personal data
(the people affected, the disclosure record) are audited on every load and are not refreshed live."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from breachkit.incidents import api as incidents
from breachkit.incidents.access import Permission
from breachkit.incidents.board_api import board as board_rows
from breachkit.incidents.clock import legal_window
from breachkit.incidents.documents import DeadlineItem
from breachkit.incidents.model import ID_PATTERN, Decision, Filing, Incident, Task, TimelineEntry
from breachkit.incidents.reports_api import export_register, register_rows
from breachkit.notices.api import delivery_times, notice_status
from breachkit.notices.disclosures import disclosure_record
from breachkit.subjects.api import download_build, show_subjects
from breachkit.web import present, timeline_svg
from breachkit.web.auth import WebUser
from breachkit.web.context import FRAGMENT_HEADER, BoardContext, board_of

HISTORY = 25  # timeline entries shown before "show all"


def incident_id_of(request: Request) -> str:
    """The incident id in the path, checked before anything is read (a clear 404 for anything else)."""
    raw = str(request.path_params.get("incident_id", ""))
    iid = incidents.normalize_id(raw)
    if not ID_PATTERN.match(iid):
        raise HTTPException(404, f"No incident {raw[:40]!r}: incident ids look like BK-2026-0007.")
    return iid


# --- the board ----------------------------------------------------------------------------------------------


async def board_page(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request)
    return await run_in_threadpool(_board, board, request, user)


BOARD_BUCKET = 10.0  # seconds: the board's words ("due in 2 h 03 min") are recomputed at least this often


def _board(board: BoardContext, request: Request, user: WebUser) -> Response:
    """The board: computed once per store change (and every few seconds) for everyone, rendered per role."""
    key = (board.markers.get(None), int(time.time() // BOARD_BUCKET))
    rows, due_soon = board.memo.get(("board", *key), lambda: _board_rows(board))
    if FRAGMENT_HEADER in request.headers:
        identities = user.can(Permission.SEE_IDENTITIES)
        return board.memo.get(("board-html", *key, identities), lambda: board.render(
            request, "board.html", user, rows=rows, due_soon_hours=due_soon, title="Incident board"))
    return board.render(request, "board.html", user, rows=rows, due_soon_hours=due_soon, title="Incident board")


def _board_rows(board: BoardContext) -> tuple[list[dict[str, Any]], float]:
    session = board.session
    found = board_rows(session, due_soon=board.due_soon)
    rows = []
    for row in found.rows:
        items = {(d.regime, d.stage): DeadlineItem.of(row.incident, d) for d in row.deadlines}
        nxt = row.next_deadline
        rows.append({
            "row": row, "incident": row.incident,
            "next": present.deadline_view(items[(nxt.regime, nxt.stage)], session.regimes, found.due_soon,
                                          session.zone) if nxt else None,
            "next_task": (present.task_view(row.tasks.next, found.at, found.due_soon, session.zone)
                          if row.tasks.next else None),
            "overdue_stages": [present.deadline_view(items[(d.regime, d.stage)], session.regimes, found.due_soon,
                                                     session.zone) for d in row.overdue_stages if d is not nxt],
        })
    return rows, found.due_soon.total_seconds() / 3600


# --- one incident -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentPage:
    incident: Incident
    deadlines: list[present.DeadlineView]
    tasks: list[present.TaskView]
    decisions: list[Decision]
    filings: list[Filing]
    history: list[TimelineEntry]
    history_total: int
    notices: dict[str, int]
    subjects: dict[str, Any] | None  # the latest subject list's counts (no identities)
    picture: timeline_svg.TimelinePicture


def incident_page_data(board: BoardContext, iid: str, *, all_history: bool = False) -> IncidentPage:
    session = board.session
    doc = incidents.show_incident(session, iid, timeline=True)
    incident = Incident.model_validate(doc.incident)
    due_soon = board.due_soon
    deadlines = [present.deadline_view(d, session.regimes, due_soon, session.zone) for d in doc.deadlines]
    tasks = [Task.model_validate({k: v for k, v in t.items() if k in Task.model_fields}) for t in doc.tasks]
    decisions = [Decision.model_validate(d) for d in doc.decisions]
    filings = [Filing.model_validate(f) for f in doc.filings]
    timeline = [TimelineEntry.model_validate(e) for e in doc.timeline]
    notices = notice_status(session, iid).counts
    listing = show_subjects(session, iid)
    subjects = None
    if listing.record is not None:
        counts = listing.record.summary.get("counts", {})
        subjects = {"version": listing.record.version, "built_at": listing.record.built_at,
                    "people": counts.get("people", listing.record.rows),
                    "countries": counts.get("people_per_country", {}),
                    "categories": counts.get("people_per_category", {})}
    sends = delivery_times(session, iid)
    window = legal_window(incident.aware_at, doc.deadlines, doc.at)
    picture = timeline_svg.draw(incident, deadlines, filings, decisions, tasks, sends, window, doc.at, session.zone)
    newest = list(reversed(timeline))
    return IncidentPage(incident, deadlines, present.tasks_by_due(tasks, doc.at, due_soon, session.zone), decisions,
                        filings, newest if all_history else newest[:HISTORY], len(timeline), notices, subjects, picture)


async def incident_page(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request)
    iid = incident_id_of(request)
    all_history = request.query_params.get("history") == "all"
    return await run_in_threadpool(render_incident, board, request, user, iid, all_history=all_history)


def render_incident(board: BoardContext, request: Request, user: WebUser, iid: str, *, status: int = 200,
                    all_history: bool = False, **extra: Any) -> Response:
    page = incident_page_data(board, iid, all_history=all_history)
    saved = request.query_params.get("saved", "")
    return board.render(request, "incident.html", user, status=status, scope=page.incident.id, page=page,
                        title=f"{page.incident.id} · {page.incident.title}", saved=saved[:200],
                        conflict=extra.pop("conflict", None), problem=extra.pop("problem", None), **extra)


# --- the register, the disclosure record, the people affected ----------------------------------------------


async def register_page(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request, Permission.SEE_REGISTER)

    def run() -> Response:
        rows = register_rows(board.session)
        return board.render(request, "register.html", user, rows=rows, title="Breach register (Art. 33(5))")

    return await run_in_threadpool(run)


async def register_csv(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request, Permission.EXPORT)

    def run() -> Response:
        result = export_register(board.session.as_actor(user.name), "csv", None, target="board download",
                                 reason="breach register downloaded from the board")
        return Response(result.data, media_type="text/csv; charset=utf-8", headers={
            "content-disposition": 'attachment; filename="breach-register.csv"'})

    return await run_in_threadpool(run)


async def disclosures_page(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request, Permission.SEE_DISCLOSURES)
    raw = request.query_params.get("incident", "").strip()
    iid = incidents.normalize_id(raw) if raw else None
    if iid is not None and not ID_PATTERN.match(iid):
        raise HTTPException(404, f"No incident {raw[:40]!r}: incident ids look like BK-2026-0007.")

    def run() -> Response:
        session = board.session.as_actor(user.name)
        if iid is not None:
            incidents.get_incident(session, iid)  # a clear 404 for an unknown incident
        # the same use case as `report disclosures`; showing the record is recorded (an audit "view")
        record = disclosure_record(session, iid, reason="disclosure record shown on the board").document
        return board.render(request, "disclosures.html", user, scope=None, rows=list(reversed(record.disclosures)),
                            incident_id=iid, verify=record.verify, title="Disclosure record")

    return await run_in_threadpool(run)


async def subjects_page(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request, Permission.SEE_SUBJECTS)
    iid = incident_id_of(request)

    def run() -> Response:
        session = board.session.as_actor(user.name)
        view = show_subjects(session, iid, people=True, reason="subject list shown on the board")
        wanted = ["subject_id", "name", "email", "country", "account_type", "categories", "records"]
        columns = [c for c in wanted if view.people is not None and c in view.people.columns]
        people = [] if view.people is None else [{c: _cell(row[c]) for c in columns}
                                                 for row in view.people.head(500).to_dict("records")]
        return board.render(request, "subjects.html", user, scope=None, view=view, people=people, columns=columns,
                            incident_id=iid, title=f"{iid} · people affected")

    return await run_in_threadpool(run)


def _cell(value: Any) -> str:
    """A table cell as text: lists joined, missing values empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


async def subjects_csv(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request, Permission.EXPORT)
    iid = incident_id_of(request)

    def run() -> Response:
        data = download_build(board.session.as_actor(user.name), iid, "csv", target="board download",
                              reason="subject list downloaded from the board")
        return Response(data, media_type="text/csv; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="{iid}-subjects.csv"'})

    return await run_in_threadpool(run)


# --- live updates -----------------------------------------------------------------------------------------


async def live(request: Request) -> Response:
    """The change marker of the board (or of one incident) and the server's time, for the page's poller."""
    board = board_of(request)
    await board.user(request)
    scope = request.query_params.get("scope", "board")
    if scope != "board":
        scope = incidents.normalize_id(scope)
        if not ID_PATTERN.match(scope):
            raise HTTPException(404, "unknown scope")
    marker = await run_in_threadpool(board.markers.get, None if scope == "board" else scope)
    return JSONResponse({"marker": marker, "now": present.iso(board.session.now())},
                        headers={"cache-control": "no-store"})
