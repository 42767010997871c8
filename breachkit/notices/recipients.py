"""The recipient list of subject notices: the subject table (``breachkit.subjects.schema``) read and validated.

`read_recipients` reads CSV, Parquet or JSON lines with the subject table's columns (only ``subject_id`` and
``email`` are required) and sorts every row into *accepted* or *rejected*, each rejection a `Problem` naming the
row (the file's line for CSV and JSON lines, the 1-based row for Parquet) and the column:

* a missing or malformed email address (email-validator syntax check, no DNS lookup);
* a locale that is not a syntactically valid BCP 47 tag (a valid tag without a template of its own is accepted
  and falls back — see `choose_locale` — which is reported in `notes`);
* a duplicate: the same ``subject_id`` or the same normalised address as an earlier row (the later rows are
  rejected and name the first one).

Cosmetic problems (a country that is not ISO 3166-1 alpha-2, unknown data categories, an unreadable ``minor`` or
time) do not stop a person from being told about the breach: they are `notes` and the value is left out.

Also here: `header_value`, which makes any text safe for an email header (no CR/LF or other control characters),
and the locale helpers shared with the template environment.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import json
import math
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import email_validator
import numpy as np
import pandas as pd

from breachkit.errors import InputError, Location, Problem
from breachkit.incidents.model import DATA_CATEGORIES
from breachkit.locales import base_language, canonical_locale
from breachkit.subjects import schema as S
from breachkit.subjects.roles import Role

DATA_SUBJECT, COMPROMISED, ACTOR = Role.DATA_SUBJECT.value, Role.COMPROMISED.value, Role.ACTOR.value
NOTIFIED_ROLES = (DATA_SUBJECT, COMPROMISED)  # who is written to (the actor's own accounts are not)

# --- header safety -------------------------------------------------------------------------------------------

# C0 and C1 controls (CR, LF, TAB, NUL, NEL…), Unicode line/paragraph separators and bidirectional overrides.
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


def header_value(value: str) -> str:
    """`value` fit for an email header: control characters (CR and LF included) become spaces, runs of
    whitespace collapse to one space, the ends are trimmed. ``"Bob\\r\\nBcc: x"`` → ``"Bob Bcc: x"``."""
    return " ".join(_HEADER_UNSAFE.sub(" ", value).split())


# --- locales -------------------------------------------------------------------------------------------------

class Fallback(enum.StrEnum):
    """How a recipient's locale was matched to the available templates."""

    EXACT = "exact"  # a template for the tag itself (de-AT → de-AT)
    BASE = "base"  # the base language (de-AT → de)
    DEFAULT = "default"  # NoticesConfig.default_locale (no or unsupported locale)
    ENGLISH = "en"  # the last resort


@dataclass(frozen=True)
class LocaleChoice:
    requested: str  # as given ("" when the row had none)
    locale: str  # the template locale used
    fallback: Fallback

    def describe(self) -> str:
        shown = self.requested or "(no locale)"
        return {Fallback.EXACT: f"{self.locale}", Fallback.BASE: f"{shown} → {self.locale} (base language)",
                Fallback.DEFAULT: f"{shown} → {self.locale} (default locale)",
                Fallback.ENGLISH: f"{shown} → {self.locale} (last resort)"}[self.fallback]


def choose_locale(requested: str, available: Collection[str], default: str = "en") -> LocaleChoice:
    """Exact tag → base language → `default` (then its base language) → ``en``. Matching ignores case.

    Raises ValueError for a tag that is not BCP 47 and LookupError when not even ``en`` is available."""
    by_key = {a.lower(): a for a in available}
    tag = requested.strip()
    if tag:
        canonical = canonical_locale(tag)
        if canonical is None:
            raise ValueError(f"not a BCP 47 language tag: {requested!r}")
        if canonical.lower() in by_key:
            return LocaleChoice(requested, by_key[canonical.lower()], Fallback.EXACT)
        base = base_language(canonical)
        if base is not None and base in by_key:
            return LocaleChoice(requested, by_key[base], Fallback.BASE)
    for candidate in (default.lower(), base_language(default) or ""):
        if candidate in by_key:
            return LocaleChoice(requested, by_key[candidate], Fallback.DEFAULT)
    if "en" in by_key:
        return LocaleChoice(requested, by_key["en"], Fallback.ENGLISH)
    raise LookupError("no template locale available (not even en)")


# --- recipients ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    """One accepted row of the subject table, normalised."""

    row: int  # line in the file (CSV, JSON lines) or 1-based row (Parquet, frames)
    subject_id: str
    email: str  # normalised by email-validator (domain lower-cased, IDNA-checked)
    name: str = ""  # as given (may hold anything: templates escape it, header_value cleans it for headers)
    phone: str = ""
    locale: str = ""  # canonical BCP 47 tag, "" when none was given
    country: str = ""  # ISO 3166-1 alpha-2, "" when unknown
    account_type: str = ""
    minor: bool = False
    categories: tuple[str, ...] = ()  # keys of DATA_CATEGORIES
    identifiers: tuple[str, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    records: int | None = None
    roles: tuple[str, ...] = (DATA_SUBJECT,)  # subjects.roles: data_subject and/or compromised_account
    requests: int | None = None  # requests made with their account (a compromised account)

    @property
    def data_subject(self) -> bool:
        return DATA_SUBJECT in self.roles

    @property
    def compromised(self) -> bool:
        return COMPROMISED in self.roles

    @property
    def notice_kind(self) -> str:
        """Which notice this person gets: "breach" (their data was exposed), "compromise" (their account was used
        by someone else) or "breach_and_compromise" (both, in one message)."""
        return ("breach_and_compromise" if self.data_subject and self.compromised
                else "compromise" if self.compromised else "breach")


FRAME_COLUMNS = ("row", *S.SUBJECT_COLUMNS)


@dataclass(frozen=True)
class Recipients:
    source: str
    recipients: tuple[Recipient, ...]
    rejected: list[Problem] = field(default_factory=list)  # one or more per rejected row
    notes: list[Problem] = field(default_factory=list)  # information (locale fallbacks, values left out)
    skipped: list[Problem] = field(default_factory=list)  # rows nobody writes to: the actor's own accounts

    def __iter__(self) -> Iterator[Recipient]:
        return iter(self.recipients)

    def __len__(self) -> int:
        return len(self.recipients)

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({p.location.line for p in self.rejected if p.location.line is not None})

    @property
    def frame(self) -> pd.DataFrame:
        """The accepted rows as a frame: column ``row`` plus the subject table's columns (lists as lists)."""
        rows = [{"row": r.row, S.SUBJECT_ID: r.subject_id, S.EMAIL: r.email, S.NAME: r.name, S.PHONE: r.phone,
                 S.LOCALE: r.locale, S.COUNTRY: r.country, S.ACCOUNT_TYPE: r.account_type, S.MINOR: r.minor,
                 S.CATEGORIES: list(r.categories), S.IDENTIFIERS: list(r.identifiers), S.FIRST_SEEN: r.first_seen,
                 S.LAST_SEEN: r.last_seen, S.RECORDS: r.records, S.ROLES: list(r.roles), S.REQUESTS: r.requests}
                for r in self.recipients]
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))


Format = Literal["auto", "csv", "parquet", "jsonl"]
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
                                ".ndjson": "jsonl", ".json": "jsonl"}


def read_recipients(path: Path, *, fmt: Format = "auto", locales: Collection[str] | None = None,
                    default_locale: str = "en") -> Recipients:
    """Read and validate a subject table. `locales`: the template locales available (to report fallbacks).

    Raises InputError (naming the file) when it cannot be read or lacks a required column."""
    kind = _SUFFIXES.get(path.suffix.lower()) if fmt == "auto" else fmt
    if kind is None:
        raise InputError("unknown recipient table format", path=path, hint="use .csv, .parquet or .jsonl")
    problems: list[Problem] = []
    try:
        if kind == "csv":
            columns, records = _read_csv(path)
        elif kind == "parquet":
            frame = pd.read_parquet(path)
            columns = [str(c) for c in frame.columns]
            records = [(i + 1, {str(k): v for k, v in row.items()}) for i, row in enumerate(frame.to_dict("records"))]
        else:
            columns, records, problems = _read_jsonl(path)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise InputError(f"cannot read the recipient table: {exc}", path=path) from None
    missing = [c for c in S.REQUIRED_SUBJECT_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
                         path=path, hint=f"the subject table's columns are: {', '.join(S.SUBJECT_COLUMNS)}")
    result = validate_records(records, source=str(path), locales=locales, default_locale=default_locale)
    return Recipients(result.source, result.recipients, problems + result.rejected, result.notes, result.skipped)


def recipients_from_frame(frame: pd.DataFrame, *, source: str = "<subjects>", locales: Collection[str] | None = None,
                          default_locale: str = "en") -> Recipients:
    """Validate an in-memory subject table (rows numbered from 1)."""
    missing = [c for c in S.REQUIRED_SUBJECT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}", path=source)
    records = [(i + 1, {str(k): v for k, v in row.items()}) for i, row in enumerate(frame.to_dict("records"))]
    return validate_records(records, source=source, locales=locales, default_locale=default_locale)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    records: list[tuple[int, dict[str, Any]]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        line = reader.line_num + 1
        for row in reader:
            records.append((line, row))
            line = reader.line_num + 1
    return columns, records


def _read_jsonl(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]], list[Problem]]:
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(Problem(f"not valid JSON: {exc.msg}", Location(str(path), number)))
                continue
            if not isinstance(value, dict):
                problems.append(Problem("not a JSON object", Location(str(path), number)))
                continue
            seen.update(value)
            records.append((number, value))
    return sorted(seen) if records else list(S.REQUIRED_SUBJECT_COLUMNS), records, problems


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(S.LIST_SEPARATOR) if v.strip()]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, Iterable):
        return [_text(v) for v in value if _text(v)]
    return [_text(value)]


_TRUE, _FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f", ""}


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return bool(value)
    text = _text(value).lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        stamp = value
    else:
        text = _text(value)
        if not text:
            return None
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError("has no time zone offset")
    return stamp.astimezone(UTC)


def _int(value: Any) -> int | None:
    text = _text(value)
    if not text:
        return None
    number = float(text)
    if number < 0 or not number.is_integer():
        raise ValueError("not a non-negative whole number")
    return int(number)


def validate_records(records: Iterable[tuple[int, Mapping[str, Any]]], *, source: str,
                     locales: Collection[str] | None = None, default_locale: str = "en") -> Recipients:
    """Validate (row number, record) pairs of the subject table; pure except for the address syntax check. Rows
    whose roles name neither a data subject nor a compromised account (the actor's own accounts) are skipped, not
    rejected; a table without roles is read as data subjects only."""
    check = RowValidator(source, locales, default_locale)
    accepted = tuple(r for r in (check(row, record) for row, record in records) if r is not None)
    return Recipients(source, accepted, check.rejected, check.notes, check.skipped)


NOTES_KEPT = 200  # notes kept by name per pass; the rest are counted (each message's entry names its locale)


class _Notes(list[Problem]):
    """The first NOTES_KEPT notes; `more` counts the rest (a per-person note, such as a language without
    templates, must not grow memory with a million people: the language report counts them per group)."""

    def __init__(self) -> None:
        super().__init__()
        self.more = 0

    def append(self, problem: Problem) -> None:
        if len(self) < NOTES_KEPT:
            super().append(problem)
        else:
            self.more += 1

    def closed(self, source: str) -> list[Problem]:
        """The notes, ending with how many more there were."""
        tail = [Problem(f"… and {self.more} more notes like these (summary.json's messages list every person's "
                        "language)", Location(source))] if self.more else []
        return [*self, *tail]


class _FirstRows:
    """key → the row it was first accepted in, in about 24 bytes per key however long the key: a 120-bit BLAKE2b
    digest (plus a 0x01 byte, so that numpy's fixed-width bytes never drop a trailing NUL) and the row, in sorted
    numpy arrays, with the latest keys in a small dict merged in every FLUSH keys. A dict of the strings took
    about ten times as much per person."""

    FLUSH = 8192

    def __init__(self) -> None:
        self._recent: dict[bytes, int] = {}
        self._keys = np.empty(0, dtype="S16")
        self._rows = np.empty(0, dtype=np.int64)

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=15).digest() + b"\x01"

    def get(self, key: str) -> int | None:
        digest = self._digest(key)
        row = self._recent.get(digest)
        if row is not None or not len(self._keys):
            return row
        i = int(np.searchsorted(self._keys, digest))
        return int(self._rows[i]) if i < len(self._keys) and self._keys[i] == digest else None

    def add(self, key: str, row: int) -> None:
        self._recent[self._digest(key)] = row
        if len(self._recent) >= self.FLUSH:
            keys = np.concatenate([self._keys, np.array(list(self._recent), dtype="S16")])
            rows = np.concatenate([self._rows, np.fromiter(self._recent.values(), dtype=np.int64)])
            order = np.argsort(keys, kind="stable")
            self._keys, self._rows = keys[order], rows[order]
            self._recent = {}


class RowValidator:
    """`validate_records` one row at a time: what it keeps between rows is the duplicate check's keys (each
    accepted subject_id and normalised address, as digests: `_FirstRows`), the problems found (notes: the first
    NOTES_KEPT, then counted)."""

    def __init__(self, source: str, locales: Collection[str] | None, default_locale: str) -> None:
        self.source, self.locales, self.default_locale = source, locales, default_locale
        self.rejected: list[Problem] = []
        self._notes = _Notes()
        self.skipped: list[Problem] = []
        self.first_id = _FirstRows()
        self.first_email = _FirstRows()

    @property
    def notes(self) -> list[Problem]:
        return self._notes.closed(self.source)

    def __call__(self, row: int, record: Mapping[str, Any]) -> Recipient | None:
        source, notes = self.source, self._notes

        def at(column: str, row: int = row) -> Location:
            return Location(source, row, column)

        roles = _list(record.get(S.ROLES)) or [DATA_SUBJECT]
        unknown_roles = [r for r in roles if r not in (*NOTIFIED_ROLES, ACTOR)]
        if unknown_roles:
            notes.append(Problem(f"unknown roles left out: {', '.join(unknown_roles)}", at(S.ROLES)))
        if not set(roles) & set(NOTIFIED_ROLES):
            self.skipped.append(Problem("the actor's own account (neither a data subject nor compromised): not "
                                        "written to", at(S.ROLES)))
            return None
        errors: list[Problem] = []
        subject_id = _text(record.get(S.SUBJECT_ID))
        if not subject_id:
            errors.append(Problem("missing subject_id", at(S.SUBJECT_ID)))
        elif (first := self.first_id.get(subject_id)) is not None:
            errors.append(Problem(f"duplicate subject_id (first in row {first})", at(S.SUBJECT_ID)))
        raw_email, email = _text(record.get(S.EMAIL)), ""
        if not raw_email:
            errors.append(Problem("missing email address", at(S.EMAIL)))
        else:
            try:
                email = email_validator.validate_email(raw_email, check_deliverability=False).normalized
            except email_validator.EmailNotValidError as exc:
                errors.append(Problem(f"not a valid email address: {exc}", at(S.EMAIL)))
            else:
                if (same := self.first_email.get(email.casefold())) is not None:
                    errors.append(Problem(f"duplicate email address (same as row {same})", at(S.EMAIL)))
        raw_locale = _text(record.get(S.LOCALE))
        locale = canonical_locale(raw_locale) if raw_locale else ""
        if locale is None:
            errors.append(Problem("not a BCP 47 language tag (e.g. de, de-AT, fr)", at(S.LOCALE)))
        elif self.locales is not None:
            choice = choose_locale(locale, self.locales, self.default_locale)
            if choice.fallback is not Fallback.EXACT:
                notes.append(Problem(f"no {locale or 'locale'} template: {choice.describe()}", at(S.LOCALE)))
        if errors:
            self.rejected.extend(errors)
            return None
        assert locale is not None
        self.first_id.add(subject_id, row)
        self.first_email.add(email.casefold(), row)
        return _recipient(row, record, subject_id, email, locale, notes, at)


def _recipient(row: int, record: Mapping[str, Any], subject_id: str, email: str, locale: str,
               notes: list[Problem], at: Any) -> Recipient:
    country = _text(record.get(S.COUNTRY)).upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        notes.append(Problem("country is not an ISO 3166-1 alpha-2 code; left out", at(S.COUNTRY)))
        country = ""
    categories = _list(record.get(S.CATEGORIES))
    unknown = [c for c in categories if c not in DATA_CATEGORIES]
    if unknown:
        notes.append(Problem(f"unknown data categories left out: {', '.join(unknown)}", at(S.CATEGORIES)))
    minor = _bool(record.get(S.MINOR))
    if minor is None:
        notes.append(Problem("minor is not true/false; taken as false", at(S.MINOR)))
    times: dict[str, datetime | None] = {}
    for column in (S.FIRST_SEEN, S.LAST_SEEN):
        try:
            times[column] = _time(record.get(column))
        except (TypeError, ValueError) as exc:
            notes.append(Problem(f"not an ISO 8601 time ({exc}); left out", at(column)))
            times[column] = None
    numbers: dict[str, int | None] = {}
    for column in (S.RECORDS, S.REQUESTS):
        try:
            numbers[column] = _int(record.get(column))
        except (TypeError, ValueError):
            notes.append(Problem(f"{column} is not a whole number; left out", at(column)))
            numbers[column] = None
    roles = tuple(r for r in NOTIFIED_ROLES if r in (_list(record.get(S.ROLES)) or [DATA_SUBJECT]))
    return Recipient(row=row, subject_id=subject_id, email=email, name=_text(record.get(S.NAME)),
                     phone=_text(record.get(S.PHONE)), locale=locale, country=country,
                     account_type=_text(record.get(S.ACCOUNT_TYPE)), minor=bool(minor),
                     categories=tuple(sorted({c for c in categories if c in DATA_CATEGORIES})),
                     identifiers=tuple(_list(record.get(S.IDENTIFIERS))), first_seen=times[S.FIRST_SEEN],
                     last_seen=times[S.LAST_SEEN], records=numbers[S.RECORDS], roles=roles,
                     requests=numbers[S.REQUESTS])
