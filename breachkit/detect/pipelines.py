"""Processing pipelines: Sigma taxonomy fields → the event schema.

breachkit's own rules are written against the event schema (logsource `product: breachkit`, optional
`service: web|api|auth|access`). SigmaHQ's webserver and proxy rules use the W3C/IIS-style taxonomy
(`cs-method`, `c-uri`, `sc-status`, …); the mapping below puts them onto the schema. Users add their own
pipeline YAML files (pySigma's format) for other field names. All pipelines are applied in the order of
their `priority`, lowest first, as pySigma's resolver does (files of equal priority in the order given):
the taxonomy mapping has priority 20, so a user pipeline with a lower priority (pySigma's default is 0)
runs before it — e.g. a `change_logsource` into `category: webserver` then gets SigmaHQ's taxonomy names
mapped — and one with a higher priority runs after it. Which events a rule covers is decided on the
logsource the pipelines leave (`logsources`).

Note on `cs-uri-query`: in IIS logs it is the query string only, but SigmaHQ's webserver rules use it
for the whole request target (`cs-uri-query|contains: '/wp-admin/'`), so it maps to `url.original`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

from breachkit.errors import InputError

WEB_FIELDS: dict[str, str] = {
    "c-ip": "source.ip",
    "cs-method": "http.request.method",
    "cs-uri-query": "url.original",
    "cs-uri-stem": "url.path",
    "cs-uri": "url.original",
    "c-uri": "url.original",
    "c-uri-query": "url.query",
    "c-uri-stem": "url.path",
    "c-uri-extension": "url.extension",
    "sc-status": "http.response.status_code",
    "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original",
    "cs-referer": "http.request.referrer",
    "cs-referrer": "http.request.referrer",
    "cs-host": "url.domain",
    "r-dns": "url.domain",
    "cs-username": "user.name",
    "sc-bytes": "http.response.body.bytes",
    "src_ip": "source.ip",
}
def taxonomy_pipeline() -> ProcessingPipeline:
    """SigmaHQ's web taxonomy names → the schema, for every rule: the W3C names are unambiguous, so a rule
    of a custom logsource written with them needs no pipeline of its own, only a logsource mapping."""
    return ProcessingPipeline(
        name="breachkit taxonomy → event schema",
        priority=20,
        items=[
            ProcessingItem(
                identifier="breachkit_web_fields",
                transformation=FieldMappingTransformation(WEB_FIELDS),  # type: ignore[arg-type]
            )
        ],
    )


def load_pipeline(paths: Sequence[Path]) -> ProcessingPipeline:
    """The taxonomy pipeline and the user's pipeline files, merged in priority order (stable)."""
    pipelines = [taxonomy_pipeline()]
    for path in paths:
        try:
            pipelines.append(ProcessingPipeline.from_yaml(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise InputError(f"cannot read pipeline: {exc.strerror}", path=path) from None
        except (SigmaError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InputError(f"invalid processing pipeline: {exc}", path=path) from None
    ordered = sorted(pipelines, key=lambda p: p.priority)
    merged = ordered[0]
    for pipeline in ordered[1:]:
        merged = merged + pipeline
    return merged
