"""`breachkit logs …`: look at what an event store holds."""

from __future__ import annotations

import dataclasses

import click
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, out_console, output_option, pass_app
from breachkit.logs.stores import ENGINES, SEARCH_ENGINES, open_event_store, open_search_store


@click.group()
def logs() -> None:
    """Inspect the stored events."""


@logs.command("stats")
@click.option("-e", "--engine", type=click.Choice(ENGINES), default=None,
              help="Event store (default: ingest.default_engine).")
@output_option()
@pass_app
def stats(app: AppContext, engine: str | None, output: str) -> None:
    """Per field: how many events carry it and how many distinct values it has (exact, on both engines)."""
    with open_event_store(app.config, app.workspace(), engine, read_only=True) as store:
        result = store.field_stats()
        total = store.count()
    if output == "json":
        echo_json({"events": total, "fields": {k: dataclasses.asdict(v) for k, v in result.items()}})
        return
    table = Table(title=f"{total:,} events in {store.engine}", title_justify="left")
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
    from breachkit.detect.api import ruleset_from_config
    from breachkit.detect.sources import check_index

    cfg = app.config.opensearch if engine == "opensearch" else app.config.elasticsearch
    ruleset = ruleset_from_config(app.config)
    with open_search_store(app.config, app.workspace(), engine) as store:
        result = check_index(store.conn, pattern, ruleset, cfg.source)
    if output == "json":
        echo_json(dataclasses.asdict(result) | {"ok": result.ok})
    else:
        console = out_console()
        table = Table(title=f"{pattern} on {engine}: {len(result.indices)} indices", title_justify="left")
        for column in ("field", "in the index", "type", "usable", "note"):
            table.add_column(column)
        for f in result.fields:
            table.add_row(f.field, f.index_field, ", ".join(f.types) or "-", "yes" if f.usable else "NO", f.reason)
        console.print(table)
        for rule in result.rules:
            console.print(f"cannot run: {rule.title} [{rule.rule_id}]: {'; '.join(rule.problems)}", highlight=False)
        console.print(f"{len(result.rules)} rules cannot run on {pattern}", highlight=False)
    if not result.ok:
        raise click.exceptions.Exit(1)
