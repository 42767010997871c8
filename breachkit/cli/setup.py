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
    from breachkit.cli.detect import emit
    from breachkit.cli.ingest import render_summary
    from breachkit.demo import run_demo

    result = run_demo(directory)
    console = out_console()
    render_summary(result.ingested)
    emit(result.detections, "table", app.session.zone)
    by_rule: dict[str, int] = {}
    for d in result.detections.detections:
        by_rule[d.title] = by_rule.get(d.title, 0) + 1
    console.print(f"\n{result.rules} rules ran; {len(result.detections.detections)} detections from "
                  f"{len(by_rule)} rules. Workspace and config: {result.directory}", highlight=False)
    if result.incident_id:
        console.print(f"\nopened {result.incident_id} (GDPR playbook, clock from aware_at): {result.people} people "
                      f"affected, {result.compromised} account compromised; emails and the authority report "
                      f"rendered for review in {result.review} (nothing was sent); pre-filing check "
                      f"{'passed: initial report recorded as filed' if result.check_passed else 'found errors'}",
                      highlight=False)
        console.print(f"next: cd {result.directory} && breachkit incident show {result.incident_id} · "
                      f"breachkit report check {result.incident_id} · breachkit subjects show "
                      f"{result.incident_id}", highlight=False)
    else:
        console.print(f"next: cd {result.directory} && breachkit detect --level high", highlight=False)
