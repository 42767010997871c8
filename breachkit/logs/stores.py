"""Opening the configured event store by engine name (the thin wiring between config and stores)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from breachkit.config import Config
from breachkit.errors import UsageError
from breachkit.logs.local import LocalStore
from breachkit.logs.names import ENGINES, SEARCH_ENGINES, Engine
from breachkit.workspace import Workspace

__all__ = ["ENGINES", "SEARCH_ENGINES", "Engine", "open_event_store", "open_search_store"]

if TYPE_CHECKING:
    from breachkit.logs.search import SearchStore


@contextlib.contextmanager
def open_search_store(config: Config, workspace: Workspace, engine: str) -> Iterator[SearchStore]:
    """A store on the configured Elasticsearch or OpenSearch cluster (its client closed on exit)."""
    if engine == "elasticsearch":
        from breachkit.logs.elasticsearch import ElasticsearchStore, connect

        es = connect(config.elasticsearch)
        try:
            yield ElasticsearchStore(es, config.elasticsearch, workspace.tmp)
        finally:
            es.close()
    elif engine == "opensearch":
        from breachkit.logs.opensearch import OpenSearchStore
        from breachkit.logs.opensearch import connect as os_connect

        client = os_connect(config.opensearch)
        try:
            yield OpenSearchStore(client, config.opensearch, workspace.tmp)
        finally:
            client.close()
    else:
        raise UsageError(f"unknown search engine {engine!r}; choose one of: {', '.join(SEARCH_ENGINES)}")


@contextlib.contextmanager
def open_event_store(config: Config, workspace: Workspace, engine: str | None = None,
                     *, read_only: bool = False) -> Iterator[LocalStore | SearchStore]:
    engine = engine or config.ingest.default_engine
    if engine == "local":
        if read_only and not workspace.events_db.exists():
            raise UsageError("the embedded event store is empty", path=workspace.events_db,
                             hint="ingest logs first: breachkit ingest FILE…")
        store = LocalStore(workspace.events_db, read_only=read_only)
        try:
            yield store
        finally:
            store.close()
    elif engine in SEARCH_ENGINES:
        with open_search_store(config, workspace, engine) as search:
            yield search
    else:
        raise UsageError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
