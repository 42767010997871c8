"""The incident timeline picture: occurred / detected / aware, every regime's deadlines, filings and tasks.

A pure function of its inputs (`now` and the display zone are injected) that returns a
`matplotlib.figure.Figure` on an Agg canvas — never pyplot's global state, so it is headless and can
run in several threads. Model times are UTC; they are converted to `zone` for display only (tick
labels and annotations name the local time and its abbreviation, so a DST change shows as CET → CEST).

The time axis spans `window` when given — `legal_window()` (awareness to the last deadline) is the default of
`report timeline` and the board, so the 72 hours keep their width however old the incident is. What falls
outside the window is clipped and named in the axis caption ("outside the window: …"); "now" past its right
edge is an arrow at the edge with its time.

Layout, top to bottom: the incident's own moments (one line each), one band per regime (one line per
stage, then one per filing), then one row per task, tasks grouped by owner role. The figure grows with
the number of lines. Saving (`save_timeline`) writes PNG or SVG atomically with mode 0600 (the picture
reveals incident facts) and byte-for-byte reproducibly (fixed SVG hash salt, no dates in metadata).
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import matplotlib
from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from breachkit.errors import UsageError
from breachkit.incidents.clock import Deadline, Status
from breachkit.incidents.model import Filing, Incident, Task, TaskState
from breachkit.incidents.regimes import builtin_regimes
from breachkit.incidents.timing import Timing, task_timing
from breachkit.workspace import write_private_bytes

PictureFormat = Literal["png", "svg"]
FORMATS: tuple[str, ...] = get_args(PictureFormat)

INK, BLUE, RED, GREEN = "#222222", "#1f77b4", "#d62728", "#2ca02c"
ORANGE, GREY, PURPLE, BROWN = "#ff7f0e", "#7f7f7f", "#9467bd", "#8c564b"

# Deadline status → (colour, legend text).
STATUS_STYLE: dict[Status, tuple[str, str]] = {
    Status.RUNNING: (BLUE, "deadline running"),
    Status.OVERDUE: (RED, "deadline overdue"),
    Status.MET: (GREEN, "deadline met"),
    Status.LATE: (ORANGE, "filed late"),
    Status.OPEN: (GREY, "without undue delay (no fixed time)"),
    Status.NOT_REQUIRED: (GREY, "not required (recorded decision)"),
}

LINE_INCHES = 0.36  # height of one line (row) of the plot
FRAME_INCHES = 2.0  # title, time axis and legend
WIDTH_INCHES = 13.0
DPI = 110
_TEXT = 7  # points, annotations
_BOX = {"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75}
_SAVE_LOCK = threading.Lock()
_METADATA: dict[str, dict[str, str | None]] = {"svg": {"Date": None, "Creator": "breachkit"},
                                               "png": {"Software": "breachkit"}}


@lru_cache(maxsize=1)
def _builtin_names() -> dict[str, str]:
    return {regime_id: regime.name for regime_id, regime in builtin_regimes().items()}


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """`moment` as local wall time in `zone`, with the abbreviation in force then (e.g. CET or CEST)."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def zone_label(zone: ZoneInfo, start: datetime, end: datetime) -> str:
    """"Europe/Berlin (CET/CEST)": the zone and its abbreviations over the years `start`..`end` touch."""
    seen: dict[str, timedelta] = {}
    for year in range(start.astimezone(zone).year, end.astimezone(zone).year + 1):
        for month in (1, 7):
            sample = datetime(year, month, 1, 12, tzinfo=zone)
            name, offset = sample.tzname(), sample.utcoffset()
            if name is not None and offset is not None:
                seen.setdefault(name, offset)
    names = sorted(seen, key=lambda n: (seen[n], n))
    key = str(zone)
    return key if names in ([], [key]) else f"{key} ({'/'.join(names)})"


def _duration(span: timedelta) -> str:
    minutes = int(abs(span).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def _x(moment: datetime) -> float:
    return float(mdates.date2num(moment))  # type: ignore[no-untyped-call]  # matplotlib.dates is untyped


class _Plot:
    """Drawing state of one picture: the axes, the x range, the display zone and the legend entries."""

    def __init__(self, ax: Axes, zone: ZoneInfo, lo: float, hi: float) -> None:
        self.ax, self.zone, self.lo, self.hi = ax, zone, lo, hi
        self.legend: dict[str, Artist] = {}

    def when(self, moment: datetime) -> str:
        return local_time(moment, self.zone)

    def key(self, label: str, handle: Artist) -> None:
        self.legend.setdefault(label, handle)

    def note(self, x: float, y: float, text: str, color: str = INK, *, bold: bool = False) -> None:
        """A label beside the point (x, y): to its right in the left half of the picture, else to its left."""
        right = (x - self.lo) / (self.hi - self.lo) < 0.5
        self.ax.annotate(text, (x, y), xytext=(7 if right else -7, 0), textcoords="offset points",
                         ha="left" if right else "right", va="center", fontsize=_TEXT, color=color,
                         fontweight="bold" if bold else "normal", bbox=_BOX, zorder=6, in_layout=False)

    def edge_note(self, y: float, text: str, color: str) -> None:
        """A marker and label at the right edge (deadlines without a fixed time)."""
        edge = self.ax.get_yaxis_transform()  # x in axes fraction, y in data
        self.ax.plot([0.995], [y], marker=">", color=color, markersize=7, transform=edge, clip_on=False,
                     in_layout=False)
        self.ax.text(0.985, y, text, transform=edge, ha="right", va="center", fontsize=_TEXT, color=color,
                     bbox=_BOX, zorder=6, in_layout=False)


def plot_timeline(incident: Incident, *, deadlines: Sequence[Deadline], tasks: Sequence[Task],
                  filings: Sequence[Filing], now: datetime, zone: ZoneInfo, title: str | None = None,
                  regime_names: Mapping[str, str] | None = None, soon: timedelta = timedelta(hours=12),
                  window: tuple[datetime, datetime] | None = None) -> Figure:
    """The timeline picture of `incident` as of `now`, times shown in `zone`.

    `deadlines` come from `clock.deadlines()` for each of the incident's regimes (their status already
    reflects `now` and the filings); `regime_names` labels the regime bands (default: the built-in names,
    else the regime id); `window` (start, end) fixes the time axis (default: everything, now included).
    `now` must be timezone-aware. Open tasks say in words how long until or since they were due ("due soon" within
    `soon`).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    names = {**_builtin_names(), **(regime_names or {})}
    regimes = list(dict.fromkeys([d.regime for d in deadlines] + [f.regime for f in filings]))
    roles = list(dict.fromkeys(t.role for t in tasks))
    ordered_tasks = sorted(tasks, key=lambda t: roles.index(t.role))  # stable: playbook order within a role
    events = _events(incident, now)

    bands = [len(events)] + [sum(d.regime == r for d in deadlines) + sum(f.regime == r for f in filings)
                             for r in regimes]
    lines = sum(bands) + len(ordered_tasks)
    fig = Figure(figsize=(WIDTH_INCHES, FRAME_INCHES + LINE_INCHES * lines), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()

    moments = [now, incident.aware_at, *(m for _, m, _ in events), *(e for _, _, e in events if e is not None)]
    moments += [d.due_at for d in deadlines if d.due_at is not None] + [f.filed_at for f in filings]
    moments += [d.met_at for d in deadlines if d.met_at is not None]
    moments += [m for t in tasks for m in (t.due_at, t.completed_at) if m is not None]
    start, end = (min(moments), max(moments)) if window is None else window
    if end <= start:
        raise ValueError("the window ends before it starts")
    span = max(_x(end) - _x(start), 1 / 24)
    lo, hi = _x(start) - 0.04 * span, _x(end) + 0.06 * span
    plot = _Plot(ax, zone, lo, hi)

    ticks: list[tuple[float, str]] = [((bands[0] - 1) / 2, "Incident")]
    _draw_events(plot, events)
    top = bands[0]
    for regime, size in zip(regimes, bands[1:], strict=True):
        ax.axhline(top - 0.5, color=GREY, linewidth=0.8)
        label = textwrap.fill(names.get(regime, regime), 34)
        ticks.append((top + (size - 1) / 2, label))
        stage_lines = _draw_deadlines(plot, [d for d in deadlines if d.regime == regime], top)
        _draw_filings(plot, [f for f in filings if f.regime == regime], top + stage_lines)
        top += size
    if ordered_tasks:
        ax.axhline(top - 0.5, color=GREY, linewidth=0.8)
        ticks += _draw_tasks(plot, ordered_tasks, top, incident.aware_at, now, soon)

    ax.axvline(_x(incident.aware_at), color=INK, linewidth=2.4, zorder=1)
    plot.key("aware: the clock starts", Line2D([], [], color=INK, linewidth=2.4))
    if lo <= _x(now) <= hi:
        ax.axvline(_x(now), color=INK, linewidth=1.1, linestyle="--", zorder=1)
        ax.text(_x(now), 1.0, f"now {plot.when(now)}", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=_TEXT)
    else:
        after = _x(now) > hi
        ax.text(1.0 if after else 0.0, 1.0, f"now {plot.when(now)} →" if after else f"← now {plot.when(now)}",
                transform=ax.transAxes, ha="right" if after else "left", va="bottom", fontsize=_TEXT,
                fontweight="bold")
    plot.key("now", Line2D([], [], color=INK, linewidth=1.1, linestyle="--"))

    ax.set_xlim(lo, hi)
    ax.set_ylim(lines - 0.5, -0.5)  # first line on top
    ax.set_yticks([y for y, _ in ticks], [label for _, label in ticks], fontsize=8)
    ax.tick_params(axis="y", length=0)
    locator = mdates.AutoDateLocator(tz=zone, minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.DateFormatter("%Y-%m-%d\n%H:%M %Z", tz=zone)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    outside = _outside(plot, events, deadlines, filings, ordered_tasks)
    caption = f"Time in {zone_label(zone, start, end)}"
    if window is not None:
        caption += " · window: awareness to the last deadline"
    if outside:
        shown = "; ".join(outside[:4]) + (f"; and {len(outside) - 4} more" if len(outside) > 4 else "")
        caption += "\noutside the window: " + shown
    ax.set_xlabel(caption, fontsize=8)
    ax.set_title(title if title is not None else f"{incident.id}: {incident.title}", loc="left",
                 fontsize=11, fontweight="bold", pad=16)
    fig.legend(list(plot.legend.values()), list(plot.legend), loc="outside lower center",
               ncols=min(len(plot.legend), 5), fontsize=7, frameon=False)
    return fig


def _outside(plot: _Plot, events: list[tuple[str, datetime, datetime | None]], deadlines: Sequence[Deadline],
             filings: Sequence[Filing], tasks: Sequence[Task]) -> list[str]:
    """What the window leaves out, in words (nothing is dropped silently)."""
    out: list[str] = []

    def check(label: str, moment: datetime | None) -> None:
        if moment is not None and not plot.lo <= _x(moment) <= plot.hi:
            out.append(f"{label} {plot.when(moment)}")

    for label, moment, _ in events:
        check(label, moment)
    for d in deadlines:
        check(f"{d.regime} {d.stage} due", d.due_at)
    for f in filings:
        check(f"{f.regime} {f.stage} filed", f.filed_at)
    for t in tasks:
        check(f"task {t.key} due", t.due_at)
        check(f"task {t.key} done", t.completed_at)
    return out


def _events(incident: Incident, now: datetime) -> list[tuple[str, datetime, datetime | None]]:
    """The incident's own moments: (label, when, end of a period or None), in time order; aware last."""
    events: list[tuple[str, datetime, datetime | None]] = []
    if incident.occurred_at is not None:
        end = incident.occurred_until or (now if incident.ongoing else None)
        events.append(("occurred (ongoing)" if incident.ongoing else "occurred", incident.occurred_at, end))
    if incident.detected_at is not None:
        events.append(("detected", incident.detected_at, None))
    if incident.processor_notified_at is not None:
        events.append(("processor told us", incident.processor_notified_at, None))
    events.sort(key=lambda e: e[1])
    return [*events, ("aware (clock start)", incident.aware_at, None)]


def _draw_events(plot: _Plot, events: list[tuple[str, datetime, datetime | None]]) -> None:
    ax = plot.ax
    colors = {"detected": PURPLE, "processor told us": BROWN}
    for y, (label, moment, end) in enumerate(events):
        x = _x(moment)
        if end is not None:
            ax.barh(y, _x(end) - x, left=x, height=0.45, color=BROWN, alpha=0.4, edgecolor=BROWN)
            plot.key("occurred (period)", Patch(facecolor=BROWN, alpha=0.4, edgecolor=BROWN))
            plot.note(max(_x(end), x), y, f"{label}: {plot.when(moment)} – {plot.when(end)}", BROWN)
            continue
        aware = label.startswith("aware")
        color = INK if aware else colors.get(label, BROWN)
        ax.plot([x], [y], marker="D" if aware else "o", markersize=8 if aware else 6, color=color, zorder=4)
        if not aware:
            plot.key(label, Line2D([], [], marker="o", linestyle="", color=color))
        plot.note(x, y, f"{label}: {plot.when(moment)}", color, bold=aware)


def _deadline_text(plot: _Plot, d: Deadline) -> str:
    due = "" if d.due_at is None else f"due {plot.when(d.due_at)}" + (" (provisional)" if d.provisional else "")
    met = "" if d.met_at is None else plot.when(d.met_at)
    how = {"filing": "filed", "notices_delivered": "all approved notices delivered",
           "public_communication": "public communication", "decision": "decision"}.get(d.met_by or "", "")
    state = {
        Status.RUNNING: f"{_duration(d.remaining or timedelta())} left",
        Status.OVERDUE: f"OVERDUE by {_duration(d.remaining or timedelta())}",
        Status.MET: f"met {met} ({how})",
        Status.LATE: f"met LATE {met} ({how})",
        Status.OPEN: "without undue delay, not met yet",
        Status.NOT_REQUIRED: f"not required: decision {met}",
    }[d.status]
    return f"{d.title}\n{due} · {state}" if due else f"{d.title}\n{state}"


def _draw_deadlines(plot: _Plot, deadlines: list[Deadline], top: int) -> int:
    """One line per stage of a regime band starting at line `top`; returns the number of lines used."""
    ax = plot.ax
    bottom = top + len(deadlines) - 1
    for line, d in enumerate(deadlines):
        y = top + line
        color, legend = STATUS_STYLE[d.status]
        plot.key(legend, Line2D([], [], color=color, linewidth=2.5))
        text = _deadline_text(plot, d)
        if d.due_at is None:
            plot.edge_note(y, text, color)
            continue
        x = _x(d.due_at)
        ax.vlines(x, top - 0.4, bottom + 0.4, color=color, linewidth=2.5,
                  linestyles="dotted" if d.provisional else "solid", zorder=3)
        ax.plot([x], [y], marker="v", markersize=7, color=color, zorder=4)
        plot.note(x, y, text, color, bold=d.status is Status.OVERDUE)
    return len(deadlines)


def _draw_filings(plot: _Plot, filings: list[Filing], top: int) -> None:
    for line, filing in enumerate(sorted(filings, key=lambda f: f.filed_at)):
        y, x = top + line, _x(filing.filed_at)
        plot.ax.plot([x], [y], marker="D", markersize=6, color=INK, markerfacecolor="white", zorder=4)
        plot.key("report filed", Line2D([], [], marker="D", linestyle="", color=INK, markerfacecolor="white"))
        reference = f", reference {filing.reference}" if filing.reference else ""
        kind = filing.kind.value.replace("_", "-")
        plot.note(x, y, f"{kind} report filed ({filing.stage}) {plot.when(filing.filed_at)}{reference}")


def _draw_tasks(plot: _Plot, tasks: list[Task], top: int, aware_at: datetime,
                now: datetime, soon: timedelta) -> list[tuple[float, str]]:
    """One row per task from line `top` (a bar from aware_at to its due time), a thin rule between role groups.

    Returns the y tick labels.
    """
    ax = plot.ax
    aware = _x(aware_at)
    ticks: list[tuple[float, str]] = []
    for row, task in enumerate(tasks):
        y = top + row
        if row and task.role != tasks[row - 1].role:
            ax.axhline(y - 0.5, color="#cccccc", linewidth=0.6)
        timing = task_timing(task, now, soon, plot.when)
        color, legend = {
            Timing.DONE: (GREEN, "task done"),
            Timing.SKIPPED: (GREY, "task skipped"),
            Timing.OVERDUE: (RED, "task overdue"),
            Timing.DUE_SOON: (ORANGE, "task due soon"),
            Timing.OPEN: (BLUE, "task open"),
            Timing.NO_DEADLINE: (BLUE, "task open"),
        }[timing.state]
        state = "open" if timing.state is Timing.NO_DEADLINE else timing.text
        if task.due_at is not None:
            end = _x(task.due_at)
            ax.barh(y, end - aware, left=aware, height=0.5, color=color, alpha=0.85, zorder=2)
            text = f"due {plot.when(task.due_at)} · {state}"
        else:
            end = aware
            ax.plot([end], [y], marker="o", markersize=6, color=color, zorder=4)
            text = f"no due time · {state}"
        plot.key(legend, Patch(facecolor=color, alpha=0.85))
        if task.state is TaskState.DONE and task.completed_at is not None:
            ax.plot([_x(task.completed_at)], [y], marker="o", markersize=5, color=INK,
                    markerfacecolor="white", zorder=5)
        plot.note(end, y, text, color)
        label = f"{task.role} · {task.title}"
        ticks.append((y, label if len(label) <= 52 else label[:51] + "…"))
    return ticks


def save_timeline(figure: Figure, path: Path, fmt: PictureFormat | None = None) -> Path:
    """Write `figure` to `path` as PNG or SVG (`fmt`, else from the suffix): atomically, mode 0600, reproducibly."""
    kind = _format(path, fmt)
    buffer = io.BytesIO()
    # The SVG hash salt and font type are only settable through rcParams (global): hold a lock while they apply.
    with _SAVE_LOCK, matplotlib.rc_context({"svg.hashsalt": "breachkit-timeline", "svg.fonttype": "none"}):
        figure.savefig(buffer, format=kind, dpi="figure", facecolor="white", metadata=_METADATA[kind])
    try:
        write_private_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise UsageError(f"cannot write the timeline picture: {exc.strerror}", path=path) from None
    return path


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unsupported picture format {fmt!r}", path=path, hint="use png or svg")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        what = f"unsupported picture format {path.suffix!r}" if suffix else "the file name has no suffix"
        raise UsageError(what, path=path, hint="name the file .png or .svg")
    return suffix
