"""Pure parts of the search-engine layer: query adaptation for existing indices, OR splitting, mappings."""

from __future__ import annotations

from breachkit.detect import ir
from breachkit.detect.esquery import has_backslash, to_dsl
from breachkit.detect.searchengine import _from_source, adapt, query_for, split_or
from breachkit.detect.sources import DERIVED_FROM, bases, derive
from breachkit.detect.sources import split_url as _split_url
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


def test_empty_string_equality_is_exact_and_not_case_insensitive():
    """OpenSearch's case-insensitive `term` never matches "", nor does its `wildcard` field: the keyword field,
    without the option (nothing to fold)."""
    node = ir.Str("http.request.referrer", "eq", "")
    assert to_dsl(node, {"http.request.referrer": "http.request.referrer.keyword"}) == {
        "term": {"http.request.referrer.keyword": {"value": ""}}}
    assert to_dsl(ir.Str("user.name", "eq", "bob")) == {
        "term": {"user.name": {"value": "bob", "case_insensitive": True}}}


def test_split_url_as_the_parser_does():
    assert _split_url("/a/b.PHP?x=1&y") == {"url.path": "/a/b.PHP", "url.query": "x=1&y", "url.extension": "PHP"}
    assert _split_url("/a") == {"url.path": "/a", "url.query": None, "url.extension": None}
    assert _split_url(None) == {}


def test_derived_fields_of_existing_indices_are_computed_on_the_client_after_a_prefilter():
    """What breachkit's ingest derives (the URL parts, once-decoded URLs, decoded JSON text) an existing index
    lacks: the server fetches a superset (a decoded URL needs a % in the logged one), the client computes them."""
    derived = frozenset(DERIVED_FROM)
    fields = IndexFields(query={"url.original": "url.original", "log.original": "log.original"}, derived=derived)
    node = ir.expand_derived(ir.Str("url.original", "contains", "<script"))
    server, client = adapt(node, fields)
    assert client and set(ir.fields(server)) == {"url.original"}
    assert ir.evaluate(server, {"url.original": "/a%3Cb"}) and ir.evaluate(server, {"url.original": "/<script>"})
    assert not ir.evaluate(server, {"url.original": "/plain"})
    negated, _ = adapt(ir.Not(node), fields)  # under `not`: a subset, so the negation stays a superset
    assert ir.evaluate(negated, {"url.original": "/a%3Cscript"})
    event = {"url.original": "/s/%3Cscript%3E?q=%41", **dict.fromkeys(derived)}
    derive(event, derived)
    assert (event["url.path"], event["url.query"]) == ("/s/%3Cscript%3E", "q=%41")
    assert (event["url.original_decoded"], event["url.path_decoded"], event["url.query_decoded"]) == (
        "/s/<script>?q=A", "/s/<script>", "q=A")
    assert ir.evaluate(node, event) and event["log.decoded"] is None
    plain = {"url.original": "/plain", **dict.fromkeys(derived)}
    derive(plain, derived)
    assert plain["url.original_decoded"] is None and not ir.evaluate(node, plain)  # decoded only where it differs
    assert bases(["url.path_decoded", "log.decoded"], derived) == ["url.original", "log.original"]
    for raw, text in (('{"m": "a\\"b"}', '{"m": "a"b"}'), ('GET "a\\"b"', None), ('{"m": "ab"}', None)):
        line = {"log.original": raw, "log.decoded": None}
        derive(line, derived)
        assert line["log.decoded"] == text, raw  # JSON objects only, as a jsonl ingest derives it


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
