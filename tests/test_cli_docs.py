"""Every command has help text, the README shows every command group, and the generated documentation (the CLI
reference, the README's exit codes, the result documents' JSON Schemas) is current."""

from __future__ import annotations

from pathlib import Path

import click

from breachkit.cli import cli
from breachkit.cli.reference import _commands, cli_reference, readme_with_exit_codes
from breachkit.schemas import schema_files

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
REGENERATE = "run `python -m breachkit.cli.reference` (and `python -m breachkit.schemas`) and commit the result"


def commands() -> list[tuple[str, click.Command]]:
    root = click.Context(cli, info_name="breachkit")
    return [(path.removeprefix("breachkit "), command) for path, command, _ in _commands(cli, root, "breachkit")]


def test_every_command_has_help_text():
    found = commands()
    assert len(found) > 40
    missing = [path for path, command in found if not (command.help or "").strip()]
    assert missing == []


def test_the_readme_shows_every_command():
    for path, command in commands():
        if isinstance(command, click.Group) or " " not in path:
            assert f"breachkit {path.split()[0]}" in README, path


def test_the_cli_reference_is_current():
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == cli_reference(), REGENERATE


def test_the_readme_exit_codes_are_generated_from_the_error_classes():
    assert readme_with_exit_codes(README) == README, REGENERATE
    assert "| 5 | conflict" in README


def test_the_epilog_lists_every_exit_code():
    from breachkit.errors import exit_codes

    text = cli.get_help(click.Context(cli, info_name="breachkit"))
    assert all(f"{code} {meaning[:20]}" in text.replace("\n  ", " ") for code, meaning in exit_codes())


def test_the_json_schemas_are_current():
    folder = REPO / "docs" / "schemas"
    files = schema_files()
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(files), REGENERATE
    assert all((folder / name).read_text(encoding="utf-8") == text for name, text in files.items()), REGENERATE


def test_the_help_lists_every_command_with_its_own_summary_without_importing_it():
    """`breachkit --help` lists commands from SUMMARIES (no stage imported); they must say what the commands say."""
    import click

    from breachkit.cli import COMMANDS, SUMMARIES, cli

    assert list(SUMMARIES) == list(COMMANDS)
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        summary = click.Command(None, help=SUMMARIES[name]).get_short_help_str(1000)
        assert command.get_short_help_str(limit=1000) == summary, name


def test_help_starts_without_the_heavy_stages():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "breachkit", "--help"], capture_output=True,
                         text=True, check=True)
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"duckdb", "pandas", "pyarrow", "sigma", "elasticsearch", "matplotlib", "jinja2"}
