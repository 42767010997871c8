"""Subject table files: CSV (formula-safe), Parquet and JSON lines, written 0600 and atomically.

The notices stage reads these files back with `read_subject_table` as its recipient list. In CSV the list
columns are ``;``-joined, times are ISO 8601 UTC with ``Z``, `minor` is ``true``/``false`` and an empty cell is
a missing value. A text cell that a spreadsheet would run as a formula (it starts with ``= + - @``, a tab or a
carriage return — phone numbers like ``+49 …`` too) gets a leading apostrophe (OWASP, CSV injection);
`read_subject_table` takes it off again, so every format reads back to the same frame.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from breachkit.errors import InputError
from breachkit.safecsv import FORMULA_PATTERN
from breachkit.subjects import schema
from breachkit.subjects.join import TEXT_COLUMNS, conform_subject_table, list_array
from breachkit.workspace import PRIVATE_FILE

ExportFormat = Literal["csv", "parquet", "jsonl"]
EXPORT_FORMATS: Final[tuple[str, ...]] = get_args(ExportFormat)
SUFFIXES: Final = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FORMULA = FORMULA_PATTERN
_ESCAPED = r"^'('*[=+\-@\t\r])"
_TIME_COLUMNS = (schema.FIRST_SEEN, schema.LAST_SEEN)
_ARROW_SCHEMA = pa.schema(
    [(c, pa.string()) for c in TEXT_COLUMNS]
    + [(schema.MINOR, pa.bool_()), (schema.CATEGORIES, pa.list_(pa.string())),
       (schema.IDENTIFIERS, pa.list_(pa.string())), (schema.FIRST_SEEN, pa.timestamp("us", tz="UTC")),
       (schema.LAST_SEEN, pa.timestamp("us", tz="UTC")), (schema.RECORDS, pa.int64()),
       (schema.ROLES, pa.list_(pa.string())), (schema.REQUESTS, pa.int64())])


@dataclass(frozen=True)
class ExportResult:
    """What an audit entry needs: where, which format, how many rows, and the file's digest."""

    path: Path
    format: str
    rows: int
    sha256: str
    bytes: int


def export_subjects(table: pd.DataFrame, path: Path, fmt: ExportFormat) -> ExportResult:
    """Write `table` (schema.SUBJECT_COLUMNS) to `path` as `fmt`: mode 0600, through a temporary file in the same
    folder that replaces `path` only when complete."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})")
    missing = [c for c in schema.REQUIRED_SUBJECT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"the subject table lacks {', '.join(missing)}")
    arrow = _arrow_table(conform_subject_table(table, lists=False))
    buffer = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(arrow, buffer)
    elif fmt == "csv":
        pacsv.write_csv(_csv_table(arrow), buffer)  # every text value quoted, so CR/LF inside values are safe
    else:
        buffer.write(_jsonl(arrow).encode("utf-8"))
    data = buffer.getvalue()
    _write_private(path, data)
    return ExportResult(path, fmt, arrow.num_rows, hashlib.sha256(data).hexdigest(), len(data))


def read_subject_table(path: Path, fmt: ExportFormat | None = None) -> pd.DataFrame:
    """Read a subject table file written by `export_subjects` (format from the extension unless given).

    InputError naming the file when it cannot be read or lacks subject_id or email."""
    fmt = fmt or SUFFIXES.get(path.suffix.lower())  # type: ignore[assignment]
    if fmt not in EXPORT_FORMATS:
        raise InputError("cannot tell the subject table's format from its extension", path=path,
                         hint="use .csv, .parquet or .jsonl")
    try:
        if fmt == "parquet":
            frame = _from_parquet(path)
        elif fmt == "csv":
            frame = _from_csv(pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8"))
        elif not path.read_bytes().strip():  # an empty table is an empty file
            frame = pd.DataFrame(columns=list(schema.SUBJECT_COLUMNS))
        else:
            frame = pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
    except FileNotFoundError:
        raise InputError("the file does not exist", path=path) from None
    except (OSError, ValueError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise InputError(f"cannot read the subject table: {exc}", path=path) from None
    missing = [c for c in schema.REQUIRED_SUBJECT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"not a subject table: no column {', '.join(missing)}", path=path)
    try:
        return conform_subject_table(frame)
    except (ValueError, TypeError) as exc:
        raise InputError(f"invalid values in the subject table: {exc}", path=path) from None


# ---------------------------------------------------------------------------------------------- CSV


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    arrays = []
    for column in schema.SUBJECT_COLUMNS:
        if column in schema.LIST_COLUMNS:
            arrays.append(list_array(frame[column]))
        else:
            arrays.append(pa.array(frame[column], type=_ARROW_SCHEMA.field(column).type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=_ARROW_SCHEMA)


def _csv_table(table: pa.Table) -> pa.Table:
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for column in schema.SUBJECT_COLUMNS:
        values = table.column(column)
        if column in schema.LIST_COLUMNS:
            values = pc.binary_join(values, schema.LIST_SEPARATOR)
        if column in TEXT_COLUMNS or column in schema.LIST_COLUMNS:
            values = pc.replace_substring_regex(values, _FORMULA, r"'\1")
        elif column == schema.MINOR:
            values = pc.if_else(values, "true", "false")
        elif column in _TIME_COLUMNS:
            values = _iso(values)
        arrays.append(values)
    return pa.table(arrays, names=list(schema.SUBJECT_COLUMNS))


def neutralise_formulas(values: pd.Series) -> pd.Series:
    """Prefix an apostrophe to cells starting with ``= + - @``, tab or CR (and to such cells already prefixed,
    so `restore_formulas` is an exact inverse)."""
    return values.astype("str").str.replace(_FORMULA, r"'\1", regex=True)


def restore_formulas(values: pd.Series) -> pd.Series:
    return values.astype("str").str.replace(_ESCAPED, r"\1", regex=True)


def _from_csv(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(index=raw.index)
    for column in raw.columns:
        values = raw[column]
        if column in TEXT_COLUMNS:
            values = restore_formulas(values)
            frame[column] = values.where(values != "")
        elif column in schema.LIST_COLUMNS:
            values = restore_formulas(values)
            frame[column] = values.str.split(schema.LIST_SEPARATOR).where(values != "", None)  # None → []
        elif column == schema.MINOR:
            bad = ~values.isin(["true", "false"])
            if bad.any():
                raise ValueError(f"minor must be true or false (row {int(bad.to_numpy().argmax()) + 1})")
            frame[column] = values == "true"
        elif column in _TIME_COLUMNS:
            frame[column] = pd.to_datetime(values.where(values != ""), format="ISO8601", utc=True)
        elif column in schema.INT_COLUMNS:
            frame[column] = pd.to_numeric(values.where(values != "", "0"), errors="raise")
    return frame


# ------------------------------------------------------------------------------ JSON lines, Parquet


def _jsonl(table: pa.Table) -> str:
    for column in _TIME_COLUMNS:
        table = table.set_column(table.schema.get_field_index(column), column, _iso(table.column(column)))
    text: str = table.to_pandas().to_json(orient="records", lines=True, force_ascii=False)
    return text


def _iso(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 UTC with ``Z``: milliseconds, or microseconds where a value has them (built from the parts:
    Arrow's strftime takes microseconds per value)."""
    utc = values.cast(pa.timestamp("us"))  # the UTC wall time

    def part(extract: Any, width: int) -> pa.ChunkedArray:
        return pc.utf8_lpad(extract(utc).cast(pa.string()), width=width, padding="0")

    millis, micros = part(pc.millisecond, 3), part(pc.microsecond, 3)
    fraction = pc.if_else(pc.not_equal(pc.microsecond(utc), 0), pc.binary_join_element_wise(millis, micros, ""),
                          millis)
    return pc.binary_join_element_wise(part(pc.year, 4), "-", part(pc.month, 2), "-", part(pc.day, 2), "T",
                                       part(pc.hour, 2), ":", part(pc.minute, 2), ":", part(pc.second, 2), ".",
                                       fraction, "Z", "")


def _from_parquet(path: Path) -> pd.DataFrame:
    table = pq.read_table(path)
    frame: pd.DataFrame = table.drop_columns([c for c in schema.LIST_COLUMNS if c in table.column_names]).to_pandas()
    for column in schema.LIST_COLUMNS:
        if column in table.column_names:
            frame[column] = pd.Series(table.column(column).to_pylist(), dtype=object)
    return frame


def _write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, mode 0600 from the start (mkstemp), synced before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(name).chmod(PRIVATE_FILE)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
