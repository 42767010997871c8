"""What the command modules share: the application context, consoles, output options, progress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from breachkit.config import Config, load_config
from breachkit.errors import UsageError
from breachkit.workspace import Workspace


def parse_time(value: str | None, option: str, zone: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 option value as UTC; a time without an offset is read in `zone`."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: not an ISO 8601 time: {value!r}",
                         hint="e.g. 2026-03-02T08:00:00Z, 2026-03-28T14:05:00+01:00 or 2026-03-02") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def local(value: datetime | None, zone: tzinfo) -> str:
    """A time for people: in the display zone, with the zone's abbreviation ("" for none)."""
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def err_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def out_console() -> Console:
    return Console(soft_wrap=True)


@dataclass
class AppContext:
    config_path: str | None = None
    verbose: bool = False
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(Path(self.config_path) if self.config_path else None)
        return self._config

    def workspace(self) -> Workspace:
        return Workspace(self.config.workspace_dir).ensure()


pass_app = click.make_pass_decorator(AppContext)


def output_option(default: str = "table") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-o", "--output", type=click.Choice(["table", "json"]), default=default,
                        show_default=True, help="Human table on stdout, or JSON for machines.")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A progress display on stderr; silent when stderr is not a terminal (cron, pipes, tests)."""
    console = err_console()
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not (enabled and console.is_terminal),
    )
    with progress:
        yield progress
