"""The embedded store and a search-engine store side by side for one test: a fresh index on the real
Elasticsearch node, then on the real OpenSearch node (the `search_setup` fixture of tests/conftest.py).

Import the `pair` fixture into a test module (`from tests.storepair import pair`); its tests run once per search
engine and are marked `es` or `opensearch` accordingly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from breachkit.config import Config
from breachkit.logs.local import LocalStore
from breachkit.logs.search import SearchStore
from breachkit.workspace import Workspace


@dataclass
class Pair:
    config: Config
    workspace: Workspace
    local: LocalStore
    search: SearchStore
    client: Any  # the search engine's own client (elasticsearch.Elasticsearch or opensearchpy.OpenSearch)

    @property
    def engine(self) -> str:
        return self.search.engine

    @property
    def stores(self) -> tuple[LocalStore, SearchStore]:
        return self.local, self.search

    def rows(self, store: LocalStore | SearchStore, *fields: str) -> list[tuple]:
        """(field values…) of every stored event, sorted: the same shape from both engines."""
        if isinstance(store, LocalStore):
            cols = ", ".join(f'"{f}"' for f in fields)
            return sorted(store.query(f"SELECT {cols} FROM events"), key=repr)  # noqa: S608 - test field names
        store.refresh()
        hits = store.conn.search(store.index, {"size": 10_000, "query": {"match_all": {}}})["hits"]["hits"]
        return sorted((tuple(h["_source"].get(f) for f in fields) for h in hits), key=repr)


@pytest.fixture
def pair(search_setup) -> Iterator[Pair]:
    s = search_setup
    local = LocalStore(s.workspace.events_db)
    try:
        yield Pair(s.config, s.workspace, local, s.store, s.client)
    finally:
        local.close()
