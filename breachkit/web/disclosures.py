"""The disclosure record on the board: what left breachkit, when, to whom, why — sends, filings, exports, renders
and views of personal data.

Interim: another branch is adding a `report disclosures` use case that returns this record. Until it lands, this
one function reads what the store has today (its audit log, through `IncidentStore.audit_log`). When it does,
replace the body of `disclosure_record` with a call to that use case; the page only needs the fields of
`Disclosure`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from breachkit.incidents.api import normalize_id
from breachkit.session import Session

KINDS = ("send", "filing", "export", "render", "view")  # audit actions that are disclosures or views


@dataclass(frozen=True)
class Disclosure:
    at: datetime
    actor: str
    action: str
    incident_id: str | None
    target: str  # a recipient address, an authority, a file, "board download"…
    reason: str
    sha256: str | None
    detail: dict[str, Any]


def disclosure_record(session: Session, incident_id: str | None = None) -> list[Disclosure]:
    """Every disclosure (of one incident, or all), oldest first."""
    rows = session.store.audit_log(normalize_id(incident_id) if incident_id else None)
    return [Disclosure(r["at"], r["actor"], r["action"], r["incident_id"], r["target"], r["reason"], r["sha256"],
                       dict(r["detail"] or {})) for r in rows if r["action"] in KINDS]
