"""`breachkit logs …`: look at what an event store holds."""

from __future__ import annotations

import dataclasses

import click
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, out_console, output_option, pass_app, safe
from breachkit.logs.names import ENGINES, SEARCH_ENGINES
from breachkit.wording import counted


@click.group()
def logs() -> None:
    """Inspect the stored events."""


@logs.command("stats")
@click.option("-e", "--engine", type=click.Choice(ENGINES), default=None,
              help="Event store (default: ingest.default_engine).")
@output_option()
@pass_app
def stats(app: AppContext, engine: str | None, output: str) -> None:
    """Per field: how many events carry it and how many distinct values it has (exact, on every engine)."""
    from breachkit.logs.stores import open_event_store

    with open_event_store(app.config, app.workspace(), engine, read_only=True) as store:
        result = store.field_stats()
        total = store.count()
    if output == "json":
        echo_json({"events": total, "fields": {k: dataclasses.asdict(v) for k, v in result.items()}})
        return
    table = Table(title=f"{counted(total, 'event', thousands=True)} in {store.engine}", title_justify="left")
    table.add_column("field")
    table.add_column("present", justify="right")
    table.add_column("distinct", justify="right")
    for name, st in result.items():
        if st.present:
            table.add_row(name, f"{st.present:,}", f"{st.distinct:,}")
    out_console().print(table)


@logs.command("check-index")
@click.argument("pattern")
@click.option("-e", "--engine", type=click.Choice(SEARCH_ENGINES), default="elasticsearch", show_default=True)
@output_option()
@pass_app
def check_index_cmd(app: AppContext, pattern: str, engine: str, output: str) -> None:
    """Can the rules run on an existing index? Per field the rules use: present, and with a type breachkit can
    query; then the rules that cannot run there and why (exit 1 if any)."""
    from breachkit.cli.ingest import say
    from breachkit.detect.api import check_existing_index

    result = check_existing_index(app.session, pattern, engine)
    if output == "json":
        echo_json(dataclasses.asdict(result) | {"ok": result.ok})
    else:
        console = out_console()
        table = Table(title=f"{pattern} on {engine}: {len(result.indices)} indices", title_justify="left")
        for column in ("field", "in the index", "type", "usable", "note"):
            table.add_column(column)
        for f in result.fields:
            table.add_row(f.field, safe(f.index_field), ", ".join(f.types) or "-", "yes" if f.usable else "NO",
                          f.reason)
        console.print(table)
        for rule in result.rules:
            say(console, f"cannot run: {rule.title} [{rule.rule_id}]: {'; '.join(rule.problems)}")
        say(console, f"{counted(len(result.rules), 'rule')} cannot run on {pattern}")
    if not result.ok:
        raise click.exceptions.Exit(1)


@logs.command("forget")
@click.argument("source")
@click.option("-e", "--engine", type=click.Choice(ENGINES), default=None,
              help="Event store (default: ingest.default_engine).")
@click.option("--reason", default=None, help="Why (recorded in <workspace>/ingest-log.jsonl).")
@output_option()
@pass_app
def forget(app: AppContext, source: str, engine: str | None, reason: str | None, output: str) -> None:
    """Remove every event of SOURCE (its log.file.path: the file name it was ingested from).

    To correct a source, prefer `breachkit ingest --replace FILE`, which never leaves it without events.
    The removal is recorded in <workspace>/ingest-log.jsonl. A SOURCE with no events is an error (exit 2)
    that lists the stored sources.
    """
    from breachkit.cli.ingest import say
    from breachkit.logs.ingest import forget_source
    from breachkit.logs.stores import open_event_store

    workspace = app.workspace()
    with open_event_store(app.config, workspace, engine) as store:
        result = forget_source(store, source, workspace, reason=reason)
    if output == "json":
        echo_json(dataclasses.asdict(result))
        return
    removed = counted(result.removed, 'event', thousands=True)
    say(out_console(), f"removed {removed} of source {result.source} from {result.engine}")
