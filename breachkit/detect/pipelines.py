"""Processing pipelines: Sigma taxonomy fields → the event schema, and which events a logsource covers.

breachkit's own rules are written against the event schema (logsource `product: breachkit`, optional
`service: web|api|auth|access`). SigmaHQ's webserver and proxy rules use the W3C/IIS-style taxonomy
(`cs-method`, `c-uri`, `sc-status`, …); the mapping below puts them onto the schema. Users add their own
pipeline YAML files (pySigma's format) for other field names; they run after these.

Note on `cs-uri-query`: in IIS logs it is the query string only, but SigmaHQ's webserver rules use it
for the whole request target (`cs-uri-query|contains: '/wp-admin/'`), so it maps to `url.original`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sigma.exceptions import SigmaError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaLogSource

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
def _web_logsources() -> list[LogsourceCondition]:  # fresh objects: a condition belongs to one pipeline
    return [LogsourceCondition(category="webserver"), LogsourceCondition(category="proxy"),
            LogsourceCondition(product="apache"), LogsourceCondition(product="nginx")]


def taxonomy_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="breachkit taxonomy → event schema",
        priority=20,
        items=[
            ProcessingItem(
                identifier="breachkit_web_fields",
                transformation=FieldMappingTransformation(WEB_FIELDS),  # type: ignore[arg-type]
                rule_conditions=_web_logsources(),  # type: ignore[arg-type]
                rule_condition_linking=any,
            )
        ],
    )


def load_pipeline(paths: Sequence[Path]) -> ProcessingPipeline:
    """The taxonomy pipeline followed by the user's pipeline files, in order."""
    pipeline = taxonomy_pipeline()
    for path in paths:
        try:
            pipeline = pipeline + ProcessingPipeline.from_yaml(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read pipeline: {exc.strerror}", path=path) from None
        except (SigmaError, ValueError, TypeError) as exc:
            raise InputError(f"invalid processing pipeline: {exc}", path=path) from None
    return pipeline


# event.dataset values each logsource covers; None means every dataset.
_DATASETS = {"web": ("web", "access"), "access": ("access",), "api": ("api",), "auth": ("auth",)}


def logsource_scope(logsource: SigmaLogSource) -> tuple[str, ...] | str | None:
    """Datasets a rule's logsource covers: a tuple, None (all), or a string saying why none."""
    product, category, service = logsource.product, logsource.category, logsource.service
    if product == "breachkit":
        if service is None and category is None:
            return None
        key = service or category
        return _DATASETS.get(key or "", f"unknown breachkit service {key!r} (use web, api, auth or access)")
    if category in ("webserver", "proxy") or product in ("apache", "nginx"):
        return _DATASETS["web"]
    if product == "linux" and service in ("auth", "sshd"):
        return _DATASETS["auth"]
    if category == "authentication":
        return None
    parts = ", ".join(f"{k}: {v}" for k, v in (("product", product), ("category", category), ("service", service))
                      if v)
    return f"logsource ({parts or 'empty'}) is not among the logs breachkit reads"
