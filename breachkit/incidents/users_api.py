"""Board users: add, list, disable/enable, change a password, unlock; sign-in with throttling and lockout; the
signed-in sessions of browsers. Passwords are hashed with Argon2id (argon2-cffi) and never stored, logged or
taken from a command line. Each change to a user is audited with who made it."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from breachkit.errors import UsageError
from breachkit.incidents.access import UserRole
from breachkit.incidents.store.users import UserRecord, WebSessionRecord
from breachkit.session import Session

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing a megabyte on every try would be a way to load the server
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]{1,320}$")


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id with the library's current recommended parameters (RFC 9106 low-memory)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise UsageError("a user name is 1–320 characters without spaces or control characters (e.g. an email)",
                         field="name")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise UsageError(f"a password has at most {MAX_PASSWORD} characters", field="password")
    return password


def add_user(session: Session, name: str, role: UserRole | str, password: str) -> UserRecord:
    try:
        role = UserRole(role)
    except ValueError:
        raise UsageError(f"unknown role {role!r} (known: {', '.join(r.value for r in UserRole)})",
                         field="role") from None
    return session.store.users.add(check_name(name), role.value, hasher().hash(check_password(password)),
                                   actor=session.actor, now=session.now())


def list_users(session: Session) -> list[UserRecord]:
    return session.store.users.list()


def set_password(session: Session, name: str, password: str) -> UserRecord:
    """A new password (signs the user's browsers out; clears a lock)."""
    return session.store.users.change(name, {"password_hash": hasher().hash(check_password(password)),
                                             "failed_logins": 0, "locked_until": None},
                                      actor=session.actor, now=session.now(), reason="password changed")


def set_disabled(session: Session, name: str, disabled: bool) -> UserRecord:
    """Disable (signs the user's browsers out at once) or enable a user."""
    return session.store.users.change(name, {"disabled": disabled}, actor=session.actor, now=session.now(),
                                      reason="user disabled" if disabled else "user enabled")


def set_role(session: Session, name: str, role: UserRole | str) -> UserRecord:
    return session.store.users.change(name, {"role": UserRole(role).value}, actor=session.actor, now=session.now(),
                                      reason=f"role set to {UserRole(role).value}")


def unlock_user(session: Session, name: str) -> UserRecord:
    return session.store.users.change(name, {"failed_logins": 0, "locked_until": None}, actor=session.actor,
                                      now=session.now(), reason="unlocked")


# --- signing in -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5  # consecutive failures that lock an account
    lockout: timedelta = timedelta(minutes=15)
    idle: timedelta = timedelta(hours=12)  # a session unused this long ends
    lifetime: timedelta = timedelta(hours=72)  # and every session ends after this, used or not


@dataclass(frozen=True)
class SignIn:
    ok: bool
    user: UserRecord | None = None
    locked_until: datetime | None = None  # set when the account is (now) locked
    token: str | None = None  # for the cookie (the store keeps only its hash)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign_in(session: Session, name: str, password: str, policy: LoginPolicy = LoginPolicy()) -> SignIn:
    """Check a name and password. A wrong password counts towards the lockout; a locked or disabled account is
    refused without looking at the password; an unknown name costs the same hashing time as a known one."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    store, now = session.store, session.now()
    user = store.users.get(name.strip()) if _NAME.match(name.strip()) and len(password) <= MAX_PASSWORD else None
    if user is None or user.disabled:
        with contextlib.suppress(VerificationError):
            hasher().verify(_dummy_hash(), password[:MAX_PASSWORD] or "x")
        return SignIn(False)
    if user.locked(now):
        return SignIn(False, user, locked_until=user.locked_until)
    try:
        hasher().verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        after = store.users.login_failed(user.name, now=now, max_failures=policy.max_failures,
                                         lockout=policy.lockout)
        return SignIn(False, after, locked_until=after.locked_until if after.locked(now) else None)
    new_hash = hasher().hash(password) if hasher().check_needs_rehash(user.password_hash) else None
    store.users.login_succeeded(user.name, new_hash=new_hash)
    token = secrets.token_urlsafe(32)
    store.users.open_session(token_hash(token), user.name, secrets.token_urlsafe(32), now=now,
                             expires_at=now + policy.lifetime)
    return SignIn(True, user, token=token)


def open_trusted_session(session: Session, name: str, policy: LoginPolicy = LoginPolicy()) -> str | None:
    """A session for a user a trusted reverse proxy has authenticated (header mode): the user must exist and be
    enabled here (their role comes from the store). Returns the token, or None when the user cannot sign in."""
    store, now = session.store, session.now()
    user = store.users.get(name.strip())
    if user is None or user.disabled:
        return None
    token = secrets.token_urlsafe(32)
    store.users.open_session(token_hash(token), user.name, secrets.token_urlsafe(32), now=now,
                             expires_at=now + policy.lifetime)
    return token


def web_session(session: Session, token: str, policy: LoginPolicy = LoginPolicy()) -> WebSessionRecord | None:
    """The signed-in session for a cookie's token, or None (unknown, expired, idle too long, user disabled).
    Its last use is written at most once a minute."""
    store, now = session.store, session.now()
    found = store.users.session(token_hash(token))
    if found is None:
        return None
    if found.expires_at <= now or found.seen_at + policy.idle <= now:
        store.users.close_session(token_hash(token))
        return None
    if now - found.seen_at > timedelta(minutes=1):
        store.users.touch_session(token_hash(token), now)
    return found


def sign_out(session: Session, token: str) -> None:
    session.store.users.close_session(token_hash(token))
