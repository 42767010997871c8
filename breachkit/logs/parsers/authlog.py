"""Linux auth.log (syslog): sshd logins and failures, sudo, PAM sessions.

Every well-formed syslog line becomes an event (service.name = program, message kept); sshd, sudo and
PAM messages that matter for access detection get `event.action`, `event.outcome`, `user.name` and
`source.ip`. `message repeated N times: [ … ]` expands to N events, so counts stay true.

Classic syslog timestamps have no year and no zone: the year comes from the caller (`--year`, or the
file's modification time), rolling over when the month goes backwards (December → January); the zone
is `ingest.assume_timezone`. RFC 3339 timestamps (rsyslog's high-precision format) carry both.
The patterns are hand-written: there is no maintained Python library for auth.log semantics.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import ClassVar

from breachkit.logs.parsers.base import ParseError, Parser
from breachkit.logs.parsers.times import MONTHS, parse_iso
from breachkit.logs.schema import Event, canonical_ip

_BSD_RE = re.compile(
    r"^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$"
)
_RFC3339_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (\S+) "
                         r"([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$")
_REPEATED_RE = re.compile(r"^message repeated (\d+) times: \[ ?(.*?) ?\]$")

# (pattern, action, outcome): first match wins. Named groups: user, ip.
# sshd does not escape user names, so "Failed password for invalid user x from 10.0.0.1 port 22 ssh2 from
# 192.0.2.7 port 4711 ssh2" is possible. As fail2ban does, the address is the first "from ADDR [port N
# [sshN]]" that is followed by the end of the line, ":" (auth info) or "[preauth]" — what the attacker
# typed is followed by more text, so it never qualifies before the real one.
_ADDR = r"(?P<ip>[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*|[A-Za-z0-9][\w.-]*\.[A-Za-z]{2,})"
_TAIL = r"(?: port \d+)?(?: ssh\d?)?(?=:|\s*$|\s+\[preauth\])"
_FROM = r" from " + _ADDR + _TAIL
_SSHD: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"^Accepted \S+ for (?P<user>.*?)" + _FROM), "login", "success"),
    (re.compile(r"^Failed \S+ for (?:invalid user )?(?P<user>.*?)" + _FROM), "login", "failure"),
    (re.compile(r"^Invalid user (?P<user>.*?)" + _FROM), "invalid_user", "failure"),
    (re.compile(r"^error: maximum authentication attempts exceeded for (?:invalid user )?(?P<user>.*?)" + _FROM),
     "max_auth_attempts", "failure"),
    (re.compile(r"^(?:Disconnected from|Connection closed by)(?: (?:authenticating|invalid))?"
                r"(?: user (?P<user>.*?))? " + _ADDR + _TAIL), "disconnect", "unknown"),
    (re.compile(r"^Disconnecting(?: (?:authenticating|invalid))? user (?P<user>.*?) " + _ADDR
                + r" port \d+: Too many authentication failures"), "max_auth_attempts", "failure"),
    (re.compile(r"^Received disconnect from (?P<ip>\S+?)(?: port \d+)?:\s*\d+:"), "disconnect", "unknown"),
    (re.compile(r"^Did not receive identification string from " + _ADDR + _TAIL), "no_identification",
     "failure"),
    (re.compile(r"^Bad protocol version identification .*" + _FROM), "bad_protocol", "failure"),
    (re.compile(r"^pam_unix\(sshd:auth\): authentication failure;.*?rhost=(?P<ip>\S*)(?:\s+user=(?P<user>\S+))?"),
     "auth_failure", "failure"),
]
_SSHD_PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})  # OpenSSH ≥ 9.8 logs as sshd-session
_SESSION_RE = re.compile(r"^pam_unix\((?P<svc>[^)]*)\): session (?P<what>opened|closed) for user (?P<user>[^\s(]+)")
_SUDO_RE = re.compile(r"^\s*(?P<user>\S+) : (?:.*?; )?(?:TTY=\S+ ; )?PWD=.*?; USER=(?P<target>\S+) ; COMMAND=")
_SUDO_FAIL_RE = re.compile(r"^\s*(?P<user>\S+) : (?:.*?incorrect password attempts?|user NOT in sudoers)")


class AuthLogParser(Parser):
    name: ClassVar[str] = "auth"
    default_dataset: ClassVar[str] = "auth"

    def __init__(self, *, year: int | None = None, assume_tz: tzinfo = UTC) -> None:
        self._year = year if year is not None else datetime.now(UTC).year
        self._assume = assume_tz
        self._last_month: int | None = None

    def _bsd_time(self, mon: str, day: str, hh: str, mm: str, ss: str) -> datetime:
        month = MONTHS.get(mon)
        if month is None:
            raise ParseError(f"bad month {mon!r}")
        if self._last_month is not None and month < self._last_month and self._last_month - month > 6:
            self._year += 1  # December → January inside one file
        self._last_month = month
        try:
            local = datetime(self._year, month, int(day), int(hh), int(mm), int(ss), tzinfo=self._assume)
        except ValueError as exc:
            raise ParseError(f"bad timestamp: {exc}") from None
        return local.astimezone(UTC)

    def parse_line(self, text: str) -> list[Event]:
        m = _BSD_RE.match(text)
        if m is not None:
            mon, day, hh, mm, ss, host, prog, pid, msg = m.groups()
            timestamp = self._bsd_time(mon, day, hh, mm, ss)
        else:
            m = _RFC3339_RE.match(text)
            if m is None:
                raise ParseError("not a syslog line (expected 'Mon DD HH:MM:SS host program[pid]: message')")
            ts, host, prog, pid, msg = m.groups()
            try:
                timestamp = parse_iso(ts)
            except ValueError:
                raise ParseError(f"bad timestamp {ts!r}") from None
        base: Event = {"@timestamp": timestamp, "host.name": host, "service.name": prog}
        if pid is not None:
            base["process.pid"] = int(pid)
        repeat = 1
        rm = _REPEATED_RE.match(msg)
        if rm is not None:
            repeat = min(int(rm.group(1)), 10_000)
            msg = rm.group(2)
        base["message"] = msg
        self._classify(prog, msg, base)
        return [base] if repeat == 1 else [dict(base) for _ in range(repeat)]

    @staticmethod
    def _classify(prog: str, msg: str, event: Event) -> None:
        if prog in _SSHD_PROGRAMS:
            for pattern, action, outcome in _SSHD:
                m = pattern.match(msg)
                if m is None:
                    continue
                event["event.action"] = action
                event["event.outcome"] = outcome
                found = m.groupdict()
                user = found.get("user")
                if user:
                    event["user.name"] = user
                ip = canonical_ip(found["ip"]) if found.get("ip") else None
                if ip is not None:
                    event["source.ip"] = ip
                elif found.get("ip"):
                    event["source.address"] = found["ip"]
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
