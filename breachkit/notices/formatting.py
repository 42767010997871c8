"""Locale-aware formatting for notices: dates in a zone, durations, numbers and lists per language, plural forms,
and plain text as HTML paragraphs. A leaf module: templates, the authority report and the checks all use it.

Built in for en, de, fr, nl, it, es and pl (babel is not a dependency: these few rules are written out and
golden-tested); any other language gets ISO-style dates and English words. Conventions followed:

* en "28 March 2026, 14:05 CET"; de "28. März 2026, 14:05 Uhr (MEZ)"; fr "28 mars 2026 à 14 h 05 (UTC+1)";
  nl "28 maart 2026 om 14:05 uur (MET)"; it "28 marzo 2026 alle ore 14:05 (CET)" (the `with_article` filter
  adds "il"/"l'" in front: "l'8 marzo", "l'11 marzo"); es "28 de marzo de 2026 a las 14:05 (CET)"
  ("a la 01:30"); pl "28 marca 2026 r. o godz. 14:05 (CET)" (months in the genitive).
* The ``time`` part is what a sentence "between X and Y" needs: it carries the article where the language puts
  one before an hour (es "las 14:05 (CET)", it "le ore 14:05 (CET)").
* Numbers: en "1,234"; de, nl, it "1.234"; es "1234" / "12.345" (four digits are not grouped, RAE); fr
  "1 234" (narrow no-break space); pl "1234" / "12 345" (no-break space, four digits not grouped).
* Plurals (durations, `plural` filter): one/other, except Polish: one (1), few (2–4, 22–24… but not 12–14),
  many (0, 5–21, 25…).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

from breachkit.locales import base_language

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre",
           "novembre", "dicembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "pl": ("stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
           "października", "listopada", "grudnia"),  # genitive: "28 marca 2026 r."
}
# Plural forms of day, hour, minute (one, other — Polish: one, few, many); "and"; "less than a minute".
_UNITS: dict[str, tuple[tuple[tuple[str, ...], ...], str, str]] = {
    "en": ((("day", "days"), ("hour", "hours"), ("minute", "minutes")), "and", "less than a minute"),
    "de": ((("Tag", "Tage"), ("Stunde", "Stunden"), ("Minute", "Minuten")), "und", "weniger als eine Minute"),
    "fr": ((("jour", "jours"), ("heure", "heures"), ("minute", "minutes")), "et", "moins d'une minute"),
    "nl": ((("dag", "dagen"), ("uur", "uur"), ("minuut", "minuten")), "en", "minder dan een minuut"),
    "it": ((("giorno", "giorni"), ("ora", "ore"), ("minuto", "minuti")), "e", "meno di un minuto"),
    "es": ((("día", "días"), ("hora", "horas"), ("minuto", "minutos")), "y", "menos de un minuto"),
    "pl": ((("dzień", "dni", "dni"), ("godzina", "godziny", "godzin"), ("minuta", "minuty", "minut")), "i",
           "mniej niż minuta"),
}
_ZONE_NAMES = {"de": {"CET": "MEZ", "CEST": "MESZ"}, "nl": {"CET": "MET", "CEST": "MEZT"}}
_OFFSET_ZONES = {"fr"}  # languages that show an offset (UTC+1) rather than the zone's abbreviation
_GROUPING = {"en": (",", 4), "de": (".", 4), "nl": (".", 4), "it": (".", 4), "es": (".", 5), "fr": ("\u202f", 4),
             "pl": ("\u00a0", 5)}  # separator, the number of digits from which it is used
_DECIMAL = {"en": ".", "de": ",", "nl": ",", "it": ",", "es": ",", "fr": ",", "pl": ","}


def _language(locale: str) -> str:
    return base_language(locale) or "en"


def plural_index(n: int, language: str) -> int:
    """Which plural form `n` takes: 0 one, 1 other (Polish: 0 one, 1 few, 2 many; CLDR rules for integers)."""
    n = abs(n)
    if language == "pl":
        if n == 1:
            return 0
        return 1 if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else 2
    if language == "fr":  # 0 and 1 are singular in French
        return 0 if n in (0, 1) else 1
    return 0 if n == 1 else 1


def plural(n: int, forms: tuple[str, ...], locale: str = "en") -> str:
    """The form of `forms` (one, other — Polish: one, few, many) that `n` takes in `locale`'s language."""
    index = plural_index(n, _language(locale))
    return forms[min(index, len(forms) - 1)]


def _zone_label(local: datetime, language: str) -> str:
    name = local.tzname() or ""
    offset = local.utcoffset() or timedelta(0)
    if name == "UTC" or (not offset and name in ("", "GMT")):
        return "UTC"
    if name in _ZONE_NAMES.get(language, {}):
        return _ZONE_NAMES[language][name]
    if language in _OFFSET_ZONES or not name.isalpha():
        minutes = int(offset.total_seconds() // 60)
        sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
        return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    return name


def format_datetime(value: datetime, zone: str, locale: str = "en", part: str = "datetime") -> str:
    """`value` (aware) in `zone`, e.g. en "28 March 2026, 14:05 CET", de "28. März 2026, 14:05 Uhr (MEZ)",
    fr "28 mars 2026 à 14 h 05 (UTC+1)" (the module docstring lists every language). `part`: datetime, date or
    time."""
    if not isinstance(value, datetime):
        raise TypeError(f"localtime needs a datetime, not {type(value).__name__} (guard optional times with if)")
    if value.tzinfo is None:
        raise ValueError("localtime needs a timezone-aware datetime")
    return _format_datetime(value, zone, locale, part)


def _parts(local: datetime, language: str, label: str) -> tuple[str, str, str]:
    """(date, time, date and time) in `language`."""
    month = MONTHS.get(language, MONTHS["en"])[local.month - 1]
    hm = f"{local:%H:%M}"
    if language == "de":
        day, clock = f"{local.day}. {month} {local.year}", f"{hm} Uhr ({label})"
        return day, clock, f"{day}, {clock}"
    if language == "fr":
        first = "1er" if local.day == 1 else str(local.day)
        day, clock = f"{first} {month} {local.year}", f"{local.hour} h {local:%M} ({label})"
        return day, clock, f"{day} à {clock}"
    if language == "nl":
        day, clock = f"{local.day} {month} {local.year}", f"{hm} uur ({label})"
        return day, clock, f"{day} om {clock}"
    if language == "it":
        first = "1°" if local.day == 1 else str(local.day)
        day = f"{first} {month} {local.year}"
        return day, f"le ore {hm} ({label})", f"{day} alle ore {hm} ({label})"
    if language == "es":
        day = f"{local.day} de {month} de {local.year}"
        article = "la" if local.hour == 1 else "las"
        return day, f"{article} {hm} ({label})", f"{day} a {article} {hm} ({label})"
    if language == "pl":
        day = f"{local.day} {month} {local.year} r."
        return day, f"{hm} ({label})", f"{day} o godz. {hm} ({label})"
    if language == "en":
        day, clock = f"{local.day} {month} {local.year}", f"{hm} {label}"
        return day, clock, f"{day}, {clock}"
    day, clock = f"{local:%Y-%m-%d}", f"{hm} ({label})"
    return day, clock, f"{day} {clock}"


@functools.lru_cache(maxsize=4096)  # the same incident times recur in every message
def _format_datetime(value: datetime, zone: str, locale: str, part: str) -> str:
    try:
        local = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    language = _language(locale)
    known = language if language in MONTHS else ""
    day, clock, joined = _parts(local, known, _zone_label(local, language))
    return {"date": day, "time": clock}.get(part, joined)


def with_article(formatted_date: str, locale: str = "en") -> str:
    """Italian: the definite article a date needs in a sentence — "il 24 marzo", "il 1° aprile", "l'8 marzo",
    "l'11 marzo" (elided before a vowel sound). Other languages: the text unchanged."""
    if _language(locale) != "it":
        return formatted_date
    return ("l'" if re.match(r"(8|11)\D", formatted_date + " ") else "il ") + formatted_date


def format_duration(value: timedelta, locale: str = "en") -> str:
    """The two largest units of `value` (its absolute value), e.g. "3 days and 4 hours", "3 Tage und 4 Stunden",
    "2 dni i 5 godzin"."""
    language = _language(locale)
    units, conjunction, tiny = _UNITS.get(language, _UNITS["en"])
    minutes = int(abs(value).total_seconds() // 60)
    amounts = (minutes // 1440, minutes % 1440 // 60, minutes % 60)
    words = [f"{n} {plural(n, unit, language)}" for n, unit in zip(amounts, units, strict=True) if n]
    if not words:
        return tiny
    return f"{words[0]} {conjunction} {words[1]}" if len(words) > 1 else words[0]


def format_number(value: int | float, locale: str = "en") -> str:
    language = _language(locale)
    separator, from_digits = _GROUPING.get(language, _GROUPING["en"])
    text = f"{value:,}"
    whole, _, fraction = text.partition(".")
    if len(whole.lstrip("-").replace(",", "")) < from_digits:
        whole = whole.replace(",", "")
    whole = whole.replace(",", separator)
    return whole + (_DECIMAL.get(language, ".") + fraction if fraction else "")


def and_list(items: Iterable[Any], locale: str = "en") -> str:
    words = [str(i) for i in items]
    language = _language(locale)
    conjunction = _UNITS.get(language, _UNITS["en"])[1]
    if len(words) < 2:
        return "".join(words)
    if language == "es" and re.match(r"h?i(?![aeiouáéíóú])", words[-1], re.I):  # "y" → "e" before an i sound
        conjunction = "e"
    return ", ".join(words[:-1]) + f" {conjunction} {words[-1]}"


def paragraphs(text: str) -> Markup:
    """HTML: each blank-line-separated paragraph escaped in <p>, single line breaks as <br>."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", str(text).strip()) if p.strip()]
    return Markup("\n").join(
        Markup("<p>") + Markup("<br>\n").join(escape(line) for line in p.splitlines()) + Markup("</p>")
        for p in parts)
