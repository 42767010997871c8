"""Apache/Nginx access logs: the combined and the common log format.

A regular expression per line is the whole parser: the formats are fixed (`%h %l %u %t "%r" %>s %b`
plus `"%{Referer}i" "%{User-Agent}i"` for combined) and the Python libraries for them are unmaintained
and slower than one compiled pattern.

Quoting. Apache (since 2.0.46) and nginx escape `"` and `\\` inside quoted fields; older servers wrote
them raw, so a probe such as Nikto's `GET /<script>alert("x")</script>` puts unescaped quotes inside the
request field. A line that does not match the strict pattern is read leniently, by this rule, and flagged
`lenient_quotes` (never dropped):

- common: the request is everything between the quote after `] ` and the last quote of the line, which
  must be followed by ` STATUS SIZE` and the end of the line (the two are located from the end);
- combined: the request ends at a boundary `" STATUS SIZE "`; the boundary is the **last** one after which
  the line holds a well-formed `REFERRER" "USER-AGENT"` (escape-aware quoted fields) and nothing but
  quote-free tokens (e.g. `%D`); if no boundary qualifies, it is the **first** one followed by a
  well-formed referrer and `" "`, and the user agent then runs to the last quote of the line (it holds
  stray quotes itself). At most 64 boundaries are tried per line.

The strict pattern, tried first, allows extra fields after the user agent (`%D`, a quoted vhost …). So a
line such as `"GET /x" 200 1 "a" "b HTTP/1.0" 404 209 "-" "ua"` (an unescaped request holding a forged
` 200 1 ` — or a real request followed by four extra fields) reads strictly; when the reading anchored
at the end (the lenient rule) splits it differently, the strict reading is kept and the event is flagged
`ambiguous_quotes`: which one the server meant cannot be known from the line.

A quoted field that is exactly `-` means "not logged" (the field is absent); an empty quoted field `""` is
kept as an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import unquote_plus

from breachkit.config import ActionRule, TargetRule
from breachkit.logs.parsers.base import ParseError, Parser
from breachkit.logs.parsers.times import parse_clf
from breachkit.logs.schema import FLAG_AMBIGUOUS_QUOTES, FLAG_LENIENT_QUOTES, Event, canonical_ip

# Quoted fields: Apache escapes `"` and `\` with a backslash, nginx writes \x22; both are read here.
_QI = r'[^"\\]*(?:\\.[^"\\]*)*'  # inside of a well-formed quoted field ("unrolled loop": no backtracking)
_Q = '"(' + _QI + ')"'
_HEAD = r"^(\S+) (\S+) (\S+) \[([^\]]{26})\] "
COMBINED_RE = re.compile(_HEAD + _Q + r" (\d{3}|-) (\d+|-) " + _Q + r" " + _Q + r"(?: .*)?$")
COMMON_RE = re.compile(_HEAD + _Q + r" (\d{3}|-) (\d+|-)$")
_UNESCAPE_RE = re.compile(r"\\([\"\\]|x22|x5[cC])")
_UNESCAPED = {'"': '"', "\\": "\\", "x22": '"', "x5c": "\\", "x5C": "\\"}
_REQUEST_RE = re.compile(r"^([A-Za-z]{1,20}) (\S+)(?: (HTTP/[0-9.]+))?$")

# The lenient reading (see the module docstring).
_LENIENT_HEAD_RE = re.compile(_HEAD + '"')
_COMMON_TAIL_RE = re.compile(r'(.*)" (\d{3}|-) (\d+|-)', re.S)
_BOUNDARY_AT_RE = re.compile(r'(?=" (?:\d{3}|-) (?:\d+|-) ")')
_BOUNDARY_RE = re.compile(r'" (\d{3}|-) (\d+|-) "')
_TAIL_WELL_FORMED_RE = re.compile("(" + _QI + r')" "(' + _QI + r')"((?: [^\s"]+)*)', re.S)
_TAIL_STRAY_AGENT_RE = re.compile("(" + _QI + r')" "(.*)"((?: [^\s"]+)*)', re.S)
MAX_BOUNDARIES = 64


def _unescape(value: str) -> str:
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPED[m.group(1)], value) if "\\" in value else value


def lenient_common(text: str) -> tuple[str, ...] | None:
    """(host, ident, user, time, request, status, size) by the lenient rule, or None."""
    head = _LENIENT_HEAD_RE.match(text)
    if head is None:
        return None
    tail = _COMMON_TAIL_RE.fullmatch(text, head.end())
    return None if tail is None else (*head.groups(), *tail.groups())


def lenient_combined(text: str) -> tuple[str, ...] | None:
    """(host, ident, user, time, request, status, size, referrer, agent) by the lenient rule, or None."""
    head = _LENIENT_HEAD_RE.match(text)
    if head is None:
        return None
    start = head.end()
    boundaries = [m.start() for m in _BOUNDARY_AT_RE.finditer(text, start)]
    for candidates, tail_re in ((reversed(boundaries[-MAX_BOUNDARIES:]), _TAIL_WELL_FORMED_RE),
                                (iter(boundaries[:MAX_BOUNDARIES]), _TAIL_STRAY_AGENT_RE)):
        for pos in candidates:
            boundary = _BOUNDARY_RE.match(text, pos)
            assert boundary is not None
            tail = tail_re.fullmatch(text, boundary.end())
            if tail is not None:
                return (*head.groups(), text[start:pos], *boundary.groups(), tail.group(1), tail.group(2))
    return None


class WebParser(Parser):
    default_dataset: ClassVar[str] = "web"
    pattern: ClassVar[re.Pattern[str]]

    @staticmethod
    def lenient(text: str) -> tuple[str, ...] | None:
        raise NotImplementedError

    def __init__(self, actions: Sequence[ActionRule] = (), remote_user_field: str = "user.name",
                 targets: Sequence[TargetRule] = ()) -> None:
        self._actions = [
            (re.compile(a.path), frozenset(m.upper() for m in a.methods), a.action) for a in actions
        ]
        self._targets = [re.compile(t.path) if t.path is not None
                         else re.compile(r"(?:^|&)" + re.escape(t.query or "") + r"=(?P<target>[^&#]+)")
                         for t in targets]
        self._target_on_path = [t.path is not None for t in targets]
        self._user_field = remote_user_field
        self._action_cache: dict[tuple[str | None, str], str | None] = {}

    def _action(self, method: str | None, path: str | None) -> str | None:
        if path is None:
            return None
        key = (method, path)
        try:
            return self._action_cache[key]
        except KeyError:
            pass
        found: str | None = "view" if method in ("GET", "HEAD") else None
        for pattern, methods, action in self._actions:
            if (not methods or method in methods) and pattern.search(path):
                found = action
                break
        if len(self._action_cache) > 100_000:
            self._action_cache.clear()
        self._action_cache[key] = found
        return found

    def _target(self, path: str | None, query: str | None) -> str | None:
        for pattern, on_path in zip(self._targets, self._target_on_path, strict=True):
            where = path if on_path else query
            if where:
                m = pattern.search(where)
                if m is not None and m.group("target"):
                    return unquote_plus(m.group("target"))
        return None

    def parse_line(self, text: str) -> list[Event]:
        m = self.pattern.match(text)
        flag: str | None = None
        if m is not None:
            groups: tuple[str, ...] = m.groups()
            if len(groups) > 7 and m.end(9) + 1 < len(text) and _BOUNDARY_AT_RE.search(text, m.end(9)):
                # extra fields after the agent hold a `" STATUS SIZE "` boundary: does the end say otherwise?
                other = self.lenient(text)
                if other is not None and other[4] != groups[4]:
                    flag = FLAG_AMBIGUOUS_QUOTES
        else:
            found = self.lenient(text)
            if found is None:
                raise ParseError(f"does not match the {self.name} log format")
            groups, flag = found, FLAG_LENIENT_QUOTES
        host, _ident, user, ts, request, status, size = groups[:7]
        try:
            timestamp = parse_clf(ts)
        except ValueError as exc:
            raise ParseError(str(exc)) from None
        event: Event = {"@timestamp": timestamp}
        ip = canonical_ip(host)
        if ip is not None:
            event["source.ip"] = ip
        elif host != "-":
            event["source.address"] = host
        if user != "-":
            event[self._user_field] = _unescape(user)
        request = _unescape(request)
        method = path = None
        rm = _REQUEST_RE.match(request)
        if rm is not None:
            method, target, version = rm.groups()
            method = method.upper()
            event["http.request.method"] = method
            event["url.original"] = target
            path, sep, query = target.partition("?")
            event["url.path"] = path
            if sep:
                event["url.query"] = query
            if version:
                event["http.version"] = version[5:]
        elif request != "-":
            event["url.original"] = request  # malformed or empty request line (probes, TLS on a plain port)
        if status != "-":
            code = int(status)
            event["http.response.status_code"] = code
            event["event.outcome"] = "failure" if code >= 400 else "success"
        else:
            event["event.outcome"] = "unknown"
        if size != "-":
            if len(size) > 18:  # beyond what a 64-bit field holds
                raise ParseError(f"response size out of range: {size[:30]}")
            event["http.response.body.bytes"] = int(size)
        action = self._action(method, path)
        if action is not None:
            event["event.action"] = action
        if self._targets:
            target = self._target(path, event.get("url.query"))
            if target is not None and target not in (event.get("user.id"), event.get("user.name")):
                event["user.target.id"] = target
        if len(groups) > 7:
            referrer, agent = _unescape(groups[7]), _unescape(groups[8])
            if referrer != "-":
                event["http.request.referrer"] = referrer
            if agent != "-":
                event["user_agent.original"] = agent
        if flag is not None:
            event["log.flags"] = [flag]
        return [event]


class CombinedParser(WebParser):
    name: ClassVar[str] = "combined"
    pattern = COMBINED_RE
    lenient = staticmethod(lenient_combined)


class CommonParser(WebParser):
    name: ClassVar[str] = "common"
    pattern = COMMON_RE
    lenient = staticmethod(lenient_common)
