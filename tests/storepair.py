"""Both event stores side by side for one test: the embedded store and a fresh index on the real ES node.

Import the `pair` fixture into a test module (`from tests.storepair import pair`); tests using it are `es`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from breachkit.config import Config, ElasticsearchConfig, load_config
from breachkit.logs.elasticsearch import ElasticsearchStore, connect
from breachkit.logs.local import LocalStore
from breachkit.workspace import Workspace


@dataclass
class Pair:
    config: Config
    workspace: Workspace
    local: LocalStore
    es: ElasticsearchStore

    @property
    def stores(self) -> tuple[LocalStore, ElasticsearchStore]:
        return self.local, self.es

    def rows(self, store: LocalStore | ElasticsearchStore, *fields: str) -> list[tuple]:
        """(field values…) of every stored event, sorted: the same shape from both engines."""
        if isinstance(store, LocalStore):
            cols = ", ".join(f'"{f}"' for f in fields)
            return sorted(store.query(f"SELECT {cols} FROM events"), key=repr)  # noqa: S608 - test field names
        store.refresh()
        hits = store.client.search(index=store.index, size=10_000, query={"match_all": {}})["hits"]["hits"]
        return sorted((tuple(h["_source"].get(f) for f in fields) for h in hits), key=repr)


@pytest.fixture
def pair(tmp_path, es_node, es_prefix, monkeypatch) -> Iterator[Pair]:
    monkeypatch.setenv("BREACHKIT_ES_PASSWORD", es_node.password)
    monkeypatch.delenv("BREACHKIT_ES_API_KEY", raising=False)
    es_config = ElasticsearchConfig(hosts=[es_node.url], index=f"{es_prefix}events", username=es_node.username,
                                    ca_certs=es_node.ca_certs)
    config = load_config(environ={}, cwd=tmp_path).model_copy(update={"elasticsearch": es_config})
    workspace = Workspace(tmp_path / "ws").ensure()
    client = connect(es_config)
    local = LocalStore(workspace.events_db)
    try:
        yield Pair(config, workspace, local, ElasticsearchStore(client, es_config, workspace.tmp))
    finally:
        local.close()
        client.close()
