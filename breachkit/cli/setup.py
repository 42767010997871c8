"""`breachkit init` and `breachkit demo`: getting started."""

from __future__ import annotations

from pathlib import Path

import click

from breachkit.cli.common import AppContext, out_console, pass_app
from breachkit.workspace import init_workspace


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing breachkit.toml.")
@pass_app
def init(app: AppContext, directory: Path, force: bool) -> None:
    """Write a commented starter breachkit.toml into DIRECTORY (default: here) and create its workspace."""
    config_path, workspace = init_workspace(directory, force=force)
    console = out_console()
    console.print(f"wrote {config_path}", highlight=False)
    console.print(f"workspace {workspace.root} (mode 0700)", highlight=False)
    console.print("next: breachkit ingest /var/log/nginx/access.log", highlight=False)
