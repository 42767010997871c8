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


@click.command()
@click.argument("directory", required=False, default="breachkit-demo",
                type=click.Path(file_okay=False, path_type=Path))
@pass_app
def demo(app: AppContext, directory: Path) -> None:
    """Run the main job on the sample platform's logs, embedded engine, no server: ingest, detect, open an
    incident, build the affected-people list, render the notices for review."""
    import io

    from rich.console import Console

    from breachkit.cli.demo_view import demo_lines, next_commands
    from breachkit.cli.detect import emit
    from breachkit.cli.ingest import render_summary
    from breachkit.config import load_config
    from breachkit.demo import run_demo
    from breachkit.workspace import write_private_text

    result = run_demo(directory)
    assert result.config_path is not None
    zone = load_config(result.config_path, environ={}).display_zone
    full = (result.directory / "detections.txt").resolve()
    wide = Console(file=io.StringIO(), width=200, force_terminal=False, color_system=None)
    render_summary(result.ingested, console=wide)
    emit(result.detections, "table", zone, console=wide)
    write_private_text(full, wide.file.getvalue())  # type: ignore[attr-defined]
    console = out_console()
    if app.verbose:
        console.print(wide.file.getvalue(), markup=False, highlight=False)  # type: ignore[attr-defined]
    width = min(console.width, 100)
    for line in demo_lines(result, zone, width, full) + next_commands(result):
        console.print(line, markup=False, highlight=False, crop=False, overflow="ignore")
