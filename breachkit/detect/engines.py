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

import pyarrow as pa

from breachkit.detect import ir
from breachkit.detect.correlate import Narrowing
from breachkit.detect.searchengine import Row, SearchEngine, TimeWindow, bucket_counts
from breachkit.detect.sqlgen import literal, relation, to_sql
from breachkit.logs.local import TABLE, LocalStore, q

# SQL here is built from the IR compiler and the schema's quoted field names, never from input text.

__all__ = ["ElasticsearchEngine", "Engine", "LocalEngine", "ReferenceEngine", "Row", "SearchEngine",
           "TimeWindow", "bucket_counts"]
ElasticsearchEngine = SearchEngine  # the name before OpenSearch joined


class Engine(Protocol):
    name: str

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

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        store.con.execute("SET TimeZone = 'UTC'")

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
        source = relation(query, TABLE, self._time(window))
        where = to_sql(query)
        cols = ", ".join(q(c) for c in ("event.id", "@timestamp", *columns))
        con = self.store.con
        if narrowing is None:
            sql = f"SELECT {cols} FROM {source} WHERE {where}"
        elif narrowing.groups is not None:
            if not narrowing.groups:
                return []
            keys = ", ".join(q(g) for g in narrowing.group)
            names = [f"g{i}" for i in range(len(narrowing.group))]
            table = pa.Table.from_pylist([dict(zip(names, k, strict=True)) for k in narrowing.groups])
            con.register("bk_candidates", table)
            sql = (f"SELECT {cols} FROM {source} WHERE {where} AND ({keys}) IN "
                   f"(SELECT ({', '.join(names)}) FROM bk_candidates)")
        else:
            sql = self._narrowed(source, where, cols, narrowing)
        try:
            rows = con.execute(sql + ' ORDER BY "@timestamp", "event.id"').fetchall()
        finally:
            if narrowing is not None and narrowing.groups is not None:
                con.unregister("bk_candidates")
        return [(r[0], _utc(r[1]), *r[2:]) for r in rows]

    def buckets(self, query: ir.Node, window: TimeWindow, group: Sequence[str],
                timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
        if query == ir.FALSE:
            return []
        keys = ", ".join(q(g) for g in group)
        present = " AND ".join(f"{q(g)} IS NOT NULL" for g in group)
        sql = (f'SELECT {keys}, CAST(floor(epoch("@timestamp") / {int(timespan)}) AS BIGINT), count(*) '
               f"FROM {relation(query, TABLE, self._time(window))} WHERE {to_sql(query)} AND {present} GROUP BY ALL")
        n = len(group)
        return [(tuple(r[:n]), int(r[n]), int(r[n + 1])) for r in self.store.con.execute(sql).fetchall()]

    @staticmethod
    def _narrowed(source: str, where: str, cols: str, n: Narrowing) -> str:
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
            WITH matched AS (SELECT * FROM {source} WHERE {where} AND {present}),{candidates}
            SELECT {cols} FROM matched WHERE ({keys}) IN (SELECT ({keys}) FROM candidates)"""

    def describe(self, query: ir.Node) -> str:
        return self.describe_query(query)

    @staticmethod
    def describe_query(query: ir.Node) -> str:
        return f"SELECT * FROM {relation(query, TABLE)} WHERE {to_sql(query)}"


class ReferenceEngine:
    """The reference semantics over events in memory (`ir.evaluate`): the oracle of the differential tests."""

    name = "reference"

    def __init__(self, events: Sequence[dict[str, Any]]) -> None:
        self.events = sorted(events, key=lambda e: (e["@timestamp"], e["event.id"]))

    def select(self, query: ir.Node, window: TimeWindow, columns: Sequence[str],
               narrowing: Narrowing | None = None) -> list[Row]:
        # The reference never narrows: it is the oracle the narrowing engines are compared with.
        rows = [e for e in self.events
                if (window.since is None or e["@timestamp"] >= window.since)
                and (window.until is None or e["@timestamp"] < window.until) and ir.evaluate(query, e)]
        return [(e["event.id"], _utc(e["@timestamp"]), *(e.get(c) for c in columns)) for e in rows]

    def buckets(self, query: ir.Node, window: TimeWindow, group: Sequence[str],
                timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
        return bucket_counts(self.select(query, window, group), timespan)

    def describe(self, query: ir.Node) -> str:
        return repr(query)
