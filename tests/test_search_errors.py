"""Bad clusters: unreachable, the wrong product or version, missing indices — exit 3 with what to check."""

from __future__ import annotations

import pytest

from breachkit.config import ElasticsearchConfig, OpenSearchConfig
from breachkit.errors import ConfigError, ServiceError
from breachkit.logs import elasticsearch, opensearch


def test_elasticsearch_client_against_an_opensearch_node(os_node):
    with pytest.raises(ServiceError, match="is not Elasticsearch") as err:
        elasticsearch.connect(ElasticsearchConfig(hosts=[os_node.url]))
    assert os_node.url in err.value.message and "opensearch" in (err.value.hint or "")


def test_opensearch_client_against_an_elasticsearch_node(es_node, monkeypatch):
    monkeypatch.setenv("BREACHKIT_OS_PASSWORD", es_node.password)
    config = OpenSearchConfig(hosts=[es_node.url], username=es_node.username, ca_certs=es_node.ca_certs)
    with pytest.raises(ServiceError, match="is not OpenSearch") as err:
        opensearch.connect(config)
    assert es_node.url in err.value.message and "elasticsearch" in (err.value.hint or "")


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_unreachable_cluster(engine):
    if engine == "elasticsearch":
        with pytest.raises(ServiceError, match=r"cannot reach Elasticsearch at https://127\.0\.0\.1:9"):
            elasticsearch.connect(ElasticsearchConfig(hosts=["https://127.0.0.1:9"], request_timeout=5))
    else:
        with pytest.raises(ServiceError, match=r"cannot reach OpenSearch at http://127\.0\.0\.1:9"):
            opensearch.connect(OpenSearchConfig(hosts=["http://127.0.0.1:9"], request_timeout=5))


def test_tls_options_on_a_plain_http_host_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="elasticsearch"):
        elasticsearch.connect(ElasticsearchConfig(hosts=["http://127.0.0.1:9"], ca_certs=tmp_path / "ca.pem"))


def test_version_numbers():
    assert opensearch._version("2.19.6") == (2, 19)
    assert opensearch._version("3.0.0-beta1") == (3, 0)
    assert opensearch._version("1.3.2") < opensearch.MIN_VERSION
    assert opensearch._version("2.15.0") >= opensearch.WILDCARD_SINCE > opensearch._version("2.14.9")
