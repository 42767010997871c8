"""`breachkit serve` (the incident board) and `breachkit users …` (who may sign in to it)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from breachkit.cli.common import AppContext, echo_json, err_console, local, out_console, output_option, pass_app, safe

ROLES = ["commander", "dpo", "security", "viewer"]


@click.command("serve")
@click.option("--host", help="Address to listen on (default web.host, 127.0.0.1). Another address needs TLS "
                             "or web.auth = \"proxy\".")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default web.port, 8080).")
@click.option("--certfile", type=click.Path(dir_okay=False, path_type=Path), help="TLS certificate chain (PEM).")
@click.option("--keyfile", type=click.Path(dir_okay=False, path_type=Path), help="TLS private key (PEM, mode 0600).")
@pass_app
def serve_cmd(app: AppContext, host: str | None, port: int | None, certfile: Path | None,
              keyfile: Path | None) -> None:
    """Serve the incident board: every open incident's deadlines, tasks and decisions, live."""
    from breachkit.incidents.users_api import list_users
    from breachkit.web.server import plan, serve

    target = plan(app.session, host=host, port=port, certfile=certfile, keyfile=keyfile)
    users = list_users(app.session)
    err = err_console()
    err.print(f"breachkit board on {target.url} (sign-in: {target.settings.auth}); Ctrl-C stops it", highlight=False)
    if target.settings.auth == "local" and not any(not u.disabled for u in users):
        err.print("[yellow]warning:[/] no users can sign in yet: breachkit users add NAME --role commander")
    if target.certfile is None and target.settings.auth == "proxy":
        err.print("plain HTTP: only requests from web.trusted_proxies are answered", highlight=False)
    serve(app.session, target)


@click.group("users")
def users() -> None:
    """Who may sign in to the board (`breachkit serve`), with which role."""


def _password(from_stdin: bool) -> str:
    """From stdin (one line) or a hidden prompt typed twice — never from the command line."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    value = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return str(value)


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer: clocks and tasks, no names; security: works tasks; commander: also the authority's "
                   "reference and the register; dpo: everything, the people affected and exports.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line) instead of a prompt.")
@pass_app
def add_cmd(app: AppContext, name: str, role: str, password_stdin: bool) -> None:
    """Add a user (the password is asked for, or read from stdin)."""
    from breachkit.incidents.users_api import add_user

    user = add_user(app.session, name, role, _password(password_stdin))
    out_console().print(safe(f"added {user.name} ({user.role})"), highlight=False)


@users.command("list")
@output_option()
@pass_app
def list_cmd(app: AppContext, output: str) -> None:
    """The users, their roles and whether they can sign in."""
    from rich.table import Table
    from rich.text import Text

    from breachkit.incidents.users_api import list_users

    session = app.session
    found, now, zone = list_users(session), session.now(), session.zone
    rows = [{"name": u.name, "role": u.role,
             "state": "disabled" if u.disabled else (f"locked until {local(u.locked_until, zone)}"
                                                     if u.locked(now) else "active"),
             "failed_logins": u.failed_logins, "created_at": u.created_at.isoformat()} for u in found]
    if output == "json":
        echo_json(rows)
        return
    table = Table(title=f"{len(rows)} users", title_justify="left")
    for col in ("name", "role", "state", "failed sign-ins"):
        table.add_column(col)
    for r in rows:
        table.add_row(Text(safe(r["name"])), str(r["role"]), str(r["state"]), str(r["failed_logins"]))
    out_console().print(table)


def _done(text: str) -> None:
    out_console().print(safe(text), highlight=False)


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line) instead of a prompt.")
@pass_app
def passwd_cmd(app: AppContext, name: str, password_stdin: bool) -> None:
    """Set a new password (signs the user out everywhere and clears a lock)."""
    from breachkit.incidents.users_api import set_password

    _done(f"new password for {set_password(app.session, name, _password(password_stdin)).name}")


@users.command("disable")
@click.argument("name")
@pass_app
def disable_cmd(app: AppContext, name: str) -> None:
    """Stop a user from signing in (signs them out at once)."""
    from breachkit.incidents.users_api import set_disabled

    _done(f"{set_disabled(app.session, name, True).name} is disabled")


@users.command("enable")
@click.argument("name")
@pass_app
def enable_cmd(app: AppContext, name: str) -> None:
    """Let a disabled user sign in again."""
    from breachkit.incidents.users_api import set_disabled

    _done(f"{set_disabled(app.session, name, False).name} is enabled")


@users.command("unlock")
@click.argument("name")
@pass_app
def unlock_cmd(app: AppContext, name: str) -> None:
    """Lift the lock after repeated failed sign-ins."""
    from breachkit.incidents.users_api import unlock_user

    _done(f"{unlock_user(app.session, name).name} is unlocked")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@pass_app
def role_cmd(app: AppContext, name: str, role: str) -> None:
    """Change a user's role (takes effect on their next page)."""
    from breachkit.incidents.users_api import set_role

    user = set_role(app.session, name, role)
    _done(f"{user.name} is now {user.role}")
