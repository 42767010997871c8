"""The OpenSearch test node: the pinned version answers, the capabilities breachkit relies on are there,
and `os_prefix` cleans up after a test."""

from __future__ import annotations

from opensearchpy import OpenSearch

from tests.services.fixtures import delete_os_prefixed, os_prefixed
from tests.services.opensearch import OS_VERSION, main


def test_node_is_the_pinned_opensearch(os_client: OpenSearch) -> None:
    info = os_client.info()
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"].startswith("2.")
    assert os_client.cluster.health(params={"wait_for_status": "yellow"})["status"] in ("green", "yellow")


def test_prefix_cleanup(os_client: OpenSearch) -> None:
    with os_prefixed(os_client, "harness") as prefix:
        os_client.indices.create(index=f"{prefix}a")
        os_client.indices.put_index_template(name=f"{prefix}t", body={"index_patterns": [f"{prefix}t*"]})
        assert os_client.indices.exists(index=f"{prefix}a")
    assert not os_client.indices.exists(index=f"{prefix}a")
    assert os_client.indices.get_index_template(name=f"{prefix}*", ignore=[404]).get("index_templates", []) == []
    delete_os_prefixed(os_client, prefix)  # nothing left: no error


def test_version_command(capsys) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == OS_VERSION
