"""Detection IR → Elasticsearch query DSL, using only the server's core queries.

`term`/`prefix`/`wildcard`/`regexp` with `case_insensitive` give Sigma's case-insensitive matching on
keyword fields (no normalizer needed, and `|cased` simply leaves the option off); `range` and `term`
on `ip` fields give numeric comparisons and CIDR; `bool.must_not` matches documents without the field,
as Sigma's `not` must. Field-to-field comparisons (`FieldRef`) cannot be expressed without scripts
(painless is not part of a core node), so the query relaxes them and the engine filters the fetched
candidates with the reference evaluator (`ir.evaluate`) on just the fields involved.
"""

from __future__ import annotations

from typing import Any

from breachkit.detect import ir
from breachkit.detect.regex import to_lucene

MATCH_ALL: dict[str, Any] = {"match_all": {}}
MATCH_NONE: dict[str, Any] = {"match_none": {}}


def _wildcard(pattern: ir.Pattern) -> str:
    return ir.render(pattern, "*", "?", lambda s: s.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?"))


def _ci(body: dict[str, Any], cased: bool) -> dict[str, Any]:
    if not cased:
        body["case_insensitive"] = True
    return body


def _regexp_literal(text: str) -> str:
    # Lucene regexp: a backslash makes the next character literal, whatever it is
    return "".join(c if c.isalnum() else "\\" + c for c in text)


def to_dsl(node: ir.Node, wildcard_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The query DSL for `node`. `wildcard_fields`: fields mapped as `wildcard`, where a pattern with a
    literal backslash goes out as the equivalent `regexp` (OpenSearch 2.19's wildcard field misreads an
    escaped backslash before `*`: `*..\\\\*` finds nothing)."""
    match node:
        case ir.Const(value):
            return MATCH_ALL if value else MATCH_NONE
        case ir.And(args):
            return {"bool": {"filter": [to_dsl(a, wildcard_fields) for a in args]}}
        case ir.Or(args):
            return {"bool": {"should": [to_dsl(a, wildcard_fields) for a in args], "minimum_should_match": 1}}
        case ir.Not(arg):
            return {"bool": {"must_not": [to_dsl(arg, wildcard_fields)]}}
        case ir.Exists(field):
            return {"exists": {"field": field}}
        case ir.Str(field=field, kind=kind, value=value, cased=cased, pattern=pattern):
            if kind == "eq":
                return {"term": {field: _ci({"value": value}, cased)}}
            if kind == "prefix":
                return {"prefix": {field: _ci({"value": value}, cased)}}
            parts: ir.Pattern = (
                pattern if kind == "glob"
                else (ir.Wild.MULTI, value) if kind == "suffix"
                else (ir.Wild.MULTI, value, ir.Wild.MULTI)
            )
            if field in wildcard_fields and any("\\" in p for p in parts if p not in (ir.Wild.MULTI, ir.Wild.SINGLE)):
                regexp = ir.render(parts, ".*", ".", _regexp_literal)
                return {"regexp": {field: _ci({"value": regexp, "flags": "NONE"}, cased)}}
            return {"wildcard": {field: _ci({"value": _wildcard(parts)}, cased)}}
        case ir.Num(field=field, value=value, op=None):
            return {"term": {field: {"value": value}}}
        case ir.Num(field=field, value=value, op=op):
            return {"range": {field: {op: value}}}
        case ir.Regex(field=field, pattern=pattern, ignore_case=ignore_case):
            return {"regexp": {field: _ci({"value": to_lucene(pattern), "flags": "NONE"}, not ignore_case)}}
        case ir.Cidr(field=field, network=network):
            return {"term": {field: {"value": network}}}
        case ir.FieldRef():
            raise ValueError("FieldRef must be relaxed before compiling to the query DSL")
    raise TypeError(f"unknown IR node {node!r}")  # pragma: no cover


def query_for(node: ir.Node) -> tuple[dict[str, Any], bool]:
    """The server-side query and whether hits still need the client-side check (FieldRef)."""
    if ir.has_fieldref(node):
        return to_dsl(ir.relax_fieldrefs(node)), True
    return to_dsl(node), False
