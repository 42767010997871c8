"""Documents that leave the incident store: the breach register (Art. 33(5)) and the timeline picture. Each
export is written 0600 (or handed back as bytes for stdout) and leaves an audit row with its SHA-256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from breachkit.errors import UsageError
from breachkit.incidents.api import incident_state
from breachkit.session import Session
from breachkit.workspace import write_private_bytes

RegisterFormat = Literal["csv", "json"]


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


def export_register(session: Session, fmt: RegisterFormat = "csv", out: Path | None = None, *,
                    reason: str = "breach register (Art. 33(5))") -> Export:
    """Every incident, notified or not: facts, effects, remedial action, decisions and reasons."""
    from breachkit.incidents.register import COLUMNS, register
    from breachkit.safecsv import csv_text

    store, now = session.store, session.now()
    rows = register(store, session.regimes, now)
    data = (csv_text(rows, COLUMNS) if fmt == "csv"
            else json.dumps(rows, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    digest = deliver(data, out)
    store.audit("export", str(out) if out else "stdout", actor=session.actor, at=now, reason=reason, sha256=digest,
                detail={"what": "register", "format": fmt, "incidents": len(rows)})
    return Export(data, out, digest, len(rows))


def export_timeline(session: Session, incident_id: str, out: Path) -> Export:
    """A picture (.png or .svg, 0600) of occurred/detected/aware, tasks, filings and every deadline."""
    from breachkit.incidents.timeline_plot import plot_timeline, save_timeline

    if out.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"unsupported picture format {out.suffix!r}", path=out, hint="name the file .png or .svg")
    store, now, regimes = session.store, session.now(), session.regimes
    state = incident_state(session, incident_id)
    incident = state.incident
    figure = plot_timeline(incident, deadlines=state.deadlines, tasks=state.tasks, filings=list(state.facts.filings),
                           now=now, zone=session.zone, regime_names={k: r.name for k, r in regimes.items()})
    save_timeline(figure, out)
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    store.audit("export", str(out), actor=session.actor, at=now, incident_id=incident.id, reason="timeline picture",
                sha256=digest, detail={"what": "timeline"})
    return Export(data, out, digest, 1)
