"""Ingest runs not finished on a search engine's index, so that detection can leave their events out.

On Elasticsearch and OpenSearch an ingest's documents become searchable as they are written (`searchload`):
a run that fails deletes them again, and a run that is killed leaves them until the same ingest runs again.
A scan meanwhile would alert on events that are then deleted, or on part of an input. So each run is
registered, before its first document, in a small index beside the events (`<index>.breachkit-runs`, hidden,
so that no wildcard pattern over the events picks it up; one document per run: id, source, start), and
unregistered when it is committed — together with earlier runs of
the same source, which the commit has completed — or rolled back; a killed run stays registered until the
source is ingested again (or forgotten). Detection over the index leaves out the documents of registered runs
(they carry their run's id, `searchload.RUN_FIELD`) and says how many it left out, of which source
(`detect.searchengine.SearchEngine.over`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from breachkit.errors import ServiceError

if TYPE_CHECKING:
    from breachkit.logs.search import SearchClient

RUNS_SUFFIX = ".breachkit-runs"
REGISTRY: dict[str, Any] = {  # the registry index's settings and mappings
    "settings": {"index": {"hidden": True, "number_of_shards": 1}},
    "mappings": {"dynamic": "strict", "properties": {"run": {"type": "keyword"}, "source": {"type": "keyword"},
                                                      "started": {"type": "date"}}},
}


@dataclass(frozen=True)
class OpenRun:
    run: str
    source: str
    started: str  # ISO 8601, UTC


def runs_index(index: str) -> str:
    return index + RUNS_SUFFIX


def register(conn: SearchClient, index: str, run: str, source: str, now: datetime | None = None) -> None:
    """Register `run` of `source` as not finished (searchable at once), in the registry index, which the
    caller has made (`runs_index`, with REGISTRY: `SearchStore.register_run`)."""
    registry = runs_index(index)
    with conn.errors():
        started = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
        doc = orjson.dumps({"run": run, "source": source, "started": started})
        _write(conn, registry, [(_action("index", registry, run), doc)])


def unregister(conn: SearchClient, index: str, run: str | None, *, source: str | None = None) -> None:
    """`run` is finished; with `source`, every registered run of that source too (their documents were
    completed or removed by this one)."""
    registry = runs_index(index)
    with conn.errors():
        if not conn.index_exists(registry):
            return
        runs = {run} if run is not None else set()
        if source is not None:
            runs |= {r.run for r in _registered(conn, registry) if r.source == source}
        if runs:
            _write(conn, registry, [(_action("delete", registry, r), None) for r in sorted(runs)])


def open_runs(conn: SearchClient, index: str) -> list[OpenRun]:
    """The runs registered on `index` and not finished, oldest first (none when nothing was ever registered)."""
    registry = runs_index(index)
    with conn.errors():
        return _registered(conn, registry) if conn.index_exists(registry) else []


def _registered(conn: SearchClient, registry: str) -> list[OpenRun]:
    """The runs in the existing `registry`, oldest first."""
    resp = conn.search(registry, {"size": 10_000, "query": {"match_all": {}}})
    found = [OpenRun(str(h["_source"].get("run", h["_id"])), str(h["_source"].get("source", "")),
                     str(h["_source"].get("started", ""))) for h in resp["hits"]["hits"]]
    return sorted(found, key=lambda r: (r.started, r.run))


def _action(op: str, registry: str, run: str) -> bytes:
    return orjson.dumps({op: {"_index": registry, "_id": run}})


def _write(conn: SearchClient, registry: str, actions: list[tuple[bytes, bytes | None]]) -> None:
    for ok, item in conn.bulk(iter(actions), 1, 100):
        info: dict[str, Any] = next(iter(item.values()), {}) if item else {}
        if not ok and info.get("status") != 404:  # deleting what is already gone is fine
            raise ServiceError(f"cannot record the ingest run in {registry}: {info.get('error', info)}")
    conn.refresh(registry)
