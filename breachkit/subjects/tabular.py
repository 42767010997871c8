"""Raw tabular sources for the directory readers.

A file (CSV, Parquet, JSON lines; ``.gz`` for the text formats), a SQL table (SQLAlchemy URL) or an
Elasticsearch or OpenSearch index becomes one Arrow table of the wanted columns — strings, except typed dates
and booleans that Parquet, SQL or JSON carry — with the physical line of each record where the format has lines,
and the records that could not be read at all (bytes that are not UTF-8, a wrong number of CSV fields, a JSON line
that does not parse). Interpreting the values is `directory`'s job.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from breachkit.errors import ConfigError, InputError, ServiceError, UsageError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch
    from opensearchpy import OpenSearch

    SearchClient = Elasticsearch | OpenSearch

FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
                ".ndjson": "jsonl", ".json": "jsonl"}
_DELIMITERS = (",", ";", "\t", "|")
_ES_PAGE = 2_000
SEARCH_PRODUCTS = {"elasticsearch": "Elasticsearch", "opensearch": "OpenSearch"}  # directory format → product
_CSV_BLOCK = 16 << 20  # bytes per parsing block: fewer, larger chunks are cheaper to normalise

# Row-level reasons (RowProblem.reason).
ENCODING = "encoding"
MALFORMED = "malformed_row"


@dataclass(frozen=True)
class RowProblem:
    """One bad row: where (1-based record number among the data rows, physical line where the format has
    lines, the row's key when known), which column, why, and whether the row was left out (`dropped`) or
    kept with that column cleared. Messages never quote the value itself (it is personal data)."""

    reason: str
    message: str
    row: int | None = None
    line: int | None = None
    key: str | None = None
    column: str | None = None
    dropped: bool = True

    def __str__(self) -> str:
        where = [f"line {self.line}" if self.line is not None else f"row {self.row}" if self.row else ""]
        where += [f"key {self.key}" if self.key else "", self.column or ""]
        action = "left out" if self.dropped else "value cleared"
        return f"{', '.join(w for w in where if w)}: {self.message} ({action})"


@dataclass(frozen=True)
class Source:
    """Where a table comes from: a file path, a SQLAlchemy URL with a table, or an Elasticsearch or OpenSearch
    index."""

    location: str
    format: str  # csv | parquet | jsonl | sql | elasticsearch | opensearch
    table: str | None = None
    index: str | None = None

    def describe(self) -> str:
        if self.format == "sql":
            return f"SQL table {self.table} at {_hide_password(self.location)}"
        if self.format in SEARCH_PRODUCTS:
            return f"{SEARCH_PRODUCTS[self.format]} index {self.index}"
        return f"{self.format} file {self.location}"


@dataclass(frozen=True)
class RawTable:
    data: pa.Table  # the wanted columns the source has
    columns: tuple[str, ...]  # every column the source has
    lines: np.ndarray | None  # physical line of each record (CSV, JSON lines)
    problems: tuple[RowProblem, ...]  # records left out while reading


def search_product(location: str, fmt: str) -> str | None:
    """The search engine ("elasticsearch", "opensearch") a source of these config values is an index of, or None."""
    return fmt if fmt in SEARCH_PRODUCTS else location if location in SEARCH_PRODUCTS else None


def resolve_source(location: str, fmt: str, base_dir: Path, *, table: str | None = None,
                   index: str | None = None) -> Source:
    """A source from config values: relative paths (also of ``sqlite:///`` URLs) resolve against `base_dir`."""
    product = search_product(location, fmt)
    if product is not None:
        if not index:
            raise ConfigError(f"a directory in {SEARCH_PRODUCTS[product]} needs an index", hint='set index = "…"')
        return Source(location, product, index=index)
    if fmt == "sql" or (fmt == "auto" and "://" in location):
        if not table:
            raise ConfigError("a SQL directory needs a table", hint='set table = "…"')
        return Source(_sql_url(location, base_dir), "sql", table=table)
    path = Path(location).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if fmt == "auto":
        suffixes = [s.lower() for s in path.suffixes]
        suffix = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) > 1 else (suffixes or [""])[-1]
        if suffix not in FILE_FORMATS:
            raise ConfigError(f"cannot tell the format of {path.name} from its extension",
                              hint='set format = "csv", "parquet" or "jsonl"')
        fmt = FILE_FORMATS[suffix]
    return Source(str(path), fmt)


def _sql_url(location: str, base_dir: Path) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(location)
    except ArgumentError:
        raise ConfigError("not a SQLAlchemy URL", hint="e.g. sqlite:///directory.db") from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database).expanduser()
        if not database.is_absolute():
            url = url.set(database=str(base_dir / database))
    return url.render_as_string(hide_password=False)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def read_source(source: Source, wanted: Sequence[str], key: str, *,
                search_client: SearchClient | None = None) -> RawTable:
    """Read `wanted` columns (those the source has) of `source`; `key` names rows in problems. An index is read
    with `search_client`, a client of its product."""
    if source.format == "sql":
        return _read_sql(source, wanted)
    if source.format in SEARCH_PRODUCTS:
        return _read_index(source, wanted, search_client)
    path = Path(source.location)
    if source.format == "parquet":
        return _read_parquet(path, wanted)
    data = _read_bytes(path)
    if source.format == "csv":
        return _read_csv(path, data, wanted, key)
    return _read_jsonl(data, wanted, key)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".gz":
            data = gzip.decompress(data)
    except FileNotFoundError:
        raise InputError("the file does not exist", path=path) from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read the file: {exc}", path=path) from None
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data  # utf-8-sig


# --------------------------------------------------------------------------------------------- CSV


def _read_csv(path: Path, data: bytes, wanted: Sequence[str], key: str) -> RawTable:
    header_end = data.find(b"\n")
    header_bytes = data if header_end < 0 else data[:header_end]
    try:
        header_text = header_bytes.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise InputError(f"the header line is not UTF-8 (byte 0x{header_bytes[exc.start]:02x} at offset "
                         f"{exc.start})", path=path, line=1, hint="save the file as UTF-8") from None
    if not header_text.strip():
        raise InputError("the file is empty or has no header line", path=path, line=1)
    delimiter = max(_DELIMITERS, key=header_text.count)
    names = [n.strip() for n in next(csv.reader([header_text], delimiter=delimiter))]
    if len(set(names)) != len(names):
        raise InputError("the header names a column twice", path=path, line=1)
    present = [c for c in dict.fromkeys(wanted) if c in names]
    invalid: list[str] = []

    def on_invalid(row: Any) -> str:
        invalid.append(f"expected {row.expected_columns} fields, found {row.actual_columns}")
        return "skip"

    bad_lines: list[tuple[int, int, int]] = []  # (line, byte offset, byte)
    try:
        table = _parse_csv(data, names, present, delimiter, on_invalid)
    except pa.ArrowInvalid as exc:
        if "UTF8" not in str(exc):
            raise InputError(f"cannot parse the CSV: {exc}", path=path) from None
        bad_lines, data = _undecodable_lines(data)
        invalid.clear()
        table = _parse_csv(data, names, present, delimiter, on_invalid)

    problems: list[RowProblem] = []
    lines: np.ndarray | None = np.arange(2, table.num_rows + 2, dtype=np.int64)
    ends = lines
    if invalid or _physical_lines(data) != table.num_rows + 1:
        lines, ends, malformed = _csv_spans(data, len(names), delimiter)
        if lines is None or len(lines) != table.num_rows:
            lines = ends = None
            problems += [RowProblem(MALFORMED, message) for message in invalid]
        else:
            problems += [RowProblem(MALFORMED, message, line=line) for line, message in malformed]
    drop = np.zeros(table.num_rows, dtype=bool)
    if bad_lines:
        drop = _encoding_rows(table, lines, ends, bad_lines, key, problems)
    if drop.any():
        table = table.filter(pa.array(~drop))
        lines = None if lines is None else lines[~drop]
    return RawTable(table, tuple(names), lines, tuple(problems))


def _parse_csv(data: bytes, names: list[str], present: list[str], delimiter: str, on_invalid: Any) -> pa.Table:
    return pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=_CSV_BLOCK),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(include_columns=present, column_types=dict.fromkeys(present, pa.string()),
                                            strings_can_be_null=True, quoted_strings_can_be_null=True),
    )


def _physical_lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def _undecodable_lines(data: bytes) -> tuple[list[tuple[int, int, int]], bytes]:
    """Lines that are not UTF-8 (line, byte offset of the first bad byte, that byte), and the data with those
    lines decoded with replacement characters so the parser keeps the records (which are then left out)."""
    bad: list[tuple[int, int, int]] = []
    out: list[bytes] = []
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
            out.append(raw)
        except UnicodeDecodeError as exc:
            bad.append((number, offset + exc.start, raw[exc.start]))
            out.append(raw.decode("utf-8", "replace").encode("utf-8"))
        offset += len(raw) + 1
    return bad, b"\n".join(out)


def _csv_spans(data: bytes, width: int, delimiter: str
               ) -> tuple[np.ndarray | None, np.ndarray | None, list[tuple[int, str]]]:
    """First and last physical line of each well-formed data record, and the malformed ones (line, message),
    with Python's csv module (only for files with blank lines, multi-line values or bad rows)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline=""), delimiter=delimiter)
    starts: list[int] = []
    ends: list[int] = []
    malformed: list[tuple[int, str]] = []
    try:
        next(reader, None)
        previous = reader.line_num
        for record in reader:
            start, previous = previous + 1, reader.line_num
            if not record:
                continue
            if len(record) != width:
                malformed.append((start, f"expected {width} fields, found {len(record)}"))
                continue
            starts.append(start)
            ends.append(previous)
    except csv.Error:
        return None, None, []
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64), malformed


def _encoding_rows(table: pa.Table, lines: np.ndarray | None, ends: np.ndarray | None,
                   bad_lines: list[tuple[int, int, int]], key: str, problems: list[RowProblem]) -> np.ndarray:
    drop = np.zeros(table.num_rows, dtype=bool)
    keys = table.column(key).to_pylist() if key in table.column_names else [None] * table.num_rows
    for line, offset, byte in bad_lines:
        message = f"not UTF-8: byte 0x{byte:02x} at offset {offset} (line {line}); save the file as UTF-8"
        if lines is None or ends is None:
            problems.append(RowProblem(ENCODING, message, line=line))
            continue
        i = int(np.searchsorted(lines, line, side="right")) - 1
        if i < 0 or ends[i] < line:  # a blank or malformed line: already reported or harmless
            continue
        if not drop[i]:
            drop[i] = True
            problems.append(RowProblem(ENCODING, message, row=i + 1, line=int(lines[i]), key=keys[i]))
    if lines is None:  # records cannot be placed: leave out every record holding a replacement character
        for name in table.column_names:
            drop |= pc.fill_null(pc.match_substring(table.column(name), "\ufffd"), False).to_numpy(zero_copy_only=False)
    return drop


# ------------------------------------------------------------------------------ JSON lines, Parquet


def _read_jsonl(data: bytes, wanted: Sequence[str], key: str) -> RawTable:
    schema = pa.schema([(c, pa.string()) for c in dict.fromkeys(wanted)])
    options = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    with contextlib.suppress(pa.ArrowInvalid):
        table = pjson.read_json(io.BytesIO(data), parse_options=options)
        if _physical_lines(data) == table.num_rows:
            present = tuple(c for c in table.column_names if table.column(c).null_count < table.num_rows)
            return RawTable(table.select(list(present)), present,
                            np.arange(1, table.num_rows + 1, dtype=np.int64), ())
    return _jsonl_by_line(data, wanted, key)


def _jsonl_by_line(data: bytes, wanted: Sequence[str], key: str) -> RawTable:
    """Line by line: lines that are not UTF-8 or not a JSON object are left out and reported."""
    columns: dict[str, list[str | None]] = {c: [] for c in dict.fromkeys(wanted)}
    seen: set[str] = set()
    lines: list[int] = []
    problems: list[RowProblem] = []
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(RowProblem(ENCODING, f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset "
                                                 f"{start + exc.start}; save the file as UTF-8", line=number))
            continue
        except ValueError as exc:
            problems.append(RowProblem(MALFORMED, f"not JSON: {exc.args[0].split(':')[0]}", line=number))
            continue
        if not isinstance(record, dict):
            problems.append(RowProblem(MALFORMED, "not a JSON object", line=number))
            continue
        seen.update(record)
        lines.append(number)
        for name, values in columns.items():
            values.append(_text(record.get(name)))
    present = [c for c in columns if c in seen]
    table = pa.table({c: pa.array(columns[c], pa.string()) for c in present})
    return RawTable(table, tuple(sorted(seen)), np.asarray(lines, dtype=np.int64), tuple(problems))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _read_parquet(path: Path, wanted: Sequence[str]) -> RawTable:
    try:
        names = pq.read_schema(path).names
        table = pq.read_table(path, columns=[c for c in dict.fromkeys(wanted) if c in names])
    except FileNotFoundError:
        raise InputError("the file does not exist", path=path) from None
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read the Parquet file: {exc}", path=path) from None
    return RawTable(_typed_or_text(table), tuple(names), None, ())


def _typed_or_text(table: pa.Table) -> pa.Table:
    """Keep strings, dates, timestamps and booleans; other types become their text."""
    arrays = []
    for column in table.columns:
        t = column.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_dictionary(t):
            column = column.cast(pa.string())
        elif not (pa.types.is_string(t) or pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_boolean(t)):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                column = pa.chunked_array([pa.array([_text(v) for v in column.to_pylist()], pa.string())])
        arrays.append(column)
    return pa.table(arrays, names=table.column_names)


# --------------------------------------------------------------------------- SQL, Elasticsearch, OpenSearch


def _from_frame(frame: pd.DataFrame, columns: Sequence[str]) -> RawTable:
    """An object frame (SQL rows) → a RawTable; `columns` are all the columns of the source."""
    arrays: dict[str, pa.Array] = {}
    for name in map(str, frame.columns):
        values = frame[name].astype(object).where(frame[name].notna(), None)
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types (SQLite's dynamic typing)
            arrays[name] = pa.array([_text(v) for v in values], pa.string())
    table = pa.table(arrays) if arrays else pa.table({"_": pa.nulls(len(frame))}).select([])
    return RawTable(_typed_or_text(table), tuple(columns), None, ())


def _read_sql(source: Source, wanted: Sequence[str]) -> RawTable:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    url = make_url(source.location)
    shown = _hide_password(source.location)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database or "").is_file():
            raise InputError("the SQLite database file does not exist", path=url.database)
        url = url.set(database=f"file:{url.database}", query={"mode": "ro", "uri": "true"})
    try:
        engine = sa.create_engine(url)
    except NoSuchModuleError as exc:
        raise ConfigError(f"no SQLAlchemy driver for {shown}: {exc}") from None
    try:
        with engine.connect() as connection:
            schema_name, _, name = (source.table or "").rpartition(".")
            inspector = sa.inspect(connection)
            if not inspector.has_table(name, schema=schema_name or None):
                raise InputError(f"no table {source.table!r} in {shown}")
            names = [str(c["name"]) for c in inspector.get_columns(name, schema=schema_name or None)]
            selected = [c for c in dict.fromkeys(wanted) if c in names]
            if not selected:
                return RawTable(pa.table({}), tuple(names), None, ())
            # untyped columns: the driver's values as they are, so one bad date cannot fail the whole read
            table = sa.table(name, *(sa.column(c) for c in selected), schema=schema_name or None)
            result = connection.execute(sa.select(*table.c))
            return _from_frame(pd.DataFrame(result.fetchall(), columns=selected, dtype=object), names)
    except SQLAlchemyError as exc:
        raise ServiceError(f"cannot read table {source.table!r} from {shown}: {type(exc).__name__}") from None
    finally:
        engine.dispose()


def _read_index(source: Source, wanted: Sequence[str], client: SearchClient | None) -> RawTable:
    """Every document of an Elasticsearch or OpenSearch index (a scroll), flattened to dotted names."""
    product = SEARCH_PRODUCTS[source.format]
    if client is None:
        raise UsageError(f"reading the directory from {product} needs a client")
    missing: type[Exception]
    failed: tuple[type[Exception], ...]
    if source.format == "elasticsearch":
        from elastic_transport import TransportError
        from elasticsearch import ApiError
        from elasticsearch import NotFoundError as EsNotFound
        from elasticsearch.helpers import scan as es_scan

        scan: Any = es_scan
        missing, failed = EsNotFound, (ApiError, TransportError)
    else:
        from opensearchpy.exceptions import NotFoundError as OsNotFound
        from opensearchpy.exceptions import OpenSearchException
        from opensearchpy.helpers import scan as os_scan

        scan, missing, failed = os_scan, OsNotFound, (OpenSearchException,)
    fields = list(dict.fromkeys(wanted))
    columns: dict[str, list[str | None]] = {c: [] for c in fields}
    seen: set[str] = set()
    try:
        hits: Iterable[dict[str, Any]] = scan(client, index=source.index, query={"query": {"match_all": {}}},
                                              size=_ES_PAGE, _source=True)
        for hit in hits:
            document = dict(_flatten(hit.get("_source") or {}))
            document.setdefault("_id", hit["_id"])
            seen.update(document)
            for name, values in columns.items():
                values.append(_text(document.get(name)))
    except missing:
        raise InputError(f"no {product} index {source.index!r}") from None
    except failed as exc:
        raise ServiceError(f"cannot read {product} index {source.index!r}: {exc}") from None
    present = [c for c in fields if c in seen]
    table = pa.table({c: pa.array(columns[c], pa.string()) for c in present})
    return RawTable(table, tuple(sorted(seen)), None, ())


def _flatten(document: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested objects as dotted names too (``{"contact": {"email": …}}`` → ``contact.email``)."""
    for name, value in document.items():
        yield prefix + name, value
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}.")
