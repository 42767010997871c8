"""Apache/Nginx access logs (combined, common) read in bulk: the web parser's strict reading, as Arrow kernels.

A line is read here when it matches the parser's strict pattern (`parsers.web.COMBINED_RE` /
`COMMON_RE`, the same expression for RE2) AND nothing about it needs the line parser's judgement:

- it is plain (`vectors.PLAIN`: no control character, no backslash — so no field needs unescaping —, no
  whitespace outside ASCII) and not longer than a stored value may be;
- the extra fields after the user agent, if any, hold no quote (so no other split of the quoted fields can
  fit: the parser's `ambiguous_quotes` case cannot arise);
- its time is exactly `dd/Mon/yyyy:HH:MM:SS ±hhmm` with a year from 1000 to 9998 and an offset under 24 h,
  and is a real date and time (Arrow parses it; formatting it back must give the same text);
- its size has at most 18 digits (the parser refuses larger ones).

Every other line (lenient or ambiguous quotes, escapes, bytes that are not UTF-8, odd times, …) goes to the
Python parser, line by line, and the result is the parser's own. The fields then follow `WebParser.parse_line`
exactly; the action, the target account, the canonical address and the URL extension are computed by the
parser's and the schema's own functions, once per distinct value.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from breachkit.logs.columnar import vectors as v
from breachkit.logs.parsers.web import WebParser
from breachkit.logs.schema import canonical_ip, url_extension

# The parsers' COMBINED_RE / COMMON_RE, narrowed (lines outside it go to the parser): no quote in the host,
# ident, user or time, nor in the extra fields after the agent; no backslash (plain lines have none). On
# such a line the parser's groups are what splitting the line at its quotes gives:
# `[head, request, " STATUS SIZE ", referrer, " ", agent, extra]` (combined), `[head, request, " STATUS SIZE"]`
# (common), with `head` = `host ident user [time] `.
_P: Final = v.PLAIN
_HEAD: Final = (rf'^[^\s"{_P}]+ [^\s"{_P}]+ [^\s"{_P}]+ \[[^\]"{_P}]{{26}}\] "[^"{_P}]*" '
                r"(?:\d{3}|-) (?:\d+|-)")
PATTERNS: Final = {
    "combined": _HEAD + rf' "[^"{_P}]*" "[^"{_P}]*"(?: [^"{_P}]*)?$',
    "common": _HEAD + "$",
}
_CLF_TIME: Final = r"^[0-9]{2}/[A-Z][a-z]{2}/(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])" \
    r":[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}$"
_REQUEST: Final = r"^[A-Za-z]{1,20} \S+(?: HTTP/[0-9.]+)?$"  # parsers.web._REQUEST_RE
_SEP: Final = "\x00"  # joins two values into one key for `per_value`; a plain line holds no control character


def parse(fmt: str, parser: WebParser, text: pa.StringArray, short: pa.BooleanArray,
          user_field: str) -> tuple[pa.BooleanArray, dict[str, pa.Array]]:
    """(which lines are read here, their event columns: only those rows, in order); `short`: the lines
    that may be (not over-long, not unreadable)."""
    fast = v.fill(pc.and_(short, pc.match_substring_regex(text, PATTERNS[fmt])))
    parts = pc.split_pattern(pc.filter(text, fast), '"')
    head = pc.split_pattern(pc.list_element(parts, 0), " ", max_splits=3)
    middle = pc.split_pattern(pc.list_element(parts, 2), " ")
    g = {"host": pc.list_element(head, 0), "user": pc.list_element(head, 2),
         "ts": pc.utf8_slice_codeunits(pc.list_element(head, 3), 1, 27), "request": pc.list_element(parts, 1),
         "status": pc.list_element(middle, 1), "size": pc.list_element(middle, 2)}
    if fmt == "combined":
        g.update(referrer=pc.list_element(parts, 3), agent=pc.list_element(parts, 5))
    micros = v.per_distinct(g["ts"], _clf_micros)
    ok = v.fill(pc.and_(micros.is_valid(), pc.less_equal(pc.utf8_length(g["size"]), 18)))
    if not pc.all(ok).as_py():  # not a time read here, or a size the parser refuses: the parser says why
        fast = v.narrow(fast, ok)
        g = {name: pc.filter(values, ok) for name, values in g.items()}
        micros = pc.filter(micros, ok)
    columns: dict[str, pa.Array] = {"@timestamp": micros}
    columns.update(_addresses(g["host"]))
    user = v.none_if(g["user"], pc.equal(g["user"], "-"))
    columns[user_field] = user
    columns.update(_request(g["request"]))
    status_missing = pc.equal(g["status"], "-")
    code = v.digits_to_int(v.none_if(g["status"], status_missing))
    columns["http.response.status_code"] = code
    columns["event.outcome"] = pc.if_else(status_missing, "unknown",
                                          pc.if_else(pc.greater_equal(code, 400), "failure", "success"))
    columns["http.response.body.bytes"] = v.digits_to_int(v.none_if(g["size"], pc.equal(g["size"], "-")))
    method, path = columns["http.request.method"], columns["url.path"]
    columns["event.action"] = _actions(parser, method, path)
    target = _targets(parser, path, columns["url.query"])
    if target is not None:
        if user_field in ("user.id", "user.name"):  # the actor's own account is not a target
            target = v.none_if(target, pc.equal(target, user))
        columns["user.target.id"] = target
    if fmt == "combined":
        columns["http.request.referrer"] = v.none_if(g["referrer"], pc.equal(g["referrer"], "-"))
        columns["user_agent.original"] = v.none_if(g["agent"], pc.equal(g["agent"], "-"))
    return fast, columns


def _clf_micros(distinct: pa.StringArray) -> pa.Array:
    """`dd/Mon/yyyy:HH:MM:SS ±hhmm` → epoch microseconds, null where not exactly such a time (a year from 1000
    to 9998, a real date and time, an offset under 24 h: `parse_clf` refuses larger offsets and takes any
    minutes, as here)."""
    strict = v.fill(pc.match_substring_regex(distinct, _CLF_TIME))
    ts = pc.if_else(strict, distinct, "01/Jan/2000:00:00:00 +0000")
    month = pc.add(pc.index_in(pc.utf8_slice_codeunits(ts, 3, 6), value_set=v.MONTH_NAMES), 1)
    seconds = v.civil_seconds(v.integer(ts, 7, 11), pc.fill_null(month, 0), v.integer(ts, 0, 2),
                              v.integer(ts, 12, 14), v.integer(ts, 15, 17), v.integer(ts, 18, 20))
    east = pc.add(pc.multiply(v.integer(ts, 22, 24), 3600), pc.multiply(v.integer(ts, 24, 26), 60))
    east = v.none_if(east, pc.greater_equal(east, 86_400))
    east = pc.if_else(pc.equal(pc.utf8_slice_codeunits(ts, 21, 22), "-"), pc.negate(east), east)
    return v.none_if(pc.multiply(pc.subtract(seconds, east), 1_000_000), pc.invert(strict))


def _addresses(host: pa.StringArray) -> dict[str, pa.Array]:
    """source.ip (canonical form) or source.address (a host name as logged); `-` is neither."""
    plain_v4 = v.fill(pc.match_substring_regex(host, v.IPV4))
    others = v.none_if(host, pc.or_(plain_v4, pc.equal(host, "-")))
    canonical = v.per_value(others, canonical_ip, pa.string())
    ip = pc.if_else(plain_v4, host, canonical)
    address = v.none_if(others, canonical.is_valid())
    return {"source.ip": ip, "source.address": address}


def _request(request: pa.StringArray) -> dict[str, pa.Array]:
    """`METHOD TARGET[ HTTP/x]` → method (upper case), url.original/path/query, http.version; any other request
    is url.original as logged (`-`: none)."""
    matched = v.fill(pc.match_substring_regex(request, _REQUEST))
    words = pc.split_pattern(v.none_if(request, pc.invert(matched)), " ")
    target = pc.list_element(words, 1)
    version = _element(words, 2)
    pieces = pc.split_pattern(target, "?", max_splits=1)
    path = pc.list_element(pieces, 0)
    return {
        "http.request.method": pc.utf8_upper(pc.list_element(words, 0)),
        "url.original": pc.if_else(matched, target, v.none_if(request, pc.equal(request, "-"))),
        "url.path": path,
        "url.query": _element(pieces, 1),
        "http.version": pc.utf8_slice_codeunits(version, 5),
        "url.extension": v.per_value(path, url_extension, pa.string()),
    }


def _element(lists: pa.ListArray, i: int) -> pa.Array:
    """Element `i` of each list, null where the list is shorter."""
    return pc.list_element(pc.list_slice(lists, i, i + 1, return_fixed_size_list=True), 0)


def _actions(parser: WebParser, method: pa.Array, path: pa.Array) -> pa.Array:
    """`parser._action(method, path)` per distinct (method, path); requests that are not `METHOD TARGET`
    have neither, and no action."""
    key = pc.binary_join_element_wise(method, path, _SEP)

    def action(joined: str) -> str | None:
        m, _, p = joined.partition(_SEP)
        return parser._action(m, p)

    return v.per_value(key, action, pa.string())


def _targets(parser: WebParser, path: pa.Array, query: pa.Array) -> pa.Array | None:
    """`parser._target(path, query)` per distinct (path, query); None when no target rule is configured."""
    if not parser._targets:
        return None
    marked = pc.if_else(query.is_valid(), pc.binary_join_element_wise("?", query, ""), "")
    key = pc.binary_join_element_wise(path, marked, _SEP)

    def target(joined: str) -> Any:
        p, _, q = joined.partition(_SEP)
        return parser._target(p, q[1:] if q else None)

    return v.per_value(key, target, pa.string())
