"""The outbox: every message breachkit sends is first a row in the incident store (`store.outbox`).

One row per (incident, recipient, kind, version) — the database's unique key — so queuing the same
notice twice never makes two messages. States::

    queued ──claim──▶ sending ──▶ sent
       ▲                 │ ├────▶ failed   (permanent refusal, or temporary ones max_attempts times)
       └──retry (4xx)────┘ └────▶ unknown  (the process died, or the connection broke, while the server
                                            may already have accepted it: needs a human decision)

`sending` is committed before the message is handed to the server and `sent` after the server accepted
it. A crash between the two leaves `sending` behind; the next run (which holds the send lock, so no
other sender is alive) turns those rows into `unknown` and reports them: resend them or mark them
sent, explicitly (`breachkit notices resolve`). So no message is ever sent twice, or lost, silently.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, or_, select, text, update

from breachkit.errors import UsageError
from breachkit.incidents import tables as t
from breachkit.incidents.store.values import as_utc

if TYPE_CHECKING:
    from breachkit.incidents.store.core import IncidentStore


class State(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Outgoing:
    """A rendered message ready to queue."""

    incident_id: str
    recipient: str  # subject id
    kind: str  # "subject" | "authority"
    version: int
    address: str
    message: bytes  # the exact RFC 5322 bytes
    message_id: str
    reason: str  # why it is sent (the disclosure record's "reason")
    content_sha256: str  # of the content (address, subject, bodies): the same notice re-rendered has the same

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.message).hexdigest()


@dataclass(frozen=True)
class Row:
    id: int
    incident_id: str
    recipient: str
    kind: str
    version: int
    address: str
    state: State
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    message_id: str
    sha256: str
    message: bytes
    reason: str
    sent_at: datetime | None


@dataclass(frozen=True)
class Queued:
    added: int
    already: int  # the same message was queued before (same content): nothing to do
    changed: list[str]  # recipients queued before with different content (need a new --version)


def _row(data: Any) -> Row:
    return Row(id=data.id, incident_id=data.incident_id, recipient=data.recipient, kind=data.kind,
               version=data.version, address=data.address, state=State(data.state), attempts=data.attempts,
               next_attempt_at=as_utc(data.next_attempt_at), last_error=data.last_error, message_id=data.message_id,
               sha256=data.sha256, message=bytes(data.message), reason=data.reason, sent_at=as_utc(data.sent_at))


# The statements of the per-message hot path, built once (bound parameters; SQLAlchemy caches their SQL).
_NEXT_DUE = (select(t.outbox)
             .where(t.outbox.c.incident_id == bindparam("incident_id"), t.outbox.c.kind == bindparam("kind"),
                    t.outbox.c.state == State.QUEUED.value,
                    or_(t.outbox.c.next_attempt_at.is_(None), t.outbox.c.next_attempt_at <= bindparam("now")))
             .order_by(t.outbox.c.id).limit(1))
_CLAIM = (update(t.outbox)
          .where(t.outbox.c.id == bindparam("row_id"), t.outbox.c.state == State.QUEUED.value)
          .values(state=State.SENDING.value, attempts=bindparam("new_attempts"), updated_at=bindparam("now")))
_SENT = (update(t.outbox).where(t.outbox.c.id == bindparam("row_id"))
         .values(state=State.SENT.value, sent_at=bindparam("now"), updated_at=bindparam("now"), last_error=""))


class Outbox:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def enqueue(self, messages: Sequence[Outgoing], *, actor: str, now: datetime) -> Queued:
        """Queue messages in one transaction; a message already in the outbox is left as it is."""
        if not messages:
            return Queued(0, 0, [])
        incident_id = messages[0].incident_id
        added, already, changed = 0, 0, []
        with self.store.transaction() as conn:
            self.store.load(conn, incident_id, lock=True)
            existing = {(r.recipient, r.kind, r.version): r.content_sha256 for r in conn.execute(
                select(t.outbox.c.recipient, t.outbox.c.kind, t.outbox.c.version, t.outbox.c.content_sha256)
                .where(t.outbox.c.incident_id == incident_id))}
            rows = []
            for m in messages:
                known = existing.get((m.recipient, m.kind, m.version))
                if known is not None:
                    if known == m.content_sha256:
                        already += 1
                    else:
                        changed.append(m.recipient)
                    continue
                existing[(m.recipient, m.kind, m.version)] = m.content_sha256
                rows.append({"incident_id": m.incident_id, "recipient": m.recipient, "kind": m.kind,
                             "version": m.version, "address": m.address, "state": State.QUEUED.value,
                             "attempts": 0, "next_attempt_at": None, "last_error": "", "message_id": m.message_id,
                             "sha256": m.sha256, "content_sha256": m.content_sha256, "message": m.message,
                             "reason": m.reason, "queued_at": now,
                             "updated_at": now, "sent_at": None})
                added += 1
            if rows:
                conn.execute(insert(t.outbox), rows)
                self.store.append_entry(conn, incident_id, now, actor, "queued", messages[0].reason,
                                   {"kind": messages[0].kind, "messages": added})
        return Queued(added, already, changed)

    def orphans_to_unknown(self, incident_id: str, *, actor: str, now: datetime) -> list[Row]:
        """Rows left in `sending` by a process that died: the server may or may not have them. Call only
        while holding the send lock (so no live sender owns them)."""
        with self.store.transaction() as conn:
            found = [_row(r) for r in conn.execute(select(t.outbox).where(
                t.outbox.c.incident_id == incident_id, t.outbox.c.state == State.SENDING.value))]
            if found:
                conn.execute(update(t.outbox).where(t.outbox.c.id.in_([r.id for r in found])).values(
                    state=State.UNKNOWN.value, updated_at=now,
                    last_error="interrupted while sending: the server may have accepted it"))
                self.store.append_entry(conn, incident_id, now, actor, "unknown", "a send was interrupted",
                                   {"messages": [r.recipient for r in found]})
        return found

    def claim(self, incident_id: str, kind: str, now: datetime) -> Row | None:
        """The next queued message that is due, moved to `sending` (committed before any byte is sent)."""
        with self.store.transaction() as conn:
            candidate = conn.execute(_NEXT_DUE, {"incident_id": incident_id, "kind": kind, "now": now}).first()
            if candidate is None:
                return None
            result = conn.execute(_CLAIM, {"row_id": candidate.id, "new_attempts": candidate.attempts + 1,
                                           "now": now})
            if result.rowcount != 1:
                return None
            return _row(candidate)

    def next_due(self, incident_id: str, kind: str) -> datetime | None:
        """When the earliest waiting retry is due (None: nothing is waiting)."""
        with self.store.transaction() as conn:
            value = conn.execute(select(func.min(t.outbox.c.next_attempt_at)).where(
                t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind,
                t.outbox.c.state == State.QUEUED.value)).scalar()
        return as_utc(value)

    def mark_sent(self, row: Row, *, actor: str, now: datetime, reply: str) -> None:
        """Sent: the disclosure record (timeline + audit: content hash, time, reason, recipient)."""
        with self.store.transaction() as conn:
            conn.execute(_SENT, {"row_id": row.id, "now": now})
            self.store.append_entry(conn, row.incident_id, now, actor, "disclosure", row.reason,
                                    {"kind": row.kind, "recipient": row.recipient, "version": row.version,
                                     "sha256": row.sha256, "message_id": row.message_id})
            self.store.audit("send", row.address, actor=actor, at=now, reason=row.reason,
                             incident_id=row.incident_id, sha256=row.sha256, conn=conn,
                             detail={"kind": row.kind, "recipient": row.recipient, "version": row.version,
                                     "message_id": row.message_id, "reply": reply})

    def mark_retry(self, row: Row, *, error: str, at: datetime, now: datetime, count_attempt: bool = True) -> None:
        extra: dict[str, Any] = {"next_attempt_at": at}
        if not count_attempt:
            extra["attempts"] = row.attempts - 1
        self._set(row, State.QUEUED, error, now, **extra)

    def mark_failed(self, row: Row, *, error: str, actor: str, now: datetime) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.id == row.id).values(
                state=State.FAILED.value, last_error=error, updated_at=now))
            self.store.append_entry(conn, row.incident_id, now, actor, "send failed", error,
                               {"kind": row.kind, "recipient": row.recipient, "version": row.version})

    def mark_unknown(self, row: Row, *, error: str, now: datetime) -> None:
        self._set(row, State.UNKNOWN, error, now)

    def _set(self, row: Row, state: State, error: str, now: datetime, **extra: Any) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.id == row.id).values(
                state=state.value, last_error=error, updated_at=now, **extra))

    def resolve(self, incident_id: str, kind: str, *, action: str, recipients: Sequence[str] | None = None,
                states: Sequence[State] = (State.UNKNOWN,), actor: str, now: datetime, reason: str) -> int:
        """An explicit decision on `unknown` (or `failed`) messages: "resend" queues them again, "sent" records
        that they did arrive, "cancel" gives up. `recipients` None: all of them; an empty list: none.
        Recorded in the timeline with the reason."""
        if action not in ("resend", "sent", "cancel"):
            raise UsageError(f"resolve takes resend, sent or cancel, not {action!r}")
        new_state = {"resend": State.QUEUED, "sent": State.SENT, "cancel": State.CANCELLED}[action]
        if recipients is not None and not recipients:
            return 0
        with self.store.transaction() as conn:
            self.store.load(conn, incident_id, lock=True)
            query = select(t.outbox).where(t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind,
                                           t.outbox.c.state.in_([s.value for s in states]))
            if recipients is not None:
                query = query.where(t.outbox.c.recipient.in_(list(recipients)))
            rows = [_row(r) for r in conn.execute(query)]
            if not rows:
                return 0
            values: dict[str, Any] = {"state": new_state.value, "updated_at": now}
            if action == "resend":
                values |= {"attempts": 0, "next_attempt_at": None}
            if action == "sent":
                values["sent_at"] = now
            conn.execute(update(t.outbox).where(t.outbox.c.id.in_([r.id for r in rows])).values(values))
            self.store.append_entry(conn, incident_id, now, actor, f"resolved: {action}", reason,
                               {"kind": kind, "recipients": [r.recipient for r in rows]})
            if action == "sent":
                for r in rows:
                    self.store.audit("send", r.address, actor=actor, at=now, reason=reason,
                                     incident_id=incident_id, sha256=r.sha256, conn=conn,
                                     detail={"kind": kind, "recipient": r.recipient, "confirmed_by": actor})
        return len(rows)

    def counts(self, incident_id: str, kind: str | None = None) -> dict[str, int]:
        query = select(t.outbox.c.state, func.count()).where(t.outbox.c.incident_id == incident_id)
        if kind is not None:
            query = query.where(t.outbox.c.kind == kind)
        with self.store.read() as conn:
            found: dict[str, int] = {str(k): int(v) for k, v in conn.execute(query.group_by(t.outbox.c.state))}
        return {s.value: int(found.get(s.value, 0)) for s in State}

    def recipients(self, incident_id: str, kind: str = "subject") -> int:
        """How many distinct people the outbox holds messages for (cancelled ones aside)."""
        query = (select(func.count(t.outbox.c.recipient.distinct()))
                 .where(t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind,
                        t.outbox.c.state != State.CANCELLED.value))
        with self.store.transaction() as conn:
            return int(conn.execute(query).scalar() or 0)

    def rows(self, incident_id: str, *, states: Sequence[State] = (), kind: str | None = None) -> list[Row]:
        query = select(t.outbox).where(t.outbox.c.incident_id == incident_id).order_by(t.outbox.c.id)
        if states:
            query = query.where(t.outbox.c.state.in_([s.value for s in states]))
        if kind is not None:
            query = query.where(t.outbox.c.kind == kind)
        with self.store.read() as conn:
            return [_row(r) for r in conn.execute(query)]


@contextlib.contextmanager
def send_lock(store: IncidentStore, incident_id: str) -> Iterator[None]:
    """One sender per incident at a time, across processes. SQLite: an flock on a file beside the
    database; PostgreSQL: a session advisory lock on a connection held for the whole run. Both are
    released by the operating system / server when the process dies, so a crash never leaves it stuck."""
    key = int.from_bytes(hashlib.sha256(incident_id.encode()).digest()[:4], "big")
    busy = UsageError(f"another `breachkit notices send {incident_id}` is running",
                      hint="wait for it to finish (or stop it); a message it was sending becomes `unknown`")
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise busy
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    database = store.engine.url.database or ""
    folder = Path(database).parent if database and database != ":memory:" else Path.cwd()
    lock_path = folder / f".send-{incident_id}.lock"
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(fd)


def retry_delay(attempt: int, backoff_seconds: float) -> timedelta:
    """Exponential backoff: backoff, 2×, 4×… capped at one hour."""
    return timedelta(seconds=min(3600.0, backoff_seconds * 2 ** max(0, attempt - 1)))
