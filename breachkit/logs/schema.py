"""The normalized event schema (ECS names, design.md) shared by every parser and both engines.

An event is a flat mapping from dotted ECS field names to values. Parsers produce `Event` dicts; the
ingest pipeline turns batches of them into Arrow record batches with `ARROW_SCHEMA`, which both the
embedded store (DuckDB) and the Elasticsearch loader consume, so the two engines always hold the same
values with the same types.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

import pyarrow as pa


class FieldType(enum.Enum):
    KEYWORD = "keyword"  # exact string; Sigma matching is case-insensitive unless |cased
    DATE = "date"  # timezone-aware UTC datetime
    IP = "ip"  # IPv4 or IPv6 address in canonical (compressed) text form
    LONG = "long"  # 64-bit integer


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str


# Longest string value (and raw line) kept. Elasticsearch cannot index a keyword term over 32,766 bytes
# (8,191 characters of 4-byte UTF-8), so a longer value would be searchable in one engine and not the
# other. Apache's own request-line limit (LimitRequestLine) is 8,190 bytes, so real access-log lines fit.
MAX_VALUE_CHARS: Final = 8191
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

FIELDS: Final[tuple[Field, ...]] = (
    Field("@timestamp", FieldType.DATE, "when the event happened (UTC)"),
    Field("event.id", FieldType.KEYWORD, "stable id: hash of source name, line number and raw line"),
    Field("event.dataset", FieldType.KEYWORD, "access | web | auth | api"),
    Field("event.action", FieldType.KEYWORD, "login, logout, password_reset, view, export, api_call, …"),
    Field("event.outcome", FieldType.KEYWORD, "success | failure | unknown"),
    Field("source.ip", FieldType.IP, "client address"),
    Field("source.address", FieldType.KEYWORD, "client address as logged when it is not an IP (hostname)"),
    Field("source.geo.country_iso_code", FieldType.KEYWORD, "client country (ISO 3166-1 alpha-2)"),
    Field("user.id", FieldType.KEYWORD, "acting account id"),
    Field("user.name", FieldType.KEYWORD, "acting account login name"),
    Field("user.email", FieldType.KEYWORD, "acting account e-mail address"),
    Field("user.roles", FieldType.KEYWORD, "account type or role of the actor (end_user, installer, admin, …)"),
    Field("user.target.id", FieldType.KEYWORD, "account whose data was touched, when not the actor's own"),
    Field("device.id", FieldType.KEYWORD, "device identifier (meter, gateway, phone app install)"),
    Field("device.imei", FieldType.KEYWORD, "IMEI of the device (extension field)"),
    Field("device.model.name", FieldType.KEYWORD, "device model"),
    Field("device.manufacturer", FieldType.KEYWORD, "device manufacturer"),
    Field("session.id", FieldType.KEYWORD, "session identifier (extension field)"),
    Field("http.request.method", FieldType.KEYWORD, "HTTP method"),
    Field("http.request.referrer", FieldType.KEYWORD, "Referer header"),
    Field("http.version", FieldType.KEYWORD, "HTTP protocol version"),
    Field("http.response.status_code", FieldType.LONG, "HTTP status"),
    Field("http.response.body.bytes", FieldType.LONG, "response size in bytes"),
    Field("url.original", FieldType.KEYWORD, "request target as logged"),
    Field("url.domain", FieldType.KEYWORD, "requested host (Host header or virtual host), when logged"),
    Field("url.path", FieldType.KEYWORD, "path part of the URL"),
    Field("url.query", FieldType.KEYWORD, "query string without '?'"),
    Field("url.extension", FieldType.KEYWORD, "file extension of url.path, without the dot (derived at ingest)"),
    Field("url.original_decoded", FieldType.KEYWORD, "url.original percent-decoded once, where that differs (derived)"),
    Field("url.path_decoded", FieldType.KEYWORD, "url.path percent-decoded once, where that differs (derived)"),
    Field("url.query_decoded", FieldType.KEYWORD, "url.query percent-decoded once, where that differs (derived)"),
    Field("user_agent.original", FieldType.KEYWORD, "User-Agent header"),
    Field("service.name", FieldType.KEYWORD, "service or program that logged the event"),
    Field("host.name", FieldType.KEYWORD, "host that logged the event"),
    Field("process.pid", FieldType.LONG, "process id (syslog)"),
    Field("message", FieldType.KEYWORD, "free-text message (syslog message part)"),
    Field("log.file.path", FieldType.KEYWORD, "source name the event was read from"),
    Field("log.file.line", FieldType.LONG, "1-based line number in the source"),
    Field("log.original", FieldType.KEYWORD, "the raw line (bytes that are not UTF-8 text escaped as \\xHH)"),
    Field("log.flags", FieldType.KEYWORD, "how the line was read, when not plainly: ';'-joined, sorted (see FLAGS)"),
    Field("log.decoded", FieldType.KEYWORD, "the raw line's text with JSON/CSV quoting decoded, where that differs "
          "(derived; keyword conditions search it)"),
)

FIELD_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS)
FIELD_TYPES: Final[Mapping[str, FieldType]] = {f.name: f.type for f in FIELDS}
REQUIRED: Final[frozenset[str]] = frozenset({"@timestamp", "event.id", "event.dataset", "log.file.path"})
DATASETS: Final[frozenset[str]] = frozenset({"access", "web", "auth", "api"})
OUTCOMES: Final[frozenset[str]] = frozenset({"success", "failure", "unknown"})

# An event as parsers produce it: ECS dotted name → value (str, int or an aware datetime).
Event = dict[str, Any]

_ARROW_TYPES: Final[Mapping[FieldType, pa.DataType]] = {
    FieldType.KEYWORD: pa.string(),
    FieldType.DATE: pa.timestamp("us", tz="UTC"),
    FieldType.IP: pa.string(),
    FieldType.LONG: pa.int64(),
}
ARROW_SCHEMA: Final = pa.schema(
    [pa.field(f.name, _ARROW_TYPES[f.type], nullable=f.name not in REQUIRED) for f in FIELDS]
)


# `log.flags` values: what ingest had to do to keep a line whole. Rules match them with `|contains`.
FLAG_NON_UTF8: Final = "non_utf8"  # bytes that are not UTF-8 were kept escaped as \xHH
FLAG_CONTROL: Final = "control_chars"  # control characters (ESC, NUL, …) were kept escaped as \xHH
FLAG_LENIENT_QUOTES: Final = "lenient_quotes"  # an access-log field held unescaped quotes (see parsers/web.py)
FLAG_AMBIGUOUS_QUOTES: Final = "ambiguous_quotes"  # another split of the quoted access-log fields also fits
FLAG_TRUNCATED: Final = "truncated"  # a value was longer than MAX_VALUE_CHARS and was cut there
FLAG_SOURCE_FROM_CONNECTION: Final = "source_from_connection"  # sshd: address from an earlier line of the connection
FLAGS: Final = frozenset({FLAG_NON_UTF8, FLAG_CONTROL, FLAG_LENIENT_QUOTES, FLAG_AMBIGUOUS_QUOTES, FLAG_TRUNCATED,
                          FLAG_SOURCE_FROM_CONNECTION})

# Undecodable bytes reach the parsers as lone surrogates U+DC80..U+DCFF (the reader decodes with
# "surrogateescape": no byte is lost); other lone surrogates can only come from JSON "\\udXXX" escapes and
# cannot be stored as UTF-8 either. C0 controls other than tab, newline and carriage return, DEL, and the C1
# controls U+0080..U+009F (CSI and friends, valid UTF-8 as \xc2\x80..\xc2\x9f) are what a terminal interprets.
_NEEDS_ESCAPE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the undecodable byte
    if code >= 0xD800:
        return f"\\u{code:04x}"
    if code >= 0x80:  # a C1 control: its two UTF-8 bytes, as Apache would show them
        return "".join(f"\\x{b:02x}" for b in chr(code).encode("utf-8"))
    return f"\\x{code:02x}"


def needs_escape(text: str) -> bool:
    return _NEEDS_ESCAPE.search(text) is not None


def escape_text(text: str) -> tuple[str, frozenset[str]]:
    """`text` with undecodable bytes and control characters written as `\\xHH` (as Apache logs them),
    and the flags saying which of the two were found. Text without either comes back unchanged.

    A literal `\\x90` already in the line and an escaped byte 0x90 look the same afterwards; the event's
    `log.flags` (non_utf8) says that escaping happened on the line.
    """
    if _NEEDS_ESCAPE.search(text) is None:
        return text, frozenset()
    flags = set()
    for ch in _NEEDS_ESCAPE.findall(text):
        flags.add(FLAG_NON_UTF8 if ord(ch) >= 0xD800 else FLAG_CONTROL)
        if len(flags) == 2:
            break
    return _NEEDS_ESCAPE.sub(_escape_char, text), frozenset(flags)


def event_id(source: str, line_no: int, raw: str) -> str:
    """Stable id of the event on line `line_no` of `source`.

    Including the line number keeps genuinely repeated lines (two identical requests in the same second)
    as two events, while re-ingesting the same file, or a longer version of it, yields the same ids.
    The id names the line, not its reading: the year inferred for a syslog line, or the time zone, are
    not part of it, so a corrected reading of the same file has the same ids and `ingest --replace`
    overwrites the old events in place (a plain re-ingest keeps the first reading and says so).
    """
    h = hashlib.blake2b(digest_size=12)
    h.update(source.encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(str(line_no).encode())
    h.update(b"\0")
    h.update(raw.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@lru_cache(maxsize=65536)
def canonical_ip(text: str) -> str | None:
    """Canonical text form of an IP address (IPv4-mapped IPv6 becomes IPv4), or None if `text` is not one.

    Both engines must store the same string: Elasticsearch normalises `ip` values the same way.
    """
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def url_extension(path: str) -> str | None:
    """ECS url.extension: what follows the last dot of the last path segment ("/a/b.PHP" → "PHP")."""
    last = path.rsplit("/", 1)[-1]
    _, dot, ext = last.rpartition(".")
    return ext if dot and ext and len(ext) <= 16 else None


def coerce(name: str, value: Any, *, max_chars: int | None = MAX_VALUE_CHARS) -> Any:
    """Coerce a raw value (from JSON or CSV) to the field's type; raise ValueError with a reason.

    An empty string is a value for keyword fields (kept as ""), and no value (None) for numbers, dates
    and addresses, which have no empty form. `max_chars` None: no length check (ingest truncates later).
    """
    if value is None:
        return None
    ftype = FIELD_TYPES[name]
    if value == "":
        return "" if ftype is FieldType.KEYWORD else None
    if ftype is FieldType.LONG:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            text = str(value).strip()
            if text == "-":
                return None
            value = int(text)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"integer out of the 64-bit range: {value}")
        return value
    if ftype is FieldType.DATE:
        if not isinstance(value, datetime):
            raise ValueError(f"expected a datetime, got {value!r}")
        return value
    if ftype is FieldType.IP:
        ip = canonical_ip(str(value))
        if ip is None:
            raise ValueError(f"not an IP address: {str(value)[:60]!r}")
        return ip
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON wrote it, not Python's "True"
    text = value if isinstance(value, str) else str(value)
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(f"value longer than {MAX_VALUE_CHARS} characters")
    return text
