"""What every request handler of the board shares: the library session, the settings, the authenticator, the
templates and the cached change marker for live updates; plus the gate every protected handler goes through."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from breachkit.incidents.access import Permission
from breachkit.session import Session
from breachkit.web import present
from breachkit.web.auth import Authenticator, BoardSettings, WebUser

HERE = Path(__file__).resolve().parent
FRAGMENT_HEADER = "x-board-fragment"  # live updates ask for the page's <main> only
T = TypeVar("T")


class Redirect(Exception):  # control flow, not an error
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class MarkerCache:
    """The store's change marker, read at most once per `ttl` seconds per scope however many browsers poll."""

    def __init__(self, read: Callable[[str | None], str], ttl: float = 1.0) -> None:
        self.read, self.ttl = read, ttl
        self._values: dict[str | None, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, scope: str | None) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._values.get(scope)
            if cached is not None and now - cached[0] < self.ttl:
                return cached[1]
        value = self.read(scope)
        with self._lock:
            self._values[scope] = (now, value)
            if len(self._values) > 1000:
                self._values.clear()
        return value


class Memo:
    """The last few results of expensive reads, by key (the store's change marker and a time bucket): 50 browsers
    watching the board cost one computation per change, not fifty."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._values: dict[tuple[Any, ...], Any] = {}
        self._computing: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """The value for `key`; computed by one caller while the others wait for it (no stampede after a change)."""
        with self._lock:
            if key in self._values:
                found: T = self._values[key]
                return found
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._values:
                    done: T = self._values[key]
                    return done
            value = compute()
            with self._lock:
                self._values[key] = value
                self._computing.pop(key, None)
                while len(self._values) > self.size:
                    del self._values[next(iter(self._values))]
        return value


class BoardContext:
    def __init__(self, session: Session, settings: BoardSettings) -> None:
        self.session = session
        self.settings = settings
        # one "due soon" threshold for the board and the CLI (incidents.due_soon_hours) unless web.due_soon_hours
        self.due_soon = settings.due_soon if settings.due_soon is not None else session.due_soon
        self.memo = Memo()
        self.auth = Authenticator(session, settings)
        self.markers = MarkerCache(lambda scope: session.store.change_marker(scope))
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        zone = session.zone
        self.env.filters["when"] = lambda v: present.when(v, zone)
        self.env.filters["when_full"] = lambda v: present.when_full(v, zone)
        self.env.filters["iso"] = present.iso
        self.env.filters["zone_abbr"] = lambda v: v.astimezone(zone).strftime("%Z")
        self.env.filters["clock"] = lambda v: v.astimezone(zone).strftime("%a %H:%M:%S %Z")
        self.env.globals["STATUS_WORDS"] = present.STATUS_WORDS
        self.env.globals["zone"] = zone.key
        self.env.globals["poll_seconds"] = settings.poll_seconds
        self.env.globals["due_soon_hours"] = self.due_soon.total_seconds() / 3600

    # --- the gate -------------------------------------------------------------------------------------

    async def user(self, request: Request, permission: Permission | None = None) -> WebUser:
        """The signed-in user allowed `permission`; otherwise the request ends here (sign-in page, 401, 403)."""
        user = await run_in_threadpool(self.auth.user, request)
        if user is None and self.settings.auth == "proxy":
            token = await run_in_threadpool(self.auth.proxy_session, request)
            if token is None:
                raise HTTPException(403, "This board only serves users signed in through its proxy who have a "
                                         "board account (breachkit users add).")
            raise _ProxySignIn(token, str(request.url.path))
        if user is None:
            if request.method == "GET" and request.url.path != "/live" and FRAGMENT_HEADER not in request.headers:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise Redirect(f"/login?next={quote(target, safe='/')}")
            raise HTTPException(401, "Sign in first.")
        if permission is not None and not user.can(permission):
            raise HTTPException(403, f"Your role ({user.role_title}) may not see or do this.")
        return user

    async def form(self, request: Request, user: WebUser) -> FormData:
        """The posted form, after the CSRF check (the session's token, and the Origin when sent)."""
        if int(request.headers.get("content-length") or 0) > 256 * 1024:
            raise HTTPException(413, "That form is too large.")
        form = await request.form(max_files=0, max_fields=200, max_part_size=64 * 1024)
        if not self.auth.same_origin(request) or not self.auth.token_matches(user.csrf_token, form.get("csrf")):
            raise HTTPException(403, "The form's security token is missing or out of date: nothing was changed. "
                                     "Reload the page and try again.")
        return form

    # --- rendering ------------------------------------------------------------------------------------

    def render(self, request: Request, template_name: str, user: WebUser | None, *, status: int = 200,
               scope: str | None = "board", **values: Any) -> HTMLResponse:
        """A page; only its <main> when the live updater asks for it. `scope`: what the page watches for changes
        (None: no live updates — pages of personal data, whose every load is audited)."""
        now = self.session.now()
        marker = self.markers.get(None if scope == "board" else scope) if scope else ""
        context = {"user": user, "now": now, "scope": scope or "", "marker": marker, "request_path":
                   request.url.path, **values}
        template = self.env.get_template(template_name)
        if FRAGMENT_HEADER in request.headers:
            body = "".join(template.blocks["main"](template.new_context(context)))
            response = HTMLResponse(body, status_code=status)
            response.headers["x-board-marker"] = marker
            return response
        return HTMLResponse(template.render(context), status_code=status)


class _ProxySignIn(Exception):  # control flow: set the new session cookie and come back
    def __init__(self, token: str, path: str) -> None:
        super().__init__(path)
        self.token, self.path = token, path


def board_of(request: Request) -> BoardContext:
    board = request.app.state.board
    assert isinstance(board, BoardContext)
    return board


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def proxy_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ProxySignIn)
    response = redirect(exc.path if request.method == "GET" else "/")
    board_of(request).auth.set_cookie(response, request, exc.token)
    return response
