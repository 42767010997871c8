"""`logs forget` and `ingest --replace` on the embedded store and each search engine (Elasticsearch, OpenSearch):
what they remove, the order that never leaves a source without events, the ingest log; stores written by an
older breachkit gain the new fields; "" stays ""."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from breachkit.errors import InputError, NotFoundError, PartialFailure, ServiceError
from breachkit.logs import audit
from breachkit.logs.ingest import IngestOptions, forget_source, ingest_file
from breachkit.logs.local import SCHEMA_VERSION, LocalStore
from breachkit.logs.search import index_mappings
from breachkit.logs.searchload import SearchLoader
from tests.storepair import pair
from tests.test_ingest_local import access_lines

__all__ = ["pair"]


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
    assert pair.rows(pair.local, "log.file.path", "log.file.line") == pair.rows(pair.search, "log.file.path",
                                                                                 "log.file.line")
    forgets = [e for e in audit.read(pair.workspace) if e["action"] == "forget"]
    assert [(e["engine"], e["source"], e["removed"], e["reason"]) for e in forgets] == [
        ("local", "a.log", 31, "wrong year"), (pair.engine, "a.log", 31, "wrong year")]


def test_forget_pages_through_more_than_one_page_on_a_search_engine(pair, tmp_path, monkeypatch) -> None:
    path = write(tmp_path / "big.log", access_lines(1200))
    ingest_file(str(path), pair.search, pair.config, pair.workspace)
    original = type(pair.search)._source_ids
    pages: list[int] = []

    def small_pages(self, source, page=5_000):
        for ids in original(self, source, page=250):
            pages.append(len(ids))
            yield ids

    monkeypatch.setattr(type(pair.search), "_source_ids", small_pages)
    assert pair.search.forget("big.log") == 1224
    assert pair.search.count() == 0
    assert len(pages) == 5 and sum(pages) == 1224


def test_replace_on_a_search_engine_never_leaves_the_source_without_events(pair, tmp_path, monkeypatch) -> None:
    """A crash after the new events were written and before the stale ones were deleted: every line still
    has its event (the new reading), plus the stale events of lines gone; replacing again completes it."""
    lines = access_lines(40)
    path = write(tmp_path / "web.log", lines)
    ingest_file(str(path), pair.search, pair.config, pair.workspace)
    write(path, lines[:20])

    def crash(self):
        raise RuntimeError("killed between writing the new events and deleting the stale ones")

    monkeypatch.setattr(SearchLoader, "_remove_others", crash)
    with pytest.raises(RuntimeError):
        ingest_file(str(path), pair.search, pair.config, pair.workspace, options=IngestOptions(replace=True))
    pair.search.refresh()
    assert pair.search.count() == 41  # 20 lines re-read in place + 21 stale: nothing missing
    monkeypatch.undo()
    again = ingest_file(str(path), pair.search, pair.config, pair.workspace, options=IngestOptions(replace=True))
    assert (again.replaced, again.removed, pair.search.count()) == (20, 21, 20)
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
    # a search-engine index created before log.flags, the derived fields and the run field existed (strict
    # mapping without them)
    mappings = index_mappings()
    for name in ("flags", "decoded"):
        del mappings["properties"]["log"]["properties"][name]
    for name in ("original_decoded", "path_decoded", "query_decoded"):
        del mappings["properties"]["url"]["properties"][name]
    del mappings["properties"]["breachkit"]
    conn, index = pair.search.conn, pair.search.index
    conn.create_index(index)  # no template yet: the mapping is the one put next
    conn.put_mapping(index, mappings)
    lines = [*access_lines(3), '192.0.2.1 - - [02/Mar/2026:08:00:00 +0000] "GET /a"b HTTP/1.1" 404 1 "-" "-"']
    result = ingest_file(str(write(tmp_path / "q.log", lines)), pair.search, pair.config, pair.workspace)
    assert (result.added, result.flagged) == (5, {"lenient_quotes": 1})
    props = conn.get_mapping(index)[index]["properties"]
    assert props["log"]["properties"]["flags"] == {"type": "keyword", "ignore_above": 8191}
    assert props["breachkit"]["properties"]["run"] == {"type": "keyword"}
    assert {"decoded", "flags"} <= set(props["log"]["properties"])
    assert {"original_decoded", "path_decoded", "query_decoded"} <= set(props["url"]["properties"])


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
    conn, index = pair.search.conn, pair.search.index

    def ids(query) -> list[str]:
        hits = conn.search(index, {"query": query, "_source": ["user.id"]})["hits"]["hits"]
        return sorted(h["_source"]["user.id"] for h in hits)

    pair.search.refresh()
    assert ids({"term": {"user.name": ""}}) == ["u1"]
    assert ids({"bool": {"must_not": {"exists": {"field": "user.name"}}}}) == ["u2", "u3"]
    assert ids({"exists": {"field": "user.name"}}) == ["u1", "u4"]
    assert pair.search.field_stats()["user.name"] == pair.local.field_stats()["user.name"]


def unreachable(engine: str):
    """The store's transport to an address where nothing listens (a real refused connection)."""
    if engine == "elasticsearch":
        from elasticsearch import Elasticsearch

        from breachkit.logs.elasticsearch import EsClient

        return EsClient(Elasticsearch("http://127.0.0.1:9", max_retries=0))
    from opensearchpy import OpenSearch

    from breachkit.logs.opensearch import OsClient

    return OsClient(OpenSearch(["http://127.0.0.1:9"], max_retries=0))


def test_a_store_failure_mid_run_stops_the_rest_and_is_a_partial_failure(pair, tmp_path) -> None:
    """Row 4 of the exit-code table when the store fails after an input was stored: the failed input and
    the ones not tried are listed; what was stored stays."""
    from breachkit.logs.ingest import ingest

    paths = [str(write(tmp_path / f"{n}.log", access_lines(5, seed=i))) for i, n in enumerate("abc")]

    def progress_for(path: str):
        def update(phase: str, done: int, total: int | None) -> None:
            if path.endswith("b.log"):
                pair.search.conn = unreachable(pair.engine)  # the connection to the cluster is gone
        return update

    summary = ingest(paths, pair.search, pair.config, pair.workspace, progress_for=progress_for)
    assert [f.source for f in summary.files] == ["a.log"]
    (failure,) = summary.failures
    name = {"elasticsearch": "Elasticsearch", "opensearch": "OpenSearch"}[pair.engine]
    assert str(failure).startswith(f"{paths[1]}: cannot reach {name}")
    assert any("not tried after that error: 1 input(s)" in n and "c.log" in n for n in summary.notes)
    error = summary.error()
    assert isinstance(error, PartialFailure) and error.exit_code == 4
    with pytest.raises(ServiceError):
        pair.search.count()


# --- replace on a search engine when it fails (breachkit/logs/searchload.py: the steps and each failure) --------


def _ids_and_times(pair) -> dict[str, str]:
    pair.search.refresh()
    body = {"size": 10_000, "query": {"match_all": {}}, "_source": ["@timestamp"]}
    hits = pair.search.conn.search(pair.search.index, body)["hits"]["hits"]
    return {h["_id"]: h["_source"]["@timestamp"] for h in hits}


def test_replace_of_an_input_rejected_whole_changes_nothing_on_a_search_engine(pair, tmp_path) -> None:
    """Read whole before anything is written: an input with too many bad lines leaves every event as it was."""
    from tests.test_syslog_years import syslog, utc
    from tests.test_syslog_years import write as write_syslog

    lines = syslog(["Mar  1 10:00:00", "Mar  1 10:00:01", "Mar  1 10:00:02"])
    path = write_syslog(tmp_path / "auth.log", lines, utc(2026, 3, 2))
    ingest_file(str(path), pair.search, pair.config, pair.workspace)
    before = _ids_and_times(pair)
    write_syslog(path, [*lines, *(f"garbage {i}" for i in range(10))], utc(2026, 3, 2))
    with pytest.raises(InputError, match="could not be read"):
        ingest_file(str(path), pair.search, pair.config, pair.workspace,
                    options=IngestOptions(format="auth", year=2020, replace=True))
    assert _ids_and_times(pair) == before  # not one event re-dated to 2020
    assert list(pair.workspace.tmp.iterdir()) == []  # spool and id sets removed


def test_replace_with_rejected_documents_deletes_nothing_the_source_had(pair, tmp_path) -> None:
    """The cluster rejects some new documents: lines new to the source lose their new events again, lines it
    had keep one (the new reading where it was already written), and no stale event is deleted."""
    conn, index = pair.search.conn, pair.search.index
    conn.create_index(index)  # made by someone else: url.path is a number there, so documents with one fail
    conn.put_mapping(index, {"properties": {"url": {"properties": {"path": {"type": "long"}}}}})
    no_path = [f'198.51.100.{i} - - [02/Mar/2026:08:00:0{i} +0000] "-" 408 0 "-" "-"' for i in range(1, 6)]
    path = write(tmp_path / "web.log", no_path[:4])
    ingest_file(str(path), pair.search, pair.config, pair.workspace)
    before = _ids_and_times(pair)
    assert len(before) == 4
    # lines 1-3 as before, line 4 changed (a new event, accepted), then lines with a url.path (rejected)
    write(path, [*no_path[:3], no_path[4], *access_lines(5)])
    with pytest.raises(ServiceError, match="nothing of the source was deleted") as err:
        ingest_file(str(path), pair.search, pair.config, pair.workspace, options=IngestOptions(replace=True))
    assert err.value.problems and "rejected (400)" in err.value.problems[0].message
    assert _ids_and_times(pair) == before  # line 4's old event stays, its new one is gone: no line without one
    assert [e for e in audit.read(pair.workspace) if e["action"] == "replace"] == []  # not recorded as done
    assert list(pair.workspace.tmp.iterdir()) == []


class _LosingConn:
    """The store's transport, whose bulk stream breaks after `after` index actions (a connection lost)."""

    def __init__(self, conn, after: int) -> None:
        self._conn, self.after, self.sent = conn, after, 0

    def __getattr__(self, name: str):
        return getattr(self._conn, name)

    def bulk(self, actions, threads, chunk_size):
        def limited():
            for action in actions:
                if action[0].startswith(b'{"index"'):
                    if self.sent == self.after:
                        raise ServiceError("connection lost (simulated)")
                    self.sent += 1
                yield action

        yield from self._conn.bulk(limited(), threads, chunk_size)


def test_replace_interrupted_mid_write_keeps_every_line_and_a_rerun_completes(pair, tmp_path) -> None:
    config = pair.config.model_copy(update={"ingest": pair.config.ingest.model_copy(update={"batch_size": 500,
                                                                                          "workers": 1})})
    lines = access_lines(3000, seed=7)
    path = write(tmp_path / "web.log", lines[:1000])
    ingest_file(str(path), pair.search, config, pair.workspace)
    before = set(_ids_and_times(pair))
    write(path, lines)
    real = pair.search.conn
    pair.search.conn = losing = _LosingConn(real, after=2500)
    with pytest.raises(ServiceError, match="connection lost"):
        ingest_file(str(path), pair.search, config, pair.workspace, options=IngestOptions(replace=True))
    pair.search.conn = real
    assert losing.sent == 2500  # 1000 overwritten, 1500 new lines created (some perhaps never acknowledged)
    assert set(_ids_and_times(pair)) == before  # the new lines' events are gone again, the old lines keep theirs
    done = ingest_file(str(path), pair.search, config, pair.workspace, options=IngestOptions(replace=True))
    assert (done.added, done.replaced, done.removed) == (len(lines) - 1000, 1000, 0)
    assert pair.search.count() == len(lines)
