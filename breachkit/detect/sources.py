"""Existing indices (Filebeat / Elastic Agent / Logstash ECS data) as read-only detection sources.

breachkit reads them through a field mapping (`[elasticsearch.source]` / `[opensearch.source]`) and never
writes into them: ingest refuses an index name that one of the configured patterns matches. Their
mappings decide what detection can do: `check_index` reports, for every field the rules use, whether the
index has it with a type breachkit can query, and which rules cannot run there and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from breachkit.config import SourceIndicesConfig
from breachkit.detect import ir
from breachkit.detect.rules import RuleSet
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
class RuleCheck:
    rule_id: str
    title: str
    problems: tuple[str, ...]


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
        if name in DERIVABLE_FROM_URL and _types(mappings, "url.original"):
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
    for name in FIELD_TYPES:
        index_field = cfg.field_map.get(name, name)
        check = _check_field(name, index_field, mappings)
        if check.derived:
            derived.add(name)
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
    return IndexFields(query=query, aggregate=aggregate, null_values=tuple(cfg.null_values), datasets=datasets,
                       derived=frozenset(derived), id_field="event.id" if id_usable else None, wildcard=wildcard)


def check_index(conn: SearchClient, pattern: str, ruleset: RuleSet, cfg: SourceIndicesConfig) -> IndexCheck:
    """Per field the rules use: present, with a usable type? And the rules that cannot run, with why."""
    mappings = _mappings(conn, [pattern])
    used: dict[str, list[str]] = {}  # field → rule ids
    grouped: dict[str, list[str]] = {}  # fields correlations aggregate on
    for rule in ruleset.rules:
        for name in sorted(set(ir.fields(rule.query))):
            used.setdefault(name, []).append(rule.meta.id)
    for corr in ruleset.correlations:
        for names in corr.group_by.values():
            for name in names:
                grouped.setdefault(name, []).append(corr.meta.id)
                used.setdefault(name, [])
    for name in ("@timestamp",):
        used.setdefault(name, [])
    checks = {name: _check_field(name, cfg.field_map.get(name, name), mappings) for name in sorted(used)}
    problems: dict[str, list[str]] = {}
    for name, check in checks.items():
        if not check.usable:
            for rule_id in used[name] + grouped.get(name, []):
                problems.setdefault(rule_id, []).append(f"{name} ({check.index_field}): {check.reason}")
    for name, corr_ids in grouped.items():
        check = checks[name]
        if check.usable and (check.derived or not _aggregatable(conn, mappings, check.index_field)):
            for rule_id in corr_ids:
                problems.setdefault(rule_id, []).append(
                    f"{name} ({check.index_field}): cannot be aggregated (correlation group-by)")
    titles = {r.meta.id: r.meta.title for r in ruleset.rules} | {c.meta.id: c.meta.title for c in ruleset.correlations}
    rules = tuple(RuleCheck(rid, titles.get(rid, rid), tuple(p)) for rid, p in sorted(problems.items()))
    return IndexCheck(conn.engine, pattern, tuple(sorted(mappings)), tuple(checks.values()), rules)


def _aggregatable(conn: SearchClient, mappings: dict[str, dict[str, MappedField]], index_field: str) -> bool:
    infos = [m[index_field] for m in mappings.values() if index_field in m]
    if all(i.aggregatable(conn.engine) for i in infos):
        return True
    return any(t == "keyword" for t in infos[0].subfields.values()) if infos else False
