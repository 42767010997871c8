"""Elasticsearch as an event store. The only module that imports the Elasticsearch client.

Works with the server's core features only (no ES|QL, EQL, painless or x-pack data streams, no
delete-by-query — that lives in the reindex module), so it runs on any 8.x/9.x cluster, including Elastic's
bare integ-test distribution used by the tests. The store, loader (`ingest --replace` included), `forget`
and queries are shared with OpenSearch (`breachkit.logs.search`); this module is the transport:
connection and auth, error translation, bulk requests, and capability detection (the `wildcard` field
type exists where the node has the `wildcard` module: Elastic's default distribution, not the integ-test
one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import TlsError
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    NotFoundError,
    UnsupportedProductError,
    helpers,
)

from breachkit.config import ElasticsearchConfig, read_secret
from breachkit.errors import ConfigError, ServiceError
from breachkit.logs.search import QueryRejected, SearchStore, error_reason, index_mappings

__all__ = ["ElasticsearchStore", "EsClient", "connect", "index_mappings", "service_errors"]
SUPPORTED_MAJORS = (8, 9)


def connect(config: ElasticsearchConfig) -> Elasticsearch:
    """A client for the configured cluster, checked with one request; ServiceError with a hint otherwise."""
    kwargs: dict[str, Any] = {
        "hosts": config.hosts,
        "request_timeout": config.request_timeout,
        "verify_certs": config.verify_certs,
        "retry_on_timeout": True,
        "max_retries": 3,
    }
    if config.ca_certs is not None:
        kwargs["ca_certs"] = str(config.ca_certs)
    api_key = read_secret("BREACHKIT_ES_API_KEY", config.api_key_file)
    if api_key:
        kwargs["api_key"] = api_key
    elif config.username:
        password = read_secret("BREACHKIT_ES_PASSWORD", config.password_file)
        if password is None:
            raise ServiceError("elasticsearch.username is set but no password was given",
                               hint="set BREACHKIT_ES_PASSWORD or elasticsearch.password_file (mode 0600)")
        kwargs["basic_auth"] = (config.username, password)
    try:
        client = Elasticsearch(**kwargs)
    except ValueError as exc:  # e.g. TLS options with an http:// host
        raise ConfigError(f"elasticsearch: {exc}", field="elasticsearch.hosts") from None
    try:
        with service_errors(config):
            # Not `info()`: GET / lives in the rest-root module, which minimal distributions leave out.
            client.cluster.health(timeout="5s")
            nodes = client.nodes.info(node_id="_all", metric="plugins",
                                      filter_path="nodes.*.version,nodes.*.modules.name")
    except BaseException:
        client.close()
        raise
    versions = sorted({str(n.get("version", "?")) for n in nodes.get("nodes", {}).values()})
    bad = [v for v in versions if not v.split(".")[0].isdigit() or int(v.split(".")[0]) not in SUPPORTED_MAJORS]
    if bad:
        client.close()
        raise ServiceError(f"Elasticsearch at {', '.join(config.hosts)} runs version {', '.join(bad)}; "
                           f"breachkit supports {' and '.join(f'{m}.x' for m in SUPPORTED_MAJORS)}")
    return client


@contextlib.contextmanager
def service_errors(config: ElasticsearchConfig | None = None, where: str | None = None) -> Iterator[None]:
    """Turn the client's exceptions into ServiceErrors that say what to check."""
    where = where or (", ".join(config.hosts) if config is not None else "the cluster")
    try:
        yield
    except UnsupportedProductError:
        raise ServiceError(f"the server at {where} is not Elasticsearch",
                           hint="an OpenSearch cluster is engine `opensearch` ([opensearch] hosts)") from None
    except AuthenticationException:
        raise ServiceError(f"Elasticsearch at {where} rejected the credentials",
                           hint="check elasticsearch.username and BREACHKIT_ES_PASSWORD, or BREACHKIT_ES_API_KEY"
                           ) from None
    except AuthorizationException as exc:
        raise ServiceError(f"Elasticsearch at {where} denied the request: {exc.message}",
                           hint="the user or API key needs the index privileges for the events index") from None
    except TlsError as exc:
        raise ServiceError(f"TLS with Elasticsearch at {where} failed: {exc}",
                           hint="set elasticsearch.ca_certs to the cluster's CA certificate") from None
    except TransportConnectionError as exc:
        raise ServiceError(f"cannot reach Elasticsearch at {where}: {exc}",
                           hint="is it running? check elasticsearch.hosts") from None
    except ApiError as exc:
        kind = QueryRejected if exc.meta.status == 400 else ServiceError
        raise kind(f"Elasticsearch error {exc.meta.status}: {_reason(exc)}") from None


def _reason(exc: ApiError) -> str:
    return error_reason(exc.body, str(exc.message))


class EsClient:
    """The `SearchClient` of an Elasticsearch cluster."""

    engine = "elasticsearch"

    def __init__(self, client: Elasticsearch, config: ElasticsearchConfig | None = None) -> None:
        self.client = client
        self.config = config
        self.where = ", ".join(config.hosts) if config is not None else "Elasticsearch"

    def errors(self) -> contextlib.AbstractContextManager[None]:
        return service_errors(self.config, self.where)

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(index=index, **body))

    def scroll_start(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(index=index, scroll="2m", **body))

    def scroll_next(self, scroll_id: str) -> dict[str, Any]:
        return dict(self.client.scroll(scroll_id=scroll_id, scroll="2m"))

    def scroll_clear(self, scroll_id: str) -> None:
        self.client.options(ignore_status=404).clear_scroll(scroll_id=scroll_id)

    def count(self, index: str) -> int:
        return int(self.client.count(index=index)["count"])

    def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        self.client.indices.put_index_template(name=name, index_patterns=body["index_patterns"],
                                               priority=body["priority"], template=body["template"],
                                               meta=body["_meta"])

    def index_exists(self, index: str) -> bool:
        return bool(self.client.indices.exists(index=index))

    def put_mapping(self, index: str, body: dict[str, Any]) -> None:
        self.client.indices.put_mapping(index=index, **body)

    def create_index(self, index: str, body: dict[str, Any] | None = None) -> None:
        self.client.indices.create(index=index, **(body or {}))

    def refresh(self, index: str) -> None:
        self.client.indices.refresh(index=index)

    def delete_index(self, index: str) -> None:
        self.client.options(ignore_status=404).indices.delete(index=index)

    def delete_index_template(self, name: str) -> None:
        self.client.options(ignore_status=404).indices.delete_index_template(name=name)

    def get_mapping(self, pattern: str) -> dict[str, Any]:
        try:
            resp = self.client.indices.get_mapping(index=pattern, allow_no_indices=False)
        except NotFoundError:
            raise ServiceError(f"no index matches {pattern!r} on Elasticsearch at {self.where}",
                               hint="check the index name or pattern (GET _cat/indices)") from None
        return {name: body.get("mappings", {}) for name, body in resp.body.items()}

    def bulk(self, actions: Iterator[tuple[bytes, bytes | None]], threads: int, chunk_size: int
             ) -> Iterator[tuple[bool, dict[str, Any]]]:
        # Actions and documents arrive serialized: the helper passes bytes through untouched.
        yield from helpers.parallel_bulk(self.client, actions, thread_count=threads,  # type: ignore[arg-type]
                                         chunk_size=chunk_size, expand_action_callback=_as_is, raise_on_error=False,
                                         raise_on_exception=True)

    def wildcard_mapping(self) -> dict[str, Any] | None:
        nodes = self.client.nodes.info(node_id="_all", metric="plugins", filter_path="nodes.*.modules.name")
        found = [any(m.get("name") == "wildcard" for m in n.get("modules", [])) for n in nodes["nodes"].values()]
        return {"type": "wildcard", "ignore_above": 8191} if found and all(found) else None

    def close(self) -> None:
        self.client.close()


def _as_is(action: Any) -> Any:
    return action


class ElasticsearchStore(SearchStore):
    """Events in one index (`elasticsearch.index`) of an Elasticsearch cluster."""

    def __init__(self, client: Elasticsearch, config: ElasticsearchConfig, spool_dir: Path | None = None) -> None:
        super().__init__(EsClient(client, config), config.index, bulk_threads=config.bulk_threads,
                         bulk_chunk_size=config.bulk_chunk_size, spool_dir=spool_dir,
                         use_wildcard=config.wildcard_fields, read_only_patterns=config.indices)
        self.config = config
