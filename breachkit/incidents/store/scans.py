"""The scheduled scan's state (`store.scans`): the checkpoint per engine, the rule set of its last run (which rules
ran and which did not, so a rule that stops running is alerted once) and what was last reported per rule and
actor (so ongoing activity is not alerted again), and the alert outbox (one row per on-call address)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update

from breachkit.incidents import tables as t
from breachkit.incidents.store.values import as_utc

if TYPE_CHECKING:
    from breachkit.incidents.store.core import IncidentStore


@dataclass(frozen=True)
class AlertMessage:
    """One alert to one on-call address."""

    recipient: str
    subject: str
    body: str
    message_id: str


@dataclass(frozen=True)
class AlertRow:
    id: int
    recipient: str
    subject: str
    body: str
    message_id: str
    attempts: int  # failed attempts so far
    error: str | None  # the last one's reason


class ScanState:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def checkpoint(self, engine: str) -> tuple[datetime, datetime] | None:
        """(scanned until, when) of the last run on `engine`, or None before the first run."""
        with self.store.transaction() as conn:
            row = conn.execute(select(t.scan_state.c.until, t.scan_state.c.run_at)
                               .where(t.scan_state.c.engine == engine)).first()
        if row is None:
            return None
        until, run_at = as_utc(row[0]), as_utc(row[1])
        assert until is not None and run_at is not None
        return until, run_at

    def rules(self, engine: str) -> Any:
        """The rule set of the last run on `engine` as stored (JSON; `detect.health.RuleSetState`), or None."""
        with self.store.transaction() as conn:
            row = conn.execute(select(t.scan_state.c.rules).where(t.scan_state.c.engine == engine)).first()
        return None if row is None else row[0]

    def seen(self) -> dict[tuple[str, str], datetime | None]:
        """(rule id, actor key) → the last time activity of it was reported."""
        with self.store.transaction() as conn:
            return {(r.rule_id, r.key): as_utc(r.last_seen) for r in conn.execute(select(t.scan_seen))}

    def commit(self, engine: str, window: tuple[datetime, datetime], reported: Iterable[tuple[str, str, datetime]],
               seen: dict[tuple[str, str], datetime | None], now: datetime, *, rules: Any = None,
               alerts: Sequence[AlertMessage] = ()) -> None:
        """In one transaction: remember what was reported ((rule id, key, last seen) — `seen` is the snapshot the
        scan read), the run's rule set (`rules`, JSON) and queue its alerts (one row per address). The checkpoint
        does not move here (`advance` moves it once every alert is sent or given up); before a first checkpoint,
        the window's start becomes it, so an unfinished first run is scanned again."""
        with self.store.transaction() as conn:
            for rule_id, key, last_seen in reported:
                if (rule_id, key) in seen:
                    conn.execute(update(t.scan_seen).where(t.scan_seen.c.rule_id == rule_id,
                                                           t.scan_seen.c.key == key)
                                 .values(last_seen=max(last_seen, seen[(rule_id, key)] or last_seen)))
                else:
                    conn.execute(insert(t.scan_seen).values(rule_id=rule_id, key=key, last_seen=last_seen,
                                                            reported_at=now))
                seen[(rule_id, key)] = max(last_seen, seen.get((rule_id, key)) or last_seen)
            for alert in alerts:
                conn.execute(insert(t.scan_alerts).values(
                    engine=engine, recipient=alert.recipient, subject=alert.subject, body=alert.body,
                    message_id=alert.message_id, state="pending", attempts=0, created_at=now, updated_at=now))
            values: dict[str, Any] = {"run_at": now, "rules": rules}
            if self._until(conn, engine) is None:
                values["until"] = window[0]
            self._state(conn, engine, values)

    def pending_alerts(self, engine: str) -> list[AlertRow]:
        """Alerts of `engine` not sent yet, oldest first."""
        with self.store.transaction() as conn:
            rows = conn.execute(select(t.scan_alerts).where(t.scan_alerts.c.engine == engine,
                                                            t.scan_alerts.c.state == "pending")
                                .order_by(t.scan_alerts.c.id)).all()
        return [AlertRow(r.id, r.recipient, r.subject, r.body, r.message_id, r.attempts, r.error) for r in rows]

    def alert_outcome(self, alert_id: int, *, sent: bool, error: str | None, now: datetime,
                      max_attempts: int) -> str:
        """Record one delivery attempt: `sent`, or refused/failed with `error`; after `max_attempts` failed
        attempts the alert is given up (said by the scan, never silently dropped). Returns the new state."""
        with self.store.transaction() as conn:
            attempts = int(conn.execute(select(t.scan_alerts.c.attempts)
                                        .where(t.scan_alerts.c.id == alert_id)).scalar_one()) + 1
            state = "sent" if sent else ("given_up" if attempts >= max_attempts else "pending")
            conn.execute(update(t.scan_alerts).where(t.scan_alerts.c.id == alert_id)
                         .values(state=state, attempts=attempts, error=None if sent else error, updated_at=now))
        return state

    def advance(self, engine: str, until: datetime, now: datetime) -> bool:
        """Move the checkpoint to `until` (never back) if no alert of `engine` is still pending; True if moved."""
        with self.store.transaction() as conn:
            pending = conn.execute(select(func.count()).select_from(t.scan_alerts)
                                   .where(t.scan_alerts.c.engine == engine,
                                          t.scan_alerts.c.state == "pending")).scalar_one()
            if pending:
                return False
            current = self._until(conn, engine)
            self._state(conn, engine, {"until": until if current is None else max(current, until), "run_at": now})
        return True

    @staticmethod
    def _until(conn: Connection, engine: str) -> datetime | None:
        row = conn.execute(select(t.scan_state.c.until).where(t.scan_state.c.engine == engine)).first()
        return None if row is None else as_utc(row[0])

    def _state(self, conn: Connection, engine: str, values: dict[str, Any]) -> None:
        if self._until(conn, engine) is not None:
            conn.execute(update(t.scan_state).where(t.scan_state.c.engine == engine).values(values))
        else:
            conn.execute(insert(t.scan_state).values(engine=engine, **values))
