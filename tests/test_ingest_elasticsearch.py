"""Elasticsearch specifics: credentials, TLS and API keys; real logs agree with the embedded engine.
(Mapping, idempotence and all-or-nothing on both search engines: test_ingest_search.py.)"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from breachkit.config import Config, ElasticsearchConfig, load_config
from breachkit.errors import ServiceError
from breachkit.logs.elasticsearch import ElasticsearchStore, connect
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.workspace import Workspace

pytestmark = pytest.mark.es
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "logs"


@pytest.fixture
def es_config(es_node, es_prefix, monkeypatch) -> ElasticsearchConfig:
    monkeypatch.setenv("BREACHKIT_ES_PASSWORD", es_node.password)
    monkeypatch.delenv("BREACHKIT_ES_API_KEY", raising=False)
    return ElasticsearchConfig(hosts=[es_node.url], index=f"{es_prefix}events", username=es_node.username,
                               ca_certs=es_node.ca_certs)


@pytest.fixture
def setup(tmp_path, es_config) -> tuple[Config, Workspace, ElasticsearchStore, LocalStore]:
    config = load_config(environ={}, cwd=tmp_path).model_copy(update={"elasticsearch": es_config})
    workspace = Workspace(tmp_path / "ws").ensure()
    client = connect(es_config)
    local = LocalStore(workspace.events_db)
    yield config, workspace, ElasticsearchStore(client, es_config, workspace.tmp), local
    local.close()
    client.close()


def test_credentials_tls_and_api_key(es_node, es_config, monkeypatch):
    monkeypatch.setenv("BREACHKIT_ES_PASSWORD", "wrong")
    with pytest.raises(ServiceError, match="rejected the credentials"):
        connect(es_config)
    monkeypatch.setenv("BREACHKIT_ES_PASSWORD", es_node.password)
    with pytest.raises(ServiceError, match="TLS") as err:
        connect(es_config.model_copy(update={"ca_certs": None}))
    assert "ca_certs" in (err.value.hint or "")
    # An API key takes precedence over basic auth. The integ-test distribution cannot create API keys (its
    # security index needs the analysis-common module it lacks), so this proves the key is the one sent:
    # the node rejects the unknown key although the password in the environment is right.
    monkeypatch.setenv("BREACHKIT_ES_API_KEY", "Ym9ndXM6a2V5")
    with pytest.raises(ServiceError, match="rejected the credentials"):
        connect(es_config)
    monkeypatch.delenv("BREACHKIT_ES_API_KEY")
    with contextlib.closing(connect(es_config)) as client:
        assert client.security.authenticate()["username"] == es_node.username


@pytest.mark.realdata
@pytest.mark.parametrize("name,fmt", [("apache_logs", "combined"), ("auth.log", "auth")])
def test_shared_logs_same_counts_in_both_engines(setup, name, fmt):
    path = SHARED / "elastic-examples" / name
    if not path.exists():
        pytest.skip("../shared/data is absent")
    config, workspace, es, local = setup
    options = IngestOptions(format=fmt, year=2026)
    summaries = [ingest_file(str(path), store, config, workspace, options=options) for store in (es, local)]
    assert summaries[0].events == summaries[1].events == es.count() == local.count()
    expected = es.field_stats()
    assert expected == local.field_stats()
    # ingesting again changes nothing in either engine
    for store in (es, local):
        again = ingest_file(str(path), store, config, workspace, options=options)
        assert (again.added, again.already_present) == (0, summaries[0].events)
    assert es.field_stats() == local.field_stats() == expected
