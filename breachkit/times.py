"""Times given by people (options, form fields) and times shown to them."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from breachkit.errors import UsageError


def parse_time(value: str | datetime | None, field: str, zone: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 time (or a datetime) as aware UTC; a time without an offset is read in `zone`."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{field}: not an ISO 8601 time: {value!r}", field=None,
                             hint="e.g. 2026-03-02T08:00:00Z, 2026-03-28T14:05:00+01:00 or 2026-03-02") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def local(value: datetime | None, zone: tzinfo) -> str:
    """A time for people: in the display zone, with the zone's abbreviation ("" for none)."""
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
