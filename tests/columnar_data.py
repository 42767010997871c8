"""Seeded hostile input for the columnar differential tests: access-log and JSON lines as bytes.

Most lines are ordinary (the sample generators'); the rest are drawn from families of lines that each
reading path must decide the same way: bytes that are not UTF-8, unescaped and escaped quotes, empty and
`-` fields, odd times and offsets, addresses of every form, sizes out of range, extra fields (ambiguous
splits), control characters, Unicode spaces, over-long and truncated lines, blank lines, CRLF, and for JSON
nesting, duplicate keys, lax syntax (trailing commas, NaN), numbers where strings belong and the reverse,
every time form the mapper reads, escapes (`\\"`, `\\u00e9`, `\\u001b`, lone surrogates).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime

from breachkit.sample import iter_access_lines, iter_api_events

START = datetime(2026, 3, 2, tzinfo=UTC)

_HOSTS = ["192.0.2.7", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "::ffff:192.0.2.9", "[2001:db8::2]", "-",
          "portal.example", "010.1.2.3", "256.1.1.1", "fe80::1%eth0", "0.0.0.0", "1.2.3", "::",  # noqa: S104
          "host_x"]
_USERS = ["-", "u100123", "alice@example.org", "b\\\"ob", "Ünïcode", "u\\x22x", "user\\\\name", '"q"']
_TIMES = ["02/Mar/2026:01:00:00 +0100", "31/Feb/2026:01:00:00 +0000", "02/mar/2026:01:00:00 +0000",
          "2/Mar/2026:01:00:00 +0000  ", "02/Mar/2026:24:00:00 +0000", "02/Mar/2026:23:59:60 +0000",
          "02/Mar/2026:01:00:00 +2400", "02/Mar/2026:01:00:00 +0099", "02/Mar/2026:01:00:00 -2359",
          "29/Feb/2024:12:00:00 -0530", "29/Feb/2100:12:00:00 +0000", "01/Jan/0000:00:00:00 +0000",
          "31/Dec/9999:23:59:59 -0100", "01/Jan/1000:00:00:00 +0000", "15/Jul/1969:12:00:00 +0000",
          "01/Jan/2026:00:00:00 Z0000", "01/Jan/2026:00:00:00 +00:0"]
_REQUESTS = [
    "GET / HTTP/1.1", "GET /index.php?id=1&x=2 HTTP/1.0", "POST /login HTTP/1.1", "-", "", "get /lower HTTP/1.1",
    "GET /a?b?c HTTP/2", "GET /x.tar.gz", "HEAD /file.PHP HTTP/1.1", "\\x16\\x03\\x01\\x02\\x00\\x01",
    "GET /path with spaces HTTP/1.1", "GET /<script>alert(\"x\")</script> HTTP/1.1", "GET /q\\\"uote HTTP/1.1",
    "ABCDEFGHIJKLMNOPQRSTU /long-method HTTP/1.1", "GET /customers/u100123 HTTP/1.1", "GET /customers/u999 HTTP/1.1",
    "GET /api/export?customer=u555 HTTP/1.1", "PUT /users/%2e%2e/x HTTP/1.1", "GET /%E8%F1%1b HTTP/1.1",
    "GET /\\x22 HTTP/1.1", "OPTIONS * HTTP/1.1", "GET /a.verylongextensionname17 HTTP/1.1", "GET /dir.d/file HTTP/1.1",
    "GET /file. HTTP/1.1", "GET /ü/é.html HTTP/1.1", "CONNECT host:443 HTTP/1.1", "GET http://x.example/y.js HTTP/1.1",
    "GET /sign-in HTTP/1.1", "POST /auth/login?user_id=u1 HTTP/1.1", "GET /a%20b.html?q=%3Cscript%3E HTTP/1.1",
    "GET /x?c=%1b%5b2J HTTP/1.1", "GET /%25%32%65 HTTP/1.1", "GET /%zz%4 HTTP/1.1", "GET /%C3%A9t%C3%A9 HTTP/1.1",
    "GET /%c0%ae%c0%ae/etc HTTP/1.1", "GET /%7f%80 HTTP/1.1", "GET /%0a%0d%09 HTTP/1.1",
]
_STATUS = ["200", "404", "-", "500", "301", "٢٠٠", "2000", "099"]
_SIZES = ["512", "-", "0", "123456789012345678", "1234567890123456789", "0012", "9" * 30]
_REFERRERS = ["-", "", "https://portal.example/x", 'has "quote', "has \\\"esc", "-x", "a\u00a0b"]
_AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "-", "", 'agent "with" quotes', "curl/8.0", "tab\there",
           "esc\x1b[31m", "c1\u0085x", "nbsp\u00a0x", "zero\u2000width", "Ωμέγα", "\\\\", "a\\\"b"]
_EXTRAS = ["", " 1234", ' "vhost.example"', ' 0 "-"', ' "x" 200 1 "y" "z"', ' 200 1 "a" "b"', " -"]


def _access_hostile(rng: random.Random, combined: bool) -> bytes:
    host, user, ts = rng.choice(_HOSTS), rng.choice(_USERS), rng.choice(_TIMES)
    request, status, size = rng.choice(_REQUESTS), rng.choice(_STATUS), rng.choice(_SIZES)
    line = f'{host} - {user} [{ts}] "{request}" {status} {size}'
    if combined:
        line += f' "{rng.choice(_REFERRERS)}" "{rng.choice(_AGENTS)}"{rng.choice(_EXTRAS)}'
    data = line.encode("utf-8")
    roll = rng.random()
    if roll < 0.08:  # bytes that are not UTF-8 somewhere
        cut = rng.randrange(len(data) + 1)
        odd = rng.choice([b"\xff", b"\xc3", b"\xe8\xf1", b"\xed\xa0\x80", b"\x90\x02\xb1\x02"])
        data = data[:cut] + odd + data[cut:]
    elif roll < 0.12:  # a long value: truncated, or a line too long to read
        data = data.replace(b'"GET', b'"GET /' + b"A" * rng.choice([8200, 9000, 40_000]), 1)
    elif roll < 0.15:  # an unescaped quote inside the request
        data = data.replace(b' HTTP/', b'" HTTP/', 1)
    return data


def access_lines(n: int, seed: int, *, combined: bool = True) -> list[bytes]:
    rng = random.Random(seed)
    normal = iter_access_lines(n, seed=seed, start=START)
    out: list[bytes] = []
    for line in itertools.islice(normal, n):
        roll = rng.random()
        if roll < 0.55:
            out.append(_common(line) if not combined else line.encode("utf-8"))
        elif roll < 0.95:
            out.append(_access_hostile(rng, combined))
        else:
            out.append(rng.choice([b"", b"   ", b"\t", b"\xc2\xa0", b"garbage", b"\x00\x01\x02", b"-"]))
    return out


def _common(line: str) -> bytes:
    """A combined line cut to the common format (no referrer, no agent)."""
    head, _, _ = line.partition(' "', )
    rest = line[len(head) + 2:]
    request, _, tail = rest.partition('" ')
    status_size = " ".join(tail.split(" ")[:2])
    return f'{head} "{request}" {status_size}'.encode()


# --- JSON lines --------------------------------------------------------------------------------------------

_JSON_VALUES: list[Callable[[random.Random], object]] = [
    lambda r: "x", lambda r: "", lambda r: 0, lambda r: -0, lambda r: 12, lambda r: 1.5, lambda r: 1e5,
    lambda r: True, lambda r: None, lambda r: "-", lambda r: "42", lambda r: " 42", lambda r: "+7",
    lambda r: 2**63, lambda r: 10**25, lambda r: [1, 2], lambda r: {"a": 1}, lambda r: "1.0", lambda r: "{x",
    lambda r: "[info] x", lambda r: "true", lambda r: "192.0.2.1", lambda r: "2001:DB8::1", lambda r: "e",
    lambda r: "Ünï", lambda r: "a\u00a0b", lambda r: "tab\tx", lambda r: "\x1bx", lambda r: 'q"uote',
    lambda r: "back\\slash", lambda r: "/a/b.PHP", lambda r: "\ud800", lambda r: 8.0,
    lambda r: "/p%20q%3F.js", lambda r: "%1b%5b", lambda r: "%E8%F1", lambda r: "a%2", lambda r: "%C2%85",
]
_TIMESTAMPS: list[object] = [
    "2026-03-02T00:00:00.639Z", "2026-03-02T00:00:00Z", "2026-03-02 01:00:00+01:00", "2026-03-02T00:00:00",
    "2026-03-02T00:00:00.6391234Z", "2026-03-02T00:00:00.6Z", "2026-03-02T00:00:00+0100", "2026-02-30T00:00:00Z",
    "2026-03-02T24:00:00Z", "2026-03-02", "20260302T000000Z", "2026-03-02T00:00:00z", 1_772_409_600,
    1_772_409_600_123, "1772409600", "1772409600.5", 20260302, "20260302", 1.7724096e9, -5, "-5", "",
    None, True, "yesterday", "  2026-03-02T00:00:00Z ", "0999-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00",
    {"t": 1}, "2026-03-02T00:00:00.123+23:59", 17724096001234567890,
]
_FIELDS = ["event.action", "event.outcome", "source.ip", "source.address", "user.id", "user.name",
           "http.response.status_code", "http.response.body.bytes", "url.original", "url.path", "url.query",
           "url.extension", "user_agent.original", "event.dataset", "process.pid", "message", "device.id",
           "log.decoded", "url.original_decoded"]


def _json_hostile(rng: random.Random) -> bytes:
    obj: dict[str, object] = {}
    if rng.random() < 0.95:
        obj["@timestamp"] = rng.choice(_TIMESTAMPS)
    for name in rng.sample(_FIELDS, rng.randrange(1, 7)):
        obj[name] = rng.choice(_JSON_VALUES)(rng)
    roll = rng.random()
    if roll < 0.05:
        obj["source"] = {"ip": "192.0.2.44"}  # nested under a prefix
    elif roll < 0.10:
        obj["meta"] = {"k": [1, {"d": 2}], "f": 0.25}  # nested, not a field
    elif roll < 0.13:
        obj["log.flags"] = rng.choice(["abc", "", None])
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.2, separators=rng.choice([(",", ":"), (", ", ": ")]))
    roll = rng.random()
    if roll < 0.04:  # a field's key given twice
        key = rng.choice(list(obj))
        text = text[:-1] + f', "{key}": "dup"}}'
    elif roll < 0.07:
        text = text[:-1] + ", }"
    elif roll < 0.09:
        text = text[:-1] + ', "z": NaN}'
    elif roll < 0.11:
        text = text[:-1] + ', "z": inf}'
    elif roll < 0.13:
        text = text + " trailing"
    elif roll < 0.14:
        text = "[" + text + "]"
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.04:
        data = data.replace(b'"', b'"\xff', 1)
    return data


_PLAIN_VARIETY: dict[str, list[object]] = {  # values the bulk path reads itself, in every form it takes
    "@timestamp": ["2026-03-02T00:00:00.639Z", "2026-03-02 01:00:00.5+01:00", "2026-03-02T00:00:00",
                   "2026-03-01T23:59:59.999999-05:30", "1772409600", 1772409600, 1772409600123, "1772409600123",
                   "2026-03-02", "20260302T101112Z", "2026-03-02T00:00:00.6391234Z"],
    "user.id": ["u1", 5, 0, True, False, "", "12345678901234567890123", -7],
    "source.ip": ["192.0.2.1", "2001:DB8::1", "::ffff:192.0.2.1", "portal.example", "", 7, "010.1.1.1"],
    "source.address": ["edge-1", ""],
    "http.response.status_code": [200, "404", "-", "", "007", 123456789012345678],
    "url.path": ["/a/b.PHP", "/x", "", "/dir.d/", "/%41%42.c", "/%E8.x", "/%1b"],
    "url.query": ["q=%20", "a=b", ""],
    "url.extension": ["given", ""],
    "event.dataset": ["custom", ""],
}


def _json_plain(rng: random.Random) -> bytes:
    obj = {name: rng.choice(values) for name, values in _PLAIN_VARIETY.items() if rng.random() < 0.7}
    obj["@timestamp"] = rng.choice(_PLAIN_VARIETY["@timestamp"])
    return json.dumps(obj, separators=rng.choice([(",", ":"), (", ", ": ")])).encode()


def json_lines(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out: list[bytes] = []
    for line in itertools.islice(iter_api_events(n, seed=seed, start=START), n):
        roll = rng.random()
        if roll < 0.4:
            out.append(line.encode("utf-8"))
        elif roll < 0.6:
            out.append(_json_plain(rng))
        elif roll < 0.96:
            out.append(_json_hostile(rng))
        else:
            out.append(rng.choice([b"", b"  ", b"{}", b"null", b"\"s\"", b"{\"a\":1", b"\xef\xbb\xbf{}"]))
    return out


def join(lines: list[bytes], rng: random.Random, *, crlf: float = 0.05, bom: bool = False) -> bytes:
    """Lines as a file: mostly `\\n`, some `\\r\\n`, an optional byte-order mark, no final newline at times."""
    parts = [line + (b"\r\n" if rng.random() < crlf else b"\n") for line in lines]
    data = b"".join(parts)
    if rng.random() < 0.3 and data.endswith(b"\n"):
        data = data[:-1]
    return (b"\xef\xbb\xbf" if bom else b"") + data
