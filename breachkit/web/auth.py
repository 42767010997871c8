"""Who is asking: the signed-in user of a request (a session cookie, or a trusted reverse proxy's header), CSRF
tokens on every form, and the per-address throttle in front of the per-account lockout.

- Local mode: `POST /login` checks the password (`users_api.sign_in`); the cookie holds a random token (HttpOnly,
  SameSite=Lax, Secure and `__Host-` named behind TLS), the store only its hash, so signing out, disabling a user
  or changing their password ends the session at once.
- Proxy mode: only requests from `web.trusted_proxies` are served, and their `web.proxy_user_header` names the
  user, who must exist and be enabled here (the role comes from the store). The board still keeps its own
  session for the CSRF token.
- CSRF: each session has a token; every form carries it and every POST is checked against it (constant time),
  plus the Origin header when the browser sends one. The login form uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from breachkit.incidents import users_api
from breachkit.incidents.access import Permission, UserRole, allowed
from breachkit.incidents.users_api import LoginPolicy

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from breachkit.config import WebConfig
    from breachkit.session import Session

LOGIN_COOKIE = "bk_login"  # the login form's CSRF (double submit)


@dataclass(frozen=True)
class BoardSettings:
    auth: str = "local"  # local | proxy
    proxy_user_header: str = "X-Forwarded-User"
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    tls: bool = False
    policy: LoginPolicy = field(default_factory=LoginPolicy)
    due_soon: timedelta | None = None  # None: the session's (incidents.due_soon_hours), as on the CLI
    poll_seconds: float = 3.0
    throttle_failures: int = 20  # failed sign-ins from one address …
    throttle_window: float = 600.0  # … within this many seconds: refused for a while

    @classmethod
    def from_config(cls, web: WebConfig, *, tls: bool) -> BoardSettings:
        return cls(auth=web.auth, proxy_user_header=web.proxy_user_header,
                   trusted_proxies=tuple(ipaddress.ip_network(n, strict=False) for n in web.trusted_proxies),
                   tls=tls, policy=LoginPolicy(max_failures=web.max_failed_logins,
                                               lockout=timedelta(minutes=web.lockout_minutes),
                                               idle=timedelta(hours=web.session_idle_hours),
                                               lifetime=timedelta(hours=web.session_hours)),
                   due_soon=None if web.due_soon_hours is None else timedelta(hours=web.due_soon_hours),
                   poll_seconds=web.poll_seconds)


@dataclass(frozen=True)
class WebUser:
    name: str
    role: str
    csrf_token: str

    def can(self, permission: Permission | str) -> bool:
        return allowed(self.role, Permission(permission))

    @property
    def role_title(self) -> str:
        return {UserRole.DPO.value: "DPO"}.get(self.role, self.role)


@dataclass
class Throttle:
    """Failed sign-ins per client address in a sliding window (in memory: a restart forgets it, the per-account
    lockout in the store does not)."""

    limit: int
    window: float
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, address: str, now: float) -> deque[float]:
        stamps = self._seen.setdefault(address, deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def blocked_for(self, address: str) -> float:
        """Seconds until this address may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            stamps = self._recent(address, now)
            return max(0.0, stamps[0] + self.window - now) if len(stamps) >= self.limit else 0.0

    def failed(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(address, now).append(now)
            if len(self._seen) > 10_000:  # forget the quiet ones
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]


class Authenticator:
    def __init__(self, session: Session, settings: BoardSettings) -> None:
        self.session = session
        self.settings = settings
        self.throttle = Throttle(settings.throttle_failures, settings.throttle_window)

    # --- where the request comes from ------------------------------------------------------------------

    def client(self, request: Request) -> str:
        return request.client.host if request.client else ""

    def from_trusted_proxy(self, request: Request) -> bool:
        try:
            address = ipaddress.ip_address(self.client(request))
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in self.settings.trusted_proxies)

    def secure(self, request: Request) -> bool:
        """Is the browser talking HTTPS to us (directly, or to the trusted proxy in front)?"""
        if self.settings.tls:
            return True
        return (self.settings.auth == "proxy" and self.from_trusted_proxy(request)
                and request.headers.get("x-forwarded-proto", "").lower() == "https")

    def cookie_name(self, request: Request) -> str:
        return "__Host-bk_session" if self.secure(request) else "bk_session"

    # --- the user --------------------------------------------------------------------------------------

    def user(self, request: Request) -> WebUser | None:
        """The signed-in user of this request, or None (blocking: call it from a worker thread)."""
        token = request.cookies.get(self.cookie_name(request), "")
        found = users_api.web_session(self.session, token, self.settings.policy) if token else None
        if self.settings.auth == "proxy":
            if not self.from_trusted_proxy(request):
                return None
            name = request.headers.get(self.settings.proxy_user_header, "").strip()
            if not name or (found is not None and found.username != name):
                return None  # a session of someone else than the proxy names: `proxy_session` makes a new one
        if found is None:
            return None
        return WebUser(found.username, found.role, found.csrf_token)

    def proxy_session(self, request: Request) -> str | None:
        """Proxy mode: a new board session for the user the trusted proxy names (None: not allowed)."""
        if self.settings.auth != "proxy" or not self.from_trusted_proxy(request):
            return None
        name = request.headers.get(self.settings.proxy_user_header, "").strip()
        return users_api.open_trusted_session(self.session, name, self.settings.policy) if name else None

    def set_cookie(self, response: Response, request: Request, token: str) -> None:
        lifetime = int(self.settings.policy.lifetime.total_seconds())
        response.set_cookie(self.cookie_name(request), token, max_age=lifetime, path="/", secure=self.secure(request),
                            httponly=True, samesite="lax")

    def clear_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(self.cookie_name(request), path="/", secure=self.secure(request), httponly=True,
                               samesite="lax")

    # --- CSRF -----------------------------------------------------------------------------------------

    def same_origin(self, request: Request) -> bool:
        """A browser's Origin header (when sent) names this site."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        hosts = {request.headers.get("host", "")}
        if self.settings.auth == "proxy" and self.from_trusted_proxy(request):
            hosts.add(request.headers.get("x-forwarded-host", ""))
        return urlsplit(origin).netloc in hosts - {""}

    @staticmethod
    def token_matches(expected: str, given: object) -> bool:
        return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected.encode(), given.encode())

    @staticmethod
    def new_login_token() -> str:
        return secrets.token_urlsafe(24)
