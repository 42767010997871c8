import pytest

pytest_plugins = ["tests.services.fixtures", "tests.faults"]


@pytest.fixture(scope="module")
def es_case_engine(es_client, es_node, tmp_path_factory, request):
    """Opens an engine over one rule case's events in a fresh index of the test node (YAML rule cases)."""
    from breachkit.config import ElasticsearchConfig
    from breachkit.detect.ruletest import elasticsearch_engine_factory
    from breachkit.logs.elasticsearch import ElasticsearchStore
    from tests.services.fixtures import prefixed

    with prefixed(es_client, request.module.__name__) as prefix:
        config = ElasticsearchConfig(hosts=[es_node.url], index=f"{prefix}cases")
        yield elasticsearch_engine_factory(ElasticsearchStore(es_client, config, tmp_path_factory.mktemp("spool")))


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
