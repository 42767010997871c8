"""The CLI reference (docs/cli.md) and the exit-code table of the README, generated from the commands and the
error classes: `python -m breachkit.cli.reference` rewrites both; a test fails when either is out of date."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from breachkit.cli import cli
from breachkit.errors import exit_codes

README_START, README_END = "<!-- exit-codes:start -->", "<!-- exit-codes:end -->"


def _commands(group: click.Group, ctx: click.Context, prefix: str) -> list[tuple[str, click.Command, click.Context]]:
    out = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        path = f"{prefix} {name}"
        sub = click.Context(command, info_name=name, parent=ctx)
        out.append((path, command, sub))
        if isinstance(command, click.Group):
            out += _commands(command, sub, path)
    return out


def exit_code_table() -> str:
    rows = ["| code | meaning |", "|---|---|"] + [f"| {code} | {meaning} |" for code, meaning in exit_codes()]
    return "\n".join(rows) + "\n"


def cli_reference() -> str:
    # the group's own context settings (-h as well as --help), as a real invocation applies them: click remembers a
    # command's help option once it ran, so without them the text would depend on what ran before
    root = click.Context(cli, info_name="breachkit", **{**cli.context_settings, "terminal_width": 100,
                                                        "max_content_width": 100})
    parts = ["# breachkit command reference", "",
             "Generated from the commands by `python -m breachkit.cli.reference`; do not edit by hand.", "",
             "## Exit codes", "", exit_code_table()]
    for path, command, ctx in [("breachkit", cli, root), *_commands(cli, root, "breachkit")]:
        level = "##" if path.count(" ") <= 1 else "###"
        help_text = command.get_help(ctx)
        parts += [f"{level} `{path}`", "", "```text", help_text.rstrip(), "```", ""]
    return "\n".join(parts)


def readme_with_exit_codes(readme: str) -> str:
    block = f"{README_START}\n{exit_code_table()}{README_END}"
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"the README lacks the {README_START} … {README_END} markers")
    return pattern.sub(lambda _m: block, readme)


def main(argv: list[str] | None = None) -> int:
    root = Path(sys.argv[1] if (argv is None and len(sys.argv) > 1) else (argv or ["."])[0])
    (root / "docs" / "cli.md").write_text(cli_reference(), encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(readme_with_exit_codes(readme.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {root / 'docs' / 'cli.md'} and the exit codes in {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
