"""The search-engine event store shared by Elasticsearch and OpenSearch (client-neutral).

Everything here speaks the query DSL subset both engines share; the engine modules
(`breachkit.logs.elasticsearch`, `breachkit.logs.opensearch`, the only modules importing their clients)
provide a `SearchClient`: the transport, the error translation and the capability detection.

The store (`SearchStore`): the index and its template (string fields searched with leading wildcards are
`wildcard` where the cluster has that type), adding fields an older breachkit's index lacks, statistics, the
sources stored and `forget`. Writing one input goes through a `breachkit.logs.searchload.SearchLoader`:
all-or-nothing per input by a per-run id (`breachkit.run`) on an engine without transactions, and `replace`
without leaving a line of the source without its event — the module docs there say how, and what a crash
leaves behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa

from breachkit.errors import ServiceError, UsageError
from breachkit.logs import searchruns
from breachkit.logs.ingest import LoadResult, load_whole
from breachkit.logs.local import FieldStats
from breachkit.logs.schema import FIELDS, MAX_VALUE_CHARS, FieldType
from breachkit.logs.searchload import RUN_FIELD, RUN_MAPPING, SearchLoader

# Fields Sigma rules search with leading wildcards (`|contains`, `|endswith`, keywords over the raw line):
# the `wildcard` field type answers those from an n-gram index instead of walking every term.
# (with their derived forms: the once-decoded URLs and the decoded keyword text, `breachkit.logs.derive`)
WILDCARD_FIELDS: frozenset[str] = frozenset({
    "url.original", "url.path", "url.query", "user_agent.original", "http.request.referrer",
    "log.original", "message", "url.original_decoded", "url.path_decoded", "url.query_decoded", "log.decoded",
})


class QueryRejected(ServiceError):
    """The cluster refused one request as malformed (HTTP 400: e.g. a regular expression its dialect does not
    take). Raised by a `SearchClient`'s `errors()`; the detection engine makes it the failure of one rule."""


def error_reason(body: Any, fallback: str) -> str:
    """The root causes of a cluster's error response ("type: reason; …"), both engines' shape; else `fallback`."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        return "; ".join(f"{c.get('type')}: {c.get('reason')}" for c in causes if isinstance(c, dict))
    return fallback


class SearchClient(Protocol):
    """What the store and the detection engine need from a cluster (one implementation per client)."""

    engine: str  # "elasticsearch" | "opensearch"
    where: str  # the hosts, for messages

    def errors(self) -> AbstractContextManager[None]:
        """Translate the client's exceptions into ServiceErrors that say what to check."""
        ...

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def count(self, index: str) -> int: ...
    def scroll_start(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def scroll_next(self, scroll_id: str) -> dict[str, Any]: ...
    def scroll_clear(self, scroll_id: str) -> None: ...
    def put_index_template(self, name: str, body: dict[str, Any]) -> None: ...
    def index_exists(self, index: str) -> bool: ...
    def put_mapping(self, index: str, body: dict[str, Any]) -> None: ...
    def create_index(self, index: str, body: dict[str, Any] | None = None) -> None: ...
    def refresh(self, index: str) -> None: ...
    def delete_index(self, index: str) -> None: ...
    def delete_index_template(self, name: str) -> None: ...
    def get_mapping(self, pattern: str) -> dict[str, Any]:
        """index name → its mappings, for every index matching `pattern` (ServiceError when none does)."""
        ...
    def bulk(self, actions: Iterator[tuple[bytes, bytes | None]], threads: int, chunk_size: int
             ) -> Iterator[tuple[bool, dict[str, Any]]]:
        """(ok, item) per pre-serialized (action line, document) pair, in parallel bulk requests."""
        ...
    def wildcard_mapping(self) -> dict[str, Any] | None:
        """The mapping of a `wildcard` field on this cluster, or None when it has no such type."""
        ...
    def close(self) -> None: ...


def _keyword() -> dict[str, Any]:
    return {"type": "keyword", "ignore_above": MAX_VALUE_CHARS}


def field_mappings(wildcard: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Dotted field name → its mapping, for the event schema and the run field; with `wildcard`, the fields
    of WILDCARD_FIELDS get that mapping instead of `keyword`."""
    types: dict[FieldType, dict[str, Any]] = {
        # Keyword values are kept as logged; Sigma's case-insensitive matching uses the query DSL's
        # `case_insensitive` option (term/prefix/wildcard/regexp), and `|cased` leaves it off.
        FieldType.KEYWORD: _keyword(),
        FieldType.DATE: {"type": "date"},  # default format: ISO 8601 or epoch millis; millisecond precision
        FieldType.IP: {"type": "ip"},
        FieldType.LONG: {"type": "long"},
    }
    flat = {f.name: dict(wildcard if wildcard is not None and f.name in WILDCARD_FIELDS else types[f.type])
            for f in FIELDS}
    flat[RUN_FIELD] = dict(RUN_MAPPING)
    return flat


def nested(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`properties` with objects for the dotted names."""
    root: dict[str, Any] = {}
    for name, spec in flat.items():
        node = root
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = spec
    return root


def index_mappings(wildcard: dict[str, Any] | None = None) -> dict[str, Any]:
    """The index mappings for the event schema (nested objects from the dotted names)."""
    return {"dynamic": "strict", "properties": nested(field_mappings(wildcard))}


@dataclass(frozen=True)
class IndexFields:
    """How breachkit's field names are found in an index: the field queried and fetched, the field
    aggregated on (a `keyword` sub-field where the main one cannot be aggregated), values that stand for
    "missing" (e.g. Filebeat's "-"), and event.dataset values as the index spells them."""

    query: dict[str, str] = field(default_factory=dict)  # missing: the field is not in the index
    aggregate: dict[str, str] = field(default_factory=dict)
    null_values: tuple[str, ...] = ()
    datasets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # breachkit dataset → index values
    # breachkit fields the engine derives on the client from others it fetches (url.path from url.original)
    derived: frozenset[str] = frozenset()
    id_field: str | None = "event.id"  # None: the document's _id is the event id
    wildcard: frozenset[str] = frozenset()  # breachkit fields the index maps as `wildcard`
    unusable: dict[str, str] = field(default_factory=dict)  # breachkit field → why it cannot be queried there
    from_source: frozenset[str] = frozenset()  # breachkit fields read from `_source` (no doc values)

    @property
    def exact(self) -> dict[str, str]:
        """Wildcard fields → the keyword field answering the conditions they cannot (esquery.needs_exact)."""
        return {n: self.aggregate[n] for n in self.wildcard if self.aggregate.get(n, n) != self.query.get(n, n)}

    @property
    def client_checked(self) -> frozenset[str]:
        """Wildcard fields without such a keyword field: the conditions they cannot answer are checked on the client."""
        return frozenset(n for n in self.wildcard if n not in self.exact)

    @classmethod
    def native(cls, aggregate_suffix: dict[str, str] | None = None,
               wildcard: frozenset[str] = frozenset()) -> IndexFields:
        """breachkit's own index: every field under its own name."""
        names = {f.name: f.name for f in FIELDS}
        suffix = aggregate_suffix or {}
        return cls(query=names, aggregate={n: n + suffix.get(n, "") for n in names}, wildcard=wildcard)

    @property
    def is_native(self) -> bool:
        return not self.null_values and not self.datasets and not self.derived and self.id_field == "event.id"


@dataclass(frozen=True)
class MappedField:
    """One field of an index mapping: its type and its sub-fields' types."""

    type: str
    subfields: dict[str, str] = field(default_factory=dict)
    doc_values: bool | None = None  # as the mapping says (None: the type's default)

    def fetchable(self, engine: str) -> bool:
        """Can hits carry its doc values? (OpenSearch's `wildcard` has none unless the mapping asks.)"""
        if self.doc_values is not None:
            return self.doc_values
        if self.type == "wildcard":
            return engine != "opensearch"
        return self.type not in ("text", "match_only_text")

    def aggregatable(self, engine: str) -> bool:
        # OpenSearch's wildcard aggregations count n-grams, not documents (2.19): never trusted there
        if self.type == "wildcard":
            return engine != "opensearch"
        return self.type in ("keyword", "ip", "long", "integer", "short", "byte", "date", "date_nanos",
                             "constant_keyword", "boolean", "double", "float")


def flatten_mapping(mapping: dict[str, Any]) -> dict[str, MappedField]:
    """Dotted field name → its type, from one index's `mappings` (objects walked, multi-fields kept)."""
    out: dict[str, MappedField] = {}

    def walk(props: dict[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            dotted = f"{prefix}{name}"
            if "properties" in spec:
                walk(spec["properties"], dotted + ".")
            if "type" in spec and spec["type"] != "object":
                subs = {k: v.get("type", "object") for k, v in spec.get("fields", {}).items()}
                out[dotted] = MappedField(spec["type"], subs, spec.get("doc_values"))

    walk(mapping.get("properties", {}), "")
    return out


class SearchStore:
    """Events in one index (`config.index`) of an Elasticsearch or OpenSearch cluster, created through an
    index template whose string fields searched with leading wildcards are `wildcard` where the cluster has
    that type (detected here, at template time) and `keyword` otherwise."""

    def __init__(self, conn: SearchClient, index: str, *, bulk_threads: int = 2, bulk_chunk_size: int = 2000,
                 spool_dir: Path | None = None, use_wildcard: bool = True,
                 read_only_patterns: Sequence[str] = (), track_runs: bool = True) -> None:
        """`track_runs`: register ingest runs so that detection leaves unfinished ones out (`searchruns`); off
        for a private index no one scans while it is written (a rule test's case index)."""
        self.conn = conn
        self.engine = conn.engine
        self.index = index
        self.bulk_threads = bulk_threads
        self.bulk_chunk_size = bulk_chunk_size
        self.spool_dir = spool_dir
        self.use_wildcard = use_wildcard
        self.read_only_patterns = tuple(read_only_patterns)
        self.track_runs = track_runs
        self._wildcard: dict[str, Any] | bool | None = False  # False: not detected yet

    @property
    def client(self) -> Any:
        """The underlying client object (for callers that need a client-specific API)."""
        return getattr(self.conn, "client", None)

    def wildcard(self) -> dict[str, Any] | None:
        """The `wildcard` mapping to use, or None for `keyword` (detected once per store)."""
        if self._wildcard is False:
            self._wildcard = self.conn.wildcard_mapping() if self.use_wildcard else None
        return self._wildcard if isinstance(self._wildcard, dict) else None

    def fields(self) -> IndexFields:
        """The index's own fields, aggregated where its actual mapping allows (an index made before the
        cluster had `wildcard` keeps its `keyword` fields)."""
        with self.conn.errors():
            exists = self.conn.index_exists(self.index)
            mapping = self.conn.get_mapping(self.index).get(self.index, {}) if exists else {}
        flat = flatten_mapping(mapping)
        suffix = {}
        for name in WILDCARD_FIELDS:
            info = flat.get(name)
            if info is not None and info.type == "wildcard" and not info.aggregatable(self.engine):
                suffix[name] = ".keyword"
        wildcard = frozenset(n for n, info in flat.items() if info.type == "wildcard")
        return IndexFields.native(suffix, wildcard)

    def template(self) -> dict[str, Any]:
        return {"index_patterns": [self.index], "priority": 200,
                "template": {"settings": {"index": {"number_of_shards": 1, "refresh_interval": "5s"}},
                             "mappings": index_mappings(self.wildcard())},
                "_meta": {"managed_by": "breachkit", "schema": 3}}

    def _check_writable(self) -> None:
        from fnmatch import fnmatchcase

        for pattern in self.read_only_patterns:
            if fnmatchcase(self.index, pattern):
                raise UsageError(f"the index {self.index!r} matches the read-only source {pattern!r}: "
                                 "breachkit never writes into existing indices",
                                 hint="choose another index name (elasticsearch.index / opensearch.index)")

    def ensure_index(self) -> None:
        self._check_writable()
        with self.conn.errors():
            self.conn.put_index_template(self.index, self.template())
        self._create_missing(self.index)
        with self.conn.errors():
            self._add_missing_fields()

    def _create_missing(self, index: str, body: dict[str, Any] | None = None) -> None:
        with self.conn.errors():
            if self.conn.index_exists(index):
                return
        try:
            with self.conn.errors():
                self.conn.create_index(index, body)
        except ServiceError:
            with self.conn.errors():
                if not self.conn.index_exists(index):  # not merely created concurrently
                    raise

    def _add_missing_fields(self) -> None:
        """An index created by an older breachkit lacks the fields added since (log.flags, the derived
        log.decoded and url.*_decoded, breachkit.run): add them (adding a field is allowed on a live index;
        existing fields are left as they are; events stored before have no value in them)."""
        want = field_mappings(self.wildcard())
        for mapping in self.conn.get_mapping(self.index).values():
            have = flatten_mapping(mapping)
            missing = {name: spec for name, spec in want.items() if name not in have}
            if missing:
                self.conn.put_mapping(self.index, {"properties": nested(missing)})

    def begin(self, source: str, *, replace: bool = False) -> SearchLoader:
        self.ensure_index()
        return SearchLoader(self, source, replace=replace)

    def load(self, batch: pa.RecordBatch, source: str) -> LoadResult:
        """Store already-built events (rule tests, generated data)."""
        return load_whole(self.begin(source), batch)

    def _source_ids(self, source: str, page: int = 5_000) -> Iterator[list[str]]:
        """The ids of the source's events, a page at a time (search_after on event.id: no scroll state, and
        deleting the pages already seen does not shift the next one)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": page, "_source": False, "track_total_hits": False,
                                    "query": {"term": {"log.file.path": source}}, "sort": [{"event.id": "asc"}]}
            if after is not None:
                body["search_after"] = after
            hits = self.conn.search(self.index, body)["hits"]["hits"]
            if not hits:
                return
            yield [str(h["_id"]) for h in hits]
            after = hits[-1]["sort"]

    def _delete(self, ids: Iterable[str], context: str) -> int:
        """Bulk-delete `ids` (already gone counts as done); returns how many were deleted."""
        head = '{"delete":{"_index":' + orjson.dumps(self.index).decode() + ',"_id":'
        actions = (((head + orjson.dumps(i).decode() + "}}").encode(), None) for i in ids)
        deleted = 0
        for ok, item in self.conn.bulk(actions, self.bulk_threads, self.bulk_chunk_size):
            info = item.get("delete", item)
            if ok:
                deleted += 1
            elif info.get("status") != 404:
                raise ServiceError(f"{self.engine} refused to delete event {info.get('_id')} ({context}): "
                                   f"{info.get('error')}")
        return deleted

    def forget(self, source: str) -> int:
        """Remove every event of `source` (its log.file.path); returns how many. Pages of ids, each
        bulk-deleted (no delete-by-query: a core-only cluster lacks it); deleting is idempotent, so an
        interrupted forget is completed by running it again."""
        self._check_writable()
        with self.conn.errors():
            if not self.conn.index_exists(self.index):
                return 0
            removed = 0
            for ids in self._source_ids(source):
                removed += self._delete(ids, f"forget {source}")
            self.conn.refresh(self.index)
        self.end_runs(None, source=source)  # interrupted ingests of it: gone too
        return removed

    def sources(self, limit: int = 20) -> list[tuple[str, int]]:
        """(source, events) of the first `limit` sources stored, by name."""
        with self.conn.errors():
            if not self.conn.index_exists(self.index):
                return []
            resp = self.conn.search(self.index, {"size": 0, "aggs": {"s": {"terms": {
                "field": "log.file.path", "size": limit, "order": {"_key": "asc"}}}}})
        return [(str(b["key"]), int(b["doc_count"])) for b in resp["aggregations"]["s"]["buckets"]]

    def register_run(self, run: str, source: str) -> None:
        """`run` of `source` has begun: detection leaves its documents out until `end_runs` (`searchruns`)."""
        if self.track_runs:
            self._create_missing(searchruns.runs_index(self.index), searchruns.REGISTRY)
            searchruns.register(self.conn, self.index, run, source)

    def end_runs(self, run: str | None, *, source: str | None = None) -> None:
        """`run` has finished; with `source`, every registered run of that source too (`searchruns.unregister`)."""
        if self.track_runs:
            searchruns.unregister(self.conn, self.index, run, source=source)

    def open_runs(self) -> list[searchruns.OpenRun]:
        """Ingest runs into this index that have not finished (in progress, or interrupted)."""
        return searchruns.open_runs(self.conn, self.index) if self.track_runs else []

    def refresh(self) -> None:
        with self.conn.errors():
            self.conn.refresh(self.index)

    def count(self) -> int:
        with self.conn.errors():
            return self.conn.count(self.index)

    def field_stats(self) -> dict[str, FieldStats]:
        """Per field: events carrying it (exists) and exact distinct values (composite aggregation pages)."""
        names = self.fields()
        with self.conn.errors():
            resp = self.conn.search(self.index, {
                "size": 0, "track_total_hits": True,
                "aggs": {f.name: {"filter": {"exists": {"field": f.name}}} for f in FIELDS}})
            stats = {}
            for f in FIELDS:
                present = int(resp["aggregations"][f.name]["doc_count"])
                stats[f.name] = FieldStats(present, self._distinct(names.aggregate[f.name]) if present else 0)
        return stats

    def _distinct(self, field_name: str) -> int:
        total = 0
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": 10_000, "sources": [{"v": {"terms": {"field": field_name}}}]}
            if after is not None:
                composite["after"] = after
            resp = self.conn.search(self.index, {"size": 0, "aggs": {"d": {"composite": composite}}})
            agg = resp["aggregations"]["d"]
            total += len(agg["buckets"])
            after = agg.get("after_key")
            if not agg["buckets"] or after is None:
                return total
