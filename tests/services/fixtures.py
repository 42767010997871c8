"""pytest fixtures for the real Elasticsearch node (loaded by tests/conftest.py as a plugin).

- ``es_node`` (session): an :class:`~tests.services.elasticsearch.ElasticsearchNode`. The node given by
  BREACHKIT_TEST_ES_URL (+ _USERNAME, _PASSWORD, _CA_CERTS) if set, never started or stopped here;
  otherwise one node started on first use and stopped at the end of the session. A node that cannot
  be started fails the test (pytest.fail), it is never skipped.
- ``es_client`` (session): an ``elasticsearch.Elasticsearch`` client for it.
- ``es_prefix`` (function): a unique lowercase prefix for the test's index and template names; every
  index, index template, legacy template and component template named with it is deleted afterwards.

Tests using them are marked ``es`` automatically (``pytest -m "not es"`` leaves them out); marking
them ``@pytest.mark.es`` by hand as well is the convention.

The same for the real OpenSearch node (tests/services/opensearch.py): ``os_node`` (BREACHKIT_TEST_OS_URL, or
one started on first use), ``os_client`` (an ``opensearchpy.OpenSearch``) and ``os_prefix``; tests using
them, or parametrised with the value ``"opensearch"``, are marked ``opensearch`` automatically.

And for the real PostgreSQL server (tests/services/postgres.py):

- ``pg_server`` (session): a :class:`~tests.services.fixtures.PgServer`: the server given by
  BREACHKIT_TEST_PG_URL if set (its database must exist, its user needs CREATEDB; never started or
  stopped here), otherwise one server started on first use and stopped at the end of the session. A
  server that cannot be started fails the test (pytest.fail), it is never skipped.
- ``pg_url`` (session): the SQLAlchemy URL (``postgresql+psycopg://``) of that server's session database.
- ``pg_database_url`` (function): the URL of a fresh, empty database for this test alone (UTF-8, C
  collation, from template0), dropped afterwards even if connections to it are still open.
- ``store_url`` (function, parametrised ``sqlite`` | ``postgresql``): an incident-store URL, either
  ``sqlite:///<tmp_path>/incidents.db`` or a fresh database from ``pg_database_url``.

Tests using the ``pg_*`` fixtures, and the ``postgresql`` case of ``store_url``, are marked ``pg``
automatically (``pytest -m "not pg"`` leaves them out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from opensearchpy import OpenSearch

from tests.services import postgres
from tests.services.elasticsearch import ES_VERSION, ElasticsearchNode, ElasticsearchServer, HarnessError
from tests.services.opensearch import OS_VERSION, OpenSearchNode, OpenSearchServer

ES_FIXTURES = frozenset({"es_node", "es_client", "es_prefix"})
URL_ENV = "BREACHKIT_TEST_ES_URL"

_servers_key = pytest.StashKey[list[ElasticsearchServer]]()
_session_token = secrets.token_hex(2)  # tells apart test runs sharing one reused node
_prefix_counter = itertools.count(1)


def node_from_environment() -> ElasticsearchNode | None:
    """The node named by BREACHKIT_TEST_ES_URL and friends, or None when it is not set."""
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        return None
    ca = os.environ.get("BREACHKIT_TEST_ES_CA_CERTS", "").strip()
    return ElasticsearchNode(
        url=url.rstrip("/"),
        username=os.environ.get("BREACHKIT_TEST_ES_USERNAME", ""),
        password=os.environ.get("BREACHKIT_TEST_ES_PASSWORD", ""),
        ca_certs=Path(ca) if ca else None,
    )


def make_client(node: ElasticsearchNode) -> Elasticsearch:
    return Elasticsearch(node.url, request_timeout=60, **node.client_kwargs())


def make_prefix(test_id: str) -> str:
    """``bkt-<4 hex: this run><6 hex: the test>-<n>-``: lowercase, valid at the start of an index name."""
    digest = hashlib.sha1(test_id.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"bkt-{_session_token}{digest}-{next(_prefix_counter)}-"


def delete_prefixed(client: Elasticsearch, prefix: str) -> None:
    """Delete every index (hidden and closed too) and every template whose name starts with ``prefix``.

    Names are resolved first and deleted by name, so this works under the default
    ``action.destructive_requires_name: true`` of the node too.
    """
    if not prefix or "*" in prefix or "," in prefix:
        raise ValueError(f"refusing to delete by prefix {prefix!r}")
    pattern = f"{prefix}*"
    quiet = client.options(ignore_status=404)

    indices = sorted(client.indices.get(index=pattern, expand_wildcards="all", allow_no_indices=True))
    for start in range(0, len(indices), 50):
        quiet.indices.delete(index=indices[start : start + 50], expand_wildcards="all")

    index_templates = quiet.indices.get_index_template(name=pattern)
    for template in index_templates.get("index_templates", []) if index_templates.meta.status == 200 else []:
        quiet.indices.delete_index_template(name=template["name"])

    legacy = quiet.indices.get_template(name=pattern)
    for name in legacy.body if legacy.meta.status == 200 else {}:
        quiet.indices.delete_template(name=name)

    components = quiet.cluster.get_component_template(name=pattern)
    for template in components.get("component_templates", []) if components.meta.status == 200 else []:
        quiet.cluster.delete_component_template(name=template["name"])


@contextlib.contextmanager
def prefixed(client: Elasticsearch, test_id: str) -> Iterator[str]:
    """A fresh prefix for ``test_id``; what was made with it is deleted on exit (as ``es_prefix``)."""
    prefix = make_prefix(test_id)
    try:
        yield prefix
    finally:
        delete_prefixed(client, prefix)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def es_node(request: pytest.FixtureRequest) -> Iterator[ElasticsearchNode]:
    reused = node_from_environment()
    if reused is not None:
        yield reused
        return
    server = ElasticsearchServer()
    failure: str | None = None
    try:
        node = server.start()
    except HarnessError as exc:
        failure = str(exc)
    if failure is not None:  # fail, never skip: a missing server is a failure, in CI and locally
        pytest.fail(f"cannot start the Elasticsearch {ES_VERSION} test node: {failure}", pytrace=False)
    request.config.stash.setdefault(_servers_key, []).append(server)
    try:
        yield node
    finally:
        server.stop()


@pytest.fixture(scope="session")
def es_client(es_node: ElasticsearchNode) -> Iterator[Elasticsearch]:
    client = make_client(es_node)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def es_prefix(es_client: Elasticsearch, request: pytest.FixtureRequest) -> Iterator[str]:
    with prefixed(es_client, request.node.nodeid) as prefix:
        yield prefix


# --------------------------------------------------------------------------- OpenSearch

OS_FIXTURES = frozenset({"os_node", "os_client", "os_prefix"})
OS_URL_ENV = "BREACHKIT_TEST_OS_URL"
_os_servers_key = pytest.StashKey[list[OpenSearchServer]]()


def os_node_from_environment() -> OpenSearchNode | None:
    url = os.environ.get(OS_URL_ENV, "").strip()
    return OpenSearchNode(url=url.rstrip("/")) if url else None


def make_os_client(node: OpenSearchNode) -> OpenSearch:
    return OpenSearch(node.url, timeout=60, pool_maxsize=8)


def delete_os_prefixed(client: OpenSearch, prefix: str) -> None:
    """Delete every index and index template whose name starts with ``prefix`` (resolved, then by name)."""
    if not prefix or "*" in prefix or "," in prefix:
        raise ValueError(f"refusing to delete by prefix {prefix!r}")
    indices = sorted(client.indices.get(index=f"{prefix}*", params={"expand_wildcards": "all"}))
    for start in range(0, len(indices), 50):
        client.indices.delete(index=",".join(indices[start : start + 50]), ignore=[404])
    templates = client.indices.get_index_template(name=f"{prefix}*", ignore=[404])
    for template in templates.get("index_templates", []):
        client.indices.delete_index_template(name=template["name"], ignore=[404])


@contextlib.contextmanager
def os_prefixed(client: OpenSearch, test_id: str) -> Iterator[str]:
    """A fresh prefix for ``test_id``; what was made with it is deleted on exit (as ``os_prefix``)."""
    prefix = make_prefix(test_id)
    try:
        yield prefix
    finally:
        delete_os_prefixed(client, prefix)


@pytest.fixture(scope="session")
def os_node(request: pytest.FixtureRequest) -> Iterator[OpenSearchNode]:
    reused = os_node_from_environment()
    if reused is not None:
        yield reused
        return
    server = OpenSearchServer()
    failure: str | None = None
    try:
        node = server.start()
    except HarnessError as exc:
        failure = str(exc)
    if failure is not None:  # fail, never skip
        pytest.fail(f"cannot start the OpenSearch {OS_VERSION} test node: {failure}", pytrace=False)
    request.config.stash.setdefault(_os_servers_key, []).append(server)
    try:
        yield node
    finally:
        server.stop()


@pytest.fixture(scope="session")
def os_client(os_node: OpenSearchNode) -> Iterator[OpenSearch]:
    client = make_os_client(os_node)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def os_prefix(os_client: OpenSearch, request: pytest.FixtureRequest) -> Iterator[str]:
    with os_prefixed(os_client, request.node.nodeid) as prefix:
        yield prefix


# --------------------------------------------------------------------------- PostgreSQL

PG_FIXTURES = frozenset({"pg_server", "pg_url", "pg_database_url"})
PG_URL_ENV = "BREACHKIT_TEST_PG_URL"
STORE_KINDS = ("sqlite", "postgresql")

_pg_servers_key = pytest.StashKey[list[postgres.PostgresServer]]()
_pg_database_counter = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server the tests can use: ``url`` names its session database."""

    url: str
    #: True: given by BREACHKIT_TEST_PG_URL; False: started by this session.
    reused: bool

    def database_url(self, database: str) -> str:
        return postgres.database_url(self.url, database)


def pg_server_from_environment() -> PgServer | None:
    """The server named by BREACHKIT_TEST_PG_URL, or None when it is not set."""
    url = os.environ.get(PG_URL_ENV, "").strip()
    return PgServer(url=postgres.normalize_url(url), reused=True) if url else None


def make_database_name(test_id: str) -> str:
    """``bkt_<4 hex: this run>_<6 hex: the test>_<n>``: a valid unquoted identifier, well under 63 bytes."""
    digest = hashlib.sha1(test_id.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"bkt_{_session_token}_{digest}_{next(_pg_database_counter)}"


@contextlib.contextmanager
def fresh_database(server: PgServer, test_id: str) -> Iterator[str]:
    """The URL of a new empty database for ``test_id``; it is dropped on exit (as ``pg_database_url``)."""
    name = make_database_name(test_id)
    with postgres.connect(server.url) as admin:
        postgres.create_database(admin, name)
    try:
        yield server.database_url(name)
    finally:
        with postgres.connect(server.url) as admin:
            postgres.drop_database(admin, name)


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    reused = pg_server_from_environment()
    if reused is not None:
        yield reused
        return
    server = postgres.PostgresServer()
    failure: str | None = None
    try:
        url = server.start()
    except postgres.HarnessError as exc:
        failure = str(exc)
    if failure is not None:  # fail, never skip: a missing server is a failure, in CI and locally
        pytest.fail(f"cannot start the PostgreSQL test server: {failure}", pytrace=False)
    request.config.stash.setdefault(_pg_servers_key, []).append(server)
    try:
        yield PgServer(url=url, reused=False)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    return pg_server.url


@pytest.fixture
def pg_database_url(pg_server: PgServer, request: pytest.FixtureRequest) -> Iterator[str]:
    with fresh_database(pg_server, request.node.nodeid) as url:
        yield url


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/incidents.db"
    url: str = request.getfixturevalue("pg_database_url")
    return url


# --------------------------------------------------------------------------- hooks


def _uses_pg(item: pytest.Item) -> bool:
    if PG_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("store_url") == "postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixturenames = getattr(item, "fixturenames", ())
        if ES_FIXTURES.intersection(fixturenames) and item.get_closest_marker("es") is None:
            item.add_marker(pytest.mark.es)
        if _uses_pg(item) and item.get_closest_marker("pg") is None:
            item.add_marker(pytest.mark.pg)
        callspec = getattr(item, "callspec", None)
        on_os = callspec is not None and "opensearch" in callspec.params.values()
        if (on_os or OS_FIXTURES.intersection(fixturenames)) and item.get_closest_marker("opensearch") is None:
            item.add_marker(pytest.mark.opensearch)
        on_es = callspec is not None and "elasticsearch" in callspec.params.values()
        if on_es and item.get_closest_marker("es") is None:
            item.add_marker(pytest.mark.es)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for server in config.stash.get(_servers_key, []):
        if server.startup_seconds is not None and server.prepare_seconds is not None:
            terminalreporter.write_line(
                f"elasticsearch {server.version}: node started in {server.startup_seconds:.1f} s "
                f"(+{server.prepare_seconds:.1f} s for certificates and keystore)"
            )
    for server_os in config.stash.get(_os_servers_key, []):
        if server_os.startup_seconds is not None:
            terminalreporter.write_line(
                f"opensearch {server_os.version}: node started in {server_os.startup_seconds:.1f} s")
    for pg in config.stash.get(_pg_servers_key, []):
        if pg.startup_seconds is not None and pg.binaries is not None:
            terminalreporter.write_line(
                f"postgresql {pg.binaries.version}: server started in {pg.startup_seconds:.1f} s"
            )
