"""Signing in and out (local mode). A wrong password counts towards the account's lockout (in the store) and the
client address's throttle (in memory); the page says which applies and until when, never which part was wrong."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from breachkit.incidents import users_api
from breachkit.web import present
from breachkit.web.auth import LOGIN_COOKIE
from breachkit.web.context import BoardContext, board_of, redirect


def _next(raw: object) -> str:
    """Only a path on this site (no scheme, no //host): an open redirect would make the sign-in a phishing aid."""
    value = raw if isinstance(raw, str) else "/"
    return value if value.startswith("/") and not value.startswith(("//", "/\\")) and len(value) < 500 else "/"


def _form(board: BoardContext, request: Request, *, status: int = 200, message: str = "", name: str = "",
          target: str = "/") -> Response:
    token = board.auth.new_login_token()
    response = board.render(request, "login.html", None, status=status, scope=None, login_token=token,
                            message=message, name=name, target=target, title="Sign in",
                            bye=request.query_params.get("bye") == "1")
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", secure=board.auth.secure(request),
                        httponly=True, samesite="strict")
    return response


async def login_form(request: Request) -> Response:
    board = board_of(request)
    if board.settings.auth == "proxy":
        return redirect("/")
    if await run_in_threadpool(board.auth.user, request) is not None:
        return redirect(_next(request.query_params.get("next")))
    return _form(board, request, target=_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    board = board_of(request)
    if board.settings.auth == "proxy":
        return redirect("/")
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    target = _next(form.get("next"))
    name, password = form.get("name"), form.get("password")
    if not board.auth.same_origin(request) or not board.auth.token_matches(request.cookies.get(LOGIN_COOKIE, ""),
                                                                           form.get("csrf")):
        return _form(board, request, status=403, target=target,
                     message="The sign-in form had expired or came from elsewhere. Please try again.")
    if not isinstance(name, str) or not isinstance(password, str) or not name.strip() or not password:
        return _form(board, request, status=400, target=target, message="Give your user name and password.")
    address = board.auth.client(request)
    wait = board.auth.throttle.blocked_for(address)
    if wait:
        response = _form(board, request, status=429, name=name, target=target,
                         message=f"Too many failed sign-ins from your address. Try again in {int(wait // 60) + 1} min.")
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    result = await run_in_threadpool(users_api.sign_in, board.session, name, password, board.settings.policy)
    if not result.ok or result.token is None:
        board.auth.throttle.failed(address)
        if result.locked_until is not None:
            until = present.when(result.locked_until, board.session.zone)
            return _form(board, request, status=423, name=name, target=target,
                         message=f"This account is locked after repeated failed sign-ins, until {until}. An "
                                 "administrator can unlock it now: breachkit users unlock NAME.")
        return _form(board, request, status=401, name=name, target=target,
                     message="Wrong user name or password (or the account is disabled).")
    response = redirect(target)
    board.auth.set_cookie(response, request, result.token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    board = board_of(request)
    user = await board.user(request)
    await board.form(request, user)  # the CSRF check: a link elsewhere cannot sign people out
    token = request.cookies.get(board.auth.cookie_name(request), "")
    if token:
        await run_in_threadpool(users_api.sign_out, board.session, token)
    response = redirect("/login?bye=1" if board.settings.auth == "local" else "/signed-out")
    board.auth.clear_cookie(response, request)
    return response
