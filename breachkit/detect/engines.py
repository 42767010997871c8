"""The detection engines: select the events an IR query matches, and candidate correlation groups.

The embedded engine (DuckDB) and the reference evaluator live here; Elasticsearch and OpenSearch share
`searchengine.SearchEngine`.
All return plain rows `(event.id, @timestamp (aware UTC), *requested fields)` ordered by time and id,
so everything above them (detection records, correlation windows) is shared code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from breachkit.detect import ir
from breachkit.detect.correlate import Narrowing
from breachkit.detect.searchengine import QueryFailed, Row, SearchEngine, TimeWindow, bucket_counts
from breachkit.detect.sqlgen import NON_ASCII_FOLDING, SPARSE, Facts, literal, matching
from breachkit.logs.local import IP_FIELDS, TABLE, LocalStore, ip_bin_column, q
from breachkit.logs.schema import FIELD_TYPES, FieldType

# SQL here is built from the IR compiler and the schema's quoted field names, never from input text.

__all__ = ["Engine", "LocalEngine", "QueryFailed", "ReferenceEngine", "Row", "SearchEngine", "TimeWindow",
           "bucket_counts"]

# DuckDB errors caused by the query itself (not by the database file, memory or the connection).
_QUERY_ERRORS = (duckdb.ProgrammingError, duckdb.DataError, duckdb.NotSupportedError)


class Engine(Protocol):
    name: str

    @property
    def notes(self) -> Sequence[str]:
        """What a detection result must say about the events this engine searched (e.g. the events of
        unfinished ingest runs a search engine leaves out); empty when there is nothing to say."""
        ...

    def select(self, query: ir.Node, window: TimeWindow, columns: Sequence[str],
               narrowing: Narrowing | None = None) -> list[Row]:
        """Matching events as (event.id, @timestamp, *columns); with `narrowing`, only the events of groups
        that pass it (checked with aggregations, before any event is fetched)."""
        ...

    def buckets(self, query: ir.Node, window: TimeWindow, group: Sequence[str],
                timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
        """(group values, fixed bucket index, event count) of the matching events (aggregated, not fetched)."""
        ...

    def describe(self, query: ir.Node) -> str:
        """The query this engine runs, for `rules convert`."""
        ...


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class LocalEngine:
    name = "local"
    notes: tuple[str, ...] = ()  # an ingest into the embedded store is one transaction: nothing half-written
    # Events holding a derived field (a decoded URL or keyword text) within a window, at most, that a query is
    # evaluated on in Python by the reference semantics instead of in a second SQL branch: that branch costs
    # about 6 ms per rule to plan and run, the reference evaluator about 16 µs per event and rule (measured
    # over SigmaHQ's web rules), so below a few hundred such events evaluating them here is cheaper.
    sparse_limit = 300

    def __init__(self, store: LocalStore) -> None:
        # A cursor of its own (DuckDB: a connection to the same database): its session settings and the
        # candidate table registered while narrowing stay its own, not the store's shared connection's.
        self.con = store.con.cursor()
        self.con.execute("SET TimeZone = 'UTC'")
        self._folding: dict[str, bool] = {}  # field → holds a character DuckDB relates to ASCII letters
        self._sparse_present: frozenset[str] | None = None
        self._sparse_rows: dict[TimeWindow, list[dict[str, Any]] | None] = {}

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def facts(self, query: ir.Node) -> Facts:
        """What the data allows the SQL for `query` to leave out (sqlgen.Facts), learnt once per field."""
        con = self.con
        if self._sparse_present is None:
            counts = con.execute("SELECT " + ", ".join(f"count({q(f)})" for f in sorted(SPARSE))
                                 + f" FROM {TABLE}").fetchone()
            self._sparse_present = frozenset(f for f, n in zip(sorted(SPARSE), counts or (), strict=True) if n)
        todo = sorted({f for f in ir.fields(query) if FIELD_TYPES.get(f) is FieldType.KEYWORD} - set(self._folding))
        if todo:
            chars = literal("[" + "".join(sorted(NON_ASCII_FOLDING)) + "]")
            found = con.execute("SELECT " + ", ".join(f"coalesce(bool_or(regexp_matches({q(f)}, {chars})), FALSE)"
                                                      for f in todo) + f" FROM {TABLE}").fetchone()
            self._folding.update(zip(todo, found or (), strict=True))
        return Facts(folding=frozenset(f for f, yes in self._folding.items() if yes), sparse=self._sparse_present)

    def _sparse_events(self, window: TimeWindow) -> list[dict[str, Any]] | None:
        """The events of `window` holding a derived field, as the reference evaluator reads them (None: more
        than `sparse_limit`)."""
        if window not in self._sparse_rows:
            present = sorted(self._sparse_present or ())
            rows: list[dict[str, Any]] | None = []
            if present:
                where = " OR ".join(f"{q(f)} IS NOT NULL" for f in present)
                cursor = self.con.execute(
                    f"SELECT * EXCLUDE ({', '.join(q(ip_bin_column(f)) for f in IP_FIELDS)}) FROM {TABLE} "
                    f"WHERE {self._time(window)} AND ({where}) LIMIT {self.sparse_limit + 1}")
                names = [d[0] for d in cursor.description or ()]
                found = cursor.fetchall()
                rows = None if len(found) > self.sparse_limit else [
                    {k: v for k, v in zip(names, r, strict=True) if v is not None} for r in found]
            self._sparse_rows[window] = rows
        return self._sparse_rows[window]

    @staticmethod
    def _time(window: TimeWindow) -> str:
        parts = ["TRUE"]
        if window.since is not None:
            parts.append(f'"@timestamp" >= {literal(_utc(window.since).isoformat())}::TIMESTAMPTZ')
        if window.until is not None:
            parts.append(f'"@timestamp" < {literal(_utc(window.until).isoformat())}::TIMESTAMPTZ')
        return " AND ".join(parts)

    def select(self, query: ir.Node, window: TimeWindow, columns: Sequence[str],
               narrowing: Narrowing | None = None) -> list[Row]:
        if query == ir.FALSE:
            return []
        facts = self.facts(query)
        sparse = [f for f in set(ir.fields(query)) & SPARSE if f in (facts.sparse or ())]
        here = self._sparse_events(window) if sparse and narrowing is None else None
        source = matching(query, TABLE, self._time(window), facts, sparse_rows=here is None)
        cols = ", ".join(q(c) for c in ("event.id", "@timestamp", *columns))
        con = self.con
        if narrowing is None:
            sql = f"SELECT {cols} FROM {source}"
        elif narrowing.groups is not None:
            if not narrowing.groups:
                return []
            keys = ", ".join(q(g) for g in narrowing.group)
            names = [f"g{i}" for i in range(len(narrowing.group))]
            table = pa.Table.from_pylist([dict(zip(names, k, strict=True)) for k in narrowing.groups])
            con.register("bk_candidates", table)
            sql = (f"SELECT {cols} FROM {source} WHERE ({keys}) IN "
                   f"(SELECT ({', '.join(names)}) FROM bk_candidates)")
        else:
            sql = self._narrowed(source, cols, narrowing)
        try:
            rows = con.execute(sql + ' ORDER BY "@timestamp", "event.id"').fetchall()
        except _QUERY_ERRORS as exc:
            raise QueryFailed(str(exc).splitlines()[0]) from None
        finally:
            if narrowing is not None and narrowing.groups is not None:
                con.unregister("bk_candidates")
        out = [(r[0], _utc(r[1]), *r[2:]) for r in rows]
        if here is not None:  # events holding one of the query's derived fields: evaluated here instead
            mine = [e for e in here if any(f in e for f in sparse)]
            if mine:
                ids = {e["event.id"] for e in mine}
                out = [r for r in out if r[0] not in ids]
                matches = ir.matcher(query)
                out += [(e["event.id"], _utc(e["@timestamp"]), *(e.get(c) for c in columns)) for e in mine
                        if matches(e)]
                out.sort(key=lambda r: (r[1], r[0]))
        return out

    def buckets(self, query: ir.Node, window: TimeWindow, group: Sequence[str],
                timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
        if query == ir.FALSE:
            return []
        keys = ", ".join(q(g) for g in group)
        present = " AND ".join(f"{q(g)} IS NOT NULL" for g in group)
        sql = (f'SELECT {keys}, CAST(floor(epoch("@timestamp") / {int(timespan)}) AS BIGINT), count(*) '
               f"FROM {matching(query, TABLE, self._time(window), self.facts(query))} WHERE {present} GROUP BY ALL")
        n = len(group)
        try:
            rows = self.con.execute(sql).fetchall()
        except _QUERY_ERRORS as exc:
            raise QueryFailed(str(exc).splitlines()[0]) from None
        return [(tuple(r[:n]), int(r[n]), int(r[n + 1])) for r in rows]

    @staticmethod
    def _narrowed(source: str, cols: str, n: Narrowing) -> str:
        keys = ", ".join(q(g) for g in n.group)
        present = " AND ".join(f"{q(g)} IS NOT NULL" for g in n.group)
        bucket = f'floor(epoch("@timestamp") / {n.timespan})'
        if n.distinct:  # distinct values across buckets k and k+1 (each triple counts for both pairs)
            candidates = f"""
                triples AS (SELECT DISTINCT {keys}, {bucket} AS k, {q(n.distinct)} AS v FROM matched
                            WHERE {q(n.distinct)} IS NOT NULL),
                paired AS (SELECT {keys}, k, v FROM triples UNION ALL SELECT {keys}, k - 1, v FROM triples),
                candidates AS (SELECT {keys} FROM paired GROUP BY {keys}, k
                               HAVING count(DISTINCT v) >= {int(n.minimum)})"""
        else:
            candidates = f"""
                buckets AS (SELECT {keys}, {bucket} AS k, count(*) AS m FROM matched GROUP BY ALL),
                paired AS (
                    SELECT {keys}, m + CASE WHEN lead(k) OVER w = k + 1 THEN lead(m) OVER w ELSE 0 END AS pair
                    FROM buckets WINDOW w AS (PARTITION BY {keys} ORDER BY k)),
                candidates AS (SELECT {keys} FROM paired WHERE pair >= {int(n.minimum)})"""
        return f"""
            WITH matched AS (SELECT * FROM {source} WHERE {present}),{candidates}
            SELECT {cols} FROM matched WHERE ({keys}) IN (SELECT ({keys}) FROM candidates)"""

    def describe(self, query: ir.Node) -> str:
        return self.describe_query(query)

    @staticmethod
    def describe_query(query: ir.Node) -> str:
        return f"SELECT * FROM {matching(query, TABLE)}"


class ReferenceEngine:
    """The reference semantics over events in memory (`ir.evaluate`): the oracle of the differential tests."""

    name = "reference"
    notes: tuple[str, ...] = ()

    def __init__(self, events: Sequence[dict[str, Any]]) -> None:
        self.events = sorted(events, key=lambda e: (e["@timestamp"], e["event.id"]))

    def select(self, query: ir.Node, window: TimeWindow, columns: Sequence[str],
               narrowing: Narrowing | None = None) -> list[Row]:
        # The reference never narrows: it is the oracle the narrowing engines are compared with.
        matches = ir.matcher(query)
        rows = [e for e in self.events
                if (window.since is None or e["@timestamp"] >= window.since)
                and (window.until is None or e["@timestamp"] < window.until) and matches(e)]
        return [(e["event.id"], _utc(e["@timestamp"]), *(e.get(c) for c in columns)) for e in rows]

    def buckets(self, query: ir.Node, window: TimeWindow, group: Sequence[str],
                timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
        return bucket_counts(self.select(query, window, group), timespan)

    def describe(self, query: ir.Node) -> str:
        return repr(query)
