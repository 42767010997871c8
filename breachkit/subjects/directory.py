"""The user directory and the device registry → normalised frames, with every bad row reported.

`read_directory` reads the configured source (`tabular` does the formats), renames columns through
`DirectoryConfig.key`/`mapping`, and normalises vectorised (Arrow compute, one pass per column):

* ids stripped; emails stripped, lower-cased and NFC; empty text is missing;
* emails checked with email-validator (no DNS): common ASCII addresses by one regular expression that only
  accepts what email-validator accepts plus one check per distinct domain, everything else address by address;
* `birth_date` ISO (``YYYY-MM-DD``) or a typed date; `minor` is true when the birth date makes the person
  under 18 on `now`'s date, or when a `minor` column says so (either one suffices; unknown stays missing);
* `country` upper-cased ISO 3166-1 alpha-2 form, `locale` a language tag with canonical case (``de-AT``).

Bad rows never stop the read: a row without a key, a conflicting duplicate of an earlier id, a record that is
not UTF-8 or not well-formed is left out; an invalid email, birth date, country, locale or minor flag clears
that value and keeps the row. Identical duplicates collapse silently. Each case is one `RowProblem`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email

from breachkit.config import DirectoryConfig
from breachkit.errors import ConfigError, InputError, Location, Problem
from breachkit.incidents.model import DATA_CATEGORIES
from breachkit.subjects import schema
from breachkit.subjects.tabular import (
    ENCODING,
    MALFORMED,
    SEARCH_PRODUCTS,
    RawTable,
    RowProblem,
    Source,
    read_source,
    resolve_source,
    search_product,
)

if TYPE_CHECKING:
    from breachkit.subjects.tabular import SearchClient

__all__ = ["BIRTH_DATE", "CATEGORIES_HELD",
           "DEVICE_COLUMNS", "DEVICE_ID", "DIRECTORY_COLUMNS", "ENCODING", "IMEI", "MALFORMED", "OWNER",
           "STATUS", "DirectoryRead", "RowProblem", "index_products", "normalise_devices", "normalise_directory",
           "read_devices", "read_directory"]

BIRTH_DATE = "birth_date"
STATUS = "status"
# Data categories the operator holds about the person (";"-separated DATA_CATEGORIES keys): what an account
# takeover puts at risk (join.at_risk_in_taken_over_accounts).
CATEGORIES_HELD: Final = "categories_held"
DIRECTORY_COLUMNS: Final = (schema.SUBJECT_ID, schema.EMAIL, schema.NAME, schema.PHONE, schema.LOCALE,
                            schema.COUNTRY, schema.ACCOUNT_TYPE, BIRTH_DATE, schema.MINOR, STATUS, CATEGORIES_HELD)
DEVICE_ID, IMEI, OWNER = "device_id", "imei", "owner_id"
DEVICE_COLUMNS: Final = (DEVICE_ID, IMEI, OWNER)
DEVICE_SOURCE_COLUMNS: Final = {DEVICE_ID: "device_id", IMEI: "imei", OWNER: "owner_user_id"}
DEVICES_DEFAULT_TABLE = "devices"

# RowProblem.reason values (besides tabular.ENCODING and tabular.MALFORMED)
MISSING_KEY = "missing_key"
MISSING_OWNER = "missing_owner"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
INVALID_EMAIL = "invalid_email"
INVALID_BIRTH_DATE = "invalid_birth_date"
INVALID_COUNTRY = "invalid_country"
INVALID_LOCALE = "invalid_locale"
INVALID_MINOR = "invalid_minor"
INVALID_CATEGORIES = "invalid_categories"

_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_FAST_EMAIL = rf"^{_ATEXT}+(\.{_ATEXT}+)*@[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"
_TRUE = pa.array(["true", "1", "yes", "y", "t"])
_FALSE = pa.array(["false", "0", "no", "n", "f"])
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?(?:-([A-Za-z0-9]{5,8}))*$")
_NULL_TEXT = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class DirectoryRead:
    """A normalised directory (`DIRECTORY_COLUMNS`) or device registry (`DEVICE_COLUMNS`) frame."""

    frame: pd.DataFrame
    rejected: tuple[RowProblem, ...]  # every bad row, in source order
    source: str  # what was read, for reports ("csv file /…/directory.csv"); no password
    rows_read: int  # records found in the source
    absent: tuple[str, ...] = ()  # optional columns the source does not have (left empty)

    @property
    def dropped(self) -> int:
        return sum(1 for p in self.rejected if p.dropped)

    def problems(self) -> list[Problem]:
        """The rejections as located `Problem`s (for an error's or a report's problem list)."""
        return [Problem(f"{p.reason}: {p.message}" + (f" [id {p.key}]" if p.key else "")
                        + (f" (row {p.row})" if p.line is None and p.row else "")
                        + ("; row left out" if p.dropped else "; value cleared, row kept"),
                        Location(self.source, p.line, p.column)) for p in self.rejected]


def index_products(config: DirectoryConfig) -> tuple[str | None, str | None]:
    """The search engine ("elasticsearch" or "opensearch") whose index holds the directory, and the one holding
    the device registry; None where it is not an index. The caller hands `read_directory` / `read_devices` a
    client of that product."""
    directory = search_product(config.source, config.format) if config.source is not None else None
    devices = _devices_index(config.devices)
    return directory, devices[0] if devices is not None else None


def _devices_index(location: str | None) -> tuple[str, str] | None:
    """(product, index) of a device registry given as ``elasticsearch:INDEX`` / ``opensearch:INDEX``, else None."""
    product, sep, index = (location or "").partition(":")
    return (product, index) if sep and product in SEARCH_PRODUCTS and not index.startswith("//") else None


def read_directory(config: DirectoryConfig, base_dir: Path, *, now: datetime,
                   search_client: SearchClient | None = None) -> DirectoryRead:
    """Read and normalise the configured user directory (relative paths from `base_dir`; an index with
    `search_client`, a client of its product).

    Raises ConfigError for an unusable configuration, InputError naming the file (or table/index) when the
    source cannot be read at all or lacks the key or email column, ServiceError for a database,
    Elasticsearch or OpenSearch failure. Bad rows are in `.rejected`; they never raise.
    """
    if config.source is None:
        raise ConfigError("no user directory is configured", field="subjects.directory.source",
                          hint='set source = "directory.csv" (or a SQLAlchemy URL, or "elasticsearch" or '
                               '"opensearch" with an index)')
    unknown = sorted(set(config.mapping) - set(DIRECTORY_COLUMNS) - {schema.SUBJECT_ID})
    if unknown or schema.SUBJECT_ID in config.mapping:
        raise ConfigError(f"cannot map {', '.join(unknown or [schema.SUBJECT_ID])}",
                          field="subjects.directory.mapping",
                          hint=f"the key column is `key`; mappable: {', '.join(DIRECTORY_COLUMNS[1:])}")
    columns = {c: config.mapping.get(c, c) for c in DIRECTORY_COLUMNS}
    columns[schema.SUBJECT_ID] = config.key
    source = resolve_source(config.source, config.format, base_dir, table=config.table, index=config.index)
    raw = read_source(source, list(columns.values()), config.key, search_client=search_client)
    required = {schema.SUBJECT_ID, schema.EMAIL, *config.mapping}
    absent = _check_columns(source, raw, columns, required)
    frame, problems = normalise_directory(raw.data, columns, now=now, lines=raw.lines)
    return DirectoryRead(frame, _in_order(raw.problems + problems), source.describe(),
                         raw.data.num_rows + len(raw.problems), tuple(absent))


def read_devices(config: DirectoryConfig, base_dir: Path, *,
                 search_client: SearchClient | None = None) -> DirectoryRead | None:
    """Read the device registry (`config.devices`) or None when none is configured.

    `devices` is a file (format by extension), a SQLAlchemy URL (table after ``#``, default ``devices``),
    ``elasticsearch:INDEX`` or ``opensearch:INDEX``. Columns: device_id, imei, owner_user_id (at least one of
    the first two per row).
    """
    if not config.devices:
        return None
    location = config.devices
    in_index = _devices_index(location)
    if in_index is not None:
        product, index = in_index
        source = resolve_source(product, product, base_dir, index=index)
    elif "://" in location:
        url, _, table = location.partition("#")
        source = resolve_source(url, "sql", base_dir, table=table or DEVICES_DEFAULT_TABLE)
    else:
        source = resolve_source(location, "auto", base_dir)
    raw = read_source(source, list(DEVICE_SOURCE_COLUMNS.values()), DEVICE_SOURCE_COLUMNS[DEVICE_ID],
                      search_client=search_client)
    absent = _check_columns(source, raw, DEVICE_SOURCE_COLUMNS, {OWNER})
    if len(absent) == 2:
        raise InputError("the device registry has neither a device_id nor an imei column", path=source.describe())
    frame, problems = normalise_devices(raw.data, lines=raw.lines)
    return DirectoryRead(frame, _in_order(raw.problems + problems), source.describe(),
                         raw.data.num_rows + len(raw.problems), tuple(absent))


def _in_order(problems: tuple[RowProblem, ...]) -> tuple[RowProblem, ...]:
    return tuple(sorted(problems, key=lambda p: p.line or p.row or 0))


def _check_columns(source: Source, raw: RawTable, columns: Mapping[str, str], required: set[str]) -> list[str]:
    missing = [columns[c] for c in columns if c in required and columns[c] not in raw.data.column_names]
    if missing:
        raise InputError(f"no column {', '.join(missing)}", path=source.describe(),
                         hint=f"columns found: {', '.join(raw.columns) or 'none'}; set key / mapping in "
                              "[subjects.directory]")
    return [c for c in columns if columns[c] not in raw.data.column_names]


# ----------------------------------------------------------------------------------------- the core


def normalise_directory(table: pa.Table, columns: Mapping[str, str], *, now: datetime,
                        lines: np.ndarray | None = None) -> tuple[pd.DataFrame, tuple[RowProblem, ...]]:
    """Directory rows (Arrow, source column names) → (`DIRECTORY_COLUMNS` frame sorted by subject_id, problems).

    `columns` maps each directory column to its source column; `lines` are the records' physical lines.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(UTC).date()
    rows = _Rows(table, lines, columns.get(schema.SUBJECT_ID, schema.SUBJECT_ID))

    def get(name: str) -> pa.Array:
        source = columns.get(name, name)
        return table.column(source) if source in table.column_names else pa.nulls(len(table))

    out: dict[str, pa.Array] = {c: _text(get(c)) for c in (schema.SUBJECT_ID, schema.NAME, schema.PHONE,
                                                           schema.ACCOUNT_TYPE, STATUS)}
    out[schema.EMAIL] = _lower_nfc(_text(get(schema.EMAIL)))
    country_text, locale_text = _text(get(schema.COUNTRY)), _text(get(schema.LOCALE))
    out[schema.COUNTRY] = _distinct(country_text, _country)
    out[schema.LOCALE] = _distinct(locale_text, _locale)
    birth, born_text = _birth_dates(get(BIRTH_DATE), today)
    out[BIRTH_DATE] = birth
    held_text = _text(get(CATEGORIES_HELD))
    out[CATEGORIES_HELD] = _distinct(held_text, _categories)
    flag, flag_text = _flags(get(schema.MINOR))
    year, month, day = pc.year(birth), pc.month(birth), pc.day(birth)
    anniversary = pc.add(pc.multiply(pc.add(year, 18), 10_000), pc.add(pc.multiply(month, 100), day))
    by_birth = pc.greater(anniversary, today.year * 10_000 + today.month * 100 + today.day)
    out[schema.MINOR] = pc.or_(pc.coalesce(by_birth, flag), pc.coalesce(flag, by_birth))  # either; unknown if both

    keep = rows.require(out[schema.SUBJECT_ID], MISSING_KEY, "no id")
    keep &= rows.deduplicate(out, DIRECTORY_COLUMNS, (schema.SUBJECT_ID,), keep)
    email_errors = _email_errors(out[schema.EMAIL])
    checks: list[tuple[str, str, pa.Array, pa.Array | str]] = [
        (schema.EMAIL, INVALID_EMAIL, pc.is_valid(email_errors), email_errors),
        (BIRTH_DATE, INVALID_BIRTH_DATE, pc.and_(pc.is_valid(born_text), pc.is_null(birth)),
         f"not a date (YYYY-MM-DD) from 1900 to {today.isoformat()}"),
        (schema.COUNTRY, INVALID_COUNTRY, pc.and_(pc.is_valid(country_text), pc.is_null(out[schema.COUNTRY])),
         "not a two-letter country code"),
        (schema.LOCALE, INVALID_LOCALE, pc.and_(pc.is_valid(locale_text), pc.is_null(out[schema.LOCALE])),
         "not a language tag (de, de-AT)"),
        (schema.MINOR, INVALID_MINOR, pc.and_(pc.is_valid(flag_text), pc.is_null(flag)), "not true or false"),
        (CATEGORIES_HELD, INVALID_CATEGORIES, pc.and_(pc.is_valid(held_text), pc.is_null(out[CATEGORIES_HELD])),
         f"not data categories separated by ';' ({', '.join(DATA_CATEGORIES)})"),
    ]
    for column, reason, bad, message in checks:
        mask = _mask(bad) & keep
        rows.report(mask, reason, message, column=column, dropped=False)
        if column == schema.EMAIL:
            out[column] = pc.if_else(pa.array(mask), _NULL_TEXT, out[column])
    frame = _frame(out, DIRECTORY_COLUMNS, keep)
    if not frame[schema.SUBJECT_ID].is_monotonic_increasing:
        frame = frame.sort_values(schema.SUBJECT_ID, kind="stable", ignore_index=True)
    return frame, rows.sorted_problems()


def normalise_devices(table: pa.Table, *, lines: np.ndarray | None = None
                      ) -> tuple[pd.DataFrame, tuple[RowProblem, ...]]:
    """Device registry rows (device_id, imei, owner_user_id) → (`DEVICE_COLUMNS` frame, problems).

    IMEIs lose spaces and hyphens. A row needs an owner and a device id or IMEI; a device id or IMEI listed
    again with other data is a conflicting duplicate (the first row wins)."""
    rows = _Rows(table, lines, DEVICE_SOURCE_COLUMNS[DEVICE_ID])

    def get(name: str) -> pa.Array:
        source = DEVICE_SOURCE_COLUMNS[name]
        return _text(table.column(source) if source in table.column_names else pa.nulls(len(table)))

    out = {DEVICE_ID: get(DEVICE_ID), OWNER: get(OWNER),
           IMEI: _text(pc.replace_substring_regex(get(IMEI), r"[\s-]", ""))}
    keep = rows.require(pc.coalesce(out[DEVICE_ID], out[IMEI]), MISSING_KEY, "neither device id nor IMEI")
    keep &= rows.require(out[OWNER], MISSING_OWNER, "no owner", column=DEVICE_SOURCE_COLUMNS[OWNER])
    keep &= rows.deduplicate(out, DEVICE_COLUMNS, (DEVICE_ID, IMEI), keep)
    return _frame(out, DEVICE_COLUMNS, keep), rows.sorted_problems()


class _Rows:
    """Problem bookkeeping for one table: row numbers, lines and keys of flagged rows."""

    def __init__(self, table: pa.Table, lines: np.ndarray | None, key_column: str) -> None:
        self.lines = lines
        self.keys = table.column(key_column) if key_column in table.column_names else None
        self.problems: list[RowProblem] = []

    def report(self, mask: np.ndarray, reason: str, message: str | pa.Array, *, column: str | None = None,
               dropped: bool = True, details: list[str] | None = None) -> None:
        index = np.flatnonzero(mask)
        if not len(index):
            return
        keys = self.keys.take(pa.array(index)).to_pylist() if self.keys is not None else [None] * len(index)
        texts = (details if details is not None else [message] * len(index) if isinstance(message, str)
                 else message.take(pa.array(index)).to_pylist())
        for i, key, text in zip(index.tolist(), keys, texts, strict=True):
            line = None if self.lines is None else int(self.lines[i])
            key = key.strip() if isinstance(key, str) and key.strip() else None
            self.problems.append(RowProblem(reason, str(text), row=i + 1, line=line, key=key, column=column,
                                            dropped=dropped))

    def require(self, values: pa.Array, reason: str, message: str, column: str | None = None) -> np.ndarray:
        missing = _mask(pc.is_null(values))
        self.report(missing, reason, message, column=column)
        return ~missing

    def deduplicate(self, out: Mapping[str, pa.Array], columns: tuple[str, ...], keys: tuple[str, ...],
                    keep: np.ndarray) -> np.ndarray:
        """Rows to keep: identical repeats collapse silently; a key seen again with other data is reported."""
        result = np.ones(len(keep), dtype=bool)
        for key in keys:
            values = pc.if_else(pa.array(keep & result), out[key], _NULL_TEXT)
            present = pc.drop_null(values)
            if _increasing(present) or len(pc.unique(present)) == len(present):
                continue
            frame = _frame(out, columns, None)
            frame["_row"] = np.arange(len(frame))
            shared = frame[frame[key].duplicated(keep=False) & (keep & result)]
            repeat = shared.duplicated(subset=list(columns), keep="first")
            result[shared["_row"][repeat].to_numpy()] = False
            distinct = shared[~repeat]
            later = distinct[distinct[key].duplicated(keep="first")]
            first = distinct.drop_duplicates(key).set_index(key)
            details = []
            for row in later.itertuples(index=False):  # only the conflicting rows
                earlier = first.loc[getattr(row, key)]
                differ = [c for c in columns if c != key and not _same(getattr(row, c), earlier[c])]
                at = int(earlier["_row"])
                where = f"line {self.lines[at]}" if self.lines is not None else f"row {at + 1}"
                details.append(f"{key} already on {where} with other {', '.join(differ)} (that row is kept)")
            mask = np.zeros(len(keep), dtype=bool)
            mask[later["_row"].to_numpy()] = True
            self.report(mask, CONFLICTING_DUPLICATE, "", column=key, details=details)
            result &= ~mask
        return result

    def sorted_problems(self) -> tuple[RowProblem, ...]:
        return tuple(sorted(self.problems, key=lambda p: (p.row or 0, p.reason)))


def _same(a: object, b: object) -> bool:
    a_missing, b_missing = a is None or a is pd.NA or a != a, b is None or b is pd.NA or b != b
    return a_missing and b_missing if a_missing or b_missing else bool(a == b)


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _increasing(values: pa.Array | pa.ChunkedArray) -> bool:
    """Strictly increasing (so unique and sorted): a cheap check that spares a hash table for sorted exports."""
    return len(values) < 2 or bool(pc.all(pc.greater(values[1:], values[:-1])).as_py())


def _lower_nfc(values: pa.Array) -> pa.Array:
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return pc.ascii_lower(values)
    return pc.utf8_normalize(pc.utf8_lower(values), form="NFC")


def _text(values: pa.Array) -> pa.Array:
    """Strings stripped of surrounding whitespace; empty → missing."""
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    values = pc.utf8_trim_whitespace(values)
    empty = pc.equal(values, "")
    return pc.if_else(empty, _NULL_TEXT, values) if pc.any(empty).as_py() else values


def _distinct(values: pa.Array, canonical: Callable[[str], str | None]) -> pa.Array:
    """Apply `canonical` once per distinct value (countries, locales: a handful of values in a million rows)."""
    dictionary, indices = _encode(values)
    return pa.array([canonical(v) for v in dictionary.to_pylist()], pa.string()).take(indices)


def _encode(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(distinct values, index of each value in them)."""
    encoded = (values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values).dictionary_encode()
    return encoded.dictionary, encoded.indices


def _categories(value: str) -> str | None:
    """";"- or ","-separated data categories, canonical (sorted, unique, ";"-joined); None if any is unknown."""
    items = {v.strip().lower() for v in value.replace(",", ";").split(";") if v.strip()}
    return schema.LIST_SEPARATOR.join(sorted(items)) if items and items <= DATA_CATEGORIES.keys() else None


def _country(value: str) -> str | None:
    upper = value.upper()
    return upper if len(upper) == 2 and upper.isascii() and upper.isalpha() else None


def _locale(value: str) -> str | None:
    match = _LOCALE.match(value.replace("_", "-"))
    if match is None:
        return None
    language, script, region = match.group(1), match.group(2), match.group(3)
    parts = [language.lower(), script.title() if script else "", region.upper() if region else ""]
    rest = value.replace("_", "-").split("-")[1 + bool(script) + bool(region):]
    return "-".join(p for p in [*parts, *rest] if p)


def _birth_dates(values: pa.Array, today: date) -> tuple[pa.Array, pa.Array]:
    """(dates, the text they came from): unparseable, before 1900 or after `today` → missing."""
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        text = values.cast(pa.string())
        dates = values.cast(pa.date32())
    else:
        text = _text(values)
        dates = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True).cast(pa.date32())
    plausible = pc.and_(pc.greater_equal(dates, pa.scalar(date(1900, 1, 1), pa.date32())),
                        pc.less_equal(dates, pa.scalar(today, pa.date32())))
    return pc.if_else(plausible, dates, pa.scalar(None, pa.date32())), text


def _flags(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    if pa.types.is_boolean(values.type) or pa.types.is_null(values.type):
        return values.cast(pa.bool_()), values.cast(pa.string())
    text = pc.utf8_lower(_text(values))
    flag = pc.if_else(pc.is_in(text, _TRUE), True, pc.if_else(pc.is_in(text, _FALSE), False, None))
    return flag, text


def _email_errors(emails: pa.Array) -> pa.Array:
    """email-validator's message for each invalid address, null for valid or missing ones."""
    length = pc.utf8_length(emails)
    # "@" in front guarantees two parts; for the addresses the fast expression accepts (one "@") the second is
    # the domain
    domains = pc.list_element(pc.split_pattern(pc.binary_join_element_wise("@", emails, ""), "@", max_splits=1,
                                               reverse=True), 1)
    fast = _mask(pc.match_substring_regex(emails, _FAST_EMAIL)) & _mask(pc.less_equal(length, 254))
    fast &= _mask(pc.less_equal(pc.subtract(length, pc.utf8_length(domains)), 65))  # local part ≤ 64
    dictionary, indices = _encode(domains)
    good = pa.array([bool(d) and _email_error(f"a@{d}") is None for d in dictionary.to_pylist()], pa.bool_())
    fast &= _mask(good.take(indices))
    slow = ~fast & _mask(pc.is_valid(emails))
    errors = np.full(len(emails), None, dtype=object)
    index = np.flatnonzero(slow)
    errors[index] = [_email_error(e) for e in emails.take(pa.array(index)).to_pylist()]
    return pa.array(errors, pa.string())


@cache
def _email_error(address: str) -> str | None:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def _frame(out: Mapping[str, pa.Array], columns: tuple[str, ...], keep: np.ndarray | None) -> pd.DataFrame:
    table = pa.table({c: out[c] for c in columns})
    if keep is not None:
        table = table.filter(pa.array(keep))
    frame: pd.DataFrame = table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype(),
                                                        pa.date32(): pd.ArrowDtype(pa.date32())}.get)
    return frame
