"""Locale-aware formatting for notices: dates in a zone, durations, numbers and lists per language, and plain
text as HTML paragraphs. A leaf module: templates, the authority report and the checks all use it."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

from breachkit.notices.recipients import base_language

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
}
_UNITS = {  # singular, plural of day, hour, minute; "and"; "less than a minute"
    "en": ((("day", "days"), ("hour", "hours"), ("minute", "minutes")), "and", "less than a minute"),
    "de": ((("Tag", "Tage"), ("Stunde", "Stunden"), ("Minute", "Minuten")), "und", "weniger als eine Minute"),
    "fr": ((("jour", "jours"), ("heure", "heures"), ("minute", "minutes")), "et", "moins d'une minute"),
}
_GERMAN_ZONES = {"CET": "MEZ", "CEST": "MESZ"}


def _language(locale: str) -> str:
    return base_language(locale) or "en"


def _zone_label(local: datetime, language: str) -> str:
    name = local.tzname() or ""
    offset = local.utcoffset() or timedelta(0)
    if name == "UTC" or (not offset and name in ("", "GMT")):
        return "UTC"
    if language == "de" and name in _GERMAN_ZONES:
        return _GERMAN_ZONES[name]
    if language == "fr" or not name.isalpha():
        minutes = int(offset.total_seconds() // 60)
        sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
        return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    return name


def format_datetime(value: datetime, zone: str, locale: str = "en", part: str = "datetime") -> str:
    """`value` (aware) in `zone`, e.g. en "28 March 2026, 14:05 CET", de "28. März 2026, 14:05 Uhr (MEZ)",
    fr "28 mars 2026 à 14 h 05 (UTC+1)". `part`: datetime, date or time."""
    if not isinstance(value, datetime):
        raise TypeError(f"localtime needs a datetime, not {type(value).__name__} (guard optional times with if)")
    if value.tzinfo is None:
        raise ValueError("localtime needs a timezone-aware datetime")
    return _format_datetime(value, zone, locale, part)


@functools.lru_cache(maxsize=4096)  # the same incident times recur in every message
def _format_datetime(value: datetime, zone: str, locale: str, part: str) -> str:
    try:
        local = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    language = _language(locale)
    label = _zone_label(local, language)
    if language == "de":
        day, clock = f"{local.day}. {MONTHS['de'][local.month - 1]} {local.year}", f"{local:%H:%M} Uhr ({label})"
        joined = f"{day}, {clock}"
    elif language == "fr":
        first = "1er" if local.day == 1 else str(local.day)
        day, clock = f"{first} {MONTHS['fr'][local.month - 1]} {local.year}", f"{local.hour} h {local:%M} ({label})"
        joined = f"{day} à {clock}"
    elif language == "en":
        day, clock = f"{local.day} {MONTHS['en'][local.month - 1]} {local.year}", f"{local:%H:%M} {label}"
        joined = f"{day}, {clock}"
    else:
        day, clock = f"{local:%Y-%m-%d}", f"{local:%H:%M} ({label})"
        joined = f"{day} {clock}"
    return {"date": day, "time": clock}.get(part, joined)


def format_duration(value: timedelta, locale: str = "en") -> str:
    """The two largest units of `value` (its absolute value), e.g. "3 days and 4 hours", "3 Tage und 4 Stunden"."""
    units, conjunction, tiny = _UNITS.get(_language(locale), _UNITS["en"])
    minutes = int(abs(value).total_seconds() // 60)
    amounts = (minutes // 1440, minutes % 1440 // 60, minutes % 60)
    words = [f"{n} {unit[n != 1]}" for n, unit in zip(amounts, units, strict=True) if n]
    if not words:
        return tiny
    return f"{words[0]} {conjunction} {words[1]}" if len(words) > 1 else words[0]


def format_number(value: int | float, locale: str = "en") -> str:
    grouped = f"{value:,}"
    language = _language(locale)
    if language == "de":
        return grouped.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    if language == "fr":
        return grouped.replace(",", "\u202f").replace(".", ",")
    return grouped


def and_list(items: Iterable[Any], locale: str = "en") -> str:
    words = [str(i) for i in items]
    conjunction = _UNITS.get(_language(locale), _UNITS["en"])[1]
    return ", ".join(words[:-1]) + f" {conjunction} {words[-1]}" if len(words) > 1 else "".join(words)


def paragraphs(text: str) -> Markup:
    """HTML: each blank-line-separated paragraph escaped in <p>, single line breaks as <br>."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", str(text).strip()) if p.strip()]
    return Markup("\n").join(
        Markup("<p>") + Markup("<br>\n").join(escape(line) for line in p.splitlines()) + Markup("</p>")
        for p in parts)


