"""Structured logs: JSON lines and CSV, with a user-supplied mapping from ECS names to source fields.

By default a source field carries its ECS name: JSON may use flat dotted keys (`"source.ip"`) or nested
objects (`{"source": {"ip": …}}`); CSV headers are the ECS names. `ingest.jsonl.mapping` /
`ingest.csv.mapping` (ECS name → source key, dotted for nested JSON) cover everything else.

Empty values. In JSON, `""` is a value and `null` (or a missing key) is none: an empty string is kept as
"" in keyword fields (a rule's `field: ''` matches it, `field: null` does not); in number, date and
address fields, which have no empty form, `""` counts as missing. CSV cannot tell an empty string from a
missing value (`a,,b` and `a,"",b` read the same), so an empty CSV cell is always **missing** — the way
CSV exports write NULL and pandas reads them. Values longer than `schema.MAX_VALUE_CHARS` are kept,
cut by ingest and flagged `truncated`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from breachkit.errors import ConfigError, Location, Problem
from breachkit.logs.parsers.base import ParseError, Parser, Record
from breachkit.logs.parsers.times import parse_epoch, parse_iso, to_utc
from breachkit.logs.reader import Line
from breachkit.logs.schema import FIELD_NAMES, FIELD_TYPES, Event, FieldType, coerce

# Fields that ingest fills in itself and a source cannot set.
_DERIVED = frozenset({"event.id", "log.file.path", "log.file.line", "log.original"})
MAPPABLE = tuple(n for n in FIELD_NAMES if n not in _DERIVED)


def check_mapping(mapping: Mapping[str, str], key: str) -> None:
    unknown = [name for name in mapping if name not in MAPPABLE]
    if unknown:
        raise ConfigError(
            "mapping names fields that are not in the event schema",
            problems=[Problem(f"unknown field {n!r}", Location(field=f"{key}.{n}")) for n in unknown],
            hint="mappable fields: " + ", ".join(MAPPABLE),
        )


class _Mapper:
    """Builds an event from a lookup function, coercing each value to its field type."""

    def __init__(self, mapping: Mapping[str, str], timestamp_format: str | None, assume_tz: tzinfo) -> None:
        self.sources = {name: mapping.get(name, name) for name in MAPPABLE}
        self.by_source = {key: name for name, key in self.sources.items()}
        # first components of dotted source keys: nested objects under these are flattened
        self.prefixes = frozenset(key.split(".", 1)[0] for key in self.by_source if "." in key)
        self.timestamp_format = timestamp_format
        self.assume = assume_tz

    def _items(self, obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
        for key, value in obj.items():
            dotted = prefix + key
            if isinstance(value, dict) and dotted not in self.by_source and (prefix or key in self.prefixes):
                yield from self._items(value, dotted + ".")
            else:
                yield dotted, value

    def build_from(self, obj: Mapping[str, Any]) -> Event:
        """Like `build`, iterating over the keys the object has (flat dotted or nested) — the fast path."""
        event: Event = {}
        by_source = self.by_source
        for key, value in self._items(obj):
            name = by_source.get(key)
            if name is None or name in event or value is None:
                continue
            if value == "" and FIELD_TYPES[name] is not FieldType.KEYWORD:
                continue  # no empty form for numbers, dates and addresses
            self._set(event, name, key, value)
        if "@timestamp" not in event:
            raise ParseError(f"no timestamp (field {self.sources['@timestamp']!r})")
        return event

    def _set(self, event: Event, name: str, key: str, value: Any) -> None:
        ftype = FIELD_TYPES[name]
        if ftype is FieldType.KEYWORD and type(value) is str:
            event[name] = value  # the common case, without the general coercion (ingest cuts long values)
            return
        if ftype is FieldType.DATE:
            event[name] = self.timestamp(value, key)
            return
        if isinstance(value, dict | list):
            raise ParseError(f"{key!r}: expected a single value, got a {type(value).__name__}")
        try:
            event[name] = coerce(name, value, max_chars=None)
        except ValueError as exc:
            if name == "source.ip":  # a hostname or garbage where an address belongs: keep it as logged
                event["source.address"] = str(value)
                return
            raise ParseError(f"{key!r}: {exc}") from None

    def timestamp(self, value: Any, key: str) -> datetime:
        try:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int | float):
                return parse_epoch(value)
            text = str(value).strip()
            if self.timestamp_format:
                return to_utc(datetime.strptime(text, self.timestamp_format), self.assume)
            if text.replace(".", "", 1).isdigit() and len(text.split(".")[0]) >= 9:  # 20240101 is a date
                return parse_epoch(float(text))
            return parse_iso(text, self.assume)
        except (ValueError, OverflowError, OSError):
            raise ParseError(f"{key!r}: not a timestamp: {str(value)[:60]!r}") from None

    def build(self, get: Callable[[str], Any]) -> Event:
        """An event from CSV cells: an empty cell is a missing value (see the module docstring)."""
        event: Event = {}
        for name, key in self.sources.items():
            value = get(key)
            if value is None or value == "":
                continue
            self._set(event, name, key, value)
        if "@timestamp" not in event:
            raise ParseError(f"no timestamp (field {self.sources['@timestamp']!r})")
        return event


class JsonLinesParser(Parser):
    name: ClassVar[str] = "jsonl"
    default_dataset: ClassVar[str] = "api"

    def __init__(self, mapping: Mapping[str, str] | None = None, timestamp_format: str | None = None,
                 assume_tz: tzinfo = UTC) -> None:
        check_mapping(mapping or {}, "ingest.jsonl.mapping")
        self._mapper = _Mapper(mapping or {}, timestamp_format, assume_tz)

    def parse_line(self, text: str) -> list[Event]:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(obj, dict):
            raise ParseError(f"expected a JSON object, got {type(obj).__name__}")
        return [self._mapper.build_from(obj)]


class CsvParser(Parser):
    """CSV with a header row. Quoted values may contain newlines, so this reads whole records, not lines."""

    name: ClassVar[str] = "csv"
    default_dataset: ClassVar[str] = "access"

    def __init__(self, mapping: Mapping[str, str] | None = None, delimiter: str = ",",
                 timestamp_format: str | None = None, assume_tz: tzinfo = UTC) -> None:
        check_mapping(mapping or {}, "ingest.csv.mapping")
        self._mapper = _Mapper(mapping or {}, timestamp_format, assume_tz)
        self._delimiter = delimiter

    def parse_line(self, text: str) -> list[Event]:  # only used for sniffing a header line
        try:
            header = next(csv.reader([text], delimiter=self._delimiter))
        except csv.Error as exc:
            raise ParseError(f"CSV: {exc}") from None
        if self._mapper.sources["@timestamp"] not in header:
            raise ParseError(f"no {self._mapper.sources['@timestamp']!r} column in the header")
        return []

    def sniff(self, lines: list[str]) -> float:
        if not lines:
            return 0.0
        try:
            self.parse_line(lines[0])
        except ParseError:
            return 0.0
        return 1.0

    def records(self, lines: Iterator[Line]) -> Iterator[Record]:
        # The csv module pulls physical lines from `texts()`; `pending` keeps the ones of the record being
        # read (its first line number, raw text and flags), and `bad` the unreadable lines seen meanwhile.
        pending: list[tuple[int, str, tuple[str, ...]]] = []
        bad: list[Line] = []

        def texts() -> Iterator[str]:
            for line in lines:
                if line.text is None:
                    bad.append(line)
                    continue
                pending.append((line.number, line.text, line.flags))
                yield line.text + "\n"

        reader = csv.reader(texts(), delimiter=self._delimiter, strict=True)
        header: list[str] | None = None
        index: dict[str, int] = {}
        ts_column = self._mapper.sources["@timestamp"]
        while True:
            row: list[str] | None = None
            error: str | None = None
            try:
                row = next(reader)
            except StopIteration:
                pass
            except csv.Error as exc:
                error = f"CSV: {exc}"
            for b in bad:
                yield Record(b.number, b.sample or "", error=b.error)
            bad.clear()
            if row is None and error is None:
                return
            first = pending[0][0] if pending else 0
            raw = "\n".join(text for _, text, _ in pending)
            flags = tuple(sorted({f for _, _, line_flags in pending for f in line_flags}))
            pending.clear()
            if error is not None or row is None:
                yield Record(first, raw, error=error, flags=flags)
                continue
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = row
                index = {name.strip(): i for i, name in enumerate(header)}
                if ts_column not in index:
                    yield Record(first, raw, error=f"header has no {ts_column!r} column (the timestamp)")
                    return
                continue
            if len(row) != len(header):
                yield Record(first, raw, error=f"{len(row)} values for {len(header)} columns", flags=flags)
                continue
            try:
                event = self._mapper.build(_row_lookup(row, index))
            except ParseError as exc:
                yield Record(first, raw, error=str(exc), flags=flags)
                continue
            yield Record(first, raw, [event], flags=flags)


def _row_lookup(row: list[str], index: dict[str, int]) -> Callable[[str], Any]:
    def get(key: str) -> Any:
        position = index.get(key)
        return None if position is None else row[position]

    return get
