import pytest

pytest_plugins = ["tests.services.fixtures", "tests.faults"]
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


class SearchSetup:
    """One search engine's store over a fresh index of its test node, with the matching Config."""

    def __init__(self, engine, config, store, client, workspace, env):
        self.engine, self.config, self.store, self.client, self.workspace, self.env = (
            engine, config, store, client, workspace, env)


@pytest.fixture(params=SEARCH_ENGINES)
def search_setup(request, tmp_path, monkeypatch):
    """`SearchSetup` on Elasticsearch, then on OpenSearch (index `<prefix>events`, deleted afterwards).
    `env` holds the BREACHKIT_* variables that point a `breachkit` process at the same index."""
    from breachkit.config import ElasticsearchConfig, OpenSearchConfig, load_config
    from breachkit.workspace import Workspace

    base = load_config(environ={}, cwd=tmp_path)
    workspace = Workspace(tmp_path / "ws").ensure()
    if request.param == "elasticsearch":
        from breachkit.logs.elasticsearch import ElasticsearchStore, connect

        node, prefix = request.getfixturevalue("es_node"), request.getfixturevalue("es_prefix")
        monkeypatch.setenv("BREACHKIT_ES_PASSWORD", node.password)
        monkeypatch.delenv("BREACHKIT_ES_API_KEY", raising=False)
        cfg = ElasticsearchConfig(hosts=[node.url], index=f"{prefix}events", username=node.username,
                                  ca_certs=node.ca_certs)
        client = connect(cfg)
        store = ElasticsearchStore(client, cfg, workspace.tmp)
        env = {"BREACHKIT_ELASTICSEARCH__HOSTS": f'["{node.url}"]', "BREACHKIT_ELASTICSEARCH__INDEX": cfg.index,
               "BREACHKIT_ELASTICSEARCH__USERNAME": node.username, "BREACHKIT_ES_PASSWORD": node.password,
               "BREACHKIT_ELASTICSEARCH__CA_CERTS": str(node.ca_certs)}
    else:
        from breachkit.logs.opensearch import OpenSearchStore, connect

        node, prefix = request.getfixturevalue("os_node"), request.getfixturevalue("os_prefix")
        cfg = OpenSearchConfig(hosts=[node.url], index=f"{prefix}events")
        client = connect(cfg)
        store = OpenSearchStore(client, cfg, workspace.tmp)
        env = {"BREACHKIT_OPENSEARCH__HOSTS": f'["{node.url}"]', "BREACHKIT_OPENSEARCH__INDEX": cfg.index}
    config = base.model_copy(update={request.param: cfg})
    try:
        yield SearchSetup(request.param, config, store, client, workspace, env)
    finally:
        client.close()
