"""Which data categories an access exposes: rules from `event.action` / `url.path` patterns to categories.

A rule (`config.CategoryRule`) names a category (a key of `incidents.model.DATA_CATEGORIES`) and up to two
regular expressions, searched (not anchored) in `event.action` and `url.path`. A rule with both matches an
event where both match; with one, where that one matches; with neither, every event. Every rule that
matches applies, so one access can expose several categories. A missing field matches no pattern.

Only an access that succeeded exposes data: an event with `event.outcome` "failure" or an HTTP status of
400 or more exposes no category (a failed login tried a password, a 404 on a customer id found nobody).
Such events still count as events touching the identifier; its categories stay empty, which tells an
attempt from a reach. `compile_rules(…, only_successful=False)` lets failed accesses expose too.

The patterns are compiled once into the detection IR (`ir.Regex`), so the same semantics reach DuckDB
(`regexp_matches`, RE2), Elasticsearch (`regexp` queries, Lucene) and the Python reference (`match`).
Patterns outside the subset both engines run identically (`detect.regex`: no `\\b`, no lookaround, no
anchors inside the pattern…) are refused when the rules are compiled, naming the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from breachkit.config import CategoryRule
from breachkit.detect import ir
from breachkit.detect.esquery import to_dsl
from breachkit.detect.regex import NotPortable, analyze
from breachkit.detect.sqlgen import to_sql
from breachkit.errors import ConfigError, Location, Problem
from breachkit.incidents.model import DATA_CATEGORIES

CONFIG_KEY = "subjects.categories"
_FIELDS = (("action", "event.action"), ("path", "url.path"))


def _rule(category: str, *, action: str | None = None, path: str | None = None) -> CategoryRule:
    return CategoryRule(category=category, action=action, path=path)


# The built-in mapping for an IoT energy platform (portal, app API, public API, installer and admin
# consoles). Paths are written for the platform's URL layout, e.g. the sample data's
# /account/consumption, /api/v1/devices/{id}/telemetry, /installer/customers/{id}, /admin/users/{id}.
_PROFILE = r"(?i)^/(account|account/settings|account/profile|profile|api/v[0-9]+/(me|profile|account))/?$"
_PERSON_RECORD = r"(?i)/(customers|users|accounts)(/[^/]+)?/?$"  # a list of people or one person's record
DEFAULT_RULES: list[CategoryRule] = [
    # every access reveals the actor's IP address, session and account identifiers
    _rule("online_identifiers"),
    # sign-in and password handling: the account's credentials were used or changed
    _rule("credentials", action=r"(?i)^(login|password_reset|password_change)$"),
    _rule("credentials", path=r"(?i)/(password|passwd|credentials|api-?keys?|tokens?)"),
    # profile pages, customer and user records, and exports show who the person is and how to reach them
    _rule("identity", path=_PROFILE),
    _rule("contact", path=_PROFILE),
    _rule("identity", path=_PERSON_RECORD),
    _rule("contact", path=_PERSON_RECORD),
    _rule("identity", action=r"(?i)^export$"),
    _rule("contact", action=r"(?i)^export$"),
    # meters, gateways, heat pumps, inverters, wallboxes: their ids and IMEIs
    _rule("device_identifiers", action=r"(?i)^device_"),
    _rule("device_identifiers", path=r"(?i)/devices"),
    # energy consumption, telemetry and device status (presence at home can be read from them)
    _rule("usage", path=r"(?i)/(consumption|telemetry|usage|readings|metering|status)"),
    _rule("location", path=r"(?i)/(locations?|address(es)?|geo|sites?)"),
    _rule("financial", path=r"(?i)/(billing|invoices?|payments?|bank|sepa|tariffs?|contracts?)"),
    _rule("communications", path=r"(?i)/(messages|notifications|tickets|support)"),
]


@dataclass(frozen=True)
class CompiledRules:
    """Validated rules as one predicate per category (categories without a rule are left out)."""

    rules: tuple[CategoryRule, ...]
    predicates: tuple[tuple[str, ir.Node], ...]  # (category, predicate), in DATA_CATEGORIES order
    only_successful: bool = True

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.predicates)

    def sql(self) -> list[tuple[str, str]]:
        """(category, DuckDB boolean expression over the `events` columns; never NULL)."""
        return [(c, f"coalesce({to_sql(p)}, FALSE)") for c, p in self.predicates]

    def es_filters(self) -> dict[str, dict[str, Any]]:
        """Category → Elasticsearch query (`regexp` on the keyword fields; `match_all` for catch-all rules)."""
        return {c: to_dsl(p) for c, p in self.predicates}

    def match(self, event: Mapping[str, Any]) -> list[str]:
        """The categories one event exposes (the reference semantics, in Python), sorted."""
        return sorted(c for c, p in self.predicates if ir.evaluate(p, event))

    def match_for(self, event: Mapping[str, Any], field: str) -> list[str]:
        """The categories one event exposes of the person behind `field` (`attributed`)."""
        return attributed(self.match(event), field, event.get(TARGET_FIELD) is not None)


# Whose data an event exposes. Categories describing the requester (their address, session) belong to the
# actor; what the response contained belongs to the account named in user.target.id when there is one
# (a target, when present, names someone other than the actor), else to the actor. Device identifiers
# follow the target rule. So an enumerating installer is not listed with the customers' consumption,
# and the customers are not listed with the installer's IP address.
ACTOR_CATEGORIES = frozenset({"online_identifiers"})
ACTOR_FIELD, TARGET_FIELD = "user.id", "user.target.id"


def restricted(category: str, field: str) -> bool:
    """True when `category` reaches the identifier in `field` only from events without a target."""
    return (category in ACTOR_CATEGORIES) != (field == ACTOR_FIELD)


def attributed(categories: Sequence[str], field: str, has_target: bool) -> list[str]:
    return [c for c in categories if not (has_target and restricted(c, field))]


def _regex(field: str, pattern: str) -> ir.Regex:
    info = analyze(pattern)
    return ir.Regex(field, pattern, ignore_case=info.ignore_case, multiline=info.multiline, dotall=info.dotall)


# An access that failed (the parsers set event.outcome from the HTTP status; JSON logs carry it).
SUCCEEDED: ir.Node = ir.and_([ir.Not(ir.Str("event.outcome", "eq", "failure", cased=True)),
                              ir.Not(ir.Num("http.response.status_code", 400, "gte"))])


def compile_rules(rules: Sequence[CategoryRule] | None = None, *, only_successful: bool = True) -> CompiledRules:
    """Check every rule (known category, portable regular expressions) and build the predicates.

    `rules` None: `DEFAULT_RULES`. Raises ConfigError listing every bad rule as `subjects.categories[i].…`.
    """
    chosen = tuple(DEFAULT_RULES if rules is None else rules)
    problems: list[Problem] = []
    per_category: dict[str, list[ir.Node]] = {}
    for i, rule in enumerate(chosen):
        where = f"{CONFIG_KEY}[{i}]"
        if rule.category not in DATA_CATEGORIES:
            problems.append(Problem(f"unknown data category {rule.category!r} (known: {', '.join(DATA_CATEGORIES)})",
                                    Location(field=f"{where}.category")))
        parts: list[ir.Node] = []
        for key, field in _FIELDS:
            pattern = getattr(rule, key)
            if pattern is None:
                continue
            try:
                parts.append(_regex(field, pattern))
            except NotPortable as exc:
                problems.append(Problem(
                    f"regular expression {pattern!r} cannot run the same on both engines: {exc}",
                    Location(field=f"{where}.{key}")))
        per_category.setdefault(rule.category, []).append(ir.and_(parts))
    if problems:
        raise ConfigError(
            f"invalid data-category rules ({len(problems)} problem{'s' if len(problems) != 1 else ''})",
            problems=problems,
            hint="categories are keys of DATA_CATEGORIES; patterns are regular expressions without \\b, "
                 "lookaround, backreferences or anchors other than a leading ^ and a trailing $",
        )
    gate = SUCCEEDED if only_successful else ir.TRUE
    predicates = tuple((c, ir.and_([ir.or_(per_category[c]), gate])) for c in DATA_CATEGORIES if c in per_category)
    return CompiledRules(rules=chosen, predicates=tuple((c, p) for c, p in predicates if p != ir.FALSE),
                         only_successful=only_successful)
