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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, case, func, insert, or_, select, text, update

from breachkit.errors import ConflictError, Problem, UsageError
from breachkit.incidents import tables as t
from breachkit.incidents.store.staged import approved_table
from breachkit.incidents.store.staged import drop_approved as _drop_approved
from breachkit.incidents.store.staged import stage_approved as _stage_approved
from breachkit.incidents.store.values import as_utc
from breachkit.wording import counted

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
    locale: str = ""  # the template locale it was rendered in (counts for the confirmation)
    notice_kind: str = ""  # breach | compromise | breach_and_compromise (counts for the confirmation)

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


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows (each with its "message" bytes, stored in outbox_messages)."""
    if not rows:
        return
    messages = [r.pop("message") for r in rows]
    ids = conn.execute(insert(t.outbox).returning(t.outbox.c.id, sort_by_parameter_order=True), rows).scalars().all()
    conn.execute(insert(t.outbox_messages), [{"outbox_id": i, "message": m} for i, m in zip(ids, messages,
                                                                                          strict=True)])


def _row(data: Any, message: bytes | None = None) -> Row:
    return Row(id=data.id, incident_id=data.incident_id, recipient=data.recipient, kind=data.kind,
               version=data.version, address=data.address, state=State(data.state), attempts=data.attempts,
               next_attempt_at=as_utc(data.next_attempt_at), last_error=data.last_error, message_id=data.message_id,
               sha256=data.sha256, message=bytes(data.message if message is None else message), reason=data.reason,
               sent_at=as_utc(data.sent_at))


# Outbox rows with their message bytes (kept in their own table, written once).
_ROWS = select(t.outbox, t.outbox_messages.c.message).join(t.outbox_messages,
                                                           t.outbox_messages.c.outbox_id == t.outbox.c.id)
_MESSAGE = select(t.outbox_messages.c.message).where(t.outbox_messages.c.outbox_id == bindparam("b_id"))

# The statements of the per-message hot path, built once (bound parameters; SQLAlchemy caches their SQL).
_NOW = bindparam("now", type_=t.outbox.c.updated_at.type)
_NEXT_DUE = (select(t.outbox.c.id)
             .where(t.outbox.c.incident_id == bindparam("b_incident"), t.outbox.c.kind == bindparam("b_kind"),
                    t.outbox.c.state == State.QUEUED.value,
                    or_(t.outbox.c.next_attempt_at.is_(None), t.outbox.c.next_attempt_at <= _NOW))
             .order_by(t.outbox.c.id).limit(1))
# Claim the next due message in one statement: moved to `sending`, its attempt counted, the row returned.
_CLAIM = (update(t.outbox)
          .where(t.outbox.c.id == _NEXT_DUE.scalar_subquery(), t.outbox.c.state == State.QUEUED.value)
          .values(state=State.SENDING.value, attempts=t.outbox.c.attempts + 1, updated_at=_NOW)
          .returning(*t.outbox.c))
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
            self.store.load(conn, incident_id, lock=True, change="queuing notices")
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
                _insert(conn, rows)
                self.store.append_entry(conn, incident_id, now, actor, "queued", messages[0].reason,
                                   {"kind": messages[0].kind, "messages": added})
        return Queued(added, already, changed)

    def enqueue_approved(self, incident_id: str, kind: str, version: int, messages: Iterable[Outgoing],
                         approved: Mapping[str, str] | Iterable[tuple[str, str]], *, actor: str, now: datetime,
                         batch: int = 500) -> int:
        """Queue a whole approved version in ONE transaction, each message checked against the SHA-256 its
        approval recorded (`approved`: (recipient, hash of the exact bytes) pairs, as `Approvals.pairs` streams
        them). Any message that differs, is not approved, or is missing refuses the whole set (ConflictError
        naming how many and why): nothing is queued. The version must not be in the outbox yet (see
        `check_queued`). Memory stays fixed: the approved hashes go to a temporary table and the comparison is
        one query in the database."""
        added = 0
        with self.store.transaction() as conn:
            self.store.load(conn, incident_id, lock=True, change="queuing notices")
            if _version_size(conn, incident_id, kind, version):
                raise ConflictError(f"{incident_id}: version {version} is already in the outbox")
            _stage_approved(conn, approved)
            rows: list[dict[str, Any]] = []
            reason = ""
            for m in messages:
                reason = m.reason
                rows.append({"incident_id": m.incident_id, "recipient": m.recipient, "kind": m.kind,
                             "version": m.version, "address": m.address, "state": State.QUEUED.value,
                             "attempts": 0, "next_attempt_at": None, "last_error": "", "message_id": m.message_id,
                             "sha256": m.sha256, "content_sha256": m.content_sha256, "message": m.message,
                             "reason": m.reason, "queued_at": now, "updated_at": now, "sent_at": None})
                if len(rows) == batch:
                    added += len(rows)
                    _insert(conn, rows)
                    rows = []
            if rows:
                added += len(rows)
                _insert(conn, rows)
            mismatch = _mismatch(conn, incident_id, kind, version)
            if mismatch is not None:
                raise approval_mismatch(incident_id, version, *mismatch)  # rolls the whole set back
            _drop_approved(conn)
            if added:
                self.store.append_entry(conn, incident_id, now, actor, "queued", reason,
                                        {"kind": kind, "version": version, "messages": added})
        return added

    def check_queued(self, incident_id: str, kind: str, version: int,
                     approved: Mapping[str, str] | Iterable[tuple[str, str]]) -> int:
        """The messages of a version an earlier run queued (0: none), after checking that they are exactly the
        approved ones (ConflictError as `enqueue_approved` otherwise); compared in the database."""
        with self.store.transaction() as conn:
            queued = _version_size(conn, incident_id, kind, version)
            if not queued:
                return 0
            _stage_approved(conn, approved)
            mismatch = _mismatch(conn, incident_id, kind, version)
            _drop_approved(conn)
        if mismatch is not None:
            raise approval_mismatch(incident_id, version, *mismatch)
        return queued

    def version_hashes(self, incident_id: str, kind: str, version: int) -> dict[str, str]:
        """recipient → SHA-256 of the bytes queued for a version (empty: nothing queued yet)."""
        with self.store.transaction() as conn:
            return {r.recipient: r.sha256 for r in conn.execute(
                select(t.outbox.c.recipient, t.outbox.c.sha256).where(
                    t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind, t.outbox.c.version == version))}

    def version_states(self, incident_id: str, kind: str, version: int) -> dict[str, int]:
        """state → messages of one version in the outbox (only the states present; no message bytes read)."""
        query = (select(t.outbox.c.state, func.count())
                 .where(t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind, t.outbox.c.version == version)
                 .group_by(t.outbox.c.state))
        with self.store.read() as conn:
            return {str(state): int(n) for state, n in conn.execute(query)}

    def version_counts(self, incident_id: str, kind: str) -> dict[int, tuple[int, int, datetime | None]]:
        """version → (messages, of them sent, when the last was sent)."""
        return self.version_counts_of([incident_id], kind)[incident_id]

    def version_counts_of(self, incident_ids: Sequence[str], kind: str
                          ) -> dict[str, dict[int, tuple[int, int, datetime | None]]]:
        """`version_counts` of several incidents in one read (the board)."""
        out: dict[str, dict[int, tuple[int, int, datetime | None]]] = {i: {} for i in incident_ids}
        ids = list(out)
        sent = func.sum(case((t.outbox.c.state == State.SENT.value, 1), else_=0))
        with self.store.read() as conn:
            for start in range(0, len(ids), 500):
                query = (select(t.outbox.c.incident_id, t.outbox.c.version, func.count(), sent,
                                func.max(t.outbox.c.sent_at))
                         .where(t.outbox.c.incident_id.in_(ids[start:start + 500]), t.outbox.c.kind == kind)
                         .group_by(t.outbox.c.incident_id, t.outbox.c.version))
                for iid, v, n, k, last in conn.execute(query):
                    out[iid][int(v)] = (int(n), int(k or 0), as_utc(last))
        return out

    def orphans_to_unknown(self, incident_id: str, *, actor: str, now: datetime) -> list[Row]:
        """Rows left in `sending` by a process that died: the server may or may not have them. Call only
        while holding the send lock (so no live sender owns them)."""
        with self.store.transaction() as conn:
            found = [_row(r) for r in conn.execute(_ROWS.where(
                t.outbox.c.incident_id == incident_id, t.outbox.c.state == State.SENDING.value))]
            if found:
                conn.execute(update(t.outbox).where(t.outbox.c.id.in_([r.id for r in found])).values(
                    state=State.UNKNOWN.value, updated_at=now,
                    last_error="interrupted while sending: the server may have accepted it"))
                self.store.append_entry(conn, incident_id, now, actor, "unknown", "a send was interrupted",
                                   {"messages": [r.recipient for r in found]})
        return found

    def claim(self, incident_id: str, kind: str, now: datetime) -> Row | None:
        """The next queued message that is due, moved to `sending` with this attempt counted (committed before any
        byte is sent)."""
        with self.store.transaction() as conn:
            return self._claim(conn, incident_id, kind, now)

    @staticmethod
    def _claim(conn: Connection, incident_id: str, kind: str, now: datetime) -> Row | None:
        claimed = conn.execute(_CLAIM, {"b_incident": incident_id, "b_kind": kind, "now": now}).first()
        if claimed is None:
            return None
        message = conn.execute(_MESSAGE, {"b_id": claimed.id}).scalar_one()
        return _row(claimed, message)

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
            self._sent(conn, row, actor=actor, now=now, reply=reply)

    def mark_sent_and_claim(self, row: Row, *, actor: str, now: datetime, reply: str) -> Row | None:
        """`mark_sent` for this message and `claim` of the next one, in ONE transaction (half the commits).

        The guarantees hold, crash by crash: before the commit, this message is still `sending` (it becomes
        `unknown`, as the server may have it — it does) and the next one still `queued` (it was never handed to the
        server: the next run sends it); after the commit and before the next message's DATA, that one is `sending`
        and becomes `unknown` although the server never saw it — the same window `claim` alone always had. Nothing
        is sent twice or lost silently."""
        with self.store.transaction() as conn:
            self._sent(conn, row, actor=actor, now=now, reply=reply)
            return self._claim(conn, row.incident_id, row.kind, now)

    def _sent(self, conn: Connection, row: Row, *, actor: str, now: datetime, reply: str) -> None:
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
            # on a closed incident, what happened to messages already sent may still be documented (sent, cancel)
            self.store.load(conn, incident_id, lock=True, change="resending notices" if action == "resend" else None)
            query = _ROWS.where(t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind,
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
                    self.store.audit("send", r.address, actor=actor, at=now, reason=f"{r.reason} (confirmed: {reason})",
                                     incident_id=incident_id, sha256=r.sha256, conn=conn,
                                     detail={"kind": kind, "recipient": r.recipient, "version": r.version,
                                             "message_id": r.message_id, "confirmed_by": actor,
                                             "reply": "not seen: confirmed by a person"})
        return len(rows)

    def counts(self, incident_id: str, kind: str | None = None) -> dict[str, int]:
        query = select(t.outbox.c.state, func.count()).where(t.outbox.c.incident_id == incident_id)
        if kind is not None:
            query = query.where(t.outbox.c.kind == kind)
        with self.store.read() as conn:
            found: dict[str, int] = {str(k): int(v) for k, v in conn.execute(query.group_by(t.outbox.c.state))}
        return {s.value: int(found.get(s.value, 0)) for s in State}

    def message(self, incident_id: str, recipient: str, kind: str, version: int) -> Row | None:
        """One message (with its exact bytes), by its unique key."""
        with self.store.transaction() as conn:
            row = conn.execute(_ROWS.where(
                t.outbox.c.incident_id == incident_id, t.outbox.c.recipient == recipient, t.outbox.c.kind == kind,
                t.outbox.c.version == version)).first()
        return None if row is None else _row(row)

    def sent_times(self, incident_id: str, kind: str = "subject") -> list[datetime]:
        """When each message of the incident that was delivered was sent, oldest first (no bytes read)."""
        query = (select(t.outbox.c.sent_at).where(t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind,
                                                  t.outbox.c.state == State.SENT.value,
                                                  t.outbox.c.sent_at.is_not(None))
                 .order_by(t.outbox.c.sent_at))
        with self.store.read() as conn:
            return [at for at in (as_utc(v) for v in conn.execute(query).scalars()) if at is not None]

    def recipients(self, incident_id: str, kind: str = "subject") -> int:
        """How many distinct people the outbox holds messages for (cancelled ones aside)."""
        query = (select(func.count(t.outbox.c.recipient.distinct()))
                 .where(t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind,
                        t.outbox.c.state != State.CANCELLED.value))
        with self.store.transaction() as conn:
            return int(conn.execute(query).scalar() or 0)

    def rows(self, incident_id: str, *, states: Sequence[State] = (), kind: str | None = None) -> list[Row]:
        query = _ROWS.where(t.outbox.c.incident_id == incident_id).order_by(t.outbox.c.id)
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


@dataclass(frozen=True)
class Named:
    """How many recipients, and the first of them by subject id (for the message)."""

    count: int
    first: tuple[str, ...]


def approval_mismatch(incident_id: str, version: int, changed: Named, unapproved: Named,
                      missing: Named) -> ConflictError:
    """The refusal of a set that is not exactly the approved one (recipients by subject id, never by address)."""
    parts = []
    if changed.count:
        parts.append(f"{counted(changed.count, 'message differs', 'messages differ')} from the approved bytes (the "
                     "incident's facts, the templates, the recipients' data or the configuration changed after the "
                     "approval)")
    if unapproved.count:
        parts.append(f"{counted(unapproved.count, 'recipient was', 'recipients were')} not in the approved set")
    if missing.count:
        parts.append(f"{counted(missing.count, 'approved recipient is', 'approved recipients are')} no longer in the "
                     "recipient list")
    shown = [Problem(f"changed: {r}") for r in changed.first]
    shown += [Problem(f"not approved: {r}") for r in unapproved.first]
    shown += [Problem(f"missing: {r}") for r in missing.first]
    return ConflictError(f"{incident_id}: version {version} is not sent: " + "; ".join(parts) + ". Nothing was queued",
                         problems=shown,
                         hint=f"review the change (`breachkit notices render`), then approve it as a new version: "
                              f"breachkit notices approve {incident_id} --version {version + 1} --reason …")


def _version_size(conn: Connection, incident_id: str, kind: str, version: int) -> int:
    """How many messages of one version are in the outbox."""
    return int(conn.execute(select(func.count()).select_from(t.outbox).where(
        t.outbox.c.incident_id == incident_id, t.outbox.c.kind == kind, t.outbox.c.version == version)).scalar_one())


def _mismatch(conn: Connection, incident_id: str, kind: str, version: int) -> tuple[Named, Named, Named] | None:
    """(changed, unapproved, missing) between the version's rows in the outbox and the staged approved hashes,
    or None when they are exactly the same set of (recipient, hash)."""
    approved = approved_table()
    o, a = t.outbox.c, approved.c
    mine = (o.incident_id == incident_id, o.kind == kind, o.version == version)

    def named(column: Any, query: Any) -> Named:
        count = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
        first = conn.execute(query.order_by(column).limit(20)).scalars().all() if count else []
        return Named(count, tuple(first))

    changed = named(o.recipient, select(o.recipient).join_from(t.outbox, approved, a.recipient == o.recipient)
                    .where(*mine, a.sha256 != o.sha256))
    unapproved = named(o.recipient, select(o.recipient).where(
        *mine, ~select(a.recipient).where(a.recipient == o.recipient).exists()))
    missing = named(a.recipient, select(a.recipient).where(
        ~select(o.recipient).where(*mine, o.recipient == a.recipient).exists()))
    if not (changed.count or unapproved.count or missing.count):
        return None
    return changed, unapproved, missing


def retry_delay(attempt: int, backoff_seconds: float) -> timedelta:
    """Exponential backoff: backoff, 2×, 4×… capped at one hour."""
    return timedelta(seconds=min(3600.0, backoff_seconds * 2 ** max(0, attempt - 1)))
