"""The `breachkit` command: a thin click layer over the library. One module per command group."""

from __future__ import annotations

import traceback
from typing import Any

import click

from breachkit.cli.common import AppContext, err_console
from breachkit.errors import BreachkitError, printable

EPILOG = """\b
Exit codes: 0 success · 1 bad input (log, rule, template, directory file) ·
2 usage or configuration error · 3 service unreachable or refused (Elasticsearch, SMTP, database) ·
4 partial: some inputs done, others failed (each listed) ·
5 conflict: the incident changed since it was read (nothing written; retry)."""


class BreachkitGroup(click.Group):
    """Maps breachkit's errors to a message with its location and a hint, and to the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BreachkitError as exc:
            app = ctx.find_object(AppContext)
            if app is not None and app.verbose:
                err_console().print(traceback.format_exc(), markup=False, highlight=False)
            report_error(exc)
            ctx.exit(exc.exit_code)


def report_error(exc: BreachkitError) -> None:
    console = err_console()
    console.print("[bold red]error:[/] ", end="")
    console.print(printable(str(exc), lines=True), markup=False, highlight=False)
    if exc.hint:
        console.print("[yellow]hint:[/] ", end="")
        console.print(printable(exc.hint, lines=True), markup=False, highlight=False)


@click.group(cls=BreachkitGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=str),
              help="Config file (default: ./breachkit.toml, or $BREACHKIT_CONFIG).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="breachkit")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """breachkit: detect unauthorized access in logs, run the 72-hour clock, notify the people affected."""
    ctx.obj = AppContext(config_path=config_path, verbose=verbose)


def _register() -> None:
    from breachkit.cli import (
        assess,
        detect,
        incident,
        ingest,
        logs,
        notices,
        remind,
        report,
        rules,
        scan,
        setup,
        subjects,
        tasks,
    )

    cli.add_command(setup.init)
    cli.add_command(setup.demo)
    cli.add_command(ingest.ingest_cmd)
    cli.add_command(logs.logs)
    cli.add_command(rules.rules)
    cli.add_command(detect.detect_cmd)
    cli.add_command(scan.scan_cmd)
    incident.incident.add_command(tasks.task)
    incident.incident.add_command(assess.assess_cmd)
    incident.incident.add_command(assess.decide_cmd)
    cli.add_command(incident.incident)
    cli.add_command(subjects.subjects)
    cli.add_command(notices.notices)
    cli.add_command(report.report)
    cli.add_command(remind.remind_cmd)


_register()


def main() -> None:
    cli.main(prog_name="breachkit")


if __name__ == "__main__":  # pragma: no cover
    main()
