"""OpenSearch (2.x and later) as an event store. The only module that imports `opensearch-py`.

The store, loader and queries are shared with Elasticsearch (`breachkit.logs.search`): both take the same
query-DSL subset. This module is the transport: connection and basic auth (BREACHKIT_OS_PASSWORD), error
translation, bulk requests, and capability detection. OpenSearch core has the `wildcard` field type from
2.15 on; its doc values serve fetches, but its aggregations count n-grams instead of documents (seen on
2.19), so wildcard fields carry a `keyword` sub-field that aggregations use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opensearchpy import (
    AuthenticationException,
    AuthorizationException,
    NotFoundError,
    OpenSearch,
    SSLError,
    TransportError,
    helpers,
)
from opensearchpy import ConnectionError as OsConnectionError

from breachkit.config import OpenSearchConfig, read_secret
from breachkit.errors import ConfigError, ServiceError
from breachkit.logs.schema import MAX_VALUE_CHARS
from breachkit.logs.search import QueryRejected, SearchStore, error_reason

MIN_VERSION = (2, 0)
WILDCARD_SINCE = (2, 15)


def connect(config: OpenSearchConfig) -> OpenSearch:
    """A client for the configured cluster, checked with `GET /`; ServiceError with a hint otherwise."""
    kwargs: dict[str, Any] = {
        "hosts": config.hosts,
        "timeout": config.request_timeout,
        "verify_certs": config.verify_certs,
        "retry_on_timeout": True,
        "max_retries": 3,
        "pool_maxsize": config.bulk_threads + 4,  # parallel bulk requests, plus searches
    }
    if config.ca_certs is not None:
        kwargs["ca_certs"] = str(config.ca_certs)
    if config.username:
        password = read_secret("BREACHKIT_OS_PASSWORD", config.password_file)
        if password is None:
            raise ServiceError("opensearch.username is set but no password was given",
                               hint="set BREACHKIT_OS_PASSWORD or opensearch.password_file (mode 0600)")
        kwargs["http_auth"] = (config.username, password)
    try:
        client = OpenSearch(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"opensearch: {exc}", field="opensearch.hosts") from None
    where = ", ".join(config.hosts)
    try:
        with service_errors(where):
            try:
                info = client.info()
            except TransportError as exc:  # Elasticsearch without its rest-root module refuses GET /
                if exc.status_code not in (400, 404, 405):
                    raise
                info = {"version": {"number": "?", "distribution": "unknown: GET / is not answered"}}
    except BaseException:
        client.close()
        raise
    version = info.get("version", {}) if isinstance(info, dict) else {}
    if version.get("distribution") != "opensearch":
        client.close()
        raise ServiceError(f"the server at {where} is not OpenSearch (it says {version.get('number', '?')!r}, "
                           f"distribution {version.get('distribution', 'elasticsearch')!r})",
                           hint="an Elasticsearch cluster is engine `elasticsearch` ([elasticsearch] hosts)")
    if _version(version.get("number", "")) < MIN_VERSION:
        client.close()
        raise ServiceError(f"OpenSearch at {where} runs version {version.get('number')}; breachkit needs 2.0 or later")
    return client


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in str(text).split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


@contextlib.contextmanager
def service_errors(where: str) -> Iterator[None]:
    """Turn the client's exceptions into ServiceErrors that say what to check."""
    try:
        yield
    except AuthenticationException:
        raise ServiceError(f"OpenSearch at {where} rejected the credentials",
                           hint="check opensearch.username and BREACHKIT_OS_PASSWORD") from None
    except AuthorizationException as exc:
        raise ServiceError(f"OpenSearch at {where} denied the request: {_reason(exc)}",
                           hint="the user needs the index privileges for the events index") from None
    except SSLError as exc:
        raise ServiceError(f"TLS with OpenSearch at {where} failed: {exc}",
                           hint="set opensearch.ca_certs to the cluster's CA certificate") from None
    except OsConnectionError as exc:
        raise ServiceError(f"cannot reach OpenSearch at {where}: {exc}",
                           hint="is it running? check opensearch.hosts") from None
    except TransportError as exc:
        kind = QueryRejected if exc.status_code == 400 else ServiceError
        raise kind(f"OpenSearch error {exc.status_code}: {_reason(exc)}") from None


def _reason(exc: TransportError) -> str:
    return error_reason(exc.info, str(exc.error))


class OsClient:
    """The `SearchClient` of an OpenSearch cluster."""

    engine = "opensearch"

    def __init__(self, client: OpenSearch, where: str = "OpenSearch") -> None:
        self.client = client
        self.where = where

    def errors(self) -> contextlib.AbstractContextManager[None]:
        return service_errors(self.where)

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(index=index, body=body))

    def scroll_start(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(index=index, body=body, scroll="2m"))

    def scroll_next(self, scroll_id: str) -> dict[str, Any]:
        return dict(self.client.scroll(body={"scroll_id": scroll_id, "scroll": "2m"}))

    def scroll_clear(self, scroll_id: str) -> None:
        self.client.clear_scroll(body={"scroll_id": [scroll_id]}, ignore=[404])

    def count(self, index: str) -> int:
        return int(self.client.count(index=index)["count"])

    def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        self.client.indices.put_index_template(name=name, body=body)

    def index_exists(self, index: str) -> bool:
        return bool(self.client.indices.exists(index=index))

    def put_mapping(self, index: str, body: dict[str, Any]) -> None:
        self.client.indices.put_mapping(index=index, body=body)

    def create_index(self, index: str, body: dict[str, Any] | None = None) -> None:
        self.client.indices.create(index=index, body=body)

    def refresh(self, index: str) -> None:
        self.client.indices.refresh(index=index)

    def delete_index(self, index: str) -> None:
        self.client.indices.delete(index=index, ignore=[404])

    def delete_index_template(self, name: str) -> None:
        self.client.indices.delete_index_template(name=name, ignore=[404])

    def get_mapping(self, pattern: str) -> dict[str, Any]:
        try:
            resp = self.client.indices.get_mapping(index=pattern, params={"allow_no_indices": "false"})
        except NotFoundError:
            raise ServiceError(f"no index matches {pattern!r} on OpenSearch at {self.where}",
                               hint="check the index name or pattern (GET _cat/indices)") from None
        return {name: body.get("mappings", {}) for name, body in resp.items()}

    def bulk(self, actions: Iterator[tuple[bytes, bytes | None]], threads: int, chunk_size: int
             ) -> Iterator[tuple[bool, dict[str, Any]]]:
        # Actions and documents arrive serialized; this helper passes strings (not bytes) through untouched.
        as_text = ((a.decode(), d.decode() if d is not None else None) for a, d in actions)
        yield from helpers.parallel_bulk(self.client, as_text, thread_count=threads, chunk_size=chunk_size,
                                         expand_action_callback=_as_is, raise_on_error=False,
                                         raise_on_exception=True)

    def wildcard_mapping(self) -> dict[str, Any] | None:
        info = self.client.info()
        if _version(info.get("version", {}).get("number", "")) < WILDCARD_SINCE:
            return None
        keyword = {"type": "keyword", "ignore_above": MAX_VALUE_CHARS}
        return {"type": "wildcard", "doc_values": True, "ignore_above": MAX_VALUE_CHARS,
                "fields": {"keyword": keyword}}

    def close(self) -> None:
        self.client.close()


def _as_is(action: Any) -> Any:
    return action


class OpenSearchStore(SearchStore):
    """Events in one index (`opensearch.index`) of an OpenSearch cluster."""

    def __init__(self, client: OpenSearch, config: OpenSearchConfig, spool_dir: Path | None = None) -> None:
        super().__init__(OsClient(client, ", ".join(config.hosts)), config.index,
                         bulk_threads=config.bulk_threads, bulk_chunk_size=config.bulk_chunk_size,
                         spool_dir=spool_dir, use_wildcard=config.wildcard_fields, read_only_patterns=config.indices)
        self.config = config
