"""The two detection engines: select the events an IR query matches, and candidate correlation groups.

Both return plain rows `(event.id, @timestamp (aware UTC), *requested fields)` ordered by time and id,
so everything above them (detection records, correlation windows) is shared code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from breachkit.detect import ir
from breachkit.detect.correlate import Narrowing, adjacent_bucket_candidates, adjacent_bucket_distinct_candidates
from breachkit.detect.esquery import MATCH_ALL, query_for
from breachkit.detect.sqlgen import NON_ASCII_FOLDING, SPARSE, Facts, literal, matching
from breachkit.logs.local import IP_FIELDS, TABLE, LocalStore, ip_bin_column, q
from breachkit.logs.schema import FIELD_TYPES, FieldType

# SQL here is built from the IR compiler and the schema's quoted field names, never from input text.

Row = tuple[Any, ...]


class QueryFailed(Exception):
    """The engine rejected one rule's query (e.g. a regular expression its dialect refuses): that rule fails,
    the others still run. Errors that concern every query (service down, credentials) are not this."""


# DuckDB errors caused by the query itself (not by the database file, memory or the connection).
_QUERY_ERRORS = (duckdb.ProgrammingError, duckdb.DataError, duckdb.NotSupportedError)


@dataclass(frozen=True)
class TimeWindow:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


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
    # Events holding a derived field (a decoded URL or keyword text) within a window, at most, that a query is
    # evaluated on in Python by the reference semantics instead of in a second SQL branch: that branch costs
    # about 6 ms per rule to plan and run, the reference evaluator about 16 µs per event and rule (measured
    # over SigmaHQ's web rules), so below a few hundred such events evaluating them here is cheaper.
    sparse_limit = 300

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        store.con.execute("SET TimeZone = 'UTC'")
        self._folding: dict[str, bool] = {}  # field → holds a character DuckDB relates to ASCII letters
        self._sparse_present: frozenset[str] | None = None
        self._sparse_rows: dict[TimeWindow, list[dict[str, Any]] | None] = {}

    def facts(self, query: ir.Node) -> Facts:
        """What the data allows the SQL for `query` to leave out (sqlgen.Facts), learnt once per field."""
        con = self.store.con
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
                cursor = self.store.con.execute(
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
        con = self.store.con
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
                out += [(e["event.id"], _utc(e["@timestamp"]), *(e.get(c) for c in columns)) for e in mine
                        if ir.evaluate(query, e)]
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
            rows = self.store.con.execute(sql).fetchall()
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


class ElasticsearchEngine:
    """Queries run server-side; hits are paged with `search_after` and carry doc values, never `_source`."""

    name = "elasticsearch"
    page_size = 5000
    keys_per_query = 10_000  # candidate groups per search (index.max_terms_count defaults to 65,536)

    def __init__(self, client: Any, index: str) -> None:
        self.client = client
        self.index = index
        self.server_ms = 0  # sum of the searches' `took`: time spent inside Elasticsearch

    def _search(self, **body: Any) -> Any:
        try:
            resp = self.client.search(index=self.index, **body)
        except Exception as exc:  # the client's ApiError; only this module's caller knows the client
            if getattr(getattr(exc, "meta", None), "status", None) == 400:
                raise QueryFailed(str(getattr(exc, "message", exc))) from None
            raise
        self.server_ms += int(resp.get("took", 0))
        return resp

    def _filter(self, dsl: dict[str, Any], window: TimeWindow) -> list[dict[str, Any]]:
        filters = [] if dsl == MATCH_ALL else [dsl]
        bounds: dict[str, str] = {}
        if window.since is not None:
            bounds["gte"] = _utc(window.since).isoformat()
        if window.until is not None:
            bounds["lt"] = _utc(window.until).isoformat()
        if bounds:
            filters.append({"range": {"@timestamp": bounds}})
        return filters

    def select(self, query: ir.Node, window: TimeWindow, columns: Sequence[str],
               narrowing: Narrowing | None = None) -> list[Row]:
        if query == ir.FALSE:
            return []
        dsl, post_filter = query_for(query)
        filters = self._filter(dsl, window)
        queries = [{"bool": {"filter": filters}} if filters else MATCH_ALL]
        if narrowing is not None:
            keys = (sorted(narrowing.groups, key=lambda k: tuple(map(str, k))) if narrowing.groups is not None
                    else self._candidate_keys(filters, narrowing))
            # a query per slice of candidates: `terms` and `bool` clause counts are bounded server-side
            step = self.keys_per_query if len(narrowing.group) == 1 else max(1, self.keys_per_query // 10)
            queries = [{"bool": {"filter": [*filters, self._keys_filter(narrowing.group, keys[i:i + step])]}}
                       for i in range(0, len(keys), step)]
        extra = sorted(set(ir.fields(query)) - set(columns)) if post_filter else []
        wanted = ["event.id", "@timestamp", *columns, *extra]
        rows: list[Row] = []
        for dsl_query in queries:
            for hit in self._scan(dsl_query, wanted):
                values = hit.get("fields", {})
                event = {f: _first(values.get(f)) for f in wanted}
                if post_filter and not ir.evaluate(query, event):
                    continue
                stamp = datetime.fromisoformat(event["@timestamp"].replace("Z", "+00:00"))
                rows.append((event["event.id"], stamp, *(event[c] for c in columns)))
        if len(queries) > 1:
            rows.sort(key=lambda r: (r[1], r[0]))
        return rows

    def _scan(self, query: dict[str, Any], fields: Sequence[str]) -> Any:
        after = None
        docvalues = [{"field": f, "format": "strict_date_optional_time"} if f == "@timestamp" else f for f in fields]
        while True:
            body: dict[str, Any] = {
                "query": query, "size": self.page_size, "_source": False, "docvalue_fields": docvalues,
                "sort": [{"@timestamp": "asc"}, {"event.id": "asc"}], "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            resp = self._search(**body)
            hits = resp["hits"]["hits"]
            yield from hits
            if len(hits) < self.page_size:
                return
            after = hits[-1]["sort"]

    def _composite(self, filters: list[dict[str, Any]], sources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every bucket of a composite aggregation, paged to the end."""
        after = None
        while True:
            composite: dict[str, Any] = {"size": 10_000, "sources": sources}
            if after is not None:
                composite["after"] = after
            resp = self._search(size=0, query={"bool": {"filter": filters}}, aggs={"b": {"composite": composite}})
            agg = resp["aggregations"]["b"]
            yield from agg["buckets"]
            after = agg.get("after_key")
            if not agg["buckets"] or after is None:
                return

    @staticmethod
    def _sources(group: Sequence[str], timespan: int) -> list[dict[str, Any]]:
        sources: list[dict[str, Any]] = [{f"g{i}": {"terms": {"field": f}}} for i, f in enumerate(group)]
        sources.append({"k": {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{timespan}s"}}})
        return sources

    def _candidate_keys(self, filters: list[dict[str, Any]], n: Narrowing) -> list[Row]:
        """Candidate groups from a composite aggregation over (group fields, fixed time bucket[, value]);
        the adjacent-bucket sums are added up here (exact: no approximate cardinality)."""
        sources = self._sources(n.group, n.timespan)
        if n.distinct:
            sources.append({"v": {"terms": {"field": n.distinct}}})
        buckets: list[tuple[Row, int, Any]] = []
        for b in self._composite(filters, sources):
            key = tuple(b["key"][f"g{i}"] for i in range(len(n.group)))
            # (group, bucket, value) when counting distinct values, else (group, bucket, event count)
            measure = b["key"]["v"] if n.distinct else b["doc_count"]
            buckets.append((key, b["key"]["k"] // 1000 // n.timespan, measure))
        if n.distinct:
            return sorted(adjacent_bucket_distinct_candidates(buckets, n.minimum))
        return sorted(adjacent_bucket_candidates(buckets, n.minimum))

    def buckets(self, query: ir.Node, window: TimeWindow, group: Sequence[str],
                timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
        if query == ir.FALSE:
            return []
        dsl, post_filter = query_for(query)
        if post_filter:  # field-to-field conditions cannot be aggregated server-side: count fetched rows
            return bucket_counts(self.select(query, window, group), timespan)
        return [(tuple(b["key"][f"g{i}"] for i in range(len(group))), b["key"]["k"] // 1000 // timespan,
                 b["doc_count"]) for b in self._composite(self._filter(dsl, window), self._sources(group, timespan))]

    @staticmethod
    def _keys_filter(group: Sequence[str], keys: list[Row]) -> dict[str, Any]:
        if len(group) == 1:
            return {"terms": {group[0]: [k[0] for k in keys]}}
        return {"bool": {"should": [{"bool": {"filter": [{"term": {f: v}} for f, v in zip(group, key, strict=True)]}}
                                    for key in keys], "minimum_should_match": 1}}

    def describe(self, query: ir.Node) -> str:
        return self.describe_query(query)

    @staticmethod
    def describe_query(query: ir.Node) -> str:
        import json

        dsl, post = query_for(query)
        text = json.dumps({"query": dsl}, indent=2, ensure_ascii=False)
        return text + ("\n# then, on the fetched doc values: field-to-field comparisons (|fieldref)" if post else "")


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


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


def bucket_counts(rows: Sequence[Row], timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
    """(group values, bucket, count) from fetched rows (event.id, @timestamp, *group values)."""
    counts: dict[tuple[tuple[Any, ...], int], int] = {}
    for row in rows:
        if all(v is not None for v in row[2:]):
            key = (tuple(row[2:]), int(row[1].timestamp()) // timespan)
            counts[key] = counts.get(key, 0) + 1
    return [(g, k, c) for (g, k), c in counts.items()]
