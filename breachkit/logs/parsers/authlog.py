"""Linux auth.log (syslog): sshd logins and failures, sudo, PAM sessions.

Every well-formed syslog line becomes an event (service.name = program, message kept); sshd, sudo and
PAM messages that matter for access detection get `event.action`, `event.outcome`, `user.name` and
`source.ip` (sshd forms: `sshd.py`; header forms, years and zones: `syslog.py`). `message repeated N
times: [ … ]` (rsyslog) expands to N events, so counts stay true; so does sysklogd's `last message repeated
N times`, into N copies of the same host's previous line (its program, pid and message, this line's time;
with no previous line of that host in the input, it stays one event without an action).

The parser is stateful and reads lines in file order: classic syslog times get their year from a
`YearTracker` started at `year` (the year of the first classic line: ingest computes it backwards from the
last line, see syslog.py), and sshd lines of one connection share what earlier lines told (sshd.py).
The patterns are hand-written: there is no maintained Python library for auth.log semantics.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import ClassVar

from breachkit.logs.parsers import sshd
from breachkit.logs.parsers.base import ParseError, Parser
from breachkit.logs.parsers.syslog import YearTracker, parse_header
from breachkit.logs.schema import Event

_REPEATED_RE = re.compile(r"^message repeated (\d+) times: \[ ?(.*?) ?\]$")
_LAST_REPEATED_RE = re.compile(r"^last message repeated (\d+) times?$")
MAX_REPEAT = 10_000
_SESSION_RE = re.compile(r"^pam_unix\((?P<svc>[^)]*)\): session (?P<what>opened|closed) for user (?P<user>[^\s(]+)")
_SUDO_RE = re.compile(r"^\s*(?P<user>\S+) : (?:.*?; )?(?:TTY=\S+ ; )?PWD=.*?; USER=(?P<target>\S+) ; COMMAND=")
_SUDO_FAIL_RE = re.compile(r"^\s*(?P<user>\S+) : (?:.*?incorrect password attempts?|user NOT in sudoers)")


class AuthLogParser(Parser):
    name: ClassVar[str] = "auth"
    default_dataset: ClassVar[str] = "auth"

    def __init__(self, *, year: int | None = None, assume_tz: tzinfo = UTC) -> None:
        self._years = YearTracker(year if year is not None else datetime.now(UTC).year)
        self._assume = assume_tz
        self._connections = sshd.Connections()
        self._previous: dict[str | None, tuple[str | None, int | None, str]] = {}  # host → (program, pid, message)

    @property
    def years(self) -> YearTracker:
        return self._years

    def parse_line(self, text: str) -> list[Event]:
        header = parse_header(text)
        if header.stamp is not None:
            st = header.stamp
            year = self._years.year_for(st)
            try:
                local = datetime(year, st.month, st.day, st.hour, st.minute, st.second, tzinfo=self._assume)
            except ValueError as exc:
                hint = " (29 February: is the year right? --year)" if (st.month, st.day) == (2, 29) else ""
                raise ParseError(f"bad timestamp: {exc} in {year}{hint}") from None
            timestamp = local.astimezone(UTC)
        else:
            assert header.timestamp is not None
            timestamp = header.timestamp
        program, pid, msg = header.program, header.pid, header.message
        repeat = 1
        lm = _LAST_REPEATED_RE.match(msg) if program is None else None
        if lm is not None and header.host in self._previous:
            repeat = min(int(lm.group(1)), MAX_REPEAT)
            program, pid, msg = self._previous[header.host]
        elif lm is None:
            self._previous[header.host] = (program, pid, msg)
            if len(self._previous) > 4096:
                self._previous.pop(next(iter(self._previous)))
        base: Event = {"@timestamp": timestamp}
        if header.host is not None:
            base["host.name"] = header.host
        if program is not None:
            base["service.name"] = program
        if pid is not None:
            base["process.pid"] = pid
        rm = _REPEATED_RE.match(msg)
        if rm is not None:
            repeat = min(repeat * int(rm.group(1)), MAX_REPEAT)
            msg = rm.group(2)
        base["message"] = msg
        self._classify(program or "", header.host, pid, msg, base)
        return [base] if repeat == 1 else [dict(base) for _ in range(repeat)]

    def _classify(self, prog: str, host: str | None, pid: int | None, msg: str, event: Event) -> None:
        if sshd.is_sshd(prog):
            sshd.classify(prog, msg, event, (host, pid) if pid is not None else None, self._connections)
            if "event.action" in event:
                return
        m = _SESSION_RE.match(msg)
        if m is not None:
            event["event.action"] = f"session_{m.group('what')}"
            event["event.outcome"] = "success"
            event["user.name"] = m.group("user")
            return
        if prog == "sudo":
            for pattern, outcome in ((_SUDO_FAIL_RE, "failure"), (_SUDO_RE, "success")):
                m = pattern.match(msg)
                if m is not None:
                    event["event.action"] = "sudo"
                    event["event.outcome"] = outcome
                    event["user.name"] = m.group("user")
                    return
