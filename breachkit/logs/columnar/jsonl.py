"""JSON lines read in bulk: DuckDB's JSON reader for the values, Arrow kernels for the mapping's rules.

Which lines DuckDB reads. Its reader (yyjson) is laxer than Python's `json` in two ways: trailing commas,
and `nan`/`inf` spelt in any case. So it only ever sees plain lines (`vectors.PLAIN`: no backslash,
hence no escape in a string, no control character) that `TOKENS` reads as one JSON object made of string
literals, numbers, `true`/`false`/`null` and structure, where a comma is always followed by a value — no
trailing comma, no other bare word. On such a line both readers agree, or DuckDB refuses the read (extra
text, a bad number, a field's key given twice): the lines are then split in halves until the refused ones
are found, and those go to Python.

The values. DuckDB gives each field's top-level key (`mapper.by_source`) as text: a string as it is, a
number or literal as written (`true`, `12`, a float reformatted), an object or array as JSON. The mapper's
result is the same for a string and a number with that text in every case read here; where it would differ,
or cannot be known from the text, the line goes to Python:

- keyword fields take the text, unless it looks like a fraction or exponent number (Python would print the
  float its own way) or starts with `{`/`[` (an object would be refused);
- number fields take up to 18 digits (string or number: the same int), `-` and `""` as no value;
- the address (`source.ip`): canonical IPv4 as is, any other text through `schema.canonical_ip` once per
  distinct value (not an address: `source.address` gets the text, as the mapper does); not `true`/`false`
  (Python writes `True`), not a number (a float's text may not be Python's), not an object;
- the time: `yyyy-mm-ddTHH:MM:SS[.ffffff][Z|±hh:mm]` (naive only when the assumed zone is UTC) is computed
  on the column; other text goes through the mapper's own `timestamp()` once per distinct value — except
  numbers other than 9 digits or more (the mapper reads `20240101` as epoch seconds when it is a number and
  as a date when it is a string; a float's text may not be Python's; a configured format reads strings only);
- a key naming an object prefix (`{"source": {"ip": …}}`) whose value starts with `{`, and a `log.flags`
  key, send the line to Python (the mapper flattens the one and reads the other character by character).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from breachkit.errors import ServiceError
from breachkit.logs.columnar import vectors as v
from breachkit.logs.finish import truncate_ms
from breachkit.logs.parsers.base import ParseError
from breachkit.logs.parsers.structured import JsonLinesParser
from breachkit.logs.schema import FIELD_TYPES, FieldType, canonical_ip, url_extension

_STRING: Final = f'"[^"{v.PLAIN}]*"'
_VALUE_START: Final = f"(?:{_STRING}|-?[0-9]|true|false|null|\\{{|\\[)"
TOKENS: Final = f"^ *\\{{(?:{_STRING}|[-+0-9.eE :{{}}\\[\\]]|true|false|null|, *{_VALUE_START})*\\}} *$"
_ISO: Final = (r"^(?P<date>(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2})[T ]"
               r"(?P<time>(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])(?:\.(?P<frac>[0-9]{1,6}))?"
               r"(?P<zone>Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$")
_OFFSET_END: Final = r"[+-][0-9]{2}:[0-9]{2}$"
_FLOAT: Final = r"^-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?$"
_LONG: Final = r"^-?[0-9]{1,18}$"
_EPOCH_TEXT: Final = r"^[0-9]{9,}$"  # epoch seconds or milliseconds, read alike as a number or as a string
_MIN_SPLIT: Final = 64  # a refused read of fewer lines is left to Python


class JsonColumns:
    """Reads the values of a block's JSON lines through a 0600 scratch file in `tmp`."""

    def __init__(self, parser: JsonLinesParser, tmp: Path) -> None:
        self.mapper = parser._mapper
        self.keys = dict(self.mapper.by_source)  # source key → field
        self.prefixes = sorted(p for p in self.mapper.prefixes if p not in self.keys)
        self._wanted = [*self.keys, *self.prefixes]
        self._columns = "{" + ", ".join(f"{_lit(k)}: 'VARCHAR'" for k in self._wanted) + "}"
        self._scratch = tmp / f"bulk-{uuid.uuid4().hex}.jsonl"
        self._con = duckdb.connect()
        self.utc = str(self.mapper.assume) == "UTC"  # naive times are read as UTC

    def close(self) -> None:
        self._con.close()
        self._scratch.unlink(missing_ok=True)

    def parse(self, text: pa.StringArray, raws: list[bytes],
              short: pa.BooleanArray) -> tuple[pa.BooleanArray, dict[str, pa.Array]]:
        """(which lines are read here, their event columns: only those rows, in order); `short`: the lines
        that may be (not over-long, not unreadable)."""
        candidate = v.fill(pc.and_(short, pc.match_substring_regex(text, TOKENS)))
        values, read = self._read(raws, pc.indices_nonzero(candidate).to_pylist())
        fast = v.mask(len(raws), read)
        rows = len(read)
        ok = v.mask(rows, range(rows))
        for key in self.prefixes:  # {"source": {...}}: the mapper flattens it; Python reads those lines
            if values[key].null_count < rows:
                ok = pc.and_(ok, pc.invert(v.fill(pc.starts_with(values[key], "{"))))
        columns: dict[str, pa.Array] = {}
        for key, name in self.keys.items():
            value = values[key]
            if value.null_count == rows and name != "@timestamp":
                continue  # not in this block
            if name == "log.flags":  # the mapper lets the input set flags (character by character)
                ok = pc.and_(ok, value.is_null())
                continue
            ok = pc.and_(ok, v.fill(self._field(name, key, value, columns)))
        ok = v.fill(pc.and_(ok, columns["@timestamp"].is_valid()))
        given = columns.pop("#source.ip", None)
        if given is not None:  # whatever source.address held, the text of a source.ip that is not an address
            wrong = pc.and_(given.is_valid(), columns["source.ip"].is_null())
            address = columns.get("source.address", pa.nulls(rows, pa.string()))
            columns["source.address"] = pc.if_else(wrong, given, address)
        if "url.path" in columns:  # finish derives the extension unless the input gave one
            derived = v.per_value(columns["url.path"], url_extension, pa.string())
            extension = columns.get("url.extension")
            columns["url.extension"] = derived if extension is None else pc.coalesce(extension, derived)
        if not pc.all(ok).as_py():
            fast = v.narrow(fast, ok)
            columns = {name: pc.filter(column, ok) for name, column in columns.items()}
        return fast, columns

    # --- reading -------------------------------------------------------------------------------------------

    def _read(self, raws: list[bytes], positions: list[int]) -> tuple[dict[str, pa.Array], list[int]]:
        """The values of the lines at `positions` (text per wanted key), and which lines were read."""
        parts = self._read_part(raws, positions)
        read = [i for part, _ in parts for i in part]
        if not parts:
            return {k: pa.array([], pa.string()) for k in self._wanted}, read
        table = pa.concat_tables([t for _, t in parts])
        return {name: table.column(i).combine_chunks() for i, name in enumerate(self._wanted)}, read

    def _read_part(self, raws: list[bytes], part: list[int]) -> list[tuple[list[int], pa.Table]]:
        if not part:
            return []
        try:
            return [(part, self._load(raws, part))]
        except duckdb.Error:
            if len(part) < _MIN_SPLIT:
                return []
        half = len(part) // 2
        return self._read_part(raws, part[:half]) + self._read_part(raws, part[half:])

    def _load(self, raws: list[bytes], part: list[int]) -> pa.Table:
        try:
            fd = os.open(self._scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the lines are personal data
            with os.fdopen(fd, "wb") as out:
                out.write(b"\n".join([raws[i] for i in part]))
                out.write(b"\n")
        except OSError as exc:
            raise ServiceError(f"cannot write the bulk parser's scratch file: {exc.strerror or exc}",
                               path=self._scratch, hint="free space in the workspace, or set ingest.columnar = false") \
                from None
        # the path and the keys (from the configuration) are quoted literals
        sql = (f"SELECT * FROM read_json({_lit(str(self._scratch))}, format='newline_delimited', "  # noqa: S608
               f"records='true', columns={self._columns})")
        table = self._con.sql(sql).to_arrow_table()
        if table.num_rows != len(part):
            raise duckdb.InvalidInputException(f"read {table.num_rows} rows of {len(part)}")
        return table

    # --- fields --------------------------------------------------------------------------------------------

    def _field(self, name: str, key: str, text: pa.Array, columns: dict[str, pa.Array]) -> pa.Array:
        """Put the field's column into `columns`; returns the rows whose value the rules cover."""
        absent = text.is_null()
        ftype = FIELD_TYPES[name]
        if ftype is FieldType.KEYWORD:
            columns[name] = text
            return pc.invert(_starting_like(text, _ODD_KEYWORD_START, _ODD_KEYWORD))
        if ftype is FieldType.LONG:
            number = v.fill(pc.match_substring_regex(text, _LONG))
            columns[name] = v.digits_to_int(v.none_if(text, pc.invert(number)))
            nothing = pc.or_kleene(pc.equal(text, "-"), pc.equal(text, ""))
            return pc.or_kleene(absent, pc.or_kleene(number, nothing))
        if ftype is FieldType.IP:
            given = v.none_if(text, pc.equal(text, ""))  # "" is no value for an address
            plain_v4 = v.fill(pc.match_substring_regex(given, v.IPV4))
            canonical = v.per_value(v.none_if(given, plain_v4), canonical_ip, pa.string())
            ip = pc.if_else(plain_v4, given, canonical)
            columns[name] = ip
            literal = pc.or_kleene(pc.equal(text, "true"), pc.equal(text, "false"))
            # (a plain IPv4 address, with its three dots, never reads as a number)
            odd = pc.or_kleene(pc.or_kleene(literal, _numeric(v.none_if(text, plain_v4))), _nested(text))
            if name == "source.ip":  # not an address: the mapper keeps the text as source.address (parse)
                columns["#source.ip"] = given
                return pc.or_kleene(absent, pc.invert(odd))
            return pc.or_kleene(absent, pc.or_kleene(pc.equal(text, ""), ip.is_valid()))
        columns[name] = self._time(key, text)
        return v.mask(len(text), range(len(text)))

    def _time(self, key: str, text: pa.Array) -> pa.Array:
        """Epoch microseconds (cut to the millisecond); null where Python must read the line."""
        micros = pa.nulls(len(text), pa.int64())
        quick = v.mask(len(text), [])
        if self.mapper.timestamp_format is None:
            quick = v.fill(pc.match_substring_regex(text, _ISO))
            zoned = _zoned(text, quick)
            if not self.utc:
                quick = zoned
            if pc.any(quick).as_py():
                micros = pc.if_else(quick, _iso_micros(text, quick, zoned), micros)
        # numbers the mapper reads otherwise than their text (as epoch seconds where the text would be a date,
        # or with a configured format), floats whose text DuckDB may write otherwise, objects
        # (only asked of the values not read above)
        rest = v.none_if(text, quick)
        numeric = _numeric(rest)
        if self.mapper.timestamp_format is None and pc.any(numeric).as_py():
            numeric = pc.and_(numeric, pc.invert(v.fill(pc.match_substring_regex(rest, _EPOCH_TEXT))))
        ambiguous = pc.or_(numeric, _nested(rest))
        slow = v.fill(pc.and_(pc.invert(quick), pc.and_(v.nonempty(rest), pc.invert(ambiguous))))
        if pc.any(slow).as_py():
            mapped = v.per_value(v.none_if(text, pc.invert(slow)), lambda x: self._python_time(key, x), pa.int64())
            micros = pc.if_else(slow, mapped, micros)
        return micros

    def _python_time(self, key: str, value: str) -> int | None:
        """The mapper's own reading of one value (a number gives the same as its text here), as epoch
        microseconds cut to the millisecond (finish.truncate_ms); None where the mapper refuses it."""
        given: Any = value
        try:
            ts = self.mapper.timestamp(given, key)
        except ParseError:
            return None
        return v.epoch_micros(truncate_ms(ts))


_NUMBER_START: Final = b"-0123456789"


def _numeric(text: pa.Array) -> pa.Array:
    """Text that reads as a JSON number."""
    return _starting_like(text, _NUMBER_START, _FLOAT)


_ODD_KEYWORD_START: Final = b"-0123456789{["
# a float (Python would print it its own way) or an object or array (refused as a keyword value)
_ODD_KEYWORD: Final = r"^(?:\{|\[|-?[0-9]+(?:\.[0-9]*|(?:\.[0-9]*)?[eE][-+]?[0-9]+)$)"


def _starting_like(text: pa.Array, starts: bytes, pattern: str) -> pa.Array:
    """Text matching `pattern` (false for null); the expression only runs on text whose first character is one
    of `starts` — in most columns, none."""
    return v.matching_where(text, v.first_byte_in(text, starts), pattern)


def _nested(text: pa.Array) -> pa.Array:
    return v.first_byte_in(text, b"{[")


def _zoned(text: pa.Array, iso: pa.BooleanArray) -> pa.BooleanArray:
    """Of the values matching _ISO (`iso`), those that end in a zone (`Z` or `±hh:mm`)."""
    zoned = pc.and_(iso, v.fill(pc.ends_with(text, "Z")))
    others = pc.and_(iso, pc.invert(zoned))
    return pc.or_(zoned, v.matching_where(text, others, _OFFSET_END))


def _iso_micros(text: pa.Array, quick: pa.BooleanArray, zoned: pa.BooleanArray) -> pa.Array:
    """The `quick` values (matching _ISO; `zoned`: those with a zone, the others are read as UTC) → epoch
    microseconds cut to the millisecond; null elsewhere. Arrow's ISO 8601 cast reads them; where it refuses
    a block (a date that does not exist, as 31 February, which the pattern lets through) the fields are
    computed one by one (`_iso_fields_micros`), which gives null for such dates."""
    naive = pc.and_(quick, pc.invert(zoned))
    try:
        read = pc.cast(pc.cast(v.none_if(text, pc.invert(zoned)), pa.timestamp("us", "UTC")), pa.int64())
        if pc.any(naive).as_py():
            plain = pc.cast(pc.cast(v.none_if(text, pc.invert(naive)), pa.timestamp("us")), pa.int64())
            read = pc.coalesce(read, plain)
    except pa.ArrowInvalid:
        return _iso_fields_micros(pc.extract_regex(v.none_if(text, pc.invert(quick)), _ISO))
    below = pc.remainder(read, 1000)  # cut to the millisecond, downwards also before 1970
    return pc.subtract(read, pc.if_else(pc.less(below, 0), pc.add(below, 1000), below))


def _iso_fields_micros(iso: pa.StructArray) -> pa.Array:
    """`yyyy-mm-ddTHH:MM:SS[.ffffff][Z|±hh:mm]` (checked by _ISO) → epoch microseconds cut to the millisecond,
    computed from the fields; null for a date or time that does not exist."""
    valid = v.fill(iso.is_valid())  # the fields of a row that did not match are empty, not null
    date = pc.if_else(valid, iso.field("date"), "2000-01-01")
    time = pc.if_else(valid, iso.field("time"), "00:00:00")
    seconds = v.civil_seconds(v.integer(date, 0, 4), v.integer(date, 5, 7), v.integer(date, 8, 10),
                              v.integer(time, 0, 2), v.integer(time, 3, 5), v.integer(time, 6, 8))
    frac = pc.if_else(valid, iso.field("frac"), "")
    millis = pc.cast(pc.if_else(v.nonempty(frac), pc.utf8_slice_codeunits(pc.utf8_rpad(frac, 3, "0"), 0, 3), "0"),
                     pa.int64())
    zone = pc.if_else(valid, iso.field("zone"), "")
    offset_given = v.fill(pc.equal(pc.utf8_length(zone), 6))
    hours = pc.cast(pc.if_else(offset_given, pc.utf8_slice_codeunits(zone, 1, 3), "0"), pa.int64())
    minutes = pc.cast(pc.if_else(offset_given, pc.utf8_slice_codeunits(zone, 4, 6), "0"), pa.int64())
    east = pc.add(pc.multiply(hours, 3600), pc.multiply(minutes, 60))
    east = pc.if_else(v.fill(pc.equal(pc.utf8_slice_codeunits(zone, 0, 1), "-")), pc.negate(east), east)
    utc = pc.subtract(seconds, east)
    return v.none_if(pc.add(pc.multiply(utc, 1_000_000), pc.multiply(millis, 1000)), iso.is_null())


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
