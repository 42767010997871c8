"""`breachkit ingest`: read log files into the embedded store or Elasticsearch."""

from __future__ import annotations

import dataclasses
import sys

import click
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, out_console, output_option, pass_app, progress_bar
from breachkit.errors import PartialFailure
from breachkit.logs.ingest import IngestOptions, IngestSummary, ProgressCallback, ingest
from breachkit.logs.parsers import FORMATS
from breachkit.logs.stores import ENGINES, open_event_store


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, path_type=str))
@click.option("-f", "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True,
              help="Log format; auto detects it from the first lines.")
@click.option("--to", "engine", type=click.Choice(ENGINES), default=None,
              help="Event store (default: ingest.default_engine, i.e. local).")
@click.option("--dataset", type=click.Choice(["access", "web", "auth", "api"]), default=None,
              help="event.dataset for events that do not carry one (default depends on the format).")
@click.option("--year", type=click.IntRange(1970, 2200), default=None,
              help="Year of syslog (auth.log) lines, which carry none (default: the file's modification year).")
@click.option("--remote-user-field", type=click.Choice(["user.name", "user.id", "user.email"]),
              default="user.name", show_default=True, help="Field for the remote user (%u) of access logs.")
@click.option("--source-name", default="stdin", show_default=True, help="Source name for input read from '-'.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr (only on a terminal).")
@output_option()
@pass_app
def ingest_cmd(app: AppContext, files: tuple[str, ...], fmt: str, engine: str | None, dataset: str | None,
               year: int | None, remote_user_field: str, source_name: str, progress: bool, output: str) -> None:
    """Ingest log FILES (plain, gzip, or '-' for stdin; a folder means the files in it).

    Each file is all-or-nothing: it is stored only when it was read to the end and at most
    ingest.max_bad_ratio of its lines were unreadable. Re-ingesting a file adds nothing.
    """
    workspace = app.workspace()
    options = IngestOptions(format=fmt, dataset=dataset, year=year, remote_user_field=remote_user_field,
                            stdin_name=source_name)
    with open_event_store(app.config, workspace, engine) as store, progress_bar(progress) as bar:

        def progress_for(path: str) -> ProgressCallback:
            task = bar.add_task(path, total=None)

            def update(phase: str, done: int, total: int | None) -> None:
                bar.update(task, description=f"{phase} {path}", completed=done, total=total)

            return update

        summary = ingest(files, store, app.config, workspace, options=options, progress_for=progress_for,
                         stdin=sys.stdin.buffer)
    if output == "json":
        echo_json(dataclasses.asdict(summary))
    else:
        render_summary(summary)
    if summary.failures:
        raise PartialFailure(f"{len(summary.failures)} of {len(summary.failures) + len(summary.files)} inputs "
                             "failed; the others were stored", problems=list(summary.failures))


def render_summary(summary: IngestSummary) -> None:
    console = out_console()
    table = Table(title=f"ingested into {summary.engine}", title_justify="left")
    for col in ("source", "format", "lines", "events", "added", "already there", "bad lines", "lines/s"):
        table.add_column(col, justify="left" if col in ("source", "format") else "right")
    for f in summary.files:
        rate = f"{f.lines / f.seconds:,.0f}" if f.seconds > 0 else "-"
        table.add_row(f.source, f.format, f"{f.lines:,}", f"{f.events:,}", f"{f.added:,}", f"{f.already_present:,}",
                      f"{f.bad_lines:,}", rate)
    console.print(table)
    for f in summary.files:
        if f.bad_lines:
            first = f.bad_samples[0]
            console.print(f"{f.path}: {f.bad_lines} unreadable lines skipped (first: line {first.line}, "
                          f"{first.reason}); samples in {f.samples_file}", highlight=False)
