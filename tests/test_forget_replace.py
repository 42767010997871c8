"""`logs forget` and `ingest --replace` on both stores: what they remove, the order that never leaves a source
without events, the ingest log; stores written by an older breachkit gain the new field; "" stays ""."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from breachkit.errors import InputError, NotFoundError
from breachkit.logs import audit
from breachkit.logs.elasticsearch import _EsLoader, index_mappings
from breachkit.logs.ingest import IngestOptions, forget_source, ingest_file
from breachkit.logs.local import SCHEMA_VERSION, LocalStore
from tests.storepair import pair
from tests.test_ingest_local import access_lines

__all__ = ["pair"]
pytestmark = pytest.mark.es


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_forget_removes_one_source_on_both_engines(pair, tmp_path) -> None:
    a = write(tmp_path / "a.log", access_lines(30))
    b = write(tmp_path / "b.log", access_lines(12, seed=2))
    for store in pair.stores:
        ingest_file(str(a), store, pair.config, pair.workspace)
        ingest_file(str(b), store, pair.config, pair.workspace)
        result = forget_source(store, "a.log", pair.workspace, reason="wrong year")
        assert (result.removed, store.count()) == (31, 13)
        assert store.sources() == [("b.log", 13)]
        with pytest.raises(NotFoundError) as err:
            forget_source(store, "a.log", pair.workspace)
        assert "b.log (13)" in (err.value.hint or "")
    assert pair.rows(pair.local, "log.file.path", "log.file.line") == pair.rows(pair.es, "log.file.path",
                                                                                 "log.file.line")
    forgets = [e for e in audit.read(pair.workspace) if e["action"] == "forget"]
    assert [(e["engine"], e["source"], e["removed"], e["reason"]) for e in forgets] == [
        ("local", "a.log", 31, "wrong year"), ("elasticsearch", "a.log", 31, "wrong year")]


def test_forget_pages_through_more_than_one_page_on_elasticsearch(pair, tmp_path, monkeypatch) -> None:
    path = write(tmp_path / "big.log", access_lines(1200))
    ingest_file(str(path), pair.es, pair.config, pair.workspace)
    original = type(pair.es)._source_ids
    pages: list[int] = []

    def small_pages(self, source, page=5_000):
        for ids in original(self, source, page=250):
            pages.append(len(ids))
            yield ids

    monkeypatch.setattr(type(pair.es), "_source_ids", small_pages)
    assert pair.es.forget("big.log") == 1224
    assert pair.es.count() == 0
    assert len(pages) == 5 and sum(pages) == 1224


def test_replace_on_elasticsearch_never_leaves_the_source_without_events(pair, tmp_path, monkeypatch) -> None:
    """A crash after the new events were written and before the stale ones were deleted: every line still
    has its event (the new reading), plus the stale events of lines gone; replacing again completes it."""
    lines = access_lines(40)
    path = write(tmp_path / "web.log", lines)
    ingest_file(str(path), pair.es, pair.config, pair.workspace)
    write(path, lines[:20])

    def crash(self):
        raise RuntimeError("killed between writing the new events and deleting the stale ones")

    monkeypatch.setattr(_EsLoader, "_remove_others", crash)
    with pytest.raises(RuntimeError):
        ingest_file(str(path), pair.es, pair.config, pair.workspace, options=IngestOptions(replace=True))
    pair.es.refresh()
    assert pair.es.count() == 41  # 20 lines re-read in place + 21 stale: nothing missing
    monkeypatch.undo()
    again = ingest_file(str(path), pair.es, pair.config, pair.workspace, options=IngestOptions(replace=True))
    assert (again.replaced, again.removed, pair.es.count()) == (20, 21, 20)
    assert list(pair.workspace.tmp.iterdir()) == []


def test_replace_on_the_embedded_store_is_one_transaction(pair, tmp_path, monkeypatch) -> None:
    lines = access_lines(40)
    path = write(tmp_path / "web.log", lines)
    ingest_file(str(path), pair.local, pair.config, pair.workspace)
    before = pair.local.query('SELECT "event.id" FROM events ORDER BY 1')
    write(path, lines[:20])
    real_execute = duckdb.DuckDBPyConnection.execute
    calls = {"n": 0}

    class Crashing:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO events"):  # the insert that follows the delete
                raise duckdb.IOException("disk full after the delete")
            calls["n"] += 1
            return real_execute(self.con, sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    original_begin = LocalStore.begin

    def begin(self, source, *, replace=False):
        loader = original_begin(self, source, replace=replace)
        loader.con = Crashing(loader.con)
        return loader

    monkeypatch.setattr(LocalStore, "begin", begin)
    with pytest.raises(duckdb.IOException):
        ingest_file(str(path), pair.local, pair.config, pair.workspace, options=IngestOptions(replace=True))
    assert calls["n"] > 0
    assert pair.local.query('SELECT "event.id" FROM events ORDER BY 1') == before  # rolled back: all 41 kept


def test_replace_with_an_empty_input_is_refused(pair, tmp_path) -> None:
    path = write(tmp_path / "web.log", access_lines(5))
    ingest_file(str(path), pair.local, pair.config, pair.workspace)
    path.write_text("\n\n")
    with pytest.raises(InputError, match="would remove every event") as err:
        ingest_file(str(path), pair.local, pair.config, pair.workspace, options=IngestOptions(replace=True))
    assert "logs forget web.log" in (err.value.hint or "")
    assert pair.local.count() == 6


def test_stores_of_an_older_schema_gain_log_flags(pair, tmp_path) -> None:
    # the embedded store at schema 1 (no log.flags column)
    old = tmp_path / "old.duckdb"
    with LocalStore(old) as store:
        store.con.execute('ALTER TABLE events DROP COLUMN "log.flags"')
        store.con.execute("UPDATE breachkit_meta SET value = '1' WHERE key = 'schema_version'")
    path = write(tmp_path / "web.log", access_lines(5))
    with LocalStore(old, read_only=True) as store:  # upgraded on open, even read-only
        assert "log.flags" in store.field_stats()
    with LocalStore(old) as store:
        ingest_file(str(path), store, pair.config, pair.workspace)
        assert store.count() == 6
        assert store.query("SELECT value FROM breachkit_meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    # an Elasticsearch index created before log.flags existed (strict mapping without it)
    mappings = index_mappings()
    del mappings["properties"]["log"]["properties"]["flags"]
    pair.es.client.indices.create(index=pair.es.index, mappings=mappings)
    lines = [*access_lines(3), '192.0.2.1 - - [02/Mar/2026:08:00:00 +0000] "GET /a"b HTTP/1.1" 404 1 "-" "-"']
    result = ingest_file(str(write(tmp_path / "q.log", lines)), pair.es, pair.config, pair.workspace)
    assert (result.added, result.flagged) == (5, {"lenient_quotes": 1})
    props = pair.es.client.indices.get_mapping(index=pair.es.index)[pair.es.index]["mappings"]["properties"]
    assert props["log"]["properties"]["flags"] == {"type": "keyword", "ignore_above": 8191}


def test_empty_strings_stay_distinct_from_missing_on_both_engines(pair, tmp_path) -> None:
    """issue 12 (store half): "" is a value on both engines, missing is none; a rule engine can tell them."""
    rows = [{"@timestamp": "2026-03-02T08:00:00Z", "user.name": "", "user.id": "u1"},
            {"@timestamp": "2026-03-02T08:00:01Z", "user.id": "u2"},
            {"@timestamp": "2026-03-02T08:00:02Z", "user.name": None, "user.id": "u3"},
            {"@timestamp": "2026-03-02T08:00:03Z", "user.name": "bob", "user.id": "u4"}]
    path = tmp_path / "api.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for store in pair.stores:
        ingest_file(str(path), store, pair.config, pair.workspace)
    local = dict(pair.local.query('SELECT "user.id", "user.name" FROM events'))
    assert local == {"u1": "", "u2": None, "u3": None, "u4": "bob"}
    assert pair.local.query("""SELECT count(*) FILTER (WHERE "user.name" = ''),
                                      count(*) FILTER (WHERE "user.name" IS NULL) FROM events""") == [(1, 2)]
    es = pair.es.client

    def ids(query) -> list[str]:
        hits = es.search(index=pair.es.index, query=query, source_includes=["user.id"])["hits"]["hits"]
        return sorted(h["_source"]["user.id"] for h in hits)

    pair.es.refresh()
    assert ids({"term": {"user.name": ""}}) == ["u1"]
    assert ids({"bool": {"must_not": {"exists": {"field": "user.name"}}}}) == ["u2", "u3"]
    assert ids({"exists": {"field": "user.name"}}) == ["u1", "u4"]
    assert pair.es.field_stats()["user.name"] == pair.local.field_stats()["user.name"]


def test_a_store_failure_mid_run_stops_the_rest_and_is_a_partial_failure(pair, tmp_path) -> None:
    """Row 4 of the exit-code table when the store fails after an input was stored: the failed input and
    the ones not tried are listed; what was stored stays."""
    from breachkit.errors import PartialFailure, ServiceError
    from breachkit.logs.ingest import ingest

    paths = [str(write(tmp_path / f"{n}.log", access_lines(5, seed=i))) for i, n in enumerate("abc")]

    def progress_for(path: str):
        def update(phase: str, done: int, total: int | None) -> None:
            if path.endswith("b.log"):
                pair.es.client.close()  # the connection to the cluster is gone
        return update

    summary = ingest(paths, pair.es, pair.config, pair.workspace, progress_for=progress_for)
    assert [f.source for f in summary.files] == ["a.log"]
    (failure,) = summary.failures
    assert str(failure).startswith(f"{paths[1]}: cannot reach Elasticsearch")
    assert any("not tried after that error: 1 input(s)" in n and "c.log" in n for n in summary.notes)
    error = summary.error()
    assert isinstance(error, PartialFailure) and error.exit_code == 4
    with pytest.raises(ServiceError):
        pair.es.count()
