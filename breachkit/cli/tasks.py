"""`breachkit incident task …`: the playbook tasks of an incident — list, assign, check, complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from breachkit.cli.common import AppContext, echo_json, local, out_console, output_option, pass_app, safe
from breachkit.cli.views import task_table

if TYPE_CHECKING:
    from breachkit.incidents.model import Task


@click.group("task")
def task() -> None:
    """Playbook tasks: list, assign, check items, complete."""


@task.command("list")
@click.argument("incident_id")
@click.option("--checklists", is_flag=True, help="Show every checklist item.")
@output_option()
@pass_app
def list_cmd(app: AppContext, incident_id: str, checklists: bool, output: str) -> None:
    """The incident's tasks by due time, with owners and where each stands in words (overdue by…, due in…)."""
    from rich.table import Table

    from breachkit.incidents import tasks_api

    zone = app.session.zone
    tasks = tasks_api.list_tasks(app.session, incident_id)
    if output == "json":
        echo_json([t.model_dump(mode="json") for t in tasks])
        return
    out_console().print(task_table(tasks, zone, app.session.now(), app.session.due_soon))
    if checklists:
        for t in tasks:
            table = Table(title=safe(f"{t.key}: {t.title} (due {local(t.due_at, zone)})"), title_justify="left")
            table.add_column("#")
            table.add_column("item")
            table.add_column("done")
            for number, item in enumerate(t.checklist, 1):
                table.add_row(str(number), safe(item), "✓" if number - 1 in t.checked else "")
            out_console().print(table)


def _show(new: Task) -> None:
    out_console().print(safe(f"{new.key}: {new.state.value}, {len(new.checked)}/{len(new.checklist)} checked"
                             + (f", assigned to {new.assignee}" if new.assignee else "")))


@task.command("assign")
@click.argument("incident_id")
@click.argument("key")
@click.argument("assignee")
@pass_app
def assign_cmd(app: AppContext, incident_id: str, key: str, assignee: str) -> None:
    """Give a task to someone (an email: reminders go there)."""
    from breachkit.incidents import tasks_api

    _show(tasks_api.assign_task(app.session, incident_id, key, assignee))


@task.command("check")
@click.argument("incident_id")
@click.argument("key")
@click.argument("items", type=int, nargs=-1, required=True)
@click.option("--uncheck", is_flag=True)
@pass_app
def check_cmd(app: AppContext, incident_id: str, key: str, items: tuple[int, ...], uncheck: bool) -> None:
    """Tick (or untick) checklist items by number (1 = first)."""
    from breachkit.incidents import tasks_api

    _show(tasks_api.check_items(app.session, incident_id, key, items, uncheck=uncheck))


@task.command("done")
@click.argument("incident_id")
@click.argument("key")
@click.option("--note", default="")
@pass_app
def done_cmd(app: AppContext, incident_id: str, key: str, note: str) -> None:
    """Mark a task done."""
    from breachkit.incidents import tasks_api

    _show(tasks_api.complete_task(app.session, incident_id, key, note))


@task.command("skip")
@click.argument("incident_id")
@click.argument("key")
@click.option("--reason", required=True)
@pass_app
def skip_cmd(app: AppContext, incident_id: str, key: str, reason: str) -> None:
    """Skip a task that does not apply (the reason is recorded)."""
    from breachkit.incidents import tasks_api

    _show(tasks_api.skip_task(app.session, incident_id, key, reason=reason))


@task.command("reopen")
@click.argument("incident_id")
@click.argument("key")
@click.option("--reason", required=True)
@pass_app
def reopen_cmd(app: AppContext, incident_id: str, key: str, reason: str) -> None:
    """Open a finished task again."""
    from breachkit.incidents import tasks_api

    _show(tasks_api.reopen_task(app.session, incident_id, key, reason=reason))
