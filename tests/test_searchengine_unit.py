"""Pure parts of the search-engine layer: query adaptation for existing indices, OR splitting, mappings."""

from __future__ import annotations

from breachkit.detect import ir
from breachkit.detect.esquery import has_backslash, to_dsl
from breachkit.detect.searchengine import _from_source, _split_url, adapt, query_for, split_or
from breachkit.logs.search import IndexFields, MappedField, flatten_mapping, index_mappings


def _events() -> list[dict[str, object]]:
    return [{"a": "x", "b": "1"}, {"a": "y", "b": "2"}, {"a": "z", "b": "1"}, {"a": "x", "b": "3"}]


def test_split_or_halves_the_largest_or_and_keeps_the_union():
    big = ir.Or(tuple(ir.Str("a", "eq", v) for v in "xyzw"))
    node = ir.And((ir.Str("b", "eq", "1"), big))
    parts = split_or(node)
    assert parts is not None and len(parts) == 2
    for event in _events():
        assert ir.evaluate(node, event) == any(ir.evaluate(p, event) for p in parts)
    assert split_or(ir.Str("a", "eq", "x")) is None
    assert split_or(ir.Not(big)) is None  # never inside a negation: the union would be wrong


def test_adapt_maps_datasets_and_null_values():
    fields = IndexFields(query={"event.dataset": "event.dataset", "user.name": "user.name"},
                         null_values=("-",), datasets={"web": ("apache.access", "nginx.access")})
    node, client = adapt(ir.And((ir.Str("event.dataset", "eq", "web"), ir.Exists("user.name"))), fields)
    assert not client
    assert ir.evaluate(node, {"event.dataset": "apache.access", "user.name": "bob"})
    assert not ir.evaluate(node, {"event.dataset": "apache.access", "user.name": "-"})
    assert not ir.evaluate(node, {"event.dataset": "web2", "user.name": "bob"})
    negated, _ = adapt(ir.Not(ir.Exists("user.name")), fields)
    assert ir.evaluate(negated, {"user.name": "-"})  # "-" is missing, so `not exists` holds


def test_derived_and_backslash_conditions_are_checked_on_the_client():
    fields = IndexFields(query={"url.original": "url.original"}, derived=frozenset({"url.path"}),
                         wildcard=frozenset({"url.original"}), null_values=("-",))
    node = ir.And((ir.Str("url.path", "prefix", "/admin"), ir.Not(ir.Str("url.original", "contains", "..\\"))))
    server, client = adapt(node, fields)
    assert client and "url.path" not in set(ir.fields(server))
    # under the negation the relaxed condition is FALSE, so the server query stays a superset
    assert ir.evaluate(server, {"url.original": "/x/..\\y"})
    dsl, post = query_for(node, fields)
    assert post and "url.path" not in str(dsl)


def test_backslash_conditions_use_the_exact_keyword_field():
    node = ir.Str("url.original", "contains", "..\\")
    assert has_backslash(node) and not has_backslash(ir.Str("url.original", "contains", "../"))
    dsl = to_dsl(node, {"url.original": "url.original.keyword"})
    assert dsl == {"wildcard": {"url.original.keyword": {"value": "*..\\\\*", "case_insensitive": True}}}


def test_split_url_as_the_parser_does():
    assert _split_url("/a/b.PHP?x=1&y") == {"url.path": "/a/b.PHP", "url.query": "x=1&y", "url.extension": "PHP"}
    assert _split_url("/a") == {"url.path": "/a", "url.query": None, "url.extension": None}
    assert _split_url(None) == {}


def test_values_from_source_in_either_shape():
    doc = {"url": {"original": "/a"}, "user_agent.original": "ua", "http": {"request.method": ["GET"]}}
    assert _from_source(doc, "url.original") == "/a"
    assert _from_source(doc, "user_agent.original") == "ua"
    assert _from_source(doc, "http.request.method") == "GET"
    assert _from_source(doc, "url.path") is None


def test_flatten_mapping_and_aggregatable_types():
    flat = flatten_mapping(index_mappings({"type": "wildcard", "doc_values": True,
                                           "fields": {"keyword": {"type": "keyword"}}}))
    assert flat["url.original"] == MappedField("wildcard", {"keyword": "keyword"}, True)
    assert flat["source.ip"].type == "ip" and flat["breachkit.run"].type == "keyword"
    assert not flat["url.original"].aggregatable("opensearch") and flat["url.original"].aggregatable("elasticsearch")
    assert flat["url.original"].fetchable("opensearch")
    assert not MappedField("wildcard").fetchable("opensearch") and not MappedField("text").fetchable("elasticsearch")
