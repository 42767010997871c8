"""Elasticsearch as an event store. The only module that imports the Elasticsearch client.

Works with the server's core features only (no ES|QL, EQL, painless or x-pack data streams, no
delete-by-query — that lives in the reindex module), so it runs on any 8.x/9.x cluster, including
Elastic's bare integ-test distribution used by the tests.

Replacing a source (`ingest --replace`) cannot be one transaction here. The order that never leaves the
source without events: (1) bulk-*index* the new events (an event of the same line has the same id, so
each document is overwritten atomically — old reading or new, never none; new lines are created);
(2) refresh; (3) page through the source's ids (`search_after` on event.id) and bulk-delete those that
are not in the new set (lines no longer in the input). The two id sets are compared in a temporary
DuckDB file in the spool folder, so memory stays bounded. A crash during (1) leaves a mix of old and new
readings of the lines, during (3) some stale events of removed lines: never a line without its event;
running the replace again completes it. If the store rejects any new document, (3) is skipped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import TlsError
from elasticsearch import ApiError, AuthenticationException, AuthorizationException, Elasticsearch, helpers

from breachkit.config import ElasticsearchConfig, read_secret
from breachkit.errors import Location, Problem, ServiceError
from breachkit.logs.ingest import LoadResult, ProgressCallback
from breachkit.logs.local import FieldStats
from breachkit.logs.schema import ARROW_SCHEMA, FIELDS, MAX_VALUE_CHARS, FieldType

_MAPPING_TYPES: dict[FieldType, dict[str, Any]] = {
    # Keyword values are kept as logged; Sigma's case-insensitive matching uses the query DSL's
    # `case_insensitive` option (term/prefix/wildcard/regexp), and `|cased` leaves it off.
    FieldType.KEYWORD: {"type": "keyword", "ignore_above": MAX_VALUE_CHARS},
    FieldType.DATE: {"type": "date"},  # default format: ISO 8601 or epoch millis; millisecond precision
    FieldType.IP: {"type": "ip"},
    FieldType.LONG: {"type": "long"},
}


def index_mappings() -> dict[str, Any]:
    """The index mappings for the event schema (nested objects from the dotted names)."""
    return {"dynamic": "strict", "properties": _nested({f.name: dict(_MAPPING_TYPES[f.type]) for f in FIELDS})}


def connect(config: ElasticsearchConfig) -> Elasticsearch:
    """A client for the configured cluster, checked with one request; ServiceError with a hint otherwise."""
    kwargs: dict[str, Any] = {
        "hosts": config.hosts,
        "request_timeout": config.request_timeout,
        "verify_certs": config.verify_certs,
        "retry_on_timeout": True,
        "max_retries": 3,
    }
    if config.ca_certs is not None:
        kwargs["ca_certs"] = str(config.ca_certs)
    api_key = read_secret("BREACHKIT_ES_API_KEY", config.api_key_file)
    if api_key:
        kwargs["api_key"] = api_key
    elif config.username:
        password = read_secret("BREACHKIT_ES_PASSWORD", config.password_file)
        if password is None:
            raise ServiceError("elasticsearch.username is set but no password was given",
                               hint="set BREACHKIT_ES_PASSWORD or elasticsearch.password_file (mode 0600)")
        kwargs["basic_auth"] = (config.username, password)
    client = Elasticsearch(**kwargs)
    with service_errors(config):
        # Not `info()`: GET / lives in the rest-root module, which minimal distributions leave out.
        client.cluster.health(timeout="5s")
    return client


@contextlib.contextmanager
def service_errors(config: ElasticsearchConfig) -> Iterator[None]:
    """Turn the client's exceptions into ServiceErrors that say what to check."""
    where = ", ".join(config.hosts)
    try:
        yield
    except AuthenticationException:
        raise ServiceError(f"Elasticsearch at {where} rejected the credentials",
                           hint="check elasticsearch.username and BREACHKIT_ES_PASSWORD, or BREACHKIT_ES_API_KEY"
                           ) from None
    except AuthorizationException as exc:
        raise ServiceError(f"Elasticsearch at {where} denied the request: {exc.message}",
                           hint="the user or API key needs the index privileges for the events index") from None
    except TlsError as exc:
        raise ServiceError(f"TLS with Elasticsearch at {where} failed: {exc}",
                           hint="set elasticsearch.ca_certs to the cluster's CA certificate") from None
    except TransportConnectionError as exc:
        raise ServiceError(f"cannot reach Elasticsearch at {where}: {exc}",
                           hint="is it running? check elasticsearch.hosts") from None
    except ApiError as exc:
        raise ServiceError(f"Elasticsearch error {exc.meta.status}: {exc.message}") from None


class ElasticsearchStore:
    """Events in one index (`elasticsearch.index`), created through an index template."""

    engine = "elasticsearch"

    def __init__(self, client: Elasticsearch, config: ElasticsearchConfig, spool_dir: Path) -> None:
        self.client = client
        self.config = config
        self.index = config.index
        self.spool_dir = spool_dir

    def ensure_index(self) -> None:
        with service_errors(self.config):
            self.client.indices.put_index_template(
                name=self.index,
                index_patterns=[self.index],
                priority=200,
                template={"settings": {"index": {"number_of_shards": 1, "refresh_interval": "5s"}},
                          "mappings": index_mappings()},
                meta={"managed_by": "breachkit", "schema": 3},
            )
            if not self.client.indices.exists(index=self.index):
                with contextlib.suppress(ApiError):  # created concurrently: fine
                    self.client.indices.create(index=self.index)
            self._add_missing_fields()

    def _add_missing_fields(self) -> None:
        """An index created by an older breachkit lacks the fields added since (log.flags, the derived
        log.decoded and url.*_decoded): add them
        (adding a field is allowed on a live index; existing fields are left as they are)."""
        mappings = self.client.indices.get_mapping(index=self.index)
        for body in mappings.values():
            have = _mapped_fields(body.get("mappings", {}).get("properties", {}))
            missing = {f.name: dict(_MAPPING_TYPES[f.type]) for f in FIELDS if f.name not in have}
            if missing:
                self.client.indices.put_mapping(index=self.index, properties=_nested(missing))

    def begin(self, source: str, *, replace: bool = False) -> _EsLoader:
        self.ensure_index()
        return _EsLoader(self, source, replace)

    def _source_ids(self, source: str, page: int = 5_000) -> Iterator[list[str]]:
        """The ids of the source's events, a page at a time (search_after on event.id: no scroll state)."""
        after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"search_after": after} if after is not None else {}
            resp = self.client.search(index=self.index, size=page, source=False, track_total_hits=False,
                                      query={"term": {"log.file.path": source}}, sort=[{"event.id": "asc"}],
                                      **kwargs)
            hits = resp["hits"]["hits"]
            if not hits:
                return
            yield [h["_id"] for h in hits]
            after = hits[-1]["sort"]

    def _delete(self, ids: list[str]) -> int:
        actions = ({"_op_type": "delete", "_index": self.index, "_id": i} for i in ids)
        deleted = 0
        for ok, item in helpers.streaming_bulk(self.client, actions, chunk_size=self.config.bulk_chunk_size,
                                               raise_on_error=False):
            info = item.get("delete", item)
            if ok or info.get("status") == 404:  # 404: already gone
                deleted += 1 if ok else 0
            else:
                raise ServiceError(f"Elasticsearch refused to delete event {info.get('_id')}: "
                                   f"{info.get('error')}")
        return deleted

    def forget(self, source: str) -> int:
        """Remove every event of `source`; returns how many. Pages of ids, each bulk-deleted (no
        delete-by-query on a core-only cluster); deleting is idempotent, so an interrupted forget is
        completed by running it again."""
        with service_errors(self.config):
            if not self.client.indices.exists(index=self.index):
                return 0
            removed = 0
            for ids in self._source_ids(source):
                removed += self._delete(ids)
            self.refresh()
        return removed

    def sources(self, limit: int = 20) -> list[tuple[str, int]]:
        with service_errors(self.config):
            if not self.client.indices.exists(index=self.index):
                return []
            resp = self.client.search(index=self.index, size=0, aggs={"s": {"terms": {
                "field": "log.file.path", "size": limit, "order": {"_key": "asc"}}}})
        return [(b["key"], int(b["doc_count"])) for b in resp["aggregations"]["s"]["buckets"]]

    def refresh(self) -> None:
        with service_errors(self.config):
            self.client.indices.refresh(index=self.index)

    def count(self) -> int:
        with service_errors(self.config):
            return int(self.client.count(index=self.index)["count"])

    def field_stats(self) -> dict[str, FieldStats]:
        """Per field: events carrying it (exists) and exact distinct values (composite aggregation pages)."""
        with service_errors(self.config):
            resp = self.client.search(
                index=self.index, size=0, track_total_hits=True,
                aggs={f.name: {"filter": {"exists": {"field": f.name}}} for f in FIELDS},
            )
            stats = {}
            for f in FIELDS:
                present = int(resp["aggregations"][f.name]["doc_count"])
                stats[f.name] = FieldStats(present, self._distinct(f.name) if present else 0)
        return stats

    def _distinct(self, field: str) -> int:
        total = 0
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": 10_000, "sources": [{"v": {"terms": {"field": field}}}]}
            if after is not None:
                composite["after"] = after
            resp = self.client.search(index=self.index, size=0, aggs={"d": {"composite": composite}})
            agg = resp["aggregations"]["d"]
            total += len(agg["buckets"])
            after = agg.get("after_key")
            if not agg["buckets"] or after is None:
                return total


def _mapped_fields(properties: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, spec in properties.items():
        if "properties" in spec:
            found |= _mapped_fields(spec["properties"], f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def _nested(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for name, spec in flat.items():
        node = root
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = spec
    return root


def _documents(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    ts = batch.column("@timestamp").cast(pa.timestamp("ms", tz="UTC"))
    columns = {name: batch.column(name) for name in batch.schema.names}
    columns["@timestamp"] = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")
    rows = pa.RecordBatch.from_pydict(columns).to_pylist()
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


class _EsLoader:
    """Spools one input's batches to a 0600 Arrow file, then bulk-creates them (`op_type: create`):
    ids already in the index answer 409 and are counted as already present. With `replace`, bulk-indexes
    them (overwriting) and then deletes the source's other events (the order: the module docstring)."""

    def __init__(self, store: ElasticsearchStore, source: str, replace: bool = False) -> None:
        self.store = store
        self.source = source
        self.replace = replace
        fd, name = tempfile.mkstemp(dir=store.spool_dir, suffix=".arrow")  # 0600: the spool holds raw lines
        os.close(fd)
        self.path = Path(name)
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = ipc.new_stream(self._sink, ARROW_SCHEMA, options=ipc.IpcWriteOptions(compression="lz4"))
        self.staged = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.staged += batch.num_rows

    def _close_spool(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
            self._sink.close()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        with pa.OSFile(str(self.path), "rb") as source:
            yield from ipc.open_stream(source)

    def _actions(self) -> Iterator[dict[str, Any]]:
        index = self.store.index
        op = "index" if self.replace else "create"
        for batch in self._batches():
            for doc in _documents(batch):
                yield {"_op_type": op, "_index": index, "_id": doc["event.id"], "_source": doc}

    def commit(self, progress: ProgressCallback | None = None) -> LoadResult:
        self._close_spool()
        cfg = self.store.config
        added = present = replaced = done = rejected = removed = 0
        errors: list[Problem] = []
        try:
            with service_errors(cfg):
                results = helpers.parallel_bulk(
                    self.store.client, self._actions(), thread_count=cfg.bulk_threads,
                    chunk_size=cfg.bulk_chunk_size, raise_on_error=False, raise_on_exception=True,
                )
                for ok, item in results:
                    info = item.get("index" if self.replace else "create", item)
                    done += 1
                    if ok and info.get("result") == "updated":
                        replaced += 1
                    elif ok:
                        added += 1
                    elif info.get("status") == 409:
                        present += 1
                    else:
                        rejected += 1
                    if not ok and info.get("status") != 409 and len(errors) < 100:
                        reason = info.get("error", {})
                        detail = reason.get("reason", str(reason)) if isinstance(reason, dict) else str(reason)
                        errors.append(Problem(f"rejected ({info.get('status')}): {detail}",
                                              Location(self.source, field=f"event.id={info.get('_id')}")))
                    if progress is not None and done % 2000 == 0:
                        progress("load", done, self.staged)
                self.store.refresh()
                if self.replace and not rejected:
                    removed = self._remove_others()
        finally:
            self.path.unlink(missing_ok=True)
        if progress is not None:
            progress("load", done, self.staged)
        return LoadResult(added=added, already_present=present, rejected=rejected, errors=errors,
                          replaced=replaced, removed=removed)

    def _remove_others(self) -> int:
        """Delete the source's events whose ids are not among the new ones (compared out of memory)."""
        fd, name = tempfile.mkstemp(dir=self.store.spool_dir, suffix=".duckdb")
        os.close(fd)
        Path(name).unlink()  # DuckDB creates the file itself; the folder is the workspace's (0700)
        con = duckdb.connect(name)
        try:
            con.execute("SET temp_directory = ?", [str(self.store.spool_dir)])
            con.execute("CREATE TABLE new_ids (id VARCHAR)")
            con.execute("CREATE TABLE stored_ids (id VARCHAR)")
            for batch in self._batches():
                con.register("incoming", pa.table({"id": batch.column("event.id")}))
                con.execute("INSERT INTO new_ids SELECT id FROM incoming")
                con.unregister("incoming")
            for ids in self.store._source_ids(self.source):
                con.register("incoming", pa.table({"id": pa.array(ids, pa.string())}))
                con.execute("INSERT INTO stored_ids SELECT id FROM incoming")
                con.unregister("incoming")
            stale = con.execute("SELECT id FROM stored_ids ANTI JOIN new_ids USING (id) ORDER BY id")
            removed = 0
            while rows := stale.fetchmany(self.store.config.bulk_chunk_size):
                removed += self.store._delete([r[0] for r in rows])
            if removed:
                self.store.refresh()
            return removed
        finally:
            con.close()
            for leftover in Path(name).parent.glob(Path(name).name + "*"):
                leftover.unlink(missing_ok=True)

    def abort(self) -> None:
        self._close_spool()
        self.path.unlink(missing_ok=True)
