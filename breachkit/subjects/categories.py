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
from typing import Any, Literal

from breachkit.config import CategoryRule
from breachkit.detect import ir
from breachkit.detect.esquery import to_dsl
from breachkit.detect.regex import NotPortable, analyze
from breachkit.detect.sqlgen import to_sql
from breachkit.errors import ConfigError, Location, Problem
from breachkit.incidents.model import DATA_CATEGORIES
from breachkit.wording import counted

CONFIG_KEY = "subjects.categories"
_FIELDS = (("action", "event.action"), ("path", "url.path"))


def _rule(category: str, *, action: str | None = None, path: str | None = None,
          belongs_to: Literal["target", "others"] = "target") -> CategoryRule:
    return CategoryRule(category=category, action=action, path=path, belongs_to=belongs_to)


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
    # (a list of people or another person's record is never the requester's own data)
    _rule("identity", path=_PERSON_RECORD, belongs_to="others"),
    _rule("contact", path=_PERSON_RECORD, belongs_to="others"),
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
    """Validated rules as one predicate per slot — a category and whose data it is (`CategoryRule.belongs_to`) —
    in DATA_CATEGORIES order, "target" before "others"; slots without a rule are left out."""

    rules: tuple[CategoryRule, ...]
    predicates: tuple[tuple[str, ir.Node], ...]  # (category, predicate) per slot
    only_successful: bool = True
    owners: tuple[str, ...] = ()  # per slot: "target" or "others" (empty: all "target")

    @property
    def categories(self) -> tuple[str, ...]:
        """The category of each slot (a category with rules of both owners appears twice)."""
        return tuple(c for c, _ in self.predicates)

    def owner(self, slot: int) -> str:
        return self.owners[slot] if self.owners else "target"

    @property
    def slots(self) -> tuple[str, ...]:
        """A unique name per slot: the category, with ".others" for the slots of other people's data."""
        return tuple(c + ("" if self.owner(i) == "target" else ".others") for i, c in enumerate(self.categories))

    def sql(self) -> list[tuple[str, str]]:
        """(slot, DuckDB boolean expression over the `events` columns; never NULL)."""
        return [(s, f"coalesce({to_sql(p)}, FALSE)") for s, (_, p) in zip(self.slots, self.predicates, strict=True)]

    def es_filters(self) -> dict[str, dict[str, Any]]:
        """Slot → Elasticsearch query (`regexp` on the keyword fields; `match_all` for catch-all rules)."""
        return {s: to_dsl(p) for s, (_, p) in zip(self.slots, self.predicates, strict=True)}

    def match(self, event: Mapping[str, Any]) -> list[str]:
        """The categories one event exposes (the reference semantics, in Python), sorted."""
        return sorted({c for c, p in self.predicates if ir.evaluate(p, event)})

    def match_for(self, event: Mapping[str, Any], field: str) -> list[str]:
        """The categories one event exposes of the person behind `field` (`reaches`)."""
        has_target = event.get(TARGET_FIELD) is not None
        return sorted({c for i, (c, p) in enumerate(self.predicates)
                       if reaches(c, self.owner(i), field, has_target) and ir.evaluate(p, event)})


# Whose data an event exposes. Categories describing the requester (their address, session) belong to the
# actor; what the response contained belongs to the account named in user.target.id when there is one
# (a target, when present, names someone other than the actor), else to the actor — unless the rule says the
# response holds other people's data (`belongs_to = "others"`: a list of customers), which never reaches the
# actor. Device identifiers follow the target rule. So an enumerating installer is not listed with the
# customers' consumption, and the customers are not listed with the installer's IP address.
ACTOR_CATEGORIES = frozenset({"online_identifiers"})
ACTOR_FIELD, TARGET_FIELD = "user.id", "user.target.id"


def reaches(category: str, owner: str, field: str, has_target: bool) -> bool:
    """Whether an event exposing `category` (from a rule whose data belongs to `owner`) exposes the data of the
    person behind the identifier in `field`, given whether the event names a target."""
    if category in ACTOR_CATEGORIES:
        return field == ACTOR_FIELD or not has_target
    if field == ACTOR_FIELD:
        return owner == "target" and not has_target
    return True


def restricted(category: str, field: str) -> bool:
    """True when `category` (of a "target" rule) reaches the identifier in `field` only from events without a
    target."""
    return reaches(category, "target", field, False) and not reaches(category, "target", field, True)


def attributed(categories: Sequence[str], field: str, has_target: bool) -> list[str]:
    """The categories (of "target" rules) that reach the person behind `field`."""
    return [c for c in categories if reaches(c, "target", field, has_target)]


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
    per_slot: dict[tuple[str, str], list[ir.Node]] = {}
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
        per_slot.setdefault((rule.category, rule.belongs_to), []).append(ir.and_(parts))
    if problems:
        raise ConfigError(
            f"invalid data-category rules ({counted(len(problems), 'problem')})",
            problems=problems,
            hint="categories are keys of DATA_CATEGORIES; patterns are regular expressions without \\b, "
                 "lookaround, backreferences or anchors other than a leading ^ and a trailing $",
        )
    gate = SUCCEEDED if only_successful else ir.TRUE
    slots = [(c, o) for c in DATA_CATEGORIES for o in ("target", "others") if (c, o) in per_slot]
    compiled = [(c, o, ir.and_([ir.or_(per_slot[c, o]), gate])) for c, o in slots]
    kept = [(c, o, p) for c, o, p in compiled if p != ir.FALSE]
    return CompiledRules(rules=chosen, predicates=tuple((c, p) for c, _, p in kept), only_successful=only_successful,
                         owners=tuple(o for _, o, _ in kept))
