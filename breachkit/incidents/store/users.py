"""Board users and their signed-in sessions (`store.users`): the only writer of the `users` and `web_sessions`
tables. Password hashes are made and checked by `breachkit.incidents.users_api`; this repository only keeps
them. Every change to a user leaves an audit row (who changed whom, and what — never a hash)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from breachkit.errors import ConflictError, NotFoundError
from breachkit.incidents import tables as t
from breachkit.incidents.store.values import as_utc

if TYPE_CHECKING:
    from breachkit.incidents.store.core import IncidentStore


@dataclass(frozen=True)
class UserRecord:
    name: str
    role: str
    password_hash: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class WebSessionRecord:
    username: str
    role: str
    csrf_token: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime


def _user(row: Any) -> UserRecord:
    created, updated = as_utc(row.created_at), as_utc(row.updated_at)
    assert created is not None and updated is not None
    return UserRecord(row.name, row.role, row.password_hash, bool(row.disabled), row.failed_logins,
                      as_utc(row.locked_until), created, updated, row.version)


class Users:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    # --- users --------------------------------------------------------------------------------------

    def add(self, name: str, role: str, password_hash: str, *, actor: str, now: datetime) -> UserRecord:
        try:
            with self.store.transaction() as conn:
                conn.execute(insert(t.users).values(name=name, role=role, password_hash=password_hash, disabled=False,
                                                    failed_logins=0, locked_until=None, created_at=now,
                                                    updated_at=now, version=1))
                self.store.audit("user", name, actor=actor, at=now, reason="user added",
                                 detail={"role": role}, conn=conn)
        except IntegrityError:
            raise ConflictError(f"a user named {name!r} exists already",
                                hint="change it with `breachkit users passwd|disable|enable`") from None
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> UserRecord | None:
        with self.store.read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        return None if row is None else _user(row)

    def list(self) -> list[UserRecord]:
        with self.store.read() as conn:
            return [_user(r) for r in conn.execute(select(t.users).order_by(t.users.c.name))]

    def _load(self, conn: Connection, name: str) -> UserRecord:
        query = select(t.users).where(t.users.c.name == name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no user {name!r}", hint="`breachkit users list` shows them")
        return _user(row)

    def change(self, name: str, changes: dict[str, Any], *, actor: str, now: datetime, reason: str) -> UserRecord:
        """Change a user's role, password hash, disabled flag or lock; signs out their browsers when the password
        changes or the account is disabled. Audited (the names of the fields changed, never a hash)."""
        allowed = {"role", "password_hash", "disabled", "failed_logins", "locked_until"}
        assert set(changes) <= allowed, set(changes) - allowed
        with self.store.transaction() as conn:
            current = self._load(conn, name)
            conn.execute(update(t.users).where(t.users.c.name == name)
                         .values(**changes, updated_at=now, version=current.version + 1))
            if changes.get("disabled") or "password_hash" in changes:
                conn.execute(delete(t.web_sessions).where(t.web_sessions.c.username == name))
            shown = {k: v for k, v in changes.items() if k != "password_hash"}
            self.store.audit("user", name, actor=actor, at=now, reason=reason,
                             detail={"changed": sorted(changes), **{k: str(v) for k, v in shown.items()}}, conn=conn)
            return self._load(conn, name)

    def login_failed(self, name: str, *, now: datetime, max_failures: int, lockout: timedelta) -> UserRecord:
        """Count a failed sign-in (atomically); the `max_failures`-th in a row locks the account for `lockout`."""
        with self.store.transaction() as conn:
            current = self._load(conn, name)
            failures = current.failed_logins + 1
            values: dict[str, Any] = {"failed_logins": failures}
            if failures >= max_failures:
                values["locked_until"] = now + lockout
                values["failed_logins"] = 0
            conn.execute(update(t.users).where(t.users.c.name == name).values(**values))
            return self._load(conn, name)

    def login_succeeded(self, name: str, *, new_hash: str | None = None) -> None:
        """Reset the failure count (and store a re-hashed password when the hashing parameters changed)."""
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if new_hash is not None:
            values["password_hash"] = new_hash
        with self.store.transaction() as conn:
            conn.execute(update(t.users).where(t.users.c.name == name).values(**values))

    # --- sessions -----------------------------------------------------------------------------------

    def open_session(self, token_sha256: str, username: str, csrf_token: str, *, now: datetime,
                     expires_at: datetime) -> None:
        with self.store.transaction() as conn:
            conn.execute(delete(t.web_sessions).where(t.web_sessions.c.expires_at < now))  # tidy up as we go
            conn.execute(insert(t.web_sessions).values(token_sha256=token_sha256, username=username,
                                                       csrf_token=csrf_token, created_at=now, seen_at=now,
                                                       expires_at=expires_at))

    def session(self, token_sha256: str) -> WebSessionRecord | None:
        """The session with this token hash, with its user's current role; None when there is none or its user is
        disabled."""
        query = (select(t.web_sessions, t.users.c.role, t.users.c.disabled)
                 .join(t.users, t.users.c.name == t.web_sessions.c.username)
                 .where(t.web_sessions.c.token_sha256 == token_sha256))
        with self.store.read() as conn:
            row = conn.execute(query).first()
        if row is None or row.disabled:
            return None
        created, seen, expires = as_utc(row.created_at), as_utc(row.seen_at), as_utc(row.expires_at)
        assert created is not None and seen is not None and expires is not None
        return WebSessionRecord(row.username, row.role, row.csrf_token, created, seen, expires)

    def touch_session(self, token_sha256: str, now: datetime) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(t.web_sessions).where(t.web_sessions.c.token_sha256 == token_sha256)
                         .values(seen_at=now))

    def close_session(self, token_sha256: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(delete(t.web_sessions).where(t.web_sessions.c.token_sha256 == token_sha256))
