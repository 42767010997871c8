"""What `breachkit demo` prints: the story in about one screen at any width — logs, detections grouped by rule
(the one that opened the incident marked), the incident's clocks, the people, the notices — each part with the
command to see more, written so that it works when pasted. The full detection table goes to a file."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from breachkit.cli.common import local, parse_time, safe
from breachkit.wording import counted

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from breachkit.demo import DemoResult

SHOWN_RULES = 10  # the most severe first; the rule that opened the incident always shown


def command_prefix() -> str:
    """How to run breachkit again from anywhere: the absolute path of this executable, or `python -m`."""
    launched = Path(sys.argv[0])
    if launched.name == "breachkit" and launched.exists():
        return str(launched.resolve())
    found = shutil.which("breachkit")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return found
    return f"{sys.executable} -m breachkit"


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """Lines no wider than `width`, broken between words (never inside one), continued under `indent`."""
    return textwrap.wrap(text, width=max(20, width), subsequent_indent=" " * indent, break_long_words=False,
                         break_on_hyphens=False) or [""]


def demo_lines(result: DemoResult, zone: ZoneInfo, width: int, full_table: Path) -> list[str]:
    from breachkit.detect.summary import by_rule
    from breachkit.incidents.api import clock, show_incident
    from breachkit.session import Session

    out: list[str] = []
    say = out.extend
    files = result.ingested.files
    lines, events = sum(f.lines for f in files), sum(f.events for f in files)
    bad, notes = sum(f.bad_lines for f in files), sum(len(f.notes) for f in files)
    say(_wrap(f"breachkit demo: the logs of a sample energy platform, on the embedded engine. "
              f"Times in {zone.key}.", width, 0))
    say(["", "1. Logs"])
    # more events than lines: auth.log's "message repeated N times" stands for N events
    repeated = " (a repeated syslog line is one event per repeat)" if events > lines else ""
    say(_wrap(f"   {len(files)} files, {lines:,} lines → {events:,} events{repeated}, {bad} unreadable"
              + (f" ({counted(notes, 'note')} in {full_table.name})" if notes else ""), width, 3))
    run = result.detections
    rows = by_rule(run.detections)
    shown = rows[:SHOWN_RULES]
    shown += [r for r in rows[SHOWN_RULES:] if r.rule_id == result.opened_by]
    rest = [r for r in rows if r not in shown]
    say(["", f"2. Detections: {len(run.detections)} from {run.found_by} of {counted(run.ran, 'rule')}, by rule"])
    say(["   level     found  rule"])
    for r in shown:
        mark = "▶" if r.rule_id == result.opened_by else " "
        head = f" {mark} {(r.level or ''):<9}{r.detections:>6}  "
        say(_wrap(head + r.title, width, len(head)))
    if rest:
        levels: dict[str, int] = {}
        for r in rest:
            levels[r.level or "no level"] = levels.get(r.level or "no level", 0) + 1
        split = ", ".join(f"{n} {level}" for level, n in levels.items())
        found = sum(r.detections for r in rest)
        say(_wrap(f"     + {counted(len(rest), 'more rule')} ({split}): {found} found", width, 7))
    say(_wrap(f"   ▶ opened the incident. Every detection: {full_table}", width, 5))
    if result.incident_id is None or result.config_path is None:
        return out
    with Session.open(result.config_path, environ={}) as session:
        shown_incident = show_incident(session, result.incident_id, timeline=False)
        deadlines = clock(session, result.incident_id).deadlines
    say(["", f"3. Incident {result.incident_id}"])
    say(_wrap("   " + safe(shown_incident.incident["title"]), width, 3))
    say(_wrap(f"   aware {local(parse_time(shown_incident.incident['aware_at'], 'aware_at'), zone)}", width, 3))
    for d in deadlines:
        when = "without undue delay" if d.due_at is None else f"due {local(d.due_at, zone)}"
        state = f"filed {local(d.filed_at, zone)}" if d.filed_at else d.status
        say(_wrap(f"   {d.regime} {d.stage}: {when} · {state}", width, 5))
    say(["", "4. People"])
    say(_wrap(f"   {counted(result.people, 'person', 'people')} whose data was read; "
              f"{counted(result.compromised, 'account')} used by someone else (a compromise notice)", width, 3))
    say(["", "5. Notices: rendered for review, nothing sent"])
    say(_wrap(f"   {(result.review or result.directory).resolve()}", width, 3))
    say(_wrap("   pre-filing check " + ("passed; the initial report is recorded as filed" if result.check_passed
                                        else "found errors (see report check)"), width, 3))
    return out


def next_commands(result: DemoResult) -> list[str]:
    """What to run next, absolute paths so that each line works when pasted."""
    bk, folder = command_prefix(), result.directory.resolve()
    lines = ["", "Next (each line works as pasted):", f"  cd {folder}"]
    if result.incident_id:
        iid = result.incident_id
        lines += [f"  {bk} incident show {iid}", f"  {bk} report check {iid}", f"  {bk} subjects show {iid}",
                  f"  {bk} incident clock --watch"]
    lines += [f"  {bk} detect --level high"]
    return lines
