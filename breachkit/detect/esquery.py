"""Detection IR → Elasticsearch query DSL, using only the server's core queries.

`term`/`prefix`/`wildcard`/`regexp` with `case_insensitive` give Sigma's case-insensitive matching on
keyword fields (no normalizer needed, and `|cased` simply leaves the option off); `range` and `term`
on `ip` fields give numeric comparisons and CIDR; `bool.must_not` matches documents without the field,
as Sigma's `not` must. Field-to-field comparisons (`FieldRef`) cannot be expressed without scripts
(painless is not part of a core node), so the query relaxes them and the engine filters the fetched
candidates with the reference evaluator (`ir.evaluate`) on just the fields involved.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def has_backslash(node: ir.Str | ir.Regex) -> bool:
    """Does a string condition's literal text hold a backslash? (OpenSearch 2.19's `wildcard` field finds
    nothing for `*..\\\\*` or the equivalent regexp: its n-gram approximation mishandles a literal ending
    in a backslash, so such conditions go to an exact `keyword` field, or are checked on the client.)"""
    if isinstance(node, ir.Regex):
        return "\\\\" in node.pattern  # an escaped backslash: the regex matches a literal one
    parts = node.pattern if node.kind == "glob" else (node.value,)
    return any("\\" in p for p in parts if p not in (ir.Wild.MULTI, ir.Wild.SINGLE))


def needs_exact(node: ir.Str | ir.Regex) -> bool:
    """Must a condition on a `wildcard` field be answered by an exact `keyword` field (or on the client)? Those
    with a backslash (`has_backslash`), and equality with the empty string, which OpenSearch 2.19's `wildcard`
    field never matches."""
    return has_backslash(node) or (isinstance(node, ir.Str) and node.kind == "eq" and node.value == "")


def to_dsl(node: ir.Node, exact: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The query DSL for `node`. `exact`: for fields mapped as `wildcard`, the `keyword` field that answers
    the conditions it cannot (see `needs_exact`)."""
    exact = exact or {}
    match node:
        case ir.Const(value):
            return MATCH_ALL if value else MATCH_NONE
        case ir.And(args):
            return {"bool": {"filter": [to_dsl(a, exact) for a in args]}}
        case ir.Or(args):
            return {"bool": {"should": [to_dsl(a, exact) for a in args], "minimum_should_match": 1}}
        case ir.Not(arg):
            return {"bool": {"must_not": [to_dsl(arg, exact)]}}
        case ir.Exists(field):
            return {"exists": {"field": field}}
        case ir.Str(field=field, kind=kind, value=value, cased=cased, pattern=pattern):
            if field in exact and needs_exact(node):
                field = exact[field]
            if kind == "eq":
                # "" has no case to fold, and OpenSearch's case-insensitive term never matches it
                return {"term": {field: _ci({"value": value}, cased or value == "")}}
            if kind == "prefix":
                return {"prefix": {field: _ci({"value": value}, cased)}}
            parts: ir.Pattern = (
                pattern if kind == "glob"
                else (ir.Wild.MULTI, value) if kind == "suffix"
                else (ir.Wild.MULTI, value, ir.Wild.MULTI)
            )
            return {"wildcard": {field: _ci({"value": _wildcard(parts)}, cased)}}
        case ir.Num(field=field, value=value, op=None):
            return {"term": {field: {"value": value}}}
        case ir.Num(field=field, value=value, op=op):
            return {"range": {field: {op: value}}}
        case ir.Regex(field=field, pattern=pattern, ignore_case=ignore_case, dotall=dotall):
            if field in exact and needs_exact(node):
                field = exact[field]
            # case-insensitivity is spelt out in the expression (ASCII letters only, classes included)
            return {"regexp": {field: {"value": to_lucene(pattern, dotall, ignore_case), "flags": "NONE"}}}
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
