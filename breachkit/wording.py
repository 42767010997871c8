"""Counts in English messages: "1 rule", "2 rules" — never "1 rules"."""

from __future__ import annotations


def counted(count: int, one: str, many: str | None = None, *, thousands: bool = False) -> str:
    """`count` and the noun in the right number (`many` defaults to `one` + "s")."""
    shown = f"{count:,}" if thousands else str(count)
    return f"{shown} {one if count == 1 else (many or one + 's')}"
