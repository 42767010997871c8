"""The embedded engine's event store: one DuckDB database file in the workspace.

DuckDB, not SQLite or pandas: it is columnar, in-process, parallel, spills to disk beyond memory and
reads Arrow batches without copying (measurements in design.md and bench/ingest.py). Column names are
the ECS field names, quoted ("source.ip"); types follow `schema.FIELDS`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from breachkit.errors import InputError, ServiceError
from breachkit.logs.ingest import LoadResult, ProgressCallback, load_whole
from breachkit.logs.schema import ARROW_SCHEMA, FIELDS, FieldType

# 2: log.flags; 3: the derived fields log.decoded, url.original_decoded, url.path_decoded, url.query_decoded.
# An older store gains the new columns on open (empty for the events already stored).
SCHEMA_VERSION = 3
TABLE = "events"
# DuckDB keeps the rows an INSERT appends (its transaction-local row groups, written out as they fill) and the
# blocks it writes in memory up to its memory limit (80% of RAM by default): while an input is loaded, the
# limit is this, so that memory stays bounded whatever the input's size (joins spill to disk). The buffer
# reaches the limit within the first million lines or so and stays there. Peak RSS of an ingest, 1M -> 10M
# lines (bench/ingest.py inputs): at 512MB combined 903 -> 1,134 MB, JSON lines 796 -> 1,089 MB; at 256MB
# 858 -> 890 MB and 783 -> 840 MB, no slower within this machine's noise (combined 1M: 8.3-9.9 s against
# 7.9-10.1 s, interleaved runs).
LOAD_MEMORY_LIMIT = "256MB"
# What a load sets on the store's connection (restored after it). Without `preserve_insertion_order` DuckDB
# appends the rows on all its threads, each into row groups of its own, instead of on one thread in arrival
# order; under the memory limit above the ordered insert runs on one thread, which was the ingest's bottleneck
# (the parsing threads waited for it). No reading depends on where a row is stored: queries that need an order
# say it (ORDER BY). A load's row groups still hold only its own input's rows, each thread's share in line
# order, batches of the two interleaved (time ranges per row group about twice as wide). bench/ingest.py,
# 1M lines, the `_step` alone, interleaved: combined 9.5-9.6 s -> 6.2-6.7 s wall (14.3 -> 10.8-11.9 s CPU,
# peak RSS 853-873 -> 787-830 MB); JSON lines 11.7-12.0 s -> 10.0-11.1 s.
LOAD_SETTINGS: Final = {"memory_limit": LOAD_MEMORY_LIMIT, "preserve_insertion_order": "false"}
SPOOL_SUFFIX = ".staging-"  # `.<store file>.staging-*`: an input being ingested, beside the store, until committed
_SQL_TYPES = {FieldType.KEYWORD: "VARCHAR", FieldType.IP: "VARCHAR", FieldType.LONG: "BIGINT",
              FieldType.DATE: "TIMESTAMPTZ"}


def q(name: str) -> str:
    """Quote an identifier (ECS names contain dots and '@')."""
    return '"' + name.replace('"', '""') + '"'


IP_FIELDS = tuple(f.name for f in FIELDS if f.type is FieldType.IP)


def ip_bin_column(field: str) -> str:
    """The derived column holding an IP field as 16 big-endian bytes, for CIDR range predicates
    (DuckDB's inet extension is not bundled and may not be downloadable)."""
    return f"{field}#bin"


@lru_cache(maxsize=65536)
def _packed(ip: str) -> bytes:
    addr = ipaddress.ip_address(ip)
    return addr.packed if addr.version == 6 else b"\x00" * 10 + b"\xff\xff" + addr.packed


def with_derived_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    for name in IP_FIELDS:
        encoded = pc.dictionary_encode(batch.column(name))  # addresses repeat: pack each one once
        packed = pa.array([_packed(v) for v in encoded.dictionary.to_pylist()], pa.binary(16))
        batch = batch.append_column(ip_bin_column(name), pc.take(packed, encoded.indices))
    return batch


# The raw line: long, nearly unique text, which DuckDB's default string compressions (dictionary, FSST) spend the
# most time on and shrink the least. zstd writes it 2.3× faster and 3.5× smaller (bench/ingest.py: the whole
# store of 200k access-log lines is half the size); reading it back stays fast (bench/detect.py).
# Only for stores created with this schema; older stores keep their columns as they are.
_COMPRESSION = {"log.original": "zstd"}


def events_table_sql() -> str:
    cols = [f"{q(f.name)} {_SQL_TYPES[f.type]}"
            + (f" USING COMPRESSION {_COMPRESSION[f.name]}" if f.name in _COMPRESSION else "") for f in FIELDS]
    cols += [f"{q(ip_bin_column(name))} BLOB" for name in IP_FIELDS]
    body = ",\n  ".join(cols)
    return f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  {body}\n)"


@dataclass(frozen=True)
class FieldStats:
    present: int  # events with a value
    distinct: int  # distinct values


class LocalStore:
    """Opens (creating if needed) the DuckDB event store at `path`."""

    engine = "local"

    def __init__(self, path: Path | None, *, read_only: bool = False) -> None:
        """`path` None: an in-memory store (rule tests, benchmarks). A store written by an older
        breachkit is upgraded on open, also when opened read-only (briefly opened for writing first)."""
        self.path = path
        self.spool_dir = path.parent if path is not None else Path(tempfile.gettempdir())
        self.spool_prefix = f".{path.name if path is not None else 'memory'}{SPOOL_SUFFIX}"
        self.con = self._connect(read_only)
        if not read_only:
            if path is not None:
                path.chmod(0o600)  # the events are personal data
                for stale in path.parent.glob(self.spool_prefix + "*"):  # left by an ingest that was killed
                    stale.unlink(missing_ok=True)  # (this process holds the store's write lock)
            self._migrate()
        elif self._version() < SCHEMA_VERSION:
            self.con.close()
            self.con = self._connect(False)
            self._migrate()
            self.con.close()
            self.con = self._connect(True)

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.path) if self.path is not None else ":memory:", read_only=read_only)
        except duckdb.IOException as exc:
            raise ServiceError(
                f"cannot open the embedded event store: {exc}",
                path=self.path,
                hint="another breachkit process may be writing to it; wait for it to finish",
            ) from None

    def _version(self) -> int:
        try:
            row = self.con.execute("SELECT value FROM breachkit_meta WHERE key = 'schema_version'").fetchone()
        except duckdb.CatalogException:
            return 0
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        self.con.execute("CREATE TABLE IF NOT EXISTS breachkit_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        version = self._version()
        if version > SCHEMA_VERSION:
            raise ServiceError(
                f"the event store was written by a newer breachkit (schema {version} > {SCHEMA_VERSION})",
                path=self.path,
            )
        self.con.execute(events_table_sql())
        if version < SCHEMA_VERSION:
            # Fields added since (log.flags, the derived fields) become columns; old events have no value in them.
            have = {r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [TABLE]).fetchall()}
            for f in FIELDS:
                if f.name not in have:
                    self.con.execute(f"ALTER TABLE {TABLE} ADD COLUMN {q(f.name)} {_SQL_TYPES[f.type]}")
            self.con.execute("INSERT OR REPLACE INTO breachkit_meta VALUES ('schema_version', ?)",
                             [str(SCHEMA_VERSION)])

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, source: str, *, replace: bool = False) -> _LocalLoader | _StreamingLoader:
        """A loader for one input: streamed into the store as it is read when the source has no events yet,
        else staged in a spool and compared with the stored events at the commit."""
        known = self.con.execute(f'SELECT count(*) FROM (SELECT 1 FROM {TABLE} WHERE "log.file.path" = ? LIMIT 1)',
                                 [source]).fetchall()
        if not known[0][0]:
            return _StreamingLoader(self.con, source)
        return _LocalLoader(self.con, source, replace, self.spool_dir, self.spool_prefix)

    def forget(self, source: str) -> int:
        """Remove every event of `source`; returns how many (one transaction)."""
        row = self.con.execute(f'DELETE FROM {TABLE} WHERE "log.file.path" = ?', [source]).fetchone()
        return int(row[0]) if row else 0

    def sources(self, limit: int = 20) -> list[tuple[str, int]]:
        """The stored sources (log.file.path) with their event counts, by name."""
        rows = self.con.execute(f'SELECT "log.file.path", count(*) FROM {TABLE} GROUP BY 1 ORDER BY 1 LIMIT ?',
                                [limit]).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]

    def load(self, batch: pa.RecordBatch, source: str) -> LoadResult:
        """Store already-built events (rule tests, generated data)."""
        return load_whole(self.begin(source), batch)

    def count(self) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        return int(row[0]) if row else 0

    def field_stats(self) -> dict[str, FieldStats]:
        """Per field: how many events carry it and how many distinct values it has."""
        parts = ", ".join(f"count({q(f.name)}), count(DISTINCT {q(f.name)})" for f in FIELDS)
        row = self.con.execute(f"SELECT {parts} FROM {TABLE}").fetchone()
        assert row is not None
        return {f.name: FieldStats(int(row[2 * i]), int(row[2 * i + 1])) for i, f in enumerate(FIELDS)}

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()


class _LocalLoader:
    """Stages one input in a spool file (Arrow IPC stream, 0600, beside the store), then commits it in one
    transaction: the new events are inserted, or with `replace` the source's events are deleted and the staged
    ones inserted — so a crash leaves the old events, never none, and never a part of the input.

    A spool rather than a table: a DuckDB transaction keeps what it appends in memory until it commits, so
    staging a large input in a table grows memory with the input; the spool is read back once, by the one
    INSERT that commits it (twice when some events of the source are already stored: for the counts)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, replace: bool, spool_dir: Path,
                 prefix: str) -> None:
        self.con = con
        self.source = source
        self.replace = replace
        self.staged = 0
        fd, name = tempfile.mkstemp(dir=spool_dir, prefix=prefix, suffix=".arrows")  # 0600: personal data
        self._path = Path(name)
        self._sink = os.fdopen(fd, "wb")
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        batch = with_derived_columns(batch)
        if self._writer is None:
            self._writer = pa.ipc.new_stream(self._sink, batch.schema)
        self._writer.write_batch(batch)
        self.staged += batch.num_rows

    def _close_spool(self) -> None:
        if self._writer is None:  # nothing staged: an empty stream of the schema
            empty = pa.RecordBatch.from_pylist([], schema=ARROW_SCHEMA)
            self._writer = pa.ipc.new_stream(self._sink, with_derived_columns(empty).schema)
        self._writer.close()
        self._sink.close()

    def _run(self, sql: str, scalar: bool = True) -> int:
        """Run `sql` (parameter: the source) with `staging` bound to a fresh read of the spool."""
        with self._path.open("rb") as spool:
            self.con.register("staging", pa.ipc.open_stream(spool))
            try:
                rows = self.con.execute(sql, [self.source] if "?" in sql else []).fetchall()
            finally:
                self.con.unregister("staging")
        return int(rows[0][0]) if scalar and rows and rows[0][0] is not None else 0

    def commit(self, progress: ProgressCallback | None = None) -> LoadResult:
        self._close_spool()
        # Only events of the same source can share an id (the id hashes the source name).
        same_source = f'SELECT "event.id", "@timestamp" FROM {TABLE} WHERE "log.file.path" = ?'
        settings = load_settings(self.con)
        self.con.execute("BEGIN TRANSACTION")
        try:
            old = self._run(f'SELECT count(*) FROM {TABLE} WHERE "log.file.path" = ?')
            if self.replace:
                replaced = self._run(f'SELECT count(*) FROM staging SEMI JOIN ({same_source}) e USING ("event.id")') \
                    if old else 0
                self.con.execute(f'DELETE FROM {TABLE} WHERE "log.file.path" = ?', [self.source])
                self._run(f"INSERT INTO {TABLE} BY NAME SELECT * FROM staging")
                result = LoadResult(added=self.staged - replaced, already_present=0, replaced=replaced,
                                    removed=old - replaced)
            elif old:
                redated = self._run(f'SELECT count(*) FROM staging s JOIN ({same_source}) e USING ("event.id") '
                                    'WHERE s."@timestamp" IS DISTINCT FROM e."@timestamp"')
                added = self._run(f"""INSERT INTO {TABLE} BY NAME SELECT s.* FROM staging s
                                      ANTI JOIN ({same_source}) e USING ("event.id")""")
                result = LoadResult(added=added, already_present=self.staged - added, redated=redated)
            else:  # a new source: nothing to compare with
                added = self._run(f"INSERT INTO {TABLE} BY NAME SELECT * FROM staging")
                result = LoadResult(added=added, already_present=self.staged - added, redated=0)
            self.con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise
        finally:
            self._path.unlink(missing_ok=True)
            _restore_settings(self.con, settings)
        if progress is not None:
            progress("load", self.staged, self.staged)
        return result

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._close_spool()
        self._path.unlink(missing_ok=True)


class _StreamingLoader:
    """Loads an input into a source that has no events yet: one INSERT statement, started at `begin` in its own
    thread inside a transaction, reads the batches as `add` hands them over (a bounded queue: memory stays that
    of a few batches, and the store writes while the next batches are parsed); `commit` ends the stream and
    commits, `abort` fails the stream and rolls back. Nothing is visible before the commit.

    One statement, not one per batch: a transaction's appends are kept in memory until it commits, except
    what one large INSERT writes out as it goes."""

    _END = object()

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str) -> None:
        self.con = con
        self.source = source
        self.staged = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=2)
        self._failed: BaseException | None = None
        self._added = 0
        empty = pa.RecordBatch.from_pylist([], schema=ARROW_SCHEMA)
        self._schema = with_derived_columns(empty).schema
        self._settings = load_settings(con)
        self.con.execute("BEGIN TRANSACTION")
        self._thread = threading.Thread(target=self._insert, name="breachkit-insert", daemon=True)
        self._thread.start()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, pa.RecordBatch)
            yield item

    def _insert(self) -> None:
        reader = pa.RecordBatchReader.from_batches(self._schema, self._batches())
        try:
            self.con.register("incoming", reader)
            rows = self.con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM incoming").fetchall()
            self._added = int(rows[0][0]) if rows else 0
        except BaseException as exc:  # handed to the ingesting thread
            self._failed = exc
            while True:  # let a producer blocked on the full queue go on to see the failure
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        finally:
            with contextlib.suppress(duckdb.Error):
                self.con.unregister("incoming")

    def _put(self, item: object) -> None:
        while True:
            if self._failed is not None or not self._thread.is_alive():
                raise self._failed or ServiceError("the embedded store stopped reading the events")
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def add(self, batch: pa.RecordBatch) -> None:
        self._put(with_derived_columns(batch))
        self.staged += batch.num_rows

    def commit(self, progress: ProgressCallback | None = None) -> LoadResult:
        try:
            self._put(self._END)
            self._thread.join()
            if self._failed is not None:
                raise self._failed
            self.con.execute("COMMIT")
        except BaseException:
            self.abort()
            raise
        _restore_settings(self.con, self._settings)
        if progress is not None:
            progress("load", self.staged, self.staged)
        return LoadResult(added=self._added, already_present=self.staged - self._added, redated=0)

    def abort(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._queue.put(InputError("ingest stopped"), timeout=5)
            self._thread.join()
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")
        _restore_settings(self.con, self._settings)


def load_settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Set LOAD_SETTINGS on a store's connection; returns the values before, for `_restore_settings`."""
    before = {name: _setting(con, name) for name in LOAD_SETTINGS}
    for name, value in LOAD_SETTINGS.items():
        con.execute(f"SET {name} = '{value}'")
    return before


def _restore_settings(con: duckdb.DuckDBPyConnection, before: dict[str, str]) -> None:
    """Back to the values before. DuckDB shows a memory limit rounded down ('2.7 GiB' for 3GB), and setting
    that text again lowers it a little more on every load: so a value that was DuckDB's default (breachkit sets
    none but the load's) is reset, which restores it exactly; only another one is set again from its text."""
    for name, value in before.items():
        with contextlib.suppress(duckdb.Error):
            con.execute(f"RESET {name}")
            if _setting(con, name) != value:
                con.execute(f"SET {name} = '{value.replace(chr(39), '')}'")


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    return str(con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0])


@contextlib.contextmanager
def open_store(path: Path, *, read_only: bool = False) -> Iterator[LocalStore]:
    store = LocalStore(path, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
