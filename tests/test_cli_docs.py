"""Every command has help text, and the README shows every command group."""

from __future__ import annotations

from pathlib import Path

import click

from breachkit.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        out.append((path, command))
        if isinstance(command, click.Group):
            out += _commands(command, path + " ")
    return out


def test_every_command_has_help_text():
    missing = [path for path, command in _commands(cli) if not (command.help or "").strip()]
    assert missing == []


def test_the_readme_shows_every_command():
    for path, command in _commands(cli):
        if isinstance(command, click.Group) or " " not in path:
            assert f"breachkit {path.split()[0]}" in README, path
