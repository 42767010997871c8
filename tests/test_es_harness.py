"""The Elasticsearch test node is real: a healthy cluster, security on, TLS verified, cleanup per test."""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from elasticsearch import AuthenticationException, Elasticsearch

from tests.services.elasticsearch import CLUSTER_NAME, ES_VERSION, ElasticsearchNode
from tests.services.fixtures import URL_ENV, delete_prefixed, make_prefix, prefixed

REUSED = bool(os.environ.get(URL_ENV, "").strip())


def _leftovers(client: Elasticsearch, prefix: str) -> list[str]:
    """Names of indices and templates (all three kinds) that start with ``prefix``."""
    pattern = f"{prefix}*"
    quiet = client.options(ignore_status=404)
    names = [f"index {n}" for n in client.indices.get(index=pattern, expand_wildcards="all")]
    index_templates = quiet.indices.get_index_template(name=pattern).body or {}
    names += [f"index template {t['name']}" for t in index_templates.get("index_templates", [])]
    names += [f"legacy template {n}" for n in quiet.indices.get_template(name=pattern).body or {}]
    components = quiet.cluster.get_component_template(name=pattern).body or {}
    names += [f"component template {t['name']}" for t in components.get("component_templates", [])]
    return names


def _populate(client: Elasticsearch, prefix: str) -> None:
    """One of each thing the prefix cleanup must remove."""
    client.indices.create(index=f"{prefix}events", settings={"number_of_replicas": 0})
    client.index(index=f"{prefix}events", document={"user": "alice"}, refresh=True)
    client.indices.create(index=f"{prefix}hidden", settings={"index.hidden": True, "number_of_replicas": 0})
    client.indices.create(index=f"{prefix}closed", settings={"number_of_replicas": 0})
    client.indices.close(index=f"{prefix}closed", wait_for_active_shards=0)
    client.cluster.put_component_template(name=f"{prefix}component", template={"settings": {"number_of_replicas": 0}})
    client.indices.put_index_template(
        name=f"{prefix}template",
        index_patterns=[f"{prefix}templated-*"],
        composed_of=[f"{prefix}component"],
    )
    client.indices.put_template(name=f"{prefix}legacy", index_patterns=[f"{prefix}legacy-*"])
    client.index(index=f"{prefix}templated-1", document={"n": 1}, refresh=True)  # made by the template


@pytest.mark.es
def test_cluster_is_healthy(es_client: Elasticsearch) -> None:
    health = es_client.cluster.health(wait_for_status="yellow", timeout="30s")
    assert health["status"] in {"green", "yellow"}
    assert not health["timed_out"]
    if not REUSED:  # the node this session started: the pinned version, one node
        assert health["cluster_name"] == CLUSTER_NAME
        assert health["number_of_nodes"] == 1
        nodes = es_client.nodes.info(node_id="_local")["nodes"]
        assert {n["version"] for n in nodes.values()} == {ES_VERSION}


@pytest.mark.es
def test_security_is_on(es_node: ElasticsearchNode) -> None:
    # no credentials: 401 with a Basic challenge
    request = urllib.request.Request(f"{es_node.url}/_cluster/health")  # noqa: S310 - https
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=es_node.ssl_context(), timeout=30)  # noqa: S310
    assert refused.value.code == 401
    assert "Basic" in refused.value.headers.get("WWW-Authenticate", "")

    # a wrong password: 401 through the client too
    wrong = Elasticsearch(es_node.url, basic_auth=(es_node.username, es_node.password + "x"), **_tls_kwargs(es_node))
    with wrong, pytest.raises(AuthenticationException):
        wrong.cluster.health()

    # the right one authenticates as that user
    with Elasticsearch(es_node.url, request_timeout=60, **es_node.client_kwargs()) as client:
        me = client.security.authenticate()
    assert me["username"] == es_node.username
    if not REUSED:
        assert me["username"] == "elastic"
        assert "superuser" in me["roles"]


def _tls_kwargs(node: ElasticsearchNode) -> dict[str, Any]:
    return {"ca_certs": str(node.ca_certs)} if node.ca_certs else {}


@pytest.mark.es
def test_tls_is_verified_with_the_generated_ca(es_node: ElasticsearchNode) -> None:
    url = urlsplit(es_node.url)
    assert url.scheme == "https"
    host, port = url.hostname or "", url.port or 443

    # the CA's context verifies the chain and the host name (an IP SAN here)
    with (
        socket.create_connection((host, port), timeout=30) as raw,
        es_node.ssl_context().wrap_socket(raw, server_hostname=host) as tls,
    ):
        cert = tls.getpeercert()
        assert cert
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    if REUSED and es_node.ca_certs is None:
        return  # a node trusted through the system's CAs: nothing generated to check

    assert es_node.ca_certs is not None
    assert ("IP Address", host) in cert.get("subjectAltName", ())
    # the chain ends at the CA this session generated, not at some CA the system trusts ...
    with (
        socket.create_connection((host, port), timeout=30) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
        ssl.create_default_context().wrap_socket(raw, server_hostname=host),
    ):
        pass
    # ... and the node speaks TLS only: plain HTTP on its port gets no HTTP answer
    with pytest.raises((OSError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://{host}:{port}/", timeout=30)


@pytest.fixture
def cleanup_check(es_client: Elasticsearch) -> Iterator[list[str]]:
    """Prefixes to check after the test's other fixtures are torn down: nothing may remain."""
    prefixes: list[str] = []
    yield prefixes
    for prefix in prefixes:
        assert _leftovers(es_client, prefix) == [], f"es_prefix left these behind for {prefix!r}"


LEGACY_TEMPLATE_WARNING = "ignore:Legacy index templates are deprecated"


@pytest.mark.es
@pytest.mark.filterwarnings(LEGACY_TEMPLATE_WARNING)
def test_es_prefix_cleans_up(es_client: Elasticsearch, cleanup_check: list[str], es_prefix: str) -> None:
    # cleanup_check is set up before es_prefix, so it is torn down after es_prefix's cleanup
    assert re.fullmatch(r"bkt-[0-9a-f]{10}-\d+-", es_prefix)
    _populate(es_client, es_prefix)
    assert len(_leftovers(es_client, es_prefix)) == 7
    cleanup_check.append(es_prefix)


@pytest.mark.es
@pytest.mark.filterwarnings(LEGACY_TEMPLATE_WARNING)
def test_prefix_cleanup_leaves_other_prefixes_alone(es_client: Elasticsearch) -> None:
    with prefixed(es_client, "outer") as outer:
        _populate(es_client, outer)
        with prefixed(es_client, "outer") as inner:  # same test id, next counter: a different prefix
            assert inner != outer
            assert not inner.startswith(outer)
            assert not outer.startswith(inner)
            _populate(es_client, inner)
        assert _leftovers(es_client, inner) == []
        assert len(_leftovers(es_client, outer)) == 7
    assert _leftovers(es_client, outer) == []


def test_prefixes_are_unique_and_valid_index_names() -> None:
    prefixes = {make_prefix("tests/test_x.py::test_y") for _ in range(100)}
    assert len(prefixes) == 100
    assert all(p == p.lower() and p.startswith("bkt-") for p in prefixes)


@pytest.mark.parametrize("prefix", ["", "*", "bkt-*", "a,b"])
def test_delete_prefixed_refuses_wildcards(prefix: str) -> None:
    with pytest.raises(ValueError, match="refusing"):
        delete_prefixed(None, prefix)  # type: ignore[arg-type]  # refused before the client is used
