"""Opening the configured event store by engine name (the thin wiring between config and stores)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from breachkit.config import Config
from breachkit.errors import UsageError
from breachkit.logs.local import LocalStore
from breachkit.logs.names import ENGINES, Engine
from breachkit.workspace import Workspace

__all__ = ["ENGINES", "Engine", "open_event_store"]

if TYPE_CHECKING:
    from breachkit.logs.elasticsearch import ElasticsearchStore



@contextlib.contextmanager
def open_event_store(config: Config, workspace: Workspace, engine: str | None = None,
                     *, read_only: bool = False) -> Iterator[LocalStore | ElasticsearchStore]:
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
    elif engine == "elasticsearch":
        from breachkit.logs.elasticsearch import ElasticsearchStore, connect

        client = connect(config.elasticsearch)
        try:
            yield ElasticsearchStore(client, config.elasticsearch, workspace.tmp)
        finally:
            client.close()
    else:
        raise UsageError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")

