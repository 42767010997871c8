"""The scheduled scan's state (`store.scans`): the checkpoint per engine, the rule set of its last run (which rules
ran and which did not, so a rule that stops running is alerted once) and what was last reported per rule and
actor (so ongoing activity is not alerted again)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from breachkit.incidents import tables as t
from breachkit.incidents.store.values import as_utc

if TYPE_CHECKING:
    from breachkit.incidents.store.core import IncidentStore


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

    def commit(self, engine: str, until: datetime, reported: Iterable[tuple[str, str, datetime]],
               seen: dict[tuple[str, str], datetime | None], now: datetime, *, rules: Any = None) -> None:
        """Remember what was reported ((rule id, key, last seen) — `seen` is the snapshot the scan read) and
        the run's rule set (`rules`, JSON), and move the checkpoint, in one transaction."""
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
            self._state(conn, engine, {"until": until, "run_at": now, "rules": rules})

    def record_rules(self, engine: str, rules: Any, now: datetime, *, first_until: datetime) -> None:
        """Remember the run's rule set without moving the checkpoint (a run in which no rule could run): the
        next run scans the same window again. Before any checkpoint, `first_until` becomes it."""
        with self.store.transaction() as conn:
            values: dict[str, Any] = {"run_at": now, "rules": rules}
            if self._until(conn, engine) is None:
                values["until"] = first_until
            self._state(conn, engine, values)

    @staticmethod
    def _until(conn: Connection, engine: str) -> datetime | None:
        row = conn.execute(select(t.scan_state.c.until).where(t.scan_state.c.engine == engine)).first()
        return None if row is None else as_utc(row[0])

    def _state(self, conn: Connection, engine: str, values: dict[str, Any]) -> None:
        if self._until(conn, engine) is not None:
            conn.execute(update(t.scan_state).where(t.scan_state.c.engine == engine).values(values))
        else:
            conn.execute(insert(t.scan_state).values(engine=engine, **values))
