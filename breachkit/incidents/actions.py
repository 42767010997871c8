"""What was done on an incident, as values the pure parts (the clock, the task list) are given: filings, decisions,
approvals and complete deliveries of approved notices. `breachkit.incidents.api.incident_actions` reads them from
the store; nothing here does I/O.

A regime stage is *met* by a filing for it, or by the actions its regime lists (`met_by`: every approved subject
notice of a version delivered, a public communication); it is *not required* when the latest decision of its
`not_required_by` kind says no (with its reasons). Whatever meets a stage wins over a decision not to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from breachkit.incidents.model import Approval, Decision, Filing, FilingKind
from breachkit.incidents.regimes import Stage


@dataclass(frozen=True)
class Delivery:
    """Every message of an approved version of the subject notices was delivered (state `sent`)."""

    kind: str  # "subject"
    version: int
    messages: int
    at: datetime  # when the last of them was delivered
    approved_by: str


@dataclass(frozen=True)
class Actions:
    filings: Sequence[Filing] = ()
    decisions: Sequence[Decision] = ()
    deliveries: Sequence[Delivery] = ()  # complete deliveries only
    approvals: Sequence[Approval] = ()


@dataclass(frozen=True)
class Fulfilment:
    """How a stage was met (or waived), or a task completed: when, by which action, by whom, in words."""

    at: datetime
    action: str  # filing | notices_delivered | public_communication | decision | approval
    detail: str
    by: str = ""


def latest_decision(decisions: Sequence[Decision], kind: str) -> Decision | None:
    """The decision of `kind` that counts: the latest one (by time, then by the order recorded)."""
    relevant = [(d.decided_at, i, d) for i, d in enumerate(decisions) if d.kind.value == kind]
    return max(relevant, key=lambda x: (x[0], x[1]))[2] if relevant else None


def _filing_text(filing: Filing) -> str:
    kind = filing.kind.value.replace("_", " ")
    reference = f", reference {filing.reference}" if filing.reference else ""
    to = f" to {filing.recipient}" if filing.recipient else ""
    return f"{kind} filed{to}{reference}"


def filing_fulfilment(filing: Filing) -> Fulfilment:
    action = "public_communication" if filing.kind is FilingKind.PUBLIC_COMMUNICATION else "filing"
    return Fulfilment(filing.filed_at, action, _filing_text(filing), filing.filed_by)


def delivery_fulfilment(delivery: Delivery) -> Fulfilment:
    return Fulfilment(delivery.at, "notices_delivered",
                      f"all {delivery.messages} approved notices (version {delivery.version}) delivered",
                      delivery.approved_by)


def stage_fulfilment(regime_id: str, stage: Stage, actions: Actions) -> Fulfilment | None:
    """The earliest action that met the stage, or None."""
    found = [filing_fulfilment(f) for f in actions.filings if f.regime == regime_id and f.stage == stage.id]
    if "notices_delivered" in stage.met_by:
        found += [delivery_fulfilment(d) for d in actions.deliveries if d.kind == "subject"]
    return min(found, key=lambda f: f.at) if found else None


def stage_waiver(stage: Stage, actions: Actions) -> Fulfilment | None:
    """The recorded decision that makes the stage not required, or None."""
    if stage.not_required_by is None:
        return None
    decision = latest_decision(actions.decisions, stage.not_required_by)
    if decision is None or decision.decision:
        return None
    return Fulfilment(decision.decided_at, "decision", f"decided not to notify: {decision.reasons}",
                      decision.decided_by)
