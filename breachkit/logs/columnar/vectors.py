"""Column helpers shared by the bulk parsers: the fast-line filter, times, addresses, per-value mappings,
event ids, and the Arrow batch of the event schema.

Everything here works on whole Arrow arrays (pyarrow compute kernels: RE2 regular expressions, casts,
arithmetic), except where a value must go through breachkit's own Python function to stay exactly what the
line-by-line path stores (`schema.canonical_ip`, `schema.url_extension`, the web parser's action and target
rules, the JSON mapper's timestamp reading): those are called once per DISTINCT value of the block
(`per_value`), which is a small share of the rows for every real log, and never a re-implementation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from breachkit.logs.schema import ARROW_SCHEMA, MAX_VALUE_CHARS


# Characters that keep a line off the fast path (it goes to the Python parser instead). The fast patterns
# (access.PATTERNS, jsonl.TOKENS) exclude them from every character class (`PLAIN` is the class body), so
# that one pass of one DFA both checks the line and its form:
# - C0/C1 controls and DEL: `finish` escapes them (and flags the event); the tab is among them too, so that
#   the fast patterns never meet a character they could read otherwise than Python's `re`;
# - the backslash: the access-log parser unescapes `\\"`, `\\\\` and `\\x22`, JSON decodes escapes, and
#   `finish` re-checks values when a line holds one;
# - whitespace that Python's `\\s` knows and RE2's does not (U+00A0, U+2000…): with these gone, RE2's `\\S`
#   and Python's are the same class on the fast lines, so the strict patterns read them the same way.
def _ranges(codes: list[int]) -> str:
    out, start = [], 0
    while start < len(codes):
        end = start
        while end + 1 < len(codes) and codes[end + 1] == codes[end] + 1:
            end += 1
        out.append(f"\\x{{{codes[start]:x}}}" + (f"-\\x{{{codes[end]:x}}}" if end > start else ""))
        start = end + 1
    return "".join(out)


_PY_ONLY_SPACE: Final = _ranges([c for c in range(0x80, 0x3001) if re.match(r"\s", chr(c)) and not 0x80 <= c <= 0x9F])
PLAIN: Final = r"\x00-\x1f\x7f-\x9f\\" + _PY_ONLY_SPACE
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4: Final = rf"^(?:{_OCTET}\.){{3}}{_OCTET}$"  # as ipaddress reads them: no leading zeros


def short_lines(text: pa.StringArray) -> pa.BooleanArray:
    """Lines short enough that no value of theirs is cut (`finish` cuts at MAX_VALUE_CHARS)."""
    return pc.less_equal(pc.utf8_length(text), MAX_VALUE_CHARS)


def fill(mask: pa.BooleanArray) -> pa.BooleanArray:
    """A mask with nulls read as False."""
    return pc.fill_null(mask, False)


def per_value(values: pa.Array, fn: Callable[[Any], Any], type_: pa.DataType) -> pa.Array:
    """`fn` applied to each distinct non-null value of `values` (nulls stay null)."""
    encoded = pc.dictionary_encode(values)
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type_)
    return pc.take(mapped, encoded.indices)


def per_distinct(values: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`fn` (on arrays) applied to the distinct values of `values` only (nulls stay null)."""
    encoded = pc.dictionary_encode(values)
    return pc.take(fn(encoded.dictionary), encoded.indices)


_MONTH_DAYS: Final = pa.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())
MONTH_NAMES: Final = pa.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])


def integer(text: pa.Array, start: int, stop: int) -> pa.Array:
    """The digits at `start:stop` of each value as an integer (the caller has checked they are digits)."""
    return pc.cast(pc.utf8_slice_codeunits(text, start, stop), pa.int64())


def civil_seconds(year: pa.Array, month: pa.Array, day: pa.Array, hour: pa.Array, minute: pa.Array,
                  second: pa.Array) -> pa.Array:
    """Seconds since the epoch of a proleptic Gregorian date and time read as UTC; null where it is not a
    real one (day 31 of February, hour 24, second 60 — which Python's datetime refuses too). Years must be
    positive. Days from the civil date as in H. Hinnant's `days_from_civil`."""
    leap = pc.or_(pc.and_(pc.equal(pc.bit_wise_and(year, 3), 0), pc.not_equal(pc.remainder(year, 100), 0)),
                  pc.equal(pc.remainder(year, 400), 0))
    good_month = fill(pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12)))
    m = pc.if_else(good_month, month, 1)
    days_in = pc.add(pc.take(_MONTH_DAYS, pc.subtract(m, 1)), pc.cast(pc.and_(leap, pc.equal(m, 2)), pa.int64()))
    valid = pc.and_(pc.and_(good_month, pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, days_in))),
                    pc.and_(pc.less_equal(hour, 23), pc.and_(pc.less_equal(minute, 59), pc.less_equal(second, 59))))
    y = pc.subtract(year, pc.cast(pc.less_equal(m, 2), pa.int64()))
    era = pc.divide(y, 400)
    yoe = pc.subtract(y, pc.multiply(era, 400))
    doy = pc.add(pc.divide(pc.add(pc.multiply(pc.remainder(pc.add(m, 9), 12), 153), 2), 5), pc.subtract(day, 1))
    doe = pc.add(pc.subtract(pc.add(pc.multiply(yoe, 365), pc.divide(yoe, 4)), pc.divide(yoe, 100)), doy)
    days = pc.subtract(pc.add(pc.multiply(era, 146_097), doe), 719_468)
    clock = pc.add(pc.add(pc.multiply(hour, 3600), pc.multiply(minute, 60)), second)
    return none_if(pc.add(pc.multiply(days, 86_400), clock), pc.invert(fill(valid)))


def to_timestamp(micros: pa.Array) -> pa.Array:
    return pc.cast(micros, ARROW_SCHEMA.field("@timestamp").type)


def digits_to_int(text: pa.StringArray) -> pa.Array:
    return pc.cast(text, pa.int64())


def nonempty(values: pa.Array) -> pa.BooleanArray:
    return fill(pc.greater(pc.utf8_length(values), 0))


def none_if(values: pa.Array, mask: pa.Array) -> pa.Array:
    """`values` with null where `mask` is true."""
    return pc.if_else(fill(mask), pa.scalar(None, values.type), values)


def narrow(fast: pa.BooleanArray, keep: pa.BooleanArray) -> pa.BooleanArray:
    """`fast` with its true positions limited further to those where `keep` (one value per true) is true."""
    dropped = pc.filter(pc.indices_nonzero(fast), pc.invert(keep)).to_pylist()
    if not dropped:
        return fast
    mask = fast.to_pylist()
    for i in dropped:
        mask[i] = False
    return pa.array(mask, pa.bool_())


def first_byte_in(text: pa.Array, chars: bytes) -> pa.BooleanArray:
    """Values whose first byte is one of the ASCII `chars` (false for null and ""), read from the array's
    buffers: one gather over the offsets instead of slicing every value into a new string array."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if len(text) == 0:
        return pa.array([], pa.bool_())
    width = 8 if pa.types.is_large_string(text.type) else 4
    _, offsets_buffer, data_buffer = text.buffers()
    offsets: np.ndarray[Any, np.dtype[np.int64]] = np.frombuffer(
        offsets_buffer, dtype=f"<i{width}", count=len(text) + 1, offset=text.offset * width).astype(np.int64)
    starts = offsets[:-1]
    present = offsets[1:] > starts
    if text.null_count:
        present &= np.asarray(text.is_valid())
    first = np.zeros(len(text), dtype=np.uint8)
    if data_buffer is not None:
        first[present] = np.frombuffer(data_buffer, dtype=np.uint8)[starts[present]]
    wanted = np.zeros(256, dtype=bool)
    wanted[list(chars)] = True
    return pa.array(wanted[first] & present, pa.bool_())


def matching_where(text: pa.Array, where: pa.BooleanArray, pattern: str) -> pa.BooleanArray:
    """The values where `where` is true that match `pattern` (false elsewhere). The expression only runs on
    those values: Arrow's kernel runs it on every slot, null or not."""
    positions = pc.indices_nonzero(where)
    if len(positions) == 0:
        return where
    if len(positions) == len(text):
        return fill(pc.match_substring_regex(text, pattern))
    found = np.zeros(len(text), dtype=bool)
    found[positions.to_numpy()] = fill(pc.match_substring_regex(pc.take(text, positions), pattern)).to_numpy(
        zero_copy_only=False)
    return pa.array(found, pa.bool_())


def epoch_micros(ts: datetime) -> int:
    return (ts - _EPOCH) // _MICROSECOND


def event_ids(source: str, numbers: Sequence[int], raws: Sequence[bytes]) -> pa.StringArray:
    """`schema.event_id(source, number, raw)` for UTF-8 lines, computed on their bytes: for text that is valid
    UTF-8, `raw.encode("utf-8", "surrogatepass")` is the line's bytes, and hashing the parts one after the
    other is hashing them joined. The digests are written as hex in one go (an Arrow array built from the
    text's buffer: converting a list of Python strings would cost more than the hashing)."""
    base = blake2b(source.encode("utf-8", "surrogatepass") + b"\0", digest_size=12)
    digests = []
    for number, raw in zip(numbers, raws, strict=True):
        h = base.copy()
        h.update(b"%d\0" % number)
        h.update(raw)
        digests.append(h.digest())
    return fixed_width_text(b"".join(digests).hex().encode("ascii"), 24)


def fixed_width_text(data: bytes, width: int) -> pa.StringArray:
    """ASCII `data` cut into strings of `width` characters, as an Arrow array (no per-value conversion)."""
    count = len(data) // width
    offsets = np.arange(0, width * (count + 1), width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def repeat(value: str, rows: int) -> pa.StringArray:
    return pc.fill_null(pa.nulls(rows, pa.string()), value)


def mask(size: int, positions: Sequence[int] | pa.Array) -> pa.BooleanArray:
    """A boolean array of `size`, true at `positions`."""
    out = np.zeros(size, dtype=bool)
    out[np.asarray(positions, dtype=np.int64)] = True
    return pa.array(out)


def batch_of(columns: dict[str, pa.Array], rows: int) -> pa.RecordBatch:
    """A record batch of the event schema from the computed columns; the others are null."""
    arrays = []
    for f in ARROW_SCHEMA:
        column = columns.get(f.name)
        if column is None:
            arrays.append(pa.nulls(rows, f.type))
        else:
            arrays.append(column if column.type == f.type else pc.cast(column, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)
