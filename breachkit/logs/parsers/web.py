"""Apache/Nginx access logs: the combined and the common log format.

A regular expression per line is the whole parser: the formats are fixed (`%h %l %u %t "%r" %>s %b`
plus `"%{Referer}i" "%{User-Agent}i"` for combined) and the Python libraries for them are unmaintained
and slower than one compiled pattern.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import unquote_plus

from breachkit.config import ActionRule, TargetRule
from breachkit.logs.parsers.base import ParseError, Parser
from breachkit.logs.parsers.times import parse_clf
from breachkit.logs.schema import Event, canonical_ip

# Quoted fields: Apache escapes `"` and `\` with a backslash, nginx writes \x22; both are read here.
_Q = r'"([^"\\]*(?:\\.[^"\\]*)*)"'  # "unrolled loop": no backtracking per character
_HEAD = r"^(\S+) (\S+) (\S+) \[([^\]]{26})\] " + _Q + r" (\d{3}|-) (\d+|-)"
COMBINED_RE = re.compile(_HEAD + r" " + _Q + r" " + _Q + r"(?: .*)?$")
COMMON_RE = re.compile(_HEAD + r"$")
_UNESCAPE_RE = re.compile(r"\\([\"\\]|x22|x5[cC])")
_UNESCAPED = {'"': '"', "\\": "\\", "x22": '"', "x5c": "\\", "x5C": "\\"}
_REQUEST_RE = re.compile(r"^([A-Za-z]{1,20}) (\S+)(?: (HTTP/[0-9.]+))?$")


def _unescape(value: str) -> str:
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPED[m.group(1)], value) if "\\" in value else value


class WebParser(Parser):
    default_dataset: ClassVar[str] = "web"
    pattern: ClassVar[re.Pattern[str]]

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
        if m is None:
            raise ParseError(f"does not match the {self.name} log format")
        groups = m.groups()
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
        elif request not in ("", "-"):
            event["url.original"] = request  # malformed request line (probes, TLS on a plain port): keep it
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
            if referrer and referrer != "-":
                event["http.request.referrer"] = referrer
            if agent and agent != "-":
                event["user_agent.original"] = agent
        return [event]


class CombinedParser(WebParser):
    name: ClassVar[str] = "combined"
    pattern = COMBINED_RE


class CommonParser(WebParser):
    name: ClassVar[str] = "common"
    pattern = COMMON_RE
