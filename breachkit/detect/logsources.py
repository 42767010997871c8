"""Which events a rule's logsource covers: a table from Sigma logsources to `event.dataset` values.

A rule runs over the datasets its logsource maps to, and is skipped (with the reason) when it maps to none.
The decision is taken on the rule's logsource *after* the processing pipelines ran, so a pipeline's
`change_logsource` (and any `rule_conditions` on the logsource) work as they do in pySigma.

Lookup, first match wins:

1. `product: breachkit` — breachkit's own rules: `service` (or `category`) web, api, auth or access, or
   neither (every dataset). Another service is an error in the rule.
2. The `[[detect.logsources]]` tables of the configuration, in order.
3. The defaults below (SigmaHQ's common web, proxy and authentication logsources).

An entry matches when every key it gives (product, category, service) equals the rule's, case-insensitively
(the keys it leaves out match anything) — pySigma's `LogsourceCondition` semantics. Its datasets: a list of
`event.dataset` values, `["*"]` for every dataset, or `[]` for none (the rule is skipped with the entry's note).

Proxy logs are not web-server logs: a proxy rule asks about requests the organisation's users made to other
sites (a download from a suspicious TLD), a web-server rule about requests others made to the organisation's
servers. breachkit's web and access datasets are the latter, so SigmaHQ's `category: proxy` rules map to
nothing by default; map them to the dataset holding proxy data if you ingest any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sigma.rule import SigmaLogSource

ALL = "*"


@dataclass(frozen=True)
class LogsourceMap:
    product: str | None = None
    category: str | None = None
    service: str | None = None
    datasets: tuple[str, ...] = (ALL,)
    note: str = ""  # said when the entry maps to no dataset

    def matches(self, logsource: SigmaLogSource) -> bool:
        for wanted, have in ((self.product, logsource.product), (self.category, logsource.category),
                             (self.service, logsource.service)):
            if wanted is not None and (have is None or wanted.lower() != have.lower()):
                return False
        return True

    def describe(self) -> str:
        return describe(self.product, self.category, self.service)


def describe(product: str | None, category: str | None, service: str | None) -> str:
    parts = ", ".join(f"{k}: {v}" for k, v in (("product", product), ("category", category), ("service", service))
                      if v)
    return parts or "empty"


_WEB = ("web", "access")
_PROXY_NOTE = ("proxy logs (requests your users made to other sites) are not web-server logs; breachkit ingests "
               "no proxy data by default — map this logsource in [detect.logsources] to the dataset holding "
               "proxy events if you ingest any")
_ERROR_LOG_NOTE = ("this SigmaHQ logsource is the web server's error log; breachkit ingests access logs only — "
                   "map it in [detect.logsources] if you ingest error-log lines")

DEFAULTS: tuple[LogsourceMap, ...] = (
    LogsourceMap(category="webserver", datasets=_WEB),
    LogsourceMap(category="proxy", datasets=(), note=_PROXY_NOTE),
    LogsourceMap(service="apache", datasets=(), note=_ERROR_LOG_NOTE),
    LogsourceMap(service="nginx", datasets=(), note=_ERROR_LOG_NOTE),
    LogsourceMap(product="apache", datasets=_WEB),
    LogsourceMap(product="nginx", datasets=_WEB),
    LogsourceMap(product="linux", service="auth", datasets=("auth",)),
    LogsourceMap(product="linux", service="sshd", datasets=("auth",)),
    LogsourceMap(category="authentication", datasets=(ALL,)),
)

# breachkit's own rules (`product: breachkit`): service or category → datasets.
OWN = {"web": _WEB, "access": ("access",), "api": ("api",), "auth": ("auth",)}


@dataclass(frozen=True)
class Scope:
    """Where a rule runs: `datasets` None means every dataset; `reason` set means nowhere (and why)."""

    datasets: tuple[str, ...] | None = None
    reason: str | None = None
    error: bool = False  # the logsource is wrong in the rule itself (not just unmapped here)

    @property
    def runs(self) -> bool:
        return self.reason is None


def scope_of(logsource: SigmaLogSource, mapping: Sequence[LogsourceMap] = ()) -> Scope:
    """The datasets `logsource` covers under the configured `mapping` (then the defaults)."""
    product, category, service = logsource.product, logsource.category, logsource.service
    if product is not None and product.lower() == "breachkit":
        if service is None and category is None:
            return Scope(None)
        key = (service or category or "").lower()
        if key not in OWN:
            return Scope(reason=f"unknown breachkit service {key!r} (use web, api, auth or access)", error=True)
        return Scope(OWN[key])
    for entry in (*mapping, *DEFAULTS):
        if entry.matches(logsource):
            if not entry.datasets:
                why = f"logsource ({describe(product, category, service)}) is mapped to no dataset"
                return Scope(reason=f"{why}: {entry.note}" if entry.note else why)
            return Scope(None if ALL in entry.datasets else entry.datasets)
    return Scope(reason=f"logsource ({describe(product, category, service)}) is not mapped to any dataset "
                        "breachkit reads; map it in [detect.logsources] if you ingest such logs")
