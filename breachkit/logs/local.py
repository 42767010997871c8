"""The embedded engine's event store: one DuckDB database file in the workspace.

DuckDB, not SQLite or pandas: it is columnar, in-process, parallel, spills to disk beyond memory and
reads Arrow batches without copying (measurements in design.md and bench/ingest.py). Column names are
the ECS field names, quoted ("source.ip"); types follow `schema.FIELDS`.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from breachkit.errors import ServiceError
from breachkit.logs.ingest import LoadResult, ProgressCallback
from breachkit.logs.schema import FIELDS, FieldType

# 2: log.flags; 3: the derived fields log.decoded, url.original_decoded, url.path_decoded, url.query_decoded.
# An older store gains the new columns on open (empty for the events already stored).
SCHEMA_VERSION = 3
TABLE = "events"
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
        values = batch.column(name).to_pylist()
        packed = pa.array([None if v is None else _packed(v) for v in values], pa.binary(16))
        batch = batch.append_column(ip_bin_column(name), packed)
    return batch


def _create_sql() -> str:
    cols = [f"{q(f.name)} {_SQL_TYPES[f.type]}" for f in FIELDS]
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
        self.con = self._connect(read_only)
        if not read_only:
            if path is not None:
                path.chmod(0o600)  # the events are personal data
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
        self.con.execute(_create_sql())
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

    def begin(self, source: str, *, replace: bool = False) -> _LocalLoader:
        return _LocalLoader(self.con, source, replace)

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
        loader = self.begin(source)
        try:
            loader.add(batch)
            return loader.commit()
        except BaseException:
            loader.abort()
            raise

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
    """Stages one input in a temporary table inside a transaction; commit inserts the new events, or with
    `replace` deletes the source's events and inserts the staged ones — in the same transaction, so a
    crash leaves the old events, never none."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, replace: bool = False) -> None:
        self.con = con
        self.source = source
        self.replace = replace
        self.staged = 0
        self.con.execute("BEGIN TRANSACTION")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE staging AS SELECT * FROM {TABLE} LIMIT 0")

    def add(self, batch: pa.RecordBatch) -> None:
        self.con.register("incoming", with_derived_columns(batch))
        try:
            # by name: a store upgraded from an older schema has its newer columns at the end
            self.con.execute("INSERT INTO staging BY NAME SELECT * FROM incoming")
        finally:
            self.con.unregister("incoming")
        self.staged += batch.num_rows

    def _scalar(self, sql: str) -> int:
        row = self.con.execute(sql, [self.source]).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def commit(self, progress: ProgressCallback | None = None) -> LoadResult:
        # Only events of the same source can share an id (the id hashes the source name).
        same_source = f'SELECT "event.id", "@timestamp" FROM {TABLE} WHERE "log.file.path" = ?'
        if self.replace:
            replaced = self._scalar(f'SELECT count(*) FROM staging SEMI JOIN ({same_source}) e USING ("event.id")')
            old = self._scalar(f'SELECT count(*) FROM {TABLE} WHERE "log.file.path" = ?')
            self.con.execute(f'DELETE FROM {TABLE} WHERE "log.file.path" = ?', [self.source])
            self.con.execute(f"INSERT INTO {TABLE} SELECT * FROM staging")
            result = LoadResult(added=self.staged - replaced, already_present=0, replaced=replaced,
                                removed=old - replaced)
        else:
            redated = self._scalar(f'SELECT count(*) FROM staging s JOIN ({same_source}) e USING ("event.id") '
                                   'WHERE s."@timestamp" IS DISTINCT FROM e."@timestamp"')
            added = self._scalar(f"""INSERT INTO {TABLE} SELECT s.* FROM staging s
                                     ANTI JOIN ({same_source}) e USING ("event.id")""")
            result = LoadResult(added=added, already_present=self.staged - added, redated=redated)
        self.con.execute("DROP TABLE staging")
        self.con.execute("COMMIT")
        if progress is not None:
            progress("load", self.staged, self.staged)
        return result

    def abort(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")


@contextlib.contextmanager
def open_store(path: Path, *, read_only: bool = False) -> Iterator[LocalStore]:
    store = LocalStore(path, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
