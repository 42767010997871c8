"""The incident timeline as an SVG drawn on the server (a template renders it, so every text is escaped).

The time axis is the legal window (`clock.legal_window`: awareness to the last deadline — the same default as
`breachkit report timeline`), so the 72 hours keep their width however old the incident is. Moments outside it
are drawn as arrows at the edge with their time in words; "now" is a line, or an arrow at the edge when the
window has passed. Rows: the incident's moments, one per regime stage (deadline and filing), decisions, notices
sent, tasks due. Geometry only here; `templates/timeline.svg.html` draws it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from breachkit.incidents.model import Decision, Filing, Incident, Task, TaskState
from breachkit.incidents.timing import task_timing
from breachkit.web.present import DeadlineView, when

WIDTH = 960
LEFT = 190  # the row labels' gutter
RIGHT = 24
ROW = 34
TOP = 44  # the tick labels


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    kind: str  # aware | event | due | due-overdue | due-met | filed | decision | task | task-overdue | edge-left…
    label: str
    anchor: str = "start"  # where the label goes: start (right of the mark) or end (left of it)
    tip: str = ""  # the <title> tooltip: the full time


@dataclass(frozen=True)
class Bar:
    x1: float
    x2: float
    y: float
    kind: str
    label: str


@dataclass
class TimelinePicture:
    width: int
    height: int
    rows: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    ticks: list[tuple[float, str, str]] = field(default_factory=list)  # (x, weekday line, time line)
    marks: list[Mark] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    now_x: float | None = None
    now_label: str = ""
    now_edge: str = ""  # "left" | "right" when now is outside the window
    caption: str = ""


CHAR = 6.9  # average width of a label character at the template's font size


def _untangle(marks: list[Mark]) -> list[Mark]:
    """Labels on one row that would overlap are joined into the first one's label (the later marks keep their
    tooltip), so no text is drawn over other text."""
    out: list[Mark] = []
    by_row: dict[float, list[int]] = {}
    for mark in marks:
        if not mark.label:
            out.append(mark)
            continue
        for index in by_row.get(mark.y, []):
            first = out[index]
            lo, hi = _extent(first)
            mlo, mhi = _extent(mark)
            if mlo < hi + 12 and mhi > lo - 12:
                out[index] = Mark(first.x, first.y, first.kind, f"{first.label} · {mark.label}", first.anchor,
                                  first.tip)
                mark = Mark(mark.x, mark.y, mark.kind, "", mark.anchor, mark.tip or mark.label)
                break
        out.append(mark)
        if mark.label:
            by_row.setdefault(mark.y, []).append(len(out) - 1)
    return out


def _extent(mark: Mark) -> tuple[float, float]:
    width = CHAR * len(mark.label) + 11
    return (mark.x, mark.x + width) if mark.anchor == "start" else (mark.x - width, mark.x)


_STEPS = [timedelta(hours=h) for h in (1, 2, 3, 6, 12, 24, 48)] + [timedelta(days=d) for d in (7, 14, 28)]


def _ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    span = end - start
    step = next((s for s in _STEPS if span / s <= 9), _STEPS[-1])
    local = start.astimezone(zone)
    if step >= timedelta(days=1):
        first = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        hours = int(step.total_seconds() // 3600)
        first = local.replace(hour=local.hour - local.hour % hours, minute=0, second=0, microsecond=0)
    out, moment = [], first
    while moment <= end:
        if moment >= start:
            out.append(moment)
        # exact elapsed steps below a day; calendar days above (a DST change keeps ticks at midnight)
        moment = (moment.astimezone(UTC) + step).astimezone(zone) if step < timedelta(days=1) else moment + step
    return out


def draw(incident: Incident, deadlines: list[DeadlineView], filings: list[Filing], decisions: list[Decision],
         tasks: list[Task], sends: list[datetime], window: tuple[datetime, datetime], now: datetime,
         zone: ZoneInfo) -> TimelinePicture:
    start, end = window
    span = (end - start) * 1.04
    lo = start - (end - start) * 0.01
    inner = WIDTH - LEFT - RIGHT

    def x_of(moment: datetime) -> float:
        return LEFT + inner * ((moment - lo) / span)

    def inside(moment: datetime) -> bool:
        return LEFT <= x_of(moment) <= WIDTH - RIGHT

    def anchor(x: float) -> str:
        return "start" if x < LEFT + inner * 0.6 else "end"

    rows: list[tuple[float, str]] = []
    pic = TimelinePicture(WIDTH, 0)

    def row(label: str) -> float:
        y = TOP + 18 + ROW * len(rows)
        rows.append((y, label))
        return y

    def mark(moment: datetime, y: float, kind: str, label: str) -> None:
        tip = when(moment, zone)
        if inside(moment):
            x = x_of(moment)
            pic.marks.append(Mark(x, y, kind, label, anchor(x), tip))
        elif moment < start:
            pic.marks.append(Mark(LEFT, y, "edge-left", f"← {label} — before the window", "start", tip))
        else:
            pic.marks.append(Mark(WIDTH - RIGHT, y, "edge-right", f"{label} — after the window →", "end", tip))

    y = row("Incident")
    mark(incident.aware_at, y, "aware", f"aware {when(incident.aware_at, zone)} — the clocks start")
    earlier = [(label, m) for label, m in (("occurred", incident.occurred_at), ("detected", incident.detected_at))
               if m is not None]
    if earlier:
        y = row("Before awareness" if all(m < start for _, m in earlier) else "Occurred · detected")
        for label, moment in earlier:
            mark(moment, y, "event", f"{label} {when(moment, zone)}")
    for d in deadlines:
        y = row(f"{d.regime} · {d.stage}")
        if d.due_at is None:
            pic.marks.append(Mark(WIDTH - RIGHT, y, "due-open", "without undue delay (no fixed time)", "end"))
        else:
            kind = {"overdue": "due-overdue", "late": "due-overdue", "met": "due-met", "not-required": "due-met"}.get(
                d.status, "due")
            mark(d.due_at, y, kind, f"due {when(d.due_at, zone)}" + (" (provisional)" if d.provisional else "")
                 + (" · not required" if d.status == "not-required" else ""))
        for f in (f for f in filings if f.regime == d.regime and f.stage == d.stage):
            ref = f" · ref {f.reference}" if f.reference else ""
            mark(f.filed_at, y, "filed", f"{f.kind.value.replace('_', '-')} filed{ref}")
        if d.met_at is not None and d.met_by == "notices_delivered":  # met by what was done, not by a filing
            mark(d.met_at, y, "filed", "approved notices all delivered")
    if decisions:
        y = row("Decisions")
        for dec in decisions:
            who = "authority" if dec.kind.value == "notify_authority" else "people"
            mark(dec.decided_at, y, "decision", f"{who}: {'notify' if dec.decision else 'do not notify'}")
    if sends:
        y = row("Notices sent")
        first, last = min(sends), max(sends)
        x1, x2 = max(x_of(first), LEFT), min(x_of(last), WIDTH - RIGHT)
        words = f"{len(sends)} sent, {when(first, zone)}" + (f" – {when(last, zone)}" if last != first else "")
        pic.bars.append(Bar(x1, max(x2, x1 + 3), y, "sends", words))
    timed = [t for t in tasks if t.due_at is not None]
    if timed:
        y = row("Tasks due")
        label_index, after = len(rows) - 1, 0
        for t in timed:
            assert t.due_at is not None
            late = t.state is TaskState.OPEN and t.due_at < now
            if inside(t.due_at):
                state = task_timing(t, now, timedelta(0), lambda v: when(v, zone)).text  # the CLI's words
                pic.marks.append(Mark(x_of(t.due_at), y, "task-overdue" if late else f"task-{t.state.value}", "",
                                      "start", f"{t.title} — due {when(t.due_at, zone)} — {state}"))
            else:
                after += t.due_at > end
        if after:
            rows[label_index] = (y, f"Tasks due (+{after} later)")
    pic.marks = _untangle(pic.marks)
    pic.rows = rows
    pic.height = TOP + 18 + ROW * len(rows) + 8
    pic.ticks = [(x_of(m), m.strftime("%a %d %b"), m.strftime("%H:%M")) for m in _ticks(start, end, zone)]
    if inside(now):
        pic.now_x, pic.now_label = x_of(now), f"now {when(now, zone)}"
    elif now > end:
        pic.now_edge, pic.now_label = "right", f"now {when(now, zone)} →"
    else:
        pic.now_edge, pic.now_label = "left", f"← now {when(now, zone)}"
    pic.caption = (f"From awareness ({when(start, zone)}) to the last firm deadline ({when(end, zone)}), times in "
                   f"{zone.key}. Deadlines counted from a stage not filed yet are provisional and may lie beyond it.")
    return pic
