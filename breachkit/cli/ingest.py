"""`breachkit ingest`: read log files into the embedded store or Elasticsearch."""

from __future__ import annotations

import dataclasses
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from breachkit.cli.common import AppContext, echo_json, err_console, out_console, output_option, pass_app, progress_bar
from breachkit.errors import UsageError, printable
from breachkit.logs.ingest import IngestOptions, IngestSummary, ProgressCallback, ingest
from breachkit.logs.names import ENGINES
from breachkit.logs.parsers import FORMATS
from breachkit.logs.stores import open_event_store
from breachkit.wording import counted

EXIT_CODES = """\b
Exit codes:
  0  every input was stored (empty inputs too, and inputs with unreadable lines
     within ingest.max_bad_ratio: the summary counts them)
  1  no input was stored; every failure was the input's (missing or unreadable
     file, wrong format, too many bad lines, truncated gzip, a subfolder
     without --recursive)
  2  no input was stored: a usage or configuration error
  3  no input was stored: the store failed (the inputs after it are not tried)
  4  some inputs were stored, others failed (each is listed)"""


def _zone(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
    return value


@click.command("ingest", epilog=EXIT_CODES)
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, path_type=str))
@click.option("-f", "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True,
              help="Log format; auto detects it from the first lines.")
@click.option("--to", "engine", type=click.Choice(ENGINES), default=None,
              help="Event store (default: ingest.default_engine, i.e. local).")
@click.option("--dataset", type=click.Choice(["access", "web", "auth", "api"]), default=None,
              help="event.dataset for events that do not carry one (default depends on the format).")
@click.option("--year", type=click.IntRange(1970, 2200), default=None,
              help="Year of the LAST syslog (auth.log) line; earlier lines are dated backwards from it "
                   "(default: from the file's modification time, or now for stdin).")
@click.option("--timezone", "timezone", callback=_zone, default=None,
              help="Zone of times without an offset (syslog, naive JSON/CSV times); default: "
                   "ingest.assume_timezone.")
@click.option("--replace", is_flag=True,
              help="Replace every stored event of each input's source by this reading (to correct --year or "
                   "--timezone); all-or-nothing per input, recorded in the ingest log.")
@click.option("-r", "--recursive", is_flag=True, help="Read the subfolders of folder arguments too.")
@click.option("--reason", default=None, help="Why (recorded in <workspace>/ingest-log.jsonl).")
@click.option("--remote-user-field", type=click.Choice(["user.name", "user.id", "user.email"]),
              default="user.name", show_default=True, help="Field for the remote user (%u) of access logs.")
@click.option("--source-name", default="stdin", show_default=True, help="Source name for input read from '-'.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr (only on a terminal).")
@output_option()
@pass_app
def ingest_cmd(app: AppContext, files: tuple[str, ...], fmt: str, engine: str | None, dataset: str | None,
               year: int | None, timezone: str | None, replace: bool, recursive: bool, reason: str | None,
               remote_user_field: str, source_name: str, progress: bool, output: str) -> None:
    """Ingest log FILES (plain, gzip, or '-' for stdin; a folder means the files in it).

    Each file is all-or-nothing: it is stored only when it was read to the end and at most
    ingest.max_bad_ratio of its lines were unreadable. Re-ingesting a file adds nothing; --replace
    re-reads it in place of what was stored. Every input is recorded in <workspace>/ingest-log.jsonl.
    """
    if replace and "-" in files and source_name == "stdin":
        raise UsageError("--replace with '-' needs --source-name: which stored source does stdin replace?")
    workspace = app.workspace()
    options = IngestOptions(format=fmt, dataset=dataset, year=year, timezone=timezone,
                            remote_user_field=remote_user_field, stdin_name=source_name, replace=replace,
                            recursive=recursive, reason=reason)
    with open_event_store(app.config, workspace, engine) as store, progress_bar(progress) as bar:

        def progress_for(path: str) -> ProgressCallback:
            task = bar.add_task(printable(path), total=None)

            def update(phase: str, done: int, total: int | None) -> None:
                bar.update(task, description=f"{phase} {printable(path)}", completed=done, total=total)

            return update

        summary = ingest(files, store, app.config, workspace, options=options, progress_for=progress_for,
                         stdin=sys.stdin.buffer)
    if output == "json":
        echo_json(dataclasses.asdict(summary))
    else:
        render_summary(summary, replace=replace)
    error = summary.error()
    if error is not None:
        raise error


def render_summary(summary: IngestSummary, *, replace: bool = False, console: Console | None = None) -> None:
    """The ingest summary table (stdout) and its notes (stderr); both on `console` when one is given."""
    err = console or err_console()
    console = console or out_console()
    table = Table(title=f"ingested into {summary.engine}", title_justify="left")
    columns = ["source", "format", "lines", "events", "added"]
    columns += ["replaced", "removed"] if replace else ["already there"]
    columns += ["bad lines", "lines/s"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("source", "format") else "right")
    for f in summary.files:
        rate = f"{f.lines / f.seconds:,.0f}" if f.seconds > 0 else "-"
        counts = [f"{f.replaced:,}", f"{f.removed:,}"] if replace else [f"{f.already_present:,}"]
        table.add_row(Text(printable(f.source)), f.format or "(empty)", f"{f.lines:,}", f"{f.events:,}",
                      f"{f.added:,}", *counts, f"{f.bad_lines:,}", rate)
    console.print(table)
    for f in summary.files:
        name = printable(f.path)
        if f.bad_lines:
            first = f.bad_samples[0]
            say(err, f"{name}: {counted(f.bad_lines, 'unreadable line')} skipped (first: line {first.line}, "
                     f"{first.reason}); samples in {f.samples_file}")
        for flag, count in sorted(f.flagged.items()):
            say(err, f"{name}: {count:,} event(s) flagged {flag} (log.flags)")
        for note in f.notes:
            say(err, f"{name}: {note}")
    for note in summary.notes:
        say(err, f"note: {note}")


def say(console: Console, text: str) -> None:
    """Print a line of library output to a console, with control characters escaped and no markup."""
    console.print(Text(printable(text)), highlight=False)
