"""`breachkit rules list | check | convert | test`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, err_console, out_console, output_option, pass_app, safe
from breachkit.detect.api import rule_paths as rule_dirs
from breachkit.detect.api import ruleset_from_config
from breachkit.detect.engines import LocalEngine, SearchEngine
from breachkit.detect.rules import Correlation, Rule, RuleSet
from breachkit.detect.ruletest import (
    load_cases,
    local_engine_for,
    reference_engine_for,
    run_case,
    search_engine_factory,
)
from breachkit.errors import InputError
from breachkit.wording import counted

WIDE, NARROW = 160, 100  # `rules list`: the ids (36 characters) and tags from WIDE columns, logsources from NARROW
paths_argument = click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))


def _load(app: AppContext, paths: tuple[Path, ...]) -> RuleSet:
    return ruleset_from_config(app.config, only=paths or None)


@click.group()
def rules() -> None:
    """Author and check Sigma rules (bundled pack, detect.rules from the config, or PATHS)."""


@rules.command("list")
@paths_argument
@output_option()
@pass_app
def list_cmd(app: AppContext, paths: tuple[Path, ...], output: str) -> None:
    """List the rules that would run (with their logsource and the datasets they run on), and those that
    do not, with the reason."""
    from breachkit.detect.rules_api import list_rules

    listing = list_rules(app.session, paths)
    if output == "json":
        echo_json(listing.to_json())
        return
    ruleset, console = listing.ruleset, out_console()
    # narrower, the ids and tags (and below NARROW the logsources) would squeeze the titles to a word per line
    wide, narrow = console.width >= WIDE, console.width < NARROW
    left_out = "logsources, ids and tags" if narrow else "ids and tags"
    table = Table(title=f"{counted(len(listing.entries), 'rule')} "
                  f"({counted(len(ruleset.correlations), 'correlation')}), "
                  f"{len(ruleset.skipped)} skipped, {len(ruleset.problems)} broken", title_justify="left",
                  caption=None if wide else f"{left_out}: -o json, or a terminal of {WIDE} columns or more",
                  caption_justify="left", expand=True)
    table.add_column("level", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("title", ratio=1, min_width=28)
    if not narrow:
        table.add_column("logsource", overflow="fold")
    table.add_column("datasets", no_wrap=True)
    if wide:
        table.add_column("tags", ratio=1)
        table.add_column("id", no_wrap=True)
    for e in listing.entries:
        meta = e.item.meta
        cells = [meta.level or "", e.kind + ("" if e.item.generate else "\n(for correlations)"), safe(meta.title)]
        cells += [] if narrow else [safe(meta.logsource or "").replace(", ", "\n")]
        cells.append(e.datasets_text)
        table.add_row(*cells, *([safe(" ".join(meta.tags)), safe(meta.id)] if wide else []))
    console.print(table)
    for n in listing.not_run:
        console.print(safe(n), markup=False, highlight=False)


@rules.command()
@paths_argument
@pass_app
def check(app: AppContext, paths: tuple[Path, ...]) -> None:
    """Validate every rule; list every problem with its file and line, and every rule that cannot run with the
    reason. Exit 1 if any rule is broken, if a rule given as PATHS cannot run, or if no rule can run."""
    from breachkit.detect.rules_api import check_rules

    result = check_rules(app.session, paths)
    ruleset, console = result.ruleset, out_console()
    for rule in ruleset.rules:
        for warning in rule.warnings:
            console.print(safe(f"warning: {rule.meta.path}: {rule.meta.title}: {warning}"), markup=False,
                          highlight=False)
    for skipped in ruleset.skipped:
        console.print(safe(f"skipped: {skipped.meta.path}: {skipped.meta.title}: {skipped.reason}"), markup=False,
                      highlight=False)
    for finding in ruleset.lint:
        console.print(safe(f"lint: {finding}"), markup=False, highlight=False)
    if result.problem is not None:
        raise result.problem
    if result.warning:
        err_console().print(f"[yellow]warning:[/] {result.warning}", highlight=False)
    console.print(result.summary, highlight=False)


@rules.command()
@paths_argument
@click.option("-r", "--rule", "rule_ids", multiple=True, help="Only this rule id (repeatable).")
@click.option("-e", "--engine", type=click.Choice(["local", "elasticsearch", "opensearch", "both"]), default="both",
              show_default=True)
@pass_app
def convert(app: AppContext, paths: tuple[Path, ...], rule_ids: tuple[str, ...], engine: str) -> None:
    """Show the query each engine runs for each rule (correlations: their windows and group fields)."""
    ruleset = _load(app, paths)
    console = out_console()
    items: list[Rule | Correlation] = [*ruleset.rules, *ruleset.correlations]
    for item in items:
        if rule_ids and item.meta.id not in rule_ids:
            continue
        console.rule(f"{item.meta.title} [{item.meta.id}]")
        if isinstance(item, Correlation):
            console.print(f"{item.type} over {', '.join(item.rules)}; group-by {item.group_by}; "
                          f"timespan {item.timespan}s; condition {item.bounds}", highlight=False)
            continue
        if engine in ("local", "both"):
            console.print("[bold]local (DuckDB):[/]")
            console.print(LocalEngine.describe_query(item.query), markup=False, highlight=False)
        if engine in ("elasticsearch", "opensearch", "both"):
            console.print("[bold]elasticsearch / opensearch (the same query DSL):[/]")
            console.print(SearchEngine.describe_query(item.query), markup=False, highlight=False)


@rules.command("test")
@click.argument("cases", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Rule files or folders (default: the configured rules).")
@click.option("-e", "--engine", "engines", multiple=True, default=("local",), show_default=True,
              type=click.Choice(["local", "elasticsearch", "opensearch", "reference"]),
              help="Repeat to run on several.")
@pass_app
def test_cmd(app: AppContext, cases: tuple[Path, ...], rule_paths: tuple[Path, ...], engines: tuple[str, ...]) -> None:
    """Run YAML rule cases (default: the tests/ folder of each rule folder). Exit 1 if any case fails."""
    roots = list(rule_paths) or rule_dirs(app.config)
    ruleset = ruleset_from_config(app.config, only=roots)
    if ruleset.problems:
        raise InputError("the rules have problems; run `breachkit rules check`", problems=list(ruleset.problems))
    case_paths = list(cases) or [r / "tests" for r in roots if (r / "tests").is_dir()]
    found, problems = load_cases(sorted(set(case_paths)))
    if problems:
        raise InputError("invalid case files", problems=problems)
    openers: list[tuple[str, Callable[[Any], Any]]] = []
    for name in engines:
        if name == "local":
            openers.append((name, local_engine_for))
        elif name == "reference":
            openers.append((name, reference_engine_for))
        else:
            openers.append((name, _search_opener(app, name)))
    console = out_console()
    failed = 0
    for case in found:
        for name, opener in openers:
            result = run_case(case, ruleset, opener)
            if not result.passed:
                failed += 1
                console.print(f"FAIL [{name}] {case.file}: {case.name}: {result.message}", highlight=False)
    console.print(f"{len(found)} cases × {len(openers)} engines: {len(found) * len(openers) - failed} passed, "
                  f"{failed} failed", highlight=False)
    if failed:
        raise click.exceptions.Exit(1)


def _search_opener(app: AppContext, engine: str) -> Callable[[Any], Any]:
    from breachkit.logs.stores import open_search_store

    cfg = app.config.opensearch if engine == "opensearch" else app.config.elasticsearch
    config = app.config.model_copy(update={engine: cfg.model_copy(update={"index": f"{cfg.index}-rule-tests"})})
    store = click.get_current_context().with_resource(open_search_store(config, app.workspace(), engine))
    return search_engine_factory(store)

