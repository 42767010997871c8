"""Fields derived at ingest so that rules match text the way it was meant, not the way it was escaped.

Two derivations, each stored only where it differs from the logged value (so most events carry neither):

* **Keyword text** (`log.decoded`): Sigma keywords (values without a field) search the message text as
  logged. For a JSON line that text is the line with every string literal decoded in place — `\\"` is `"`,
  `\\\\` is `\\`, `\\t` a tab, `\\u00e9` is é — keys, numbers and punctuation as written. For a CSV record
  it is the record's cells joined by the delimiter (quoting removed). Other formats log their text
  unescaped already: the raw line is the text. Keyword conditions read `log.decoded` where it is set and
  `log.original` elsewhere (`breachkit.detect.ir.expand_derived`). Control characters it decodes to (`\\b`,
  `\\u001b`) are stored escaped as `\\xHH`, as in every other stored value (`logs.finish`).
* **Once-decoded URLs** (`url.original_decoded`, `url.path_decoded`, `url.query_decoded`): the logged
  value with its `%XX` escapes decoded once, as UTF-8 text. Escapes whose bytes are not UTF-8 (an overlong
  `%c0%ae`, a legacy `%E8%F1` from a Cyrillic code page), and those of control characters that the ingest
  never stores raw (`%00`, `%1b`; tab, newline and carriage return are decoded), stay as they were logged,
  so the decoded form only ever holds text and never a `\\xHH` that was not in the line (the ingest shows
  raw undecodable bytes and control characters as `\\xHH`: `schema.escape_text`). `+`
  is left alone and `%u0041`-style IIS escapes are not decoded. A condition on a URL field matches when
  the logged OR the once-decoded form matches, so `%3CscRipt%3E` is found by a rule written `<script>`,
  and a rule written for the encoded form still finds it. Double encoding (`%253C`) is decoded once only:
  its once-decoded form `%3C` is what a rule for the encoded form sees.

Both functions are pure and cheap when there is nothing to decode (no backslash, quote or `%`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import MutableMapping
from typing import Any, Final

from breachkit.logs.schema import escape_text, needs_escape

KEYWORD_TEXT: Final = "log.decoded"
URL_FIELDS: Final = {"url.original": "url.original_decoded", "url.path": "url.path_decoded",
                     "url.query": "url.query_decoded"}
DERIVED_FIELDS: Final = frozenset({KEYWORD_TEXT, *URL_FIELDS.values()})

# A JSON string literal. In a line that parsed as JSON, scanning left to right with this finds exactly the
# string tokens: outside strings JSON has no quote characters.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _utf8_safe(text: str) -> str:
    """Lone surrogates (undecodable bytes of the line, `\\ud800` in JSON) cannot be stored as UTF-8: written
    as the ingest writes them everywhere (`schema.escape_text`: `\\xHH`, `\\udXXX`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return escape_text(text)[0]
    return text


def _decoded_literal(match: re.Match[str]) -> str:
    decoded: str = json.loads(match.group(0))
    return '"' + decoded + '"'


def json_text(raw: str) -> str | None:
    """The JSON line with its string literals decoded in place, or None when nothing changes."""
    if "\\" not in raw:
        return None
    try:
        text = _JSON_STRING.sub(_decoded_literal, raw)
    except ValueError:  # not valid JSON string syntax: keep the raw line as the text
        return None
    return _utf8_safe(text) if text != raw else None


def csv_text(raw: str, delimiter: str = ",") -> str | None:
    """The CSV record's cells joined by the delimiter, or None when that is the raw record already."""
    if '"' not in raw:
        return None
    try:
        rows = list(csv.reader(io.StringIO(raw), delimiter=delimiter))
    except csv.Error:
        return None
    text = "\n".join(delimiter.join(row) for row in rows)
    return text if text != raw else None


_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _decode_escapes(match: re.Match[str]) -> str:
    """A run of %XX escapes as UTF-8 text; bytes that are not UTF-8, and control characters the ingest stores
    escaped (`schema.needs_escape`: NUL, ESC, … — not tab, newline, carriage return), keep their escapes as
    logged."""
    logged = match.group(0)
    data = bytes(int(logged[i + 1:i + 3], 16) for i in range(0, len(logged), 3))
    out: list[str] = []
    start = 0
    while start < len(data):
        try:
            end = bad = len(data)
            text = data[start:].decode("utf-8")
        except UnicodeDecodeError as exc:
            bad, end = start + exc.start, start + exc.end
            text = data[start:bad].decode("utf-8")
        out.append(text if not needs_escape(text) else _controls_as_logged(text, logged, start))
        out.append(logged[3 * bad:3 * end])
        start = end
    return "".join(out)


def _controls_as_logged(text: str, logged: str, start: int) -> str:
    """`text` (decoded from the escapes of `logged` from byte `start` on) with its control characters put
    back as the escapes they were logged as."""
    out, pos = [], start
    for ch in text:
        width = len(ch.encode("utf-8"))
        out.append(logged[3 * pos:3 * (pos + width)] if needs_escape(ch) else ch)
        pos += width
    return "".join(out)


def decoded_url(value: str) -> str | None:
    """`value` percent-decoded once, or None when that changes nothing."""
    if "%" not in value:
        return None
    text = _ESCAPES.sub(_decode_escapes, value)
    return text if text != value else None


def add_derived(event: MutableMapping[str, Any], raw: str, fmt: str, delimiter: str = ",") -> None:
    """Set the derived fields of one parsed event (`fmt`: the ingest format name)."""
    if fmt == "jsonl":
        text = json_text(raw)
    elif fmt == "csv":
        text = csv_text(raw, delimiter)
    else:
        text = None
    event.pop(KEYWORD_TEXT, None)  # derived here only, never taken from the input
    if text is not None:
        event[KEYWORD_TEXT] = text
    for name, derived in URL_FIELDS.items():
        event.pop(derived, None)
        value = event.get(name)
        if isinstance(value, str):
            decoded = decoded_url(value)
            if decoded is not None:
                event[derived] = decoded
