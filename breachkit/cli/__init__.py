"""The `breachkit` command: a thin click layer over the library. One module per command group, each loaded
only when its command runs (or when help lists it), so a quick command does not pay for the others."""

from __future__ import annotations

import importlib
import traceback
from typing import Any

import click

from breachkit.cli.common import AppContext, err_console
from breachkit.errors import BreachkitError, exit_code_lines, printable

EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {line}" for line in exit_code_lines())

# command name → "module:attribute" under breachkit.cli, in the order help lists them
COMMANDS = {
    "init": "setup:init",
    "demo": "setup:demo",
    "ingest": "ingest:ingest_cmd",
    "logs": "logs:logs",
    "rules": "rules:rules",
    "detect": "detect:detect_cmd",
    "scan": "scan:scan_cmd",
    "incident": "incident:incident",
    "subjects": "subjects:subjects",
    "notices": "notices:notices",
    "report": "report:report",
    "remind": "remind:remind_cmd",
    "serve": "web:serve_cmd",
    "users": "web:users",
}


class BreachkitGroup(click.Group):
    """Loads command modules on demand; maps breachkit's errors to a message with its location and a hint,
    and to the documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"breachkit.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

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
    app = AppContext(config_path=config_path, verbose=verbose)
    ctx.obj = app
    ctx.call_on_close(app.close)


def main() -> None:
    cli.main(prog_name="breachkit")


if __name__ == "__main__":  # pragma: no cover
    main()
