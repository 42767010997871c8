"""Timestamp parsing shared by the parsers.

Hand-written for the access-log and syslog forms because `strptime`'s `%b` depends on the process
locale (a German locale rejects "May") and is slow; results are cached because consecutive log lines
share most timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final

MONTHS: Final = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}

_CACHE_MAX = 200_000


class _Cache(dict[str, datetime]):
    def put(self, key: str, value: datetime) -> datetime:
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[key] = value
        return value


_clf_cache = _Cache()


def parse_clf(text: str) -> datetime:
    """`10/Oct/2000:13:55:36 -0700` (Apache/Nginx %t) → aware UTC datetime. Raises ValueError."""
    hit = _clf_cache.get(text)
    if hit is not None:
        return hit
    if len(text) != 26 or text[2] != "/" or text[6] != "/" or text[11] != ":" or text[20] != " ":
        raise ValueError(f"bad timestamp {text!r}")
    month = MONTHS.get(text[3:6])
    if month is None:
        raise ValueError(f"bad month in timestamp {text!r}")
    sign = text[21]
    if sign not in "+-" or not text[22:26].isdigit():
        raise ValueError(f"bad offset in timestamp {text!r}")
    offset = timedelta(hours=int(text[22:24]), minutes=int(text[24:26]))
    local = datetime(int(text[7:11]), month, int(text[0:2]), int(text[12:14]), int(text[15:17]),
                     int(text[18:20]), tzinfo=timezone(offset if sign == "+" else -offset))
    try:
        utc = local.astimezone(UTC)
    except OverflowError:  # 31/Dec/9999 west of UTC, 01/Jan/0001 east of it
        raise ValueError(f"timestamp out of range {text!r}") from None
    return _clf_cache.put(text, utc)


def parse_iso(text: str, assume: tzinfo = UTC) -> datetime:
    """ISO 8601 (`Z` or an offset; naive values are read in `assume`) → aware UTC datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=assume)
    return value.astimezone(UTC)


def parse_epoch(value: float) -> datetime:
    """Epoch seconds, or milliseconds when the number is too large to be seconds (after year 5138)."""
    seconds = value / 1000.0 if abs(value) >= 1e11 else float(value)
    return datetime.fromtimestamp(seconds, UTC)


def to_utc(value: datetime, assume: tzinfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=assume)
    return value.astimezone(UTC)
