"""The search-engine detection engine: Elasticsearch and OpenSearch through the same query DSL.

Queries run server-side; hits are paged and carry doc values, never `_source`. The client comes from the
store (`breachkit.logs.search.SearchClient`), so nothing here imports an engine's client.

Over an existing index (`IndexFields` not native: Filebeat's ECS indices) the IR is adapted first:
field names follow the index's mapping, `event.dataset` values are the index's (`apache.access` for
`web`), values standing for "not logged" (`-`) count as missing, and fields the index lacks but breachkit
derives from others (`url.path`, `url.query`, `url.extension` from `url.original`, the once-decoded URLs,
the decoded keyword text: `detect.sources.DERIVED_FROM`) are computed and checked on the client over the
fetched candidates, with the reference evaluator — as field-to-field comparisons are — after a server-side
pre-filter where one exists (a decoded URL needs a `%` in the logged one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from breachkit.detect import ir
from breachkit.detect.correlate import Narrowing, adjacent_bucket_candidates, adjacent_bucket_distinct_candidates
from breachkit.detect.esquery import MATCH_ALL, needs_exact, to_dsl
from breachkit.detect.sources import bases, derive, prefilter
from breachkit.errors import ServiceError
from breachkit.logs.schema import FIELD_TYPES, FieldType
from breachkit.logs.search import IndexFields, QueryRejected, SearchClient
from breachkit.logs.searchload import RUN_FIELD
from breachkit.logs.searchruns import OpenRun

Row = tuple[Any, ...]


@dataclass(frozen=True)
class TimeWindow:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


class QueryFailed(Exception):
    """The engine rejected one rule's query (e.g. a regular expression its dialect refuses): that rule fails,
    the others still run. Errors that concern every query (service down, credentials) are not this."""


TOO_MANY_CLAUSES = "too_many_nested_clauses"  # the cluster's max_clause_count was exceeded


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def adapt(node: ir.Node, fields: IndexFields, positive: bool = True) -> tuple[ir.Node, bool]:
    """(the IR to run server-side, whether the hits still need the client-side check)."""
    match node:
        case ir.And(args) | ir.Or(args):
            parts = [adapt(a, fields, positive) for a in args]
            make = ir.and_ if isinstance(node, ir.And) else ir.or_
            return make([p for p, _ in parts]), any(c for _, c in parts)
        case ir.Not(arg):
            inner, client = adapt(arg, fields, not positive)
            return ir.not_(inner), client
        case ir.Const():
            return node, False
        case ir.FieldRef():
            return ir.Const(positive), True
    names = list(ir.fields(node))
    if any(n in fields.derived for n in names):
        # computed on the client: the server fetches a superset (positive) or a subset (under a `not`)
        narrower = None
        if positive and isinstance(node, ir.Str | ir.Regex | ir.Exists):
            narrower = prefilter(node, fields.derived)
        return (adapt(narrower, fields)[0] if narrower is not None else ir.Const(positive)), True
    if isinstance(node, ir.Str | ir.Regex) and node.field in fields.client_checked and needs_exact(node):
        return ir.Const(positive), True
    name = names[0] if names else ""
    out: ir.Node = node
    if name == "event.dataset" and fields.datasets and isinstance(node, ir.Str) and node.kind == "eq":
        values = fields.datasets.get(node.value.lower(), (node.value,))
        out = ir.or_([ir.Str("event.dataset", "eq", v.lower()) for v in values])
    if fields.null_values and FIELD_TYPES.get(name) is FieldType.KEYWORD:
        nulls = [ir.Str(name, "eq", v, cased=True) for v in fields.null_values]
        out = ir.and_([out, ir.not_(ir.or_(nulls))])  # type: ignore[arg-type]
    return out, False


def _renamed(dsl: Any, fields: IndexFields) -> Any:
    """The DSL with breachkit's field names replaced by the index's (keys of leaf queries, `field` values)."""
    if isinstance(dsl, list):
        return [_renamed(d, fields) for d in dsl]
    if not isinstance(dsl, dict):
        return dsl
    out: dict[str, Any] = {}
    for key, value in dsl.items():
        if key in ("term", "terms", "prefix", "wildcard", "regexp", "range") and isinstance(value, dict):
            out[key] = {fields.query.get(k, k): v for k, v in value.items()}
        elif key == "exists":
            out[key] = {"field": fields.query.get(value["field"], value["field"])}
        else:
            out[key] = _renamed(value, fields)
    return out


def query_for(node: ir.Node, fields: IndexFields) -> tuple[dict[str, Any], bool]:
    """The server-side query over an index described by `fields`, and whether hits need the client check."""
    if fields.is_native and not fields.client_checked:
        if ir.has_fieldref(node):
            return to_dsl(ir.relax_fieldrefs(node), fields.exact), True
        return to_dsl(node, fields.exact), False
    server, client = adapt(node, fields)
    dsl = to_dsl(server, fields.exact)
    return (dsl if fields.is_native else _renamed(dsl, fields)), client


class SearchEngine:
    """Detection over one index (or pattern) of an Elasticsearch or OpenSearch cluster."""

    page_size = 5000
    keys_per_query = 10_000  # candidate groups per search (index.max_terms_count defaults to 65,536)

    def __init__(self, conn: SearchClient, index: str, fields: IndexFields | None = None) -> None:
        self.conn = conn
        self.name = conn.engine
        self.index = index
        self.fields = fields or IndexFields.native()
        self.server_ms = 0  # sum of the searches' `took`: time spent inside the cluster
        self.left_out: list[str] = []  # runs whose documents every query leaves out (`leave_out`)
        self.notes: list[str] = []  # what a detection result must say about the events searched

    @classmethod
    def over(cls, store: Any) -> SearchEngine:
        """The engine over a store's own index (`breachkit.logs.search.SearchStore`), leaving out the events of
        ingest runs into it that have not finished (`breachkit.logs.searchruns`)."""
        engine = cls(store.conn, store.index, store.fields())
        engine.leave_out(store.open_runs())
        return engine

    def leave_out(self, runs: Sequence[OpenRun]) -> None:
        """Leave the documents of `runs` out of every query, and say so in `notes` (with how many, of which
        source) for each run that has any."""
        if not runs:
            return
        self.left_out = [r.run for r in runs]
        resp = self._search({"size": 0, "query": {"terms": {RUN_FIELD: self.left_out}},
                             "aggs": {"runs": {"terms": {"field": RUN_FIELD, "size": len(runs)}}}})
        counts = {str(b["key"]): int(b["doc_count"]) for b in resp["aggregations"]["runs"]["buckets"]}
        for run in runs:
            if counts.get(run.run):
                self.notes.append(
                    f"{counts[run.run]:,} events of an ingest of {run.source} that has not finished (run {run.run}, "
                    f"started {run.started}) were left out: they are searched once it is committed; if that "
                    "ingest was interrupted, run it again")

    def _search(self, body: dict[str, Any]) -> Any:
        try:
            with self.conn.errors():
                resp = self.conn.search(self.index, body)
        except QueryRejected as exc:
            if TOO_MANY_CLAUSES in exc.message:
                raise  # `select` and `buckets` split the query
            raise QueryFailed(exc.message) from None
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
            filters.append({"range": {self.fields.query.get("@timestamp", "@timestamp"): bounds}})
        if self.left_out:
            filters.append({"bool": {"must_not": [{"terms": {RUN_FIELD: self.left_out}}]}})
        return filters

    # -------------------------------------------------------------------------------- fetching events

    def _wanted(self, names: Sequence[str]) -> list[str]:
        """Index fields to fetch for breachkit fields (derived ones are computed from others: `bases`)."""
        out: list[str] = []
        for n in names:
            mapped = self.fields.query.get(n) if n not in self.fields.derived else None
            if mapped is not None and mapped not in out:
                out.append(mapped)
        return out

    def _event(self, hit: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
        values = hit.get("fields", {})
        event: dict[str, Any] = {}
        for n in names:
            mapped = self.fields.query.get(n) if n not in self.fields.derived else None
            if mapped is None:
                event[n] = None
            elif n in self.fields.from_source:
                event[n] = _from_source(hit.get("_source", {}), mapped)
            else:
                event[n] = _first(values.get(mapped))
        if self.fields.id_field is None:
            event["event.id"] = hit["_id"]
        if not self.fields.is_native:
            self._normalize(event)
        return event

    def _normalize(self, event: dict[str, Any]) -> None:
        for k, v in event.items():
            if isinstance(v, str) and v in self.fields.null_values and FIELD_TYPES.get(k) is FieldType.KEYWORD:
                event[k] = None
        dataset = event.get("event.dataset")
        if isinstance(dataset, str):
            for ours, theirs in self.fields.datasets.items():
                if dataset in theirs or dataset.lower() in (t.lower() for t in theirs):
                    event["event.dataset"] = ours
                    break
        derive(event, self.fields.derived)

    def select(self, query: ir.Node, window: TimeWindow, columns: Sequence[str],
               narrowing: Narrowing | None = None) -> list[Row]:
        if query == ir.FALSE:
            return []
        try:
            return self._select(query, window, columns, narrowing)
        except ServiceError as exc:
            parts = split_or(query) if TOO_MANY_CLAUSES in exc.message else None
            if parts is None:
                raise
        # A query too large for the cluster (`wildcard` fields expand patterns into many clauses) runs as
        # several smaller ones whose union it is; without narrowing, which is only a pre-filter.
        seen: dict[Any, Row] = {}
        for part in parts:
            for row in self.select(part, window, columns):
                seen.setdefault(row[0], row)
        return sorted(seen.values(), key=lambda r: (r[1], r[0]))

    def _select(self, query: ir.Node, window: TimeWindow, columns: Sequence[str],
                narrowing: Narrowing | None) -> list[Row]:
        if not self.fields.is_native:
            narrowing = None  # only a pre-filter; over an existing index values are translated on the client
        dsl, post_filter = query_for(query, self.fields)
        filters = self._filter(dsl, window)
        queries = [{"bool": {"filter": filters}} if filters else MATCH_ALL]
        if narrowing is not None:
            keys = (sorted(narrowing.groups, key=lambda k: tuple(map(str, k))) if narrowing.groups is not None
                    else self._candidate_keys(filters, narrowing))
            step = self.keys_per_query if len(narrowing.group) == 1 else max(1, self.keys_per_query // 10)
            queries = [{"bool": {"filter": [*filters, self._keys_filter(narrowing.group, keys[i:i + step])]}}
                       for i in range(0, len(keys), step)]
        extra = sorted(set(ir.fields(query)) - set(columns)) if post_filter else []
        names = ["event.id", "@timestamp", *columns, *extra]
        names += bases(names, self.fields.derived)
        wanted = self._wanted(names)
        rows: list[Row] = []
        matches = ir.matcher(query)
        for dsl_query in queries:
            for hit in self._hits(dsl_query, wanted):
                event = self._event(hit, names)
                if post_filter and not matches(event):
                    continue
                stamp = datetime.fromisoformat(str(event["@timestamp"]).replace("Z", "+00:00"))
                rows.append((event["event.id"], stamp, *(event[c] for c in columns)))
        if len(queries) > 1 or self.fields.id_field is None:
            rows.sort(key=lambda r: (r[1], r[0]))
        return rows

    def _hits(self, query: dict[str, Any], fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        ts = self.fields.query.get("@timestamp", "@timestamp")
        by_source = {self.fields.query[n] for n in self.fields.from_source if n in self.fields.query}
        docvalues = [{"field": f, "format": "strict_date_optional_time"} if f == ts else f
                     for f in fields if f not in by_source]
        source: Any = {"includes": sorted(set(fields) & by_source)} if set(fields) & by_source else False
        id_field = self.fields.query.get("event.id") if self.fields.id_field else None
        # Without an event.id field to break ties, pages are cut by `_doc` inside one shard only: a pattern
        # over several indices is read with a scroll instead, and sorted here.
        sort = [{ts: "asc"}, {id_field: "asc"}] if id_field else ["_doc"]
        after = None
        scroll_id = None
        try:
            while True:
                body: dict[str, Any] = {"query": query, "size": self.page_size, "_source": source,
                                        "docvalue_fields": docvalues, "sort": sort, "track_total_hits": False}
                if id_field is None:
                    del body["track_total_hits"]  # not allowed with a scroll
                    resp = self._scroll_start(body) if scroll_id is None else self._scroll_next(scroll_id)
                    scroll_id = resp.get("_scroll_id")
                else:
                    if after is not None:
                        body["search_after"] = after
                    resp = self._search(body)
                hits = resp["hits"]["hits"]
                yield from hits
                if len(hits) < self.page_size if id_field else not hits:
                    return
                after = hits[-1].get("sort")
        finally:
            if scroll_id is not None:
                self._scroll_clear(scroll_id)

    def _scroll_start(self, body: dict[str, Any]) -> Any:
        with self.conn.errors():
            resp = self.conn.scroll_start(self.index, body)
        self.server_ms += int(resp.get("took", 0))
        return resp

    def _scroll_next(self, scroll_id: str) -> Any:
        with self.conn.errors():
            resp = self.conn.scroll_next(scroll_id)
        self.server_ms += int(resp.get("took", 0))
        return resp

    def _scroll_clear(self, scroll_id: str) -> None:
        with self.conn.errors():
            self.conn.scroll_clear(scroll_id)

    # -------------------------------------------------------------------------------- aggregations

    def _agg_field(self, name: str) -> str:
        agg = self.fields.aggregate.get(name)
        if agg is None:
            from breachkit.errors import UsageError

            raise UsageError(f"the field {name!r} cannot be aggregated in {self.index!r} (grouping a correlation "
                             "by it needs a keyword, ip or numeric field)",
                             hint=f"breachkit logs check-index {self.index} --engine {self.name}")
        return agg

    def _composite(self, filters: list[dict[str, Any]], sources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every bucket of a composite aggregation, paged to the end."""
        after = None
        while True:
            composite: dict[str, Any] = {"size": 10_000, "sources": sources}
            if after is not None:
                composite["after"] = after
            resp = self._search({"size": 0, "query": {"bool": {"filter": filters}},
                                 "aggs": {"b": {"composite": composite}}})
            agg = resp["aggregations"]["b"]
            yield from agg["buckets"]
            after = agg.get("after_key")
            if not agg["buckets"] or after is None:
                return

    def _sources(self, group: Sequence[str], timespan: int) -> list[dict[str, Any]]:
        sources: list[dict[str, Any]] = [{f"g{i}": {"terms": {"field": self._agg_field(f)}}}
                                         for i, f in enumerate(group)]
        ts = self.fields.query.get("@timestamp", "@timestamp")
        sources.append({"k": {"date_histogram": {"field": ts, "fixed_interval": f"{timespan}s"}}})
        return sources

    def _group_filters(self, filters: list[dict[str, Any]], group: Sequence[str]) -> list[dict[str, Any]]:
        if not self.fields.null_values:
            return filters
        nulls = [{"terms": {self._agg_field(g): list(self.fields.null_values)}} for g in group
                 if FIELD_TYPES.get(g) is FieldType.KEYWORD]
        return [*filters, {"bool": {"must_not": nulls}}] if nulls else filters

    def _candidate_keys(self, filters: list[dict[str, Any]], n: Narrowing) -> list[Row]:
        """Candidate groups from a composite aggregation over (group fields, fixed time bucket[, value]);
        the adjacent-bucket sums are added up here (exact: no approximate cardinality)."""
        sources = self._sources(n.group, n.timespan)
        if n.distinct:
            sources.append({"v": {"terms": {"field": self._agg_field(n.distinct)}}})
        buckets: list[tuple[Row, int, Any]] = []
        for b in self._composite(self._group_filters(filters, n.group), sources):
            key = tuple(b["key"][f"g{i}"] for i in range(len(n.group)))
            measure = b["key"]["v"] if n.distinct else b["doc_count"]
            buckets.append((key, b["key"]["k"] // 1000 // n.timespan, measure))
        if n.distinct:
            return sorted(adjacent_bucket_distinct_candidates(buckets, n.minimum))
        return sorted(adjacent_bucket_candidates(buckets, n.minimum))

    def buckets(self, query: ir.Node, window: TimeWindow, group: Sequence[str],
                timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
        if query == ir.FALSE:
            return []
        dsl, post_filter = query_for(query, self.fields)
        if post_filter or not self.fields.is_native:
            # client-side conditions, or values that need translating back: count fetched rows
            return bucket_counts(self.select(query, window, group), timespan)
        try:
            return [(tuple(b["key"][f"g{i}"] for i in range(len(group))), b["key"]["k"] // 1000 // timespan,
                     b["doc_count"])
                    for b in self._composite(self._filter(dsl, window), self._sources(group, timespan))]
        except ServiceError as exc:
            if TOO_MANY_CLAUSES not in exc.message:
                raise
        return bucket_counts(self.select(query, window, group), timespan)

    def _keys_filter(self, group: Sequence[str], keys: list[Row]) -> dict[str, Any]:
        names = [self._agg_field(g) for g in group]
        if len(group) == 1:
            return {"terms": {names[0]: [k[0] for k in keys]}}
        return {"bool": {"should": [{"bool": {"filter": [{"term": {f: v}} for f, v in zip(names, key, strict=True)]}}
                                    for key in keys], "minimum_should_match": 1}}

    def describe(self, query: ir.Node) -> str:
        dsl, post = query_for(query, self.fields)
        return _describe(dsl, post)

    @staticmethod
    def describe_query(query: ir.Node) -> str:
        dsl, post = query_for(query, IndexFields.native())
        return _describe(dsl, post)


def split_or(node: ir.Node) -> list[ir.Node] | None:
    """`node` as two queries whose union it is: its largest OR (not under a NOT) cut in halves; None if
    it has no OR of two or more terms outside negations."""
    best: list[tuple[int, tuple[int, ...]]] = []

    def walk(n: ir.Node, path: tuple[int, ...]) -> None:
        if isinstance(n, ir.Or) and len(n.args) > 1:
            best.append((len(n.args), path))
        if isinstance(n, ir.And | ir.Or):
            for i, a in enumerate(n.args):
                walk(a, (*path, i))

    walk(node, ())
    if not best:
        return None
    _, path = max(best, key=lambda b: (b[0], -len(b[1])))

    def replace(n: ir.Node, rest: tuple[int, ...], half: int) -> ir.Node:
        assert isinstance(n, ir.And | ir.Or)
        if not rest:
            mid = len(n.args) // 2
            return ir.or_(list(n.args[:mid] if half == 0 else n.args[mid:]))
        args = list(n.args)
        args[rest[0]] = replace(args[rest[0]], rest[1:], half)
        return ir.and_(args) if isinstance(n, ir.And) else ir.or_(args)

    return [replace(node, path, 0), replace(node, path, 1)]


def _describe(dsl: dict[str, Any], post: bool) -> str:
    text = json.dumps({"query": dsl}, indent=2, ensure_ascii=False)
    return text + ("\n# then, on the fetched doc values: the conditions checked on the client "
                   "(|fieldref, derived fields)" if post else "")


def _from_source(doc: Any, dotted: str) -> Any:
    """A field's value in a document's `_source`, written as objects or with dotted names (or both)."""
    if not isinstance(doc, dict):
        return None
    if dotted in doc:
        return _first(doc[dotted])
    head, _, rest = dotted.partition(".")
    while rest:
        if head in doc:
            found = _from_source(doc[head], rest)
            if found is not None:
                return found
        part, _, rest = rest.partition(".")
        head = f"{head}.{part}"
    return None


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def bucket_counts(rows: Sequence[Row], timespan: int) -> list[tuple[tuple[Any, ...], int, int]]:
    """(group values, bucket, count) from fetched rows (event.id, @timestamp, *group values)."""
    counts: dict[tuple[tuple[Any, ...], int], int] = {}
    for row in rows:
        if all(v is not None for v in row[2:]):
            key = (tuple(row[2:]), int(row[1].timestamp()) // timespan)
            counts[key] = counts.get(key, 0) + 1
    return [(g, k, c) for (g, k), c in counts.items()]


