"""The board as an ASGI application (Starlette): the routes, the security headers every response carries, and
the pages for errors. `create_app(session, settings)` is what `breachkit serve` runs under uvicorn, and what tests
drive in-process or over a real socket."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from breachkit.errors import BreachkitError, ConflictError, NotFoundError, ServiceError
from breachkit.session import Session
from breachkit.web import actions, login, pages
from breachkit.web.auth import BoardSettings
from breachkit.web.context import HERE, BoardContext, Redirect, _ProxySignIn, board_of, proxy_sign_in, redirect

# Routes anyone may reach (the sign-in page and the stylesheet/script it needs); every other route refuses a request
# without a signed-in user — a test enumerates the router to check it.
PUBLIC_ROUTES = frozenset({"login_form", "login", "static", "signed_out"})

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    """Headers on every response: a strict CSP (no inline script or style), no framing, no sniffing, no
    referrer leaks, no caching of pages (they show personal data); HSTS behind TLS."""

    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {b"content-security-policy": CSP.encode(), b"x-content-type-options": b"nosniff",
                         b"x-frame-options": b"DENY", b"referrer-policy": b"same-origin",
                         b"cross-origin-opener-policy": b"same-origin",
                         b"permissions-policy": b"camera=(), microphone=(), geolocation=()"}
                if not static:
                    extra[b"cache-control"] = b"no-store"
                if self.tls:
                    extra[b"strict-transport-security"] = b"max-age=31536000"
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_page(request: Request, status: int, message: str, hint: str = "") -> Response:
    board = board_of(request)
    if request.url.path == "/live" or "application/json" in request.headers.get("accept", ""):
        return PlainTextResponse(message, status_code=status)
    titles = {400: "The request could not be used", 401: "Sign in first", 403: "Not for your role",
              404: "Not found", 405: "Not allowed", 409: "Changed by someone else", 413: "Too large",
              503: "A service is not answering"}
    try:
        return board.render(request, "error.html", None, status=status, scope=None, message=message, hint=hint,
                            title=titles.get(status, "Something went wrong"), code=status)
    except Exception:  # the error page itself must never fail: a plain answer then
        return PlainTextResponse(message, status_code=status)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_page(request, exc.status_code, str(exc.detail), headers_hint(exc))


def headers_hint(exc: HTTPException) -> str:
    return "Go back to the board and try again." if exc.status_code in (400, 404, 409) else ""


async def on_breachkit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BreachkitError)
    status = (404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError)
              else 503 if isinstance(exc, ServiceError) else 400)
    return _error_page(request, status, exc.message, exc.hint or "")


async def on_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    return redirect(exc.url)


async def signed_out(request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>Signed out</title><p>Signed out of the board. Your proxy sign-in "
                        "remains; close the browser to end it.</p>")


def routes() -> list[Route | Mount]:
    task = "/incidents/{incident_id}/tasks/{key}"
    return [
        Route("/", pages.board_page, name="board"),
        Route("/login", login.login_form, methods=["GET"], name="login_form"),
        Route("/login", login.login, methods=["POST"], name="login"),
        Route("/logout", login.logout, methods=["POST"], name="logout"),
        Route("/signed-out", signed_out, name="signed_out"),
        Route("/live", pages.live, name="live"),
        Route("/register", pages.register_page, name="register"),
        Route("/register.csv", pages.register_csv, name="register_csv"),
        Route("/disclosures", pages.disclosures_page, name="disclosures"),
        Route("/incidents/{incident_id}", pages.incident_page, name="incident"),
        Route("/incidents/{incident_id}/subjects", pages.subjects_page, name="subjects"),
        Route("/incidents/{incident_id}/subjects.csv", pages.subjects_csv, name="subjects_csv"),
        Route("/incidents/{incident_id}/notes", actions.add_note, methods=["POST"], name="add_note"),
        Route("/incidents/{incident_id}/reference", actions.record_field, methods=["POST"], name="reference"),
        Route("/incidents/{incident_id}/delay-reasons", actions.record_field, methods=["POST"],
              name="delay_reasons"),
        Route(f"{task}/assign", actions.task_action, methods=["POST"], name="task_assign"),
        Route(f"{task}/checklist", actions.task_action, methods=["POST"], name="task_checklist"),
        Route(f"{task}/complete", actions.task_action, methods=["POST"], name="task_complete"),
        Route(f"{task}/reopen", actions.task_action, methods=["POST"], name="task_reopen"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def create_app(session: Session, settings: BoardSettings | None = None) -> Starlette:
    settings = settings or BoardSettings()
    handlers: dict[Any, Any] = {HTTPException: on_http_error, BreachkitError: on_breachkit_error,
                                Redirect: on_redirect, _ProxySignIn: proxy_sign_in}
    app = Starlette(routes=routes(), exception_handlers=handlers)
    app.state.board = BoardContext(session, settings)
    app.add_middleware(SecurityHeaders, tls=settings.tls)
    return app
