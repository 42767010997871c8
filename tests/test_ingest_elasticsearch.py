"""Ingestion into a real Elasticsearch node, and agreement with the embedded engine."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from breachkit.config import Config, ElasticsearchConfig, load_config
from breachkit.errors import PartialFailure, ServiceError
from breachkit.logs.elasticsearch import ElasticsearchStore, connect, index_mappings
from breachkit.logs.ingest import IngestOptions, ingest, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.workspace import Workspace
from tests.test_ingest_local import access_lines

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


def test_template_types_and_idempotent_bulk(setup, tmp_path):
    config, workspace, es, _ = setup
    path = tmp_path / "access.log"
    lines = access_lines(2500)
    path.write_text("\n".join(lines) + "\n")
    first = ingest_file(str(path), es, config, workspace)
    assert (first.added, first.already_present) == (len(lines), 0)
    assert es.count() == len(lines)
    mapping = es.client.indices.get_mapping(index=es.index)[es.index]["mappings"]
    assert mapping == index_mappings()
    props = mapping["properties"]
    assert props["@timestamp"]["type"] == "date"
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["http"]["properties"]["response"]["properties"]["status_code"]["type"] == "long"
    assert props["user_agent"]["properties"]["original"]["type"] == "keyword"
    second = ingest_file(str(path), es, config, workspace)
    assert (second.added, second.already_present) == (0, len(lines))
    assert es.count() == len(lines)
    assert list(workspace.tmp.iterdir()) == []  # the spool is gone
    doc = es.client.get(index=es.index, id=es.client.search(index=es.index, size=1,
                        sort=[{"log.file.line": "asc"}])["hits"]["hits"][0]["_id"])["_source"]
    assert doc["@timestamp"] == "2026-03-02T08:00:00.000Z"
    assert doc["log.file.line"] == 1 and doc["log.original"] == lines[0]


def test_same_field_counts_as_local(setup, tmp_path):
    config, workspace, es, local = setup
    path = tmp_path / "portal.log"
    path.write_text("\n".join(access_lines(1500, seed=4)) + "\n")
    for store in (es, local):
        ingest([str(path)], store, config, workspace, options=IngestOptions(remote_user_field="user.id"))
    assert es.field_stats() == local.field_stats()


def test_per_document_errors_are_reported(setup, tmp_path):
    config, workspace, es, _ = setup
    # An index created by someone else with a conflicting type: Elasticsearch rejects those documents.
    es.client.indices.create(index=es.index, mappings={"properties": {"url": {"properties": {
        "path": {"type": "long"}}}}})
    path = tmp_path / "access.log"
    path.write_text("\n".join(access_lines(50)) + "\n")
    with pytest.raises(PartialFailure) as err:
        ingest_file(str(path), es, config, workspace)
    assert "51 events were rejected" in err.value.message
    assert err.value.problems and "rejected (400)" in err.value.problems[0].message
    assert err.value.problems[0].location.field.startswith("event.id=")


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
