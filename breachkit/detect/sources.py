"""Existing indices (Filebeat / Elastic Agent / Logstash ECS data) as read-only detection sources.

breachkit reads them through a field mapping (`[elasticsearch.source]` / `[opensearch.source]`) and never
writes into them: ingest refuses an index name that one of the configured patterns matches. Their
mappings decide what detection can do: `check_index` reports, for every field the rules use, whether the
index has it with a type breachkit can query, and which rules cannot run there and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from breachkit.config import SourceIndicesConfig
from breachkit.detect import ir
from breachkit.detect.rules import RuleCheck, RuleSet
from breachkit.errors import ServiceError
from breachkit.logs.schema import FIELD_TYPES, FieldType
from breachkit.logs.search import IndexFields, MappedField, SearchClient, flatten_mapping

DERIVABLE_FROM_URL = frozenset({"url.path", "url.query", "url.extension"})
# Index types breachkit queries correctly for each schema type (exact-value fields with doc values).
USABLE_TYPES: dict[FieldType, frozenset[str]] = {
    FieldType.KEYWORD: frozenset({"keyword", "constant_keyword", "wildcard"}),
    FieldType.IP: frozenset({"ip"}),
    FieldType.LONG: frozenset({"long", "integer", "short", "byte", "unsigned_long"}),
    FieldType.DATE: frozenset({"date", "date_nanos"}),
}
_WHY: dict[str, str] = {
    "text": "analyzed text: term and wildcard queries would match its tokens, not the value",
    "match_only_text": "analyzed text: term and wildcard queries would match its tokens, not the value",
}


@dataclass(frozen=True)
class FieldCheck:
    field: str  # breachkit's name
    index_field: str  # the name in the index
    types: tuple[str, ...]  # the types the matching indices give it (empty: missing)
    usable: bool
    derived: bool = False  # missing, but computed on the client from url.original
    reason: str = ""


@dataclass(frozen=True)
class IndexCheck:
    engine: str
    pattern: str
    indices: tuple[str, ...]
    fields: tuple[FieldCheck, ...]
    rules: tuple[RuleCheck, ...] = field(default=())  # only those that cannot run

    @property
    def ok(self) -> bool:
        return not self.rules


def _types(mappings: dict[str, dict[str, MappedField]], name: str) -> tuple[str, ...]:
    return tuple(sorted({m[name].type for m in mappings.values() if name in m}))


def _check_field(name: str, index_field: str, mappings: dict[str, dict[str, MappedField]]) -> FieldCheck:
    types = _types(mappings, index_field)
    wanted = FIELD_TYPES.get(name, FieldType.KEYWORD)
    missing_in = [i for i, m in mappings.items() if index_field not in m]
    if not types:
        if name in DERIVABLE_FROM_URL and _types(mappings, "url.original") and _check_field(
                "url.original", "url.original", mappings).usable:
            return FieldCheck(name, index_field, (), True, derived=True,
                              reason="not in the index: derived from url.original on the client")
        return FieldCheck(name, index_field, (), False, reason="not in the index")
    bad = [t for t in types if t not in USABLE_TYPES[wanted]]
    if bad:
        why = "; ".join(_WHY.get(t, f"type {t} where breachkit needs {' or '.join(sorted(USABLE_TYPES[wanted]))}")
                        for t in bad)
        return FieldCheck(name, index_field, types, False, reason=why)
    note = f"missing in {len(missing_in)} of {len(mappings)} indices" if missing_in else ""
    return FieldCheck(name, index_field, types, True, reason=note)


def _mappings(conn: SearchClient, patterns: Sequence[str]) -> dict[str, dict[str, MappedField]]:
    out: dict[str, dict[str, MappedField]] = {}
    with conn.errors():
        for pattern in patterns:
            for index, mapping in conn.get_mapping(pattern).items():
                out[index] = flatten_mapping(mapping)
    if not out:
        raise ServiceError(f"no index matches {', '.join(patterns)} on {conn.engine} at {conn.where}")
    return out


def source_fields(conn: SearchClient, patterns: Sequence[str], cfg: SourceIndicesConfig) -> IndexFields:
    """How breachkit's fields are read from the indices matching `patterns` (ServiceError when none does)."""
    mappings = _mappings(conn, patterns)
    query: dict[str, str] = {}
    aggregate: dict[str, str] = {}
    derived: set[str] = set()
    unusable: dict[str, str] = {}
    for name in FIELD_TYPES:
        index_field = cfg.field_map.get(name, name)
        check = _check_field(name, index_field, mappings)
        if check.derived:
            derived.add(name)
        if not check.usable:
            unusable[name] = f"{index_field}: {check.reason}"
            continue
        if not check.types:
            continue
        query[name] = index_field
        infos = [m[index_field] for m in mappings.values() if index_field in m]
        if all(i.aggregatable(conn.engine) for i in infos):
            aggregate[name] = index_field
        else:
            subs = [k for k, t in infos[0].subfields.items() if t == "keyword"]
            if subs and all(subs[0] in i.subfields for i in infos):
                aggregate[name] = f"{index_field}.{subs[0]}"
    id_usable = "event.id" in query and _check_field("event.id", query["event.id"], mappings).usable
    datasets = {k: tuple(v) for k, v in cfg.datasets.items()}
    wildcard = frozenset(n for n, f in query.items() if any(m[f].type == "wildcard" for m in mappings.values()
                                                             if f in m))
    from_source = frozenset(n for n, f in query.items()
                            if not all(m[f].fetchable(conn.engine) for m in mappings.values() if f in m))
    return IndexFields(query=query, aggregate=aggregate, null_values=tuple(cfg.null_values), datasets=datasets,
                       derived=frozenset(derived), id_field="event.id" if id_usable else None, wildcard=wildcard,
                       unusable=unusable, from_source=from_source)


def runnable(ruleset: RuleSet, fields: IndexFields) -> tuple[RuleSet, list[RuleCheck]]:
    """The rules that can run over an index described by `fields`, and those that cannot, with why (a
    condition on a field the index lacks would silently never match: such rules are left out and said)."""
    if not fields.unusable:
        return ruleset, []
    dropped: dict[str, RuleCheck] = {}
    for rule in ruleset.rules:
        bad = sorted({f"{n} ({fields.unusable[n]})" for n in ir.fields(rule.query) if n in fields.unusable})
        if bad:
            dropped[rule.meta.id] = RuleCheck(rule.meta.id, rule.meta.title, tuple(bad))
    for corr in ruleset.correlations:
        gone = [r for r in corr.rules if r in dropped]
        groups = {n for names in corr.group_by.values() for n in names}
        bad = [f"needs rule {r}" for r in gone] + sorted(
            f"{n} ({fields.unusable[n]})" if n in fields.unusable else f"{n}: cannot be aggregated (group-by)"
            for n in groups if n in fields.unusable or (n not in fields.aggregate and n not in fields.derived))
        if bad:
            dropped[corr.meta.id] = RuleCheck(corr.meta.id, corr.meta.title, tuple(bad))
    kept = dataclasses.replace(ruleset, rules=tuple(r for r in ruleset.rules if r.meta.id not in dropped),
                               correlations=tuple(c for c in ruleset.correlations if c.meta.id not in dropped))
    return kept, list(dropped.values())


def check_index(conn: SearchClient, pattern: str, ruleset: RuleSet, cfg: SourceIndicesConfig) -> IndexCheck:
    """Per field the rules use: present, with a usable type? And the rules that cannot run, with why."""
    mappings = _mappings(conn, [pattern])
    used = {"@timestamp"} | {n for rule in ruleset.rules for n in ir.fields(rule.query)}
    used |= {n for corr in ruleset.correlations for names in corr.group_by.values() for n in names}
    checks = {name: _check_field(name, cfg.field_map.get(name, name), mappings) for name in sorted(used)}
    _, rules = runnable(ruleset, source_fields(conn, [pattern], cfg))
    return IndexCheck(conn.engine, pattern, tuple(sorted(mappings)), tuple(checks.values()),
                      tuple(sorted(rules, key=lambda r: r.rule_id)))
