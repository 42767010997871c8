"""Documents that leave the incident store: the breach register (Art. 33(5)) and the timeline picture. Each
export is written 0600 (or handed back as bytes for stdout) and leaves an audit row with its SHA-256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from breachkit.errors import UsageError
from breachkit.incidents.api import incident_state
from breachkit.session import Session
from breachkit.workspace import write_private_bytes

RegisterFormat = Literal["csv", "json"]
TimelineWindow = Literal["legal", "all"]
WINDOWS: tuple[str, ...] = get_args(TimelineWindow)


@dataclass(frozen=True)
class Export:
    data: bytes  # what was written (or is to be shown, when `path` is None)
    path: Path | None
    sha256: str
    items: int  # incidents, people, messages… depending on the document


def deliver(data: bytes, path: Path | None) -> str:
    """Write `data` to `path` (0600, atomically) unless it goes to stdout; its SHA-256."""
    if path is not None:
        write_private_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def register_rows(session: Session) -> list[dict[str, Any]]:
    """The breach register as rows (one per incident, oldest first), for a screen; `export_register` writes it."""
    from breachkit.incidents.register import register

    return register(session.store, session.regimes, session.now())


def export_register(session: Session, fmt: RegisterFormat = "csv", out: Path | None = None, *,
                    reason: str = "breach register (Art. 33(5))", target: str | None = None) -> Export:
    """Every incident, notified or not: facts, effects, remedial action, decisions and reasons. `target` names
    where the data went when it is not a file (default "stdout"), for the audit log."""
    from breachkit.incidents.register import COLUMNS
    from breachkit.safecsv import csv_text

    store, now = session.store, session.now()
    rows = register_rows(session)
    data = (csv_text(rows, COLUMNS) if fmt == "csv"
            else json.dumps(rows, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    digest = deliver(data, out)
    store.audit("export", str(out) if out else (target or "stdout"), actor=session.actor, at=now, reason=reason,
                sha256=digest,
                detail={"what": "register", "format": fmt, "incidents": len(rows)})
    return Export(data, out, digest, len(rows))


def export_timeline(session: Session, incident_id: str, out: Path, *, window: TimelineWindow = "legal") -> Export:
    """A picture (.png or .svg, 0600) of occurred/detected/aware, tasks, filings and every deadline. The time axis
    is the legal window (awareness to the last deadline, as on the board: `clock.legal_window`) or `all`
    (everything, now included)."""
    from breachkit.incidents.clock import legal_window
    from breachkit.incidents.timeline_plot import plot_timeline, save_timeline

    if out.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"unsupported picture format {out.suffix!r}", path=out, hint="name the file .png or .svg")
    store, now, regimes = session.store, session.now(), session.regimes
    if window not in WINDOWS:
        raise UsageError(f"unknown timeline window {window!r} (known: {', '.join(WINDOWS)})", field="window")
    state = incident_state(session, incident_id)
    incident = state.incident
    span = legal_window(incident.aware_at, state.deadlines, now) if window == "legal" else None
    figure = plot_timeline(incident, deadlines=state.deadlines, tasks=state.tasks, filings=list(state.actions.filings),
                           now=now, zone=session.zone, regime_names={k: r.name for k, r in regimes.items()},
                           soon=session.due_soon, window=span)
    save_timeline(figure, out)
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    store.audit("export", str(out), actor=session.actor, at=now, incident_id=incident.id, reason="timeline picture",
                sha256=digest, detail={"what": "timeline", "window": window})
    return Export(data, out, digest, 1)
