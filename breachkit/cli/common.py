"""What the command modules share: the application context (a library `Session`), consoles, output options,
progress, and the small formatters for people. Heavy dependencies are imported inside the functions that need
them, so `breachkit --help` and quick commands start fast."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from breachkit.times import local, parse_time

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from breachkit.config import Config
    from breachkit.session import Session
    from breachkit.workspace import Workspace

__all__ = ["AppContext", "echo_json", "err_console", "local", "out_console", "output_option", "parse_time",
           "pass_app", "progress_bar", "safe"]

def safe(text: object) -> str:
    """Text from users or logs as it may be shown on a terminal: control characters (escape sequences that
    could rewrite the screen) shown as \\xHH, never sent raw; newlines and tabs kept."""
    from breachkit.errors import printable

    return printable(str(text), lines=True)


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def out_console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True)


@dataclass
class AppContext:
    """The CLI's state for one invocation: which config, how verbose, and the session opened from it."""

    config_path: str | None = None
    verbose: bool = False
    _session: Session | None = field(default=None, repr=False)

    @property
    def session(self) -> Session:
        if self._session is None:
            from breachkit.session import Session

            self._session = Session.open(self.config_path)
        return self._session

    @property
    def config(self) -> Config:
        return self.session.config

    def workspace(self) -> Workspace:
        return self.session.workspace

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


pass_app = click.make_pass_decorator(AppContext)


def output_option(default: str = "table") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-o", "--output", type=click.Choice(["table", "json"]), default=default,
                        show_default=True, help="Human table on stdout, or JSON for machines.")


def echo_json(data: Any) -> None:
    """JSON on stdout: a result document (anything with `to_data`) or plain data."""
    if hasattr(data, "to_data"):
        data = data.to_data()
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A progress display on stderr; silent when stderr is not a terminal (cron, pipes, tests)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    console = err_console()
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not (enabled and console.is_terminal),
    )
    with progress:
        yield progress


def parse_assignment(item: str, option: str = "--set") -> tuple[str, Any]:
    """`field=value`: the value is JSON when it parses (lists, numbers, true/false, null), else a string."""
    from breachkit.errors import UsageError

    if "=" not in item:
        raise UsageError(f"{option} takes field=value, not {item!r}")
    name, raw = item.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def parse_assignments(items: tuple[str, ...] | list[str], option: str = "--set") -> dict[str, Any]:
    return dict(parse_assignment(item, option) for item in items)


def override_reason(override_check: bool, reason: str | None) -> str | None:
    """`--override-check --reason TEXT` as the use cases take it (None: no override)."""
    from breachkit.errors import UsageError

    if not override_check:
        if reason:
            raise UsageError("--reason explains an override: give --override-check with it", field="reason")
        return None
    if not (reason or "").strip():
        raise UsageError("--override-check needs --reason: why go ahead despite the errors (it is recorded)",
                         field="reason")
    return reason
