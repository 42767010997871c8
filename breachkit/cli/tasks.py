"""`breachkit incident task …`: the playbook tasks of an incident — list, assign, check, complete."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, local, out_console, output_option, pass_app
from breachkit.cli.incident import task_table
from breachkit.incidents.api import actor_name, open_store


@click.group("task")
def task() -> None:
    """Playbook tasks: list, assign, check items, complete."""


@task.command("list")
@click.argument("incident_id")
@click.option("--checklists", is_flag=True, help="Show every checklist item.")
@output_option()
@pass_app
def list_cmd(app: AppContext, incident_id: str, checklists: bool, output: str) -> None:
    """The incident's tasks with owners and due times (open tasks past due in red)."""
    zone, now = app.config.display_zone, datetime.now(UTC)
    with open_store(app.config, app.workspace()) as store:
        tasks = store.tasks(incident_id.upper())
    if output == "json":
        echo_json([t.model_dump(mode="json") for t in tasks])
        return
    out_console().print(task_table(tasks, zone, now))
    if checklists:
        for t in tasks:
            table = Table(title=f"{t.key}: {t.title} (due {local(t.due_at, zone)})", title_justify="left")
            table.add_column("#")
            table.add_column("item")
            table.add_column("done")
            for number, item in enumerate(t.checklist, 1):
                table.add_row(str(number), item, "✓" if number - 1 in t.checked else "")
            out_console().print(table)


def _change(app: AppContext, incident_id: str, key: str, changes: dict[str, object], reason: str) -> None:
    with open_store(app.config, app.workspace()) as store:
        new = store.update_task(incident_id.upper(), key, changes, actor=actor_name(), now=datetime.now(UTC),
                                reason=reason)
    out_console().print(f"{key}: {new.state.value}, {len(new.checked)}/{len(new.checklist)} checked"
                        + (f", assigned to {new.assignee}" if new.assignee else ""))


@task.command("assign")
@click.argument("incident_id")
@click.argument("key")
@click.argument("assignee")
@pass_app
def assign_cmd(app: AppContext, incident_id: str, key: str, assignee: str) -> None:
    """Give a task to someone (an email: reminders go there)."""
    _change(app, incident_id, key, {"assignee": assignee}, f"assigned to {assignee}")


@task.command("check")
@click.argument("incident_id")
@click.argument("key")
@click.argument("items", type=int, nargs=-1, required=True)
@click.option("--uncheck", is_flag=True)
@pass_app
def check_cmd(app: AppContext, incident_id: str, key: str, items: tuple[int, ...], uncheck: bool) -> None:
    """Tick (or untick) checklist items by number (1 = first)."""
    with open_store(app.config, app.workspace()) as store:
        current = next((t for t in store.tasks(incident_id.upper()) if t.key == key), None)
    checked = set(current.checked if current else [])
    picked = {i - 1 for i in items}
    _change(app, incident_id, key, {"checked": sorted(checked - picked if uncheck else checked | picked)},
            "checklist")


@task.command("done")
@click.argument("incident_id")
@click.argument("key")
@click.option("--note", default="")
@pass_app
def done_cmd(app: AppContext, incident_id: str, key: str, note: str) -> None:
    """Mark a task done."""
    _change(app, incident_id, key, {"state": "done", **({"note": note} if note else {})}, note or "done")


@task.command("skip")
@click.argument("incident_id")
@click.argument("key")
@click.option("--reason", required=True)
@pass_app
def skip_cmd(app: AppContext, incident_id: str, key: str, reason: str) -> None:
    """Skip a task that does not apply (the reason is recorded)."""
    _change(app, incident_id, key, {"state": "skipped", "note": reason}, reason)


@task.command("reopen")
@click.argument("incident_id")
@click.argument("key")
@click.option("--reason", required=True)
@pass_app
def reopen_cmd(app: AppContext, incident_id: str, key: str, reason: str) -> None:
    """Open a finished task again."""
    _change(app, incident_id, key, {"state": "open"}, reason)
