"""Syslog line headers (time, host, program, pid) and the year of classic syslog timestamps.

Header forms read (an optional `<PRI>` in front of each):

- classic BSD (RFC 3164): `Mar  7 18:53:20 host sshd[1556]: message`; the host may be missing
  (`Mar  7 18:53:20 sshd[1556]: …`) and the program may be written `[sshd]:` or `[sshd] ` (fail2ban's
  test logs have all of these). The first word after the time is the program, not a host, when it ends
  with `:` (`sshd[8148]:`, `sshd:`); otherwise it is the host.
- RFC 3339 time instead of the BSD one (rsyslog's high-precision template): `2015-04-16T18:02:50.32+00:00 …`.
- RFC 5424: `<38>1 2019-07-08T17:40:16.95-04:00 host app procid msgid [structured data] message`
  (`-` for a nil value; a nil time makes the line unreadable: there is no time to give it).

Classic timestamps have neither a year nor a zone. The zone is the one given (`--timezone`, else
`ingest.assume_timezone`). The year: lines are in time order, so reading forward a *year boundary* is a
step back in the calendar (Dec 31 → Jan 1). `YearTracker` defines what counts as one: a step back by more
than half a year (182 days) — going forward into the next year is then the shorter reading; a smaller
step back is a line out of order within the same year (merged or late-delivered lines) and is counted
separately. Ingest first scans the whole input (`scan_years`), then dates the *last* line from the
reference time (the file's modification time, `--year`, or now for stdin) and every earlier line
backwards from it (`plan_years`): never after the reference, and each boundary one year earlier.
The patterns are hand-written: there is no maintained Python library for these header variants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Final

from breachkit.logs.parsers.base import ParseError
from breachkit.logs.parsers.times import MONTHS, parse_iso
from breachkit.logs.reader import Line
from breachkit.wording import counted

_PRI = r"(?:<\d{1,3}>)?"
BSD_STAMP_RE: Final = re.compile(_PRI + r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) ")
_RFC3339_RE = re.compile(_PRI + r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")
_TAG_FIRST_RE = re.compile(r"([^\s\[\]:]+)(?:\[(\d+)\])?:(?: |$)(.*)", re.S)
_BRACKETED_RE = re.compile(r"\[([^\s\[\]:]+)\]:? ?(.*)", re.S)
_HOST_TAG_RE = re.compile(r"(\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)", re.S)
# sysklogd's own line about the line before it: no program, no colon
_LAST_REPEATED_RE = re.compile(r"(?:(\S+) )?(last message repeated \d+ times?)\s*", re.S)
_SD_PARAM = r'[^\s\]="]+="(?:[^"\\]|\\.)*"'
_RFC5424_RE = re.compile(
    r"<\d{1,3}>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[[^\s\]=\"]+(?: " + _SD_PARAM + r")*\])+)(?: (.*))?",
    re.S)

_CUMULATIVE_DAYS: Final = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
DAY: Final = 86_400
HALF_YEAR: Final = 182 * DAY


@dataclass(frozen=True, slots=True)
class Stamp:
    """A classic syslog time: no year, no zone."""

    month: int
    day: int
    hour: int
    minute: int
    second: int

    @property
    def position(self) -> int:
        """Seconds since 1 January 00:00 of a non-leap year (29 Feb counts as 1 March): for ordering."""
        return ((_CUMULATIVE_DAYS[self.month - 1] + self.day - 1) * DAY + self.hour * 3600 + self.minute * 60
                + self.second)

    def __str__(self) -> str:
        return f"{next(m for m, i in MONTHS.items() if i == self.month)} {self.day:2d} " \
               f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"


@dataclass(frozen=True, slots=True)
class Header:
    """A syslog line split into its parts. Exactly one of `stamp` (classic) and `timestamp` is set."""

    stamp: Stamp | None
    timestamp: datetime | None  # aware UTC, for RFC 3339 / 5424 lines
    host: str | None
    program: str | None
    pid: int | None
    message: str


def classic_stamp(text: str) -> tuple[Stamp, int] | None:
    """The classic time at the start of `text` and where the rest begins, or None."""
    m = BSD_STAMP_RE.match(text)
    if m is None:
        return None
    mon, day, hh, mm, ss = m.groups()
    month = MONTHS.get(mon)
    if month is None:
        return None
    return Stamp(month, int(day), int(hh), int(mm), int(ss)), m.end()


def _tag(rest: str) -> tuple[str | None, str | None, int | None, str]:
    """(host, program, pid, message) from what follows the time."""
    m = _LAST_REPEATED_RE.fullmatch(rest)
    if m is not None:
        return m.group(1), None, None, m.group(2)
    m = _TAG_FIRST_RE.match(rest)
    if m is not None:
        return None, m.group(1), _pid(m.group(2)), m.group(3)
    m = _BRACKETED_RE.match(rest)
    if m is not None:
        return None, m.group(1), None, m.group(2)
    m = _HOST_TAG_RE.match(rest)
    if m is not None:
        host, prog, pid, msg = m.groups()
        return host, prog, _pid(pid), msg
    raise ParseError("not a syslog line (expected 'Mon DD HH:MM:SS host program[pid]: message')")


def _pid(text: str | None) -> int | None:
    return int(text) if text is not None and len(text) <= 18 else None


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def parse_header(text: str) -> Header:
    """Split a syslog line; raise ParseError with the reason."""
    found = classic_stamp(text)
    if found is not None:
        stamp, end = found
        host, prog, pid, msg = _tag(text[end:])
        return Header(stamp, None, host, prog, pid, msg)
    m = _RFC3339_RE.match(text)
    if m is not None:
        host, prog, pid, msg = _tag(text[m.end():])
        return Header(None, _iso(m.group(1)), host, prog, pid, msg)
    m = _RFC5424_RE.match(text)
    if m is not None:
        ts, host, app, procid, _msgid, _sd, msg = m.groups()
        if ts == "-":
            raise ParseError("RFC 5424 line without a time (NILVALUE)")
        pid = _pid(procid) if procid.isdigit() else None
        message = (msg or "").removeprefix("\ufeff")
        return Header(None, _iso(ts), _nil(host), _nil(app), pid, message)
    raise ParseError("not a syslog line (expected 'Mon DD HH:MM:SS host program[pid]: message')")


def _iso(text: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError:
        raise ParseError(f"bad timestamp {text!r}") from None


class YearTracker:
    """Gives each classic stamp, read in file order, its year (see the module docstring)."""

    def __init__(self, first_year: int) -> None:
        self.year = first_year
        self._last: int | None = None
        self.boundaries: list[tuple[int, Stamp, Stamp]] = []  # (line, before, after): the first 20
        self.boundary_count = 0
        self.out_of_order = 0
        self.first_out_of_order: int | None = None
        self._last_stamp: Stamp | None = None

    def year_for(self, stamp: Stamp, line: int = 0) -> int:
        position = stamp.position
        if self._last is not None and position < self._last:
            if self._last - position > HALF_YEAR:
                self.year += 1
                self.boundary_count += 1
                if len(self.boundaries) < 20 and self._last_stamp is not None:
                    self.boundaries.append((line, self._last_stamp, stamp))
            else:
                self.out_of_order += 1
                if self.first_out_of_order is None:
                    self.first_out_of_order = line
        self._last = position
        self._last_stamp = stamp
        return self.year


@dataclass
class YearScan:
    """What a first pass over an input found about its classic stamps."""

    lines: int = 0  # lines with a classic stamp
    first: tuple[int, Stamp] | None = None  # (line, stamp)
    last: tuple[int, Stamp] | None = None
    tracker: YearTracker = field(default_factory=lambda: YearTracker(0))


def scan_years(lines: Iterable[Line]) -> YearScan:
    """The first pass: the classic stamps in file order, through the same `YearTracker` the parser uses."""
    scan = YearScan()
    for line in lines:
        if line.text is None or not line.text.strip():
            continue
        found = classic_stamp(line.text)
        if found is None:
            continue
        stamp = found[0]
        scan.tracker.year_for(stamp, line.number)
        scan.lines += 1
        if scan.first is None:
            scan.first = (line.number, stamp)
        scan.last = (line.number, stamp)
    return scan


@dataclass(frozen=True)
class YearPlan:
    first_year: int  # the year of the first classic line; the parser counts boundaries from it
    last_year: int
    notes: tuple[str, ...]


def plan_years(scan: YearScan, *, reference: datetime, reference_kind: str, zone: tzinfo,
               zone_name: str, given_year: int | None = None) -> YearPlan:
    """Date the last classic line from the reference and every earlier one backwards from it.

    `reference_kind`: "mtime" (the file's modification time), "now" (stdin) — ignored with `given_year`.
    The last line takes the reference's year, or the year before when its date would lie more than one day
    after the reference (a day of slack absorbs a zone set wrong or a clock running ahead: a line cannot
    have been written a year after its file last changed, but it can look a few hours later).
    """
    if scan.last is None:
        year = given_year if given_year is not None else reference.astimezone(zone).year
        return YearPlan(year, year, ())
    last_line, last = scan.last
    local = reference.astimezone(zone)
    notes: list[str] = []
    if given_year is not None:
        last_year = given_year
        why = "given by --year"
    else:
        ref_position = (_CUMULATIVE_DAYS[local.month - 1] + local.day - 1) * DAY + (
            local.hour * 3600 + local.minute * 60 + local.second)
        if last.position > ref_position + DAY:
            last_year = local.year - 1
            why = f"the year before {_what(reference_kind)} {local:%Y-%m-%d %H:%M %Z}, as {last} would lie after it"
        else:
            last_year = local.year
            why = f"the year of {_what(reference_kind)} {local:%Y-%m-%d %H:%M %Z}"
    boundaries = scan.tracker.boundary_count
    first_year = last_year - boundaries
    notes.append(f"syslog times carry no year and no zone: read in {zone_name}; the last line (line {last_line}, "
                 f"{last}) is dated {last_year}, {why}"
                 + (f"; {counted(boundaries, 'year boundary', 'year boundaries')} before it "
                    f"({', '.join(f'line {n}: {a} → {b}' for n, a, b in scan.tracker.boundaries[:3])}"
                    f"{', …' if boundaries > 3 else ''})" if boundaries else ""))
    if reference_kind == "mtime" and given_year is None:
        notes.append("if the file was copied without keeping its modification time, its year may be wrong: "
                     "give it with --year (and --replace to correct what was stored)")
    assert scan.first is not None
    first = scan.first[1]
    if boundaries >= 2 or (boundaries == 1 and first.position <= last.position):
        notes.append(f"the lines go back more than a year (from {first} {first_year} to {last} {last_year}): "
                     "a gap of a year or more between two lines cannot be seen in syslog times, so the year "
                     "of the earlier lines cannot be known from the file — check them and correct with "
                     "--year/--replace if needed")
    if scan.tracker.out_of_order:
        notes.append(f"{scan.tracker.out_of_order} line(s) step back in time by less than half a year (first: "
                     f"line {scan.tracker.first_out_of_order}): read as out of order within the same year")
    if given_year is None:
        last_time = _local_time(last_year, last, zone)
        if last_time is not None and last_time > reference:
            hours = (last_time - reference) / timedelta(hours=1)
            notes.append(f"the last line is {hours:.1f} h after {_what(reference_kind)}: is the time zone "
                         f"({zone_name}) right? (--timezone)")
    return YearPlan(first_year, last_year, tuple(notes))


def _what(kind: str) -> str:
    return "the file's modification time" if kind == "mtime" else "now (stdin has no modification time)"


def _local_time(year: int, stamp: Stamp, zone: tzinfo) -> datetime | None:
    try:
        return datetime(year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second, tzinfo=zone)
    except ValueError:
        return None
