"""The notices' view of the outbox (the table and its state machine live in the incident store:
`breachkit.incidents.store.outbox`, reached as `store.outbox`)."""

from breachkit.incidents.store.outbox import (
    Outbox,
    Outgoing,
    Queued,
    Row,
    State,
    approval_mismatch,
    retry_delay,
    send_lock,
)

__all__ = ["Outbox", "Outgoing", "Queued", "Row", "State", "approval_mismatch", "retry_delay", "send_lock"]
