"""Existing indices (Filebeat / Elastic Agent / Logstash ECS data) as read-only detection sources.

breachkit reads them through a field mapping (`[elasticsearch.source]` / `[opensearch.source]`) and never
writes into them: ingest refuses an index name that one of the configured patterns matches. Their
mappings decide what detection can do: `check_index` reports, for every field the rules use, whether the
index has it with a type breachkit can query, and which rules cannot run there and why.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breachkit.config import SourceIndicesConfig
from breachkit.detect import ir
from breachkit.detect.model import RuleSet, Skipped
from breachkit.errors import ServiceError
from breachkit.logs.derive import URL_FIELDS, decoded_url, json_text
from breachkit.logs.schema import FIELD_TYPES, FieldType, escape_text, url_extension
from breachkit.logs.search import IndexFields, MappedField, SearchClient, flatten_mapping

# breachkit fields an existing index may lack that are computed on the client from another field, as breachkit's
# ingest derives them (the access-log parser's URL split, `logs.derive`): field → the field it is computed from
# (itself possibly computed).
DERIVED_FROM: dict[str, str] = {
    "url.path": "url.original", "url.query": "url.original", "url.extension": "url.original",
    **{decoded: logged for logged, decoded in URL_FIELDS.items()},
    "log.decoded": "log.original",
}
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
class CannotRun:
    """A rule that cannot run over the indices (a field it reads is missing or unusable there), with why."""

    rule_id: str
    title: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class IndexCheck:
    engine: str
    pattern: str
    indices: tuple[str, ...]
    fields: tuple[FieldCheck, ...]
    rules: tuple[CannotRun, ...] = field(default=())  # only those that cannot run

    @property
    def ok(self) -> bool:
        return not self.rules


def _types(mappings: dict[str, dict[str, MappedField]], name: str) -> tuple[str, ...]:
    return tuple(sorted({m[name].type for m in mappings.values() if name in m}))


def _check_field(name: str, index_field: str, mappings: dict[str, dict[str, MappedField]],
                 field_map: Mapping[str, str]) -> FieldCheck:
    types = _types(mappings, index_field)
    wanted = FIELD_TYPES.get(name, FieldType.KEYWORD)
    missing_in = [i for i, m in mappings.items() if index_field not in m]
    if not types:
        base = DERIVED_FROM.get(name)
        if base is not None and _check_field(base, field_map.get(base, base), mappings, field_map).usable:
            return FieldCheck(name, index_field, (), True, derived=True,
                              reason=f"not in the index: derived from {base} on the client")
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
        check = _check_field(name, index_field, mappings, cfg.field_map)
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
    id_usable = "event.id" in query and _check_field("event.id", query["event.id"], mappings, cfg.field_map).usable
    datasets = {k: tuple(v) for k, v in cfg.datasets.items()}
    wildcard = frozenset(n for n, f in query.items() if any(m[f].type == "wildcard" for m in mappings.values()
                                                             if f in m))
    from_source = frozenset(n for n, f in query.items()
                            if not all(m[f].fetchable(conn.engine) for m in mappings.values() if f in m))
    return IndexFields(query=query, aggregate=aggregate, null_values=tuple(cfg.null_values), datasets=datasets,
                       derived=frozenset(derived), id_field="event.id" if id_usable else None, wildcard=wildcard,
                       unusable=unusable, from_source=from_source)


def runnable(ruleset: RuleSet, fields: IndexFields, where: str = "these indices") -> tuple[RuleSet, list[CannotRun]]:
    """The rule set without the rules that cannot run over an index described by `fields` — each moved to its
    `skipped` rules with why (a condition on a field the index lacks would silently never match) — and those
    rules. A correlation goes with any rule or correlation it references."""
    if not fields.unusable:
        return ruleset, []
    dropped: dict[str, CannotRun] = {}
    for rule in ruleset.rules:
        bad = sorted({f"{n} ({fields.unusable[n]})" for n in ir.fields(rule.query) if n in fields.unusable})
        if bad:
            dropped[rule.meta.id] = CannotRun(rule.meta.id, rule.meta.title, tuple(bad))
    changed = True
    while changed:  # until no correlation is left whose chain lost a member
        changed = False
        for corr in ruleset.correlations:
            if corr.meta.id in dropped:
                continue
            gone = [r for r in corr.rules if r in dropped]
            groups = {n for names in corr.group_by.values() for n in names}
            bad = [f"needs rule {r}" for r in gone] + sorted(
                f"{n} ({fields.unusable[n]})" if n in fields.unusable else f"{n}: cannot be aggregated (group-by)"
                for n in groups if n in fields.unusable or (n not in fields.aggregate and n not in fields.derived))
            if bad:
                dropped[corr.meta.id] = CannotRun(corr.meta.id, corr.meta.title, tuple(bad))
                changed = True
    metas = {r.meta.id: r.meta for r in ruleset.rules} | {c.meta.id: c.meta for c in ruleset.correlations}
    skipped = tuple(Skipped(metas[d.rule_id], f"cannot run on {where}: {'; '.join(d.problems)}")
                    for d in dropped.values())
    kept = dataclasses.replace(ruleset, rules=tuple(r for r in ruleset.rules if r.meta.id not in dropped),
                               correlations=tuple(c for c in ruleset.correlations if c.meta.id not in dropped),
                               skipped=ruleset.skipped + skipped)
    return kept, list(dropped.values())


def check_index(conn: SearchClient, pattern: str, ruleset: RuleSet, cfg: SourceIndicesConfig) -> IndexCheck:
    """Per field the rules use: present, with a usable type? And the rules that cannot run, with why."""
    mappings = _mappings(conn, [pattern])
    used = {"@timestamp"} | {n for rule in ruleset.rules for n in ir.fields(rule.query)}
    used |= {n for corr in ruleset.correlations for names in corr.group_by.values() for n in names}
    checks = {name: _check_field(name, cfg.field_map.get(name, name), mappings, cfg.field_map)
              for name in sorted(used)}
    _, rules = runnable(ruleset, source_fields(conn, [pattern], cfg))
    return IndexCheck(conn.engine, pattern, tuple(sorted(mappings)), tuple(checks.values()),
                      tuple(sorted(rules, key=lambda r: r.rule_id)))


# ------------------------------------------------------------------------------ fields computed on the client


def bases(names: Sequence[str], derived: frozenset[str]) -> list[str]:
    """The fields to fetch to compute the derived ones among `names` (those not derived themselves)."""
    out: list[str] = []
    for name in names:
        while name in derived:
            name = DERIVED_FROM[name]
        if name not in out:
            out.append(name)
    return [n for n in out if n not in names]


def prefilter(node: ir.Str | ir.Regex | ir.Exists, derived: frozenset[str]) -> ir.Node | None:
    """A server-side condition every event matching `node` (on a field computed on the client) meets, or None:
    a once-decoded URL exists only where the logged one holds a `%`, the decoded keyword text only where the
    raw line holds a backslash (`logs.derive`)."""
    name = node.field
    marker = "%" if name in URL_FIELDS.values() else "\\" if name == "log.decoded" else None
    if marker is None:
        return None
    while name in derived:
        name = DERIVED_FROM[name]  # url.path ⊂ url.original: a % in the one is in the other
    return ir.Str(name, "contains", marker, cased=True)


def derive(event: MutableMapping[str, Any], derived: frozenset[str]) -> None:
    """Compute the derived fields of an event read from an existing index (its keys among `derived`), from
    the fields they derive from, as breachkit's ingest would have stored them."""
    wanted = derived.intersection(event)
    if not wanted:
        return
    if wanted & {"url.path", "url.query", "url.extension"}:
        parts = split_url(event.get("url.original"))
        for name in ("url.path", "url.query", "url.extension"):
            if name in wanted:
                event[name] = parts.get(name)
    for logged, decoded in URL_FIELDS.items():
        if decoded in wanted:
            value = event.get(logged)
            event[decoded] = _stored(decoded_url(value)) if isinstance(value, str) else None
    if "log.decoded" in wanted:
        raw = event.get("log.original")
        event["log.decoded"] = _stored(json_text(raw)) if isinstance(raw, str) and _json_object(raw) else None


def split_url(original: Any) -> dict[str, str | None]:
    """url.path, url.query and url.extension of a request target, as breachkit's parsers derive them."""
    if not isinstance(original, str) or not original:
        return {}
    path, sep, query = original.partition("?")  # as the access-log parser splits the request target
    return {"url.path": path, "url.query": query if sep else None,
            "url.extension": url_extension(path) if path else None}


def _json_object(raw: str) -> bool:
    """Is the raw line a JSON object (what breachkit ingests as `jsonl`, whose keyword text is decoded)?"""
    if not raw.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


def _stored(text: str | None) -> str | None:
    return escape_text(text)[0] if text is not None else None
