import pytest

pytest_plugins = ["tests.services.fixtures"]
SEARCH_ENGINES = ("elasticsearch", "opensearch")


@pytest.fixture(scope="module")
def es_case_engine(es_client, es_node, tmp_path_factory, request):
    """Opens an engine over one rule case's events in a fresh index of the test node (YAML rule cases)."""
    from breachkit.config import ElasticsearchConfig
    from breachkit.detect.ruletest import search_engine_factory
    from breachkit.logs.elasticsearch import ElasticsearchStore
    from tests.services.fixtures import prefixed

    with prefixed(es_client, request.module.__name__) as prefix:
        config = ElasticsearchConfig(hosts=[es_node.url], index=f"{prefix}cases")
        yield search_engine_factory(ElasticsearchStore(es_client, config, tmp_path_factory.mktemp("spool")))


@pytest.fixture(scope="module")
def os_case_engine(os_client, os_node, request):
    """The same over the OpenSearch test node."""
    from breachkit.config import OpenSearchConfig
    from breachkit.detect.ruletest import search_engine_factory
    from breachkit.logs.opensearch import OpenSearchStore
    from tests.services.fixtures import os_prefixed

    with os_prefixed(os_client, request.module.__name__) as prefix:
        config = OpenSearchConfig(hosts=[os_node.url], index=f"{prefix}cases")
        yield search_engine_factory(OpenSearchStore(os_client, config))


@pytest.fixture(scope="module", params=SEARCH_ENGINES)
def search_case_engine(request):
    """Rule-case engines on each search engine in turn (Elasticsearch, then OpenSearch)."""
    return request.getfixturevalue("es_case_engine" if request.param == "elasticsearch" else "os_case_engine")
@pytest.fixture
def invoke_cli():
    """Run a `breachkit` command in-process (click's CliRunner) and check its exit code (0 unless `code=`)."""
    from click.testing import CliRunner

    from breachkit.cli import cli

    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == code, result.output
        return result

    return invoke
