"""Finishing parsed records into stored events: ids, the fields ingest fills in, escaping, length, flags.

What a parser returns is not stored as is; this is the one place that makes events safe and alike for
both engines (and the reference any other parsing path must reproduce):

1. `event.id` = `schema.event_id(source, line, raw)` (the k-th extra event of a line — `message repeated
   N times` — hashes `raw + "\\0" + k`); `log.file.path`, `log.file.line`, `log.original` (the raw line),
   `event.dataset` unless the parser set one, `url.extension` from `url.path`; `@timestamp` cut to
   milliseconds (Elasticsearch's precision).
2. The derived fields (`logs.derive`: `log.decoded`, the once-decoded `url.*_decoded`) from the raw line
   and the parsed values, where they differ from them.
3. Every string value, `log.original` and the derived fields included, goes through `schema.escape_text`:
   bytes that are not UTF-8 and control characters become `\\xHH` (flags `non_utf8`, `control_chars`).
4. Strings longer than `schema.MAX_VALUE_CHARS` are cut there (flag `truncated`).
5. `log.flags` = the line's flags ∪ the parser's flags ∪ the above, sorted and `;`-joined.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from breachkit.logs.derive import DERIVED_FIELDS, add_derived
from breachkit.logs.parsers.base import Record
from breachkit.logs.schema import (
    FIELD_TYPES,
    FLAG_TRUNCATED,
    MAX_VALUE_CHARS,
    Event,
    FieldType,
    escape_text,
    event_id,
    needs_escape,
    url_extension,
)

_STRING_FIELDS = frozenset(n for n, t in FIELD_TYPES.items() if t is FieldType.KEYWORD) - {"log.flags"}


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    sample: str


def truncate_ms(ts: datetime) -> datetime:
    # Elasticsearch `date` keeps milliseconds; both stores keep exactly that.
    return ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000) if ts.microsecond % 1000 else ts


def bad_line(record: Record) -> BadLine:
    """A rejected record, with its reason and an excerpt escaped like stored values (printable, UTF-8)."""
    return BadLine(record.line, escape_text(record.error or "unreadable")[0], escape_text(record.raw[:2000])[0])


@dataclass
class Finished:
    events: list[Event] = field(default_factory=list)
    flagged: dict[str, int] = field(default_factory=dict)  # flag → events carrying it


def finish(records: Iterable[Record], source: str, dataset: str, out: Finished,
           bad: list[BadLine], sample_limit: int, *, fmt: str = "", delimiter: str = ",") -> tuple[int, int]:
    """Finish the events of `records` into `out`; rejected ones go to `bad` (up to `sample_limit`).
    `fmt` (the ingest format name) and the CSV `delimiter` say how the keyword text is derived.
    Returns (records read, records rejected)."""
    lines = rejected = 0
    for record in records:
        lines += 1
        if record.events is None:
            rejected += 1
            if len(bad) < sample_limit:
                bad.append(bad_line(record))
            continue
        raw = record.raw
        # Values can only need escaping or cutting if the raw line does, or holds JSON escapes (\u001b, \b),
        # or a derived (decoded) value does.
        check = needs_escape(raw) or "\\" in raw or len(raw) > MAX_VALUE_CHARS
        for k, event in enumerate(record.events):
            event["event.id"] = event_id(source, record.line, raw if k == 0 else f"{raw}\0{k}")
            event["@timestamp"] = truncate_ms(event["@timestamp"])
            event.setdefault("event.dataset", dataset)
            if "url.path" in event and "url.extension" not in event:
                extension = url_extension(event["url.path"])
                if extension:
                    event["url.extension"] = extension
            event["log.file.path"] = source
            event["log.file.line"] = record.line
            event["log.original"] = raw
            add_derived(event, raw, fmt, delimiter)
            flags = set(record.flags)
            flags.update(event.get("log.flags") or ())
            # a derived value can need escaping where the line does not: %1b in a URL decodes to ESC
            if check or any(needs_escape(event[d]) for d in DERIVED_FIELDS if d in event):
                _escape_and_cut(event, flags)
            if flags:
                event["log.flags"] = ";".join(sorted(flags))
                for flag in flags:
                    out.flagged[flag] = out.flagged.get(flag, 0) + 1
            else:
                event.pop("log.flags", None)
            out.events.append(event)
    return lines, rejected


def _escape_and_cut(event: Event, flags: set[str]) -> None:
    for name, value in event.items():
        if name not in _STRING_FIELDS or not isinstance(value, str):
            continue
        text, found = escape_text(value)
        if name not in DERIVED_FIELDS:  # the flags say how the line was read, not what decoding it gave
            flags.update(found)
        if len(text) > MAX_VALUE_CHARS:
            text = _cut_escape(text[:MAX_VALUE_CHARS])
            flags.add(FLAG_TRUNCATED)
        if text is not value:
            event[name] = text


def _cut_escape(text: str) -> str:
    """Do not end in the middle of a `\\xHH` / `\\uHHHH` escape written by `escape_text`."""
    tail = text.rfind("\\", len(text) - 6)
    if tail >= 0 and text[tail + 1:tail + 2] in ("x", "u"):
        need = 4 if text[tail + 1] == "x" else 6
        if len(text) - tail < need:
            return text[:tail]
    return text
