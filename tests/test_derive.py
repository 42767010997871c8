"""Fields derived at ingest (breachkit/logs/derive.py): the keyword text and the once-decoded URLs, and the
event stores gaining their columns."""

from __future__ import annotations

import json

import pytest

from breachkit.config import load_config
from breachkit.logs.derive import add_derived, csv_text, decoded_url, json_text
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import SCHEMA_VERSION, TABLE, LocalStore, q
from breachkit.logs.schema import FIELDS
from breachkit.workspace import Workspace


@pytest.mark.parametrize("raw,text", [
    ('{"ua":"caf\\u00e9-bot"}', '{"ua":"café-bot"}'),
    ('{"p":"evil\\\\tool \\"x\\""}', '{"p":"evil\\tool "x""}'),
    ('{"m":"a\\tb", "n": 1}', '{"m":"a\tb", "n": 1}'),
    ('{"k\\u0041":"v"}', '{"kA":"v"}'),  # keys are text too
    ('{"s":"\\ud800"}', '{"s":"\\ud800"}'),  # a lone surrogate cannot be stored: kept as its escape
    ('{"ua":"plain"}', None),  # nothing to decode
    ('{"ua":"\\/"}', '{"ua":"/"}'),
])
def test_json_text(raw, text):
    assert json_text(raw) == text
    if text is not None:
        text.encode("utf-8")  # storable


def test_csv_text():
    assert csv_text('2026-03-02,1.2.3.4,"tool ""x"", ok"') == '2026-03-02,1.2.3.4,tool "x", ok'
    assert csv_text("a;b", ";") is None and csv_text('"a";b', ";") == "a;b"


@pytest.mark.parametrize("value,decoded", [
    ("/q?s=%3CscRipt%3E", "/q?s=<scRipt>"),
    ("/%2e%2e/%2E%2E/etc", "/../../etc"),
    ("/a%252e", "/a%2e"),  # once
    ("/a+b%20c", "/a+b c"),  # + is not a space in a path; only %XX is decoded
    ("/default.ida?%u9090%zz", None),  # not percent escapes: nothing changes
    ("/x%c0%ae", None),  # not UTF-8: the escapes stay as logged
    ("/%3C%c0%ae%3E%E8%F1", "/<%c0%ae>%E8%F1"),  # the UTF-8 parts of a run are decoded, the rest kept
    ("/a%00b", None),  # control characters the ingest never stores raw keep their escapes
    ("/%3C%1b%3E%c2%85", "/<%1b>%c2%85"),  # ESC, and NEL (a C1 control, two UTF-8 bytes)
    ("/x%0Ay%09z%0D", "/x\ny\tz\r"),  # newline, tab and carriage return are text
    ("/caf%C3%A9", "/café"),
    ("/plain", None),
])
def test_decoded_url(value, decoded):
    assert decoded_url(value) == decoded


def test_add_derived_sets_only_what_differs_and_never_trusts_the_input():
    event = {"url.original": "/a?b=%27", "url.path": "/a", "url.query": "b=%27", "log.decoded": "forged",
             "url.path_decoded": "forged"}
    add_derived(event, '{"x":"y"}', "jsonl")
    assert event == {"url.original": "/a?b=%27", "url.path": "/a", "url.query": "b=%27",
                     "url.original_decoded": "/a?b='", "url.query_decoded": "b='"}


def test_ingest_derives_the_fields_into_the_store(tmp_path):
    lines = [{"@timestamp": "2026-03-02T10:00:00Z", "url.original": "/s?q=%3Cscript%3E", "user_agent.original":
              'evil\\tool "x"'}, {"@timestamp": "2026-03-02T10:00:01Z", "url.original": "/plain"}]
    path = tmp_path / "api.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    config = load_config(environ={}, cwd=tmp_path)
    workspace = Workspace(tmp_path / "ws").ensure()
    with LocalStore(workspace.events_db) as store:
        ingest_file(str(path), store, config, workspace, options=IngestOptions(format="jsonl"))
        rows = store.query('SELECT "log.decoded", "url.original_decoded" FROM events ORDER BY "@timestamp"')
    assert rows[0][0] is not None and 'evil\\tool "x"' in rows[0][0] and rows[0][1] == "/s?q=<script>"
    assert rows[1] == (None, None)


def test_the_ingest_stores_derived_text_escaped_like_every_value(tmp_path):
    """Decoded text never holds a raw control character, nor a `\\xHH` the line did not have; the line's flags
    say how the line was read, not what decoding it gave."""
    path = tmp_path / "api.jsonl"
    path.write_text(json.dumps({"@timestamp": "2026-03-02T10:00:00Z", "message": "a\bb"}) + "\n"
                    + json.dumps({"@timestamp": "2026-03-02T10:00:01Z", "url.original": "/s/..%c1%1c../cmd"}) + "\n")
    config = load_config(environ={}, cwd=tmp_path)
    workspace = Workspace(tmp_path / "ws").ensure()
    with LocalStore(workspace.events_db) as store:
        ingest_file(str(path), store, config, workspace, options=IngestOptions(format="jsonl"))
        rows = store.query('SELECT "message", "log.decoded", "url.original_decoded", "log.flags" FROM events '
                           'ORDER BY "@timestamp"')
    assert rows[0][0] == "a\\x08b" and '"a\\x08b"' in rows[0][1] and rows[0][3] == "control_chars"
    assert rows[1][1:] == (None, None, None)  # %1c stays as logged: nothing to decode once, no flag


def test_an_older_event_store_gains_the_new_columns_and_keeps_its_events(tmp_path):
    path = tmp_path / "events.duckdb"
    old = [f for f in FIELDS if f.name not in ("log.decoded", "url.original_decoded", "url.path_decoded",
                                               "url.query_decoded")]
    with LocalStore(path) as store:  # build an older store by hand: the table without the new fields
        store.con.execute(f"DROP TABLE {TABLE}")
        types = {"keyword": "VARCHAR", "ip": "VARCHAR", "long": "BIGINT", "date": "TIMESTAMPTZ"}
        cols = [f"{q(f.name)} {types[f.type.value]}" for f in old] + ['"source.ip#bin" BLOB']
        store.con.execute(f"CREATE TABLE {TABLE} ({', '.join(cols)})")
        store.con.execute("""INSERT INTO events ("@timestamp", "event.id", "event.dataset", "log.file.path",
                             "url.original") VALUES ('2026-03-02 10:00:00+00', 'e1', 'web', 'x', '/a')""")
        store.con.execute("UPDATE breachkit_meta SET value = '2' WHERE key = 'schema_version'")
    with LocalStore(path) as store:
        columns = [r[0] for r in store.query(f"DESCRIBE {TABLE}")]
        assert sorted(columns) == sorted([f.name for f in FIELDS] + ["source.ip#bin"])
        assert store.query('SELECT "event.id", "url.original", "log.decoded" FROM events') == [("e1", "/a", None)]
        assert store.query("SELECT value FROM breachkit_meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    # new events go into the upgraded store (columns by name) with their derived fields
    log = tmp_path / "api.jsonl"
    log.write_text(json.dumps({"@timestamp": "2026-03-02T10:00:01Z", "url.original": "/s?q=%3Cb%3E"}) + "\n")
    config = load_config(environ={}, cwd=tmp_path)
    with LocalStore(path) as store:
        ingest_file(str(log), store, config, Workspace(tmp_path / "ws").ensure(), options=IngestOptions(format="jsonl"))
        assert store.query('SELECT "url.original_decoded" FROM events WHERE "event.id" <> \'e1\'') == [("/s?q=<b>",)]


@pytest.mark.es
def test_an_older_elasticsearch_index_gains_the_new_fields(es_client, es_node, es_prefix, tmp_path):
    from breachkit.config import ElasticsearchConfig
    from breachkit.logs.elasticsearch import ElasticsearchStore, index_mappings

    index = f"{es_prefix}events"
    mappings = index_mappings()
    del mappings["properties"]["log"]["properties"]["decoded"]
    es_client.indices.create(index=index, mappings=mappings)
    store = ElasticsearchStore(es_client, ElasticsearchConfig(hosts=[es_node.url], index=index), tmp_path)
    store.ensure_index()
    have = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]["log"]["properties"]
    assert "decoded" in have
