"""The bulk parsers' column helpers against their plain definitions, on generated values (seeded)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from breachkit.logs.columnar import jsonl
from breachkit.logs.columnar import vectors as v
from breachkit.logs.finish import truncate_ms


def _iso(rng: random.Random) -> tuple[str, int | None]:
    """A value matching jsonl._ISO, and the epoch microseconds (cut to the millisecond) Python's datetime gives
    it (naive: UTC), or None where the date does not exist."""
    year, month, day = rng.randrange(1000, 9999), rng.randrange(1, 13), rng.choice([1, 15, 28, 29, 30, 31])
    hour, minute, second = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    digits = rng.choice([0, 0, 1, 2, 3, 4, 5, 6])
    frac = "".join(rng.choice("0123456789") for _ in range(digits))
    zone_kind = rng.choice(["Z", "", "offset"])
    offset = timedelta(0)
    zone = zone_kind
    if zone_kind == "offset":
        hours, minutes, sign = rng.randrange(24), rng.randrange(60), rng.choice("+-")
        zone = f"{sign}{hours:02d}:{minutes:02d}"
        offset = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
    text = (f"{year:04d}-{month:02d}-{day:02d}{rng.choice('T ')}{hour:02d}:{minute:02d}:{second:02d}"
            + (f".{frac}" if frac else "") + zone)
    try:
        local = datetime(year, month, day, hour, minute, second, int((frac or "0").ljust(6, "0")),
                         tzinfo=timezone(offset))
    except ValueError:
        return text, None
    ts = truncate_ms(local.astimezone(UTC))
    return text, v.epoch_micros(ts)


@pytest.mark.parametrize("seed", range(4))
def test_iso_times_read_by_the_cast_equal_the_field_arithmetic_and_python(seed: int) -> None:
    rng = random.Random(seed)
    pairs = [_iso(rng) for _ in range(3000)]
    valid = [p for p in pairs if p[1] is not None]
    for sample in (valid, pairs):  # a block of real dates (the cast), and one with dates that do not exist
        text = pa.array([t for t, _ in sample] + ["not a time", None])
        quick = v.fill(pc.match_substring_regex(text, jsonl._ISO))
        assert quick.to_pylist() == [True] * len(sample) + [False, False]
        micros = jsonl._iso_micros(text, quick, jsonl._zoned(text, quick))
        fields = jsonl._iso_fields_micros(pc.extract_regex(text, jsonl._ISO))
        assert micros.to_pylist() == fields.to_pylist() == [m for _, m in sample] + [None, None]


def test_zoned_values() -> None:
    text = pa.array(["2026-03-02T00:00:00Z", "2026-03-02T00:00:00", "2026-03-02T00:00:00.5-05:30",
                     "2026-03-02 10:20:30", "x+01:00", None])
    quick = v.fill(pc.match_substring_regex(text, jsonl._ISO))
    assert jsonl._zoned(text, quick).to_pylist() == [True, False, True, False, False, False]


def test_first_byte_in_and_matching_where_on_sliced_and_null_values() -> None:
    text = pa.array(["{a", "", None, "-1", "7", "[x", "é", "1.5e3"]).slice(1)
    assert v.first_byte_in(text, b"-0123456789").to_pylist() == [False, False, True, True, False, False, True]
    assert v.first_byte_in(pa.array(["a"], pa.large_string()), b"a").to_pylist() == [True]
    assert v.first_byte_in(pa.array([], pa.string()), b"a").to_pylist() == []
    where = pa.array([True, True, True, False, True, True, True])
    assert v.matching_where(text, where, r"^-?[0-9]+$").to_pylist() == [False, False, True, False, False, False,
                                                                         False]
    nowhere = pa.array([False] * 7)
    assert v.matching_where(text, nowhere, "x").to_pylist() == [False] * 7
