"""The search-engine event store shared by Elasticsearch and OpenSearch (client-neutral).

Everything here speaks the query DSL subset both engines share; the engine modules
(`breachkit.logs.elasticsearch`, `breachkit.logs.opensearch`, the only modules importing their clients)
provide a `SearchClient`: the transport, the error translation and the capability detection.

All-or-nothing per input on an engine without transactions
----------------------------------------------------------
Every event has a deterministic id (`schema.event_id`: source, line number, raw line), and documents are
written with `op_type: create`, so writing the same event twice stores it once (the second answers 409,
counted as already present). Batches stream into one parallel bulk while the input is still being read
(orjson-encoded bodies, no spool file), and every document carries the id of the run that created it
(`breachkit.run`; `create` never overwrites it). Then:

* the input is reported committed only when every document was acknowledged (created or already there);
* a failure before that (unreadable input, too many bad lines, a document the cluster rejects, a lost
  connection) deletes the documents this run created — found by the run id, so also those whose
  acknowledgement never arrived, and never those that were already there — and raises, so nothing of the
  input stays behind;
* a process killed mid-way cannot clean up: the documents written so far stay, and the next run of the
  same input completes it (present ids answer 409, the rest is created). Until then the input is not
  reported committed anywhere, and a re-run is the documented recovery.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from breachkit.errors import Location, Problem, ServiceError
from breachkit.logs.ingest import LoadResult, ProgressCallback
from breachkit.logs.local import FieldStats
from breachkit.logs.schema import FIELDS, MAX_VALUE_CHARS, FieldType

# Fields Sigma rules search with leading wildcards (`|contains`, `|endswith`, keywords over the raw line):
# the `wildcard` field type answers those from an n-gram index instead of walking every term.
WILDCARD_FIELDS: frozenset[str] = frozenset({
    "url.original", "url.path", "url.query", "user_agent.original", "http.request.referrer",
    "log.original", "message",
})


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
    def create_index(self, index: str) -> None: ...
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


def index_mappings(wildcard: dict[str, Any] | None = None) -> dict[str, Any]:
    """The index mappings for the event schema (nested objects from the dotted names); with `wildcard`,
    the fields of WILDCARD_FIELDS get that mapping instead of `keyword`."""
    types: dict[FieldType, dict[str, Any]] = {
        # Keyword values are kept as logged; Sigma's case-insensitive matching uses the query DSL's
        # `case_insensitive` option (term/prefix/wildcard/regexp), and `|cased` leaves it off.
        FieldType.KEYWORD: _keyword(),
        FieldType.DATE: {"type": "date"},  # default format: ISO 8601 or epoch millis; millisecond precision
        FieldType.IP: {"type": "ip"},
        FieldType.LONG: {"type": "long"},
    }
    root: dict[str, Any] = {}
    for f in FIELDS:
        node = root
        parts = f.name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        use_wildcard = wildcard is not None and f.name in WILDCARD_FIELDS
        node[parts[-1]] = dict(wildcard if use_wildcard and wildcard is not None else types[f.type])
    root.update(RUN_MAPPING)
    return {"dynamic": "strict", "properties": root}


# Each document carries the id of the ingest run that created it (`create` never overwrites it): a failed
# run deletes exactly its own documents, even those whose acknowledgement it never received.
RUN_FIELD = "breachkit.run"
RUN_MAPPING: dict[str, Any] = {"breachkit": {"properties": {"run": {"type": "keyword"}}}}


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
        """Wildcard fields → the keyword field answering their backslash conditions (esquery.has_backslash)."""
        return {n: self.aggregate[n] for n in self.wildcard if self.aggregate.get(n, n) != self.query.get(n, n)}

    @property
    def client_checked(self) -> frozenset[str]:
        """Wildcard fields without such a keyword field: their backslash conditions are checked on the client."""
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
                 read_only_patterns: Sequence[str] = ()) -> None:
        self.conn = conn
        self.engine = conn.engine
        self.index = index
        self.bulk_threads = bulk_threads
        self.bulk_chunk_size = bulk_chunk_size
        self.spool_dir = spool_dir
        self.use_wildcard = use_wildcard
        self.read_only_patterns = tuple(read_only_patterns)
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
                "_meta": {"managed_by": "breachkit", "schema": 1}}

    def ensure_index(self) -> None:
        from fnmatch import fnmatchcase

        for pattern in self.read_only_patterns:
            if fnmatchcase(self.index, pattern):
                from breachkit.errors import UsageError

                raise UsageError(f"the index {self.index!r} matches the read-only source {pattern!r}: "
                                 "breachkit never writes into existing indices",
                                 hint="choose another index name (elasticsearch.index / opensearch.index)")
        with self.conn.errors():
            self.conn.put_index_template(self.index, self.template())
            if not self.conn.index_exists(self.index):
                with contextlib.suppress(ServiceError):  # created concurrently: fine
                    self.conn.create_index(self.index)
            else:  # an index made by an earlier version: add the run field (adding a field is allowed)
                self.conn.put_mapping(self.index, {"properties": RUN_MAPPING})

    def begin(self, source: str) -> SearchLoader:
        self.ensure_index()
        return SearchLoader(self, source)

    def load(self, batch: pa.RecordBatch, source: str) -> LoadResult:
        loader = self.begin(source)
        try:
            loader.add(batch)
            return loader.commit()
        except BaseException:
            loader.abort()
            raise

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


# ------------------------------------------------------------------------------------------- loading


def documents(batch: pa.RecordBatch, run: str | None = None) -> Iterator[tuple[str, bytes]]:
    """(event id, JSON document) per row, nulls left out, encoded with orjson straight from the columns;
    with `run`, each document carries it in RUN_FIELD."""
    ts = batch.column("@timestamp").cast(pa.timestamp("ms", tz="UTC"))
    names = batch.schema.names
    columns: list[list[Any]] = []
    for name in names:
        column = batch.column(name)
        if name == "@timestamp":
            column = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")
        columns.append([None] * batch.num_rows if column.null_count == batch.num_rows else column.to_pylist())
    present = [(n, c) for n, c in zip(names, columns, strict=True) if any(v is not None for v in c)]
    keys = [n for n, _ in present]
    ids = batch.column("event.id").to_pylist()
    dumps = orjson.dumps
    for i, row in enumerate(zip(*(c for _, c in present), strict=True)):
        doc = {k: v for k, v in zip(keys, row, strict=True) if v is not None}
        if run is not None:
            doc[RUN_FIELD] = run
        yield ids[i], dumps(doc)


class SearchLoader:
    """One input's way into the index: batches stream into one long-running parallel bulk in a background
    thread as they are parsed (at most two batches queued), see the module docs."""

    def __init__(self, store: SearchStore, source: str) -> None:
        self.store = store
        self.source = source
        self.staged = 0
        self.created: list[str] = []
        self.present = 0
        self.rejected = 0
        self.errors: list[Problem] = []
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._stopping = False
        self._head = '{"create":{"_index":' + orjson.dumps(store.index).decode() + ',"_id":"'
        self._progress: ProgressCallback | None = None
        self._done = 0
        self.run = secrets.token_hex(8)

    def _actions(self) -> Iterator[tuple[bytes, bytes | None]]:
        head = self._head
        while not self._stopping and (batch := self._queue.get()) is not None:
            for event_id, doc in documents(batch, self.run):
                yield (head + event_id + '"}}').encode(), doc

    def _run(self) -> None:
        store = self.store
        try:
            for ok, item in store.conn.bulk(self._actions(), store.bulk_threads, store.bulk_chunk_size):
                self._record(ok, item)
        except BaseException as exc:  # handed to the parsing thread at its next add/commit
            self._failure = exc

    def _record(self, ok: bool, item: dict[str, Any]) -> None:
        info = item.get("create", item)
        self._done += 1
        if ok:
            self.created.append(str(info.get("_id")))
        elif info.get("status") == 409:
            self.present += 1
        else:
            self.rejected += 1
            if len(self.errors) < 100:
                reason = info.get("error", {})
                detail = reason.get("reason", str(reason)) if isinstance(reason, dict) else str(reason)
                self.errors.append(Problem(f"rejected ({info.get('status')}): {detail}",
                                           Location(self.source, field=f"event.id={info.get('_id')}")))
        if self._progress is not None and self._done % 5000 == 0:
            self._progress("load", self._done, None)

    def _put(self, batch: pa.RecordBatch | None) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bk-bulk", daemon=True)
            self._thread.start()
        while True:
            self._raise_failure()
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise_failure()
                    raise ServiceError(f"the bulk writer to {self.store.engine} stopped") from None

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            with self.store.conn.errors():
                raise failure

    def _finish(self) -> None:
        if self._thread is not None:
            self._put(None)
            self._thread.join()
            self._thread = None
        self._raise_failure()

    def add(self, batch: pa.RecordBatch) -> None:
        """Queue `batch` for the bulk writer (blocks while two batches are waiting)."""
        self.staged += batch.num_rows
        self._put(batch)

    def commit(self, progress: ProgressCallback | None = None) -> LoadResult:
        self._progress = progress
        try:
            self._finish()
            if self.rejected:
                raise _Rejected()
            self.store.refresh()
        except _Rejected:
            written = len(self.created)
            self.rollback()
            from breachkit.errors import PartialFailure

            raise PartialFailure(
                f"{self.rejected} events were rejected by {self.store.engine}; the {written} this run "
                "had written were removed again, nothing from this input is stored", path=self.source,
                problems=self.errors) from None
        except BaseException:
            self.rollback()
            raise
        if progress is not None:
            progress("load", self._done, self.staged)
        return LoadResult(added=len(self.created), already_present=self.present)

    def abort(self) -> None:
        self._stopping = True
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join()
            self._thread = None
        self._failure = None
        self.rollback()

    def rollback(self) -> None:
        """Delete the documents this run created (those that were already there stay)."""
        store = self.store
        created, self.created = set(self.created), []
        with store.conn.errors():
            if store.conn.index_exists(store.index):
                store.conn.refresh(store.index)
                created |= set(self._run_ids())
        if not created:
            return
        head = '{"delete":{"_index":' + orjson.dumps(store.index).decode() + ',"_id":"'
        actions = (((head + i + '"}}').encode(), None) for i in created)
        with store.conn.errors():
            for ok, item in store.conn.bulk(actions, store.bulk_threads, store.bulk_chunk_size):
                if not ok and item.get("delete", item).get("status") != 404:
                    raise ServiceError(f"could not remove event {item} written by an aborted ingest of "
                                       f"{self.source}", hint="run the same ingest again: it completes the input")
            store.conn.refresh(store.index)


    def _run_ids(self) -> Iterator[str]:
        """Ids of the documents this run created, found by its run id (also those never acknowledged)."""
        conn = self.store.conn
        resp = conn.scroll_start(self.store.index, {"query": {"term": {RUN_FIELD: self.run}}, "size": 5000,
                                                    "_source": False, "sort": ["_doc"]})
        try:
            while hits := resp["hits"]["hits"]:
                yield from (str(h["_id"]) for h in hits)
                resp = conn.scroll_next(resp["_scroll_id"])
        finally:
            if resp.get("_scroll_id"):
                conn.scroll_clear(resp["_scroll_id"])


class _Rejected(Exception):
    pass

