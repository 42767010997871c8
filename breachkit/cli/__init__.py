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


# command name → its one-line help, so `breachkit --help` lists the commands without importing them (each command
# module pulls in its stage: DuckDB, pySigma, pandas…); tests/test_cli_docs.py keeps it equal to the commands' own
SUMMARIES = {
    "init": "Write a commented starter breachkit.toml into DIRECTORY (default: here) and create its workspace.",
    "demo": "Run the main job on the sample platform's logs, embedded engine, no server: ingest, detect, open an "
            "incident, build the affected-people list, render the notices for review.",
    "ingest": "Ingest log FILES (plain, gzip, or '-' for stdin; a folder means the files in it).",
    "logs": "Inspect the stored events.",
    "rules": "Author and check Sigma rules (bundled pack, detect.rules from the config, or PATHS).",
    "detect": "Run the Sigma rules (single-event and correlations) and print the detections.",
    "scan": "Run the rules over what arrived since the last scan.",
    "incident": "Incidents: the legal clock, tasks, decisions, filings and the timeline.",
    "subjects": "Who was affected: identifiers the actors touched, joined with the user directory, with counts.",
    "notices": "Subject emails and authority reports: render for review, send through the outbox, account for them.",
    "report": "Documents: the breach register, the timeline picture, the authority report, the disclosure record.",
    "remind": "Email reminders at the configured thresholds before each task's and deadline's due time, and when "
              "overdue; each one once.",
    "serve": "Serve the incident board: every open incident's deadlines, tasks and decisions, live.",
    "users": "Who may sign in to the board (`breachkit serve`), with which role.",
}


class BreachkitGroup(click.Group):
    """Loads command modules on demand; maps breachkit's errors to a message with its location and a hint,
    and to the documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from SUMMARIES: help starts without importing every stage."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shorten(SUMMARIES[name], limit)) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def _shorten(text: str, limit: int) -> str:
    """As click shortens a command's help for the list: the first sentence, cut at a word with '...'."""
    return click.Command(None, help=text).get_short_help_str(max(limit, 45))


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
