"""Ingestion into real Elasticsearch and OpenSearch nodes: mapping, idempotence, all-or-nothing per input
(on engines without transactions), agreement with the embedded engine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from breachkit.errors import ServiceError, UsageError
from breachkit.logs.ingest import IngestOptions, ingest, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.logs.search import WILDCARD_FIELDS, index_mappings
from tests.test_ingest_local import access_lines

REPO = Path(__file__).resolve().parents[1]


def _mapping(s) -> dict[str, Any]:
    return s.store.conn.get_mapping(s.store.index)[s.store.index]


def _type(mapping: dict[str, Any], dotted: str) -> str:
    node = mapping
    for part in dotted.split("."):
        node = node["properties"][part] if "properties" in node else node[part]
    return str(node["type"])


def test_template_types_and_idempotent_bulk(search_setup, tmp_path):
    s = search_setup
    path = tmp_path / "access.log"
    lines = access_lines(2500)
    path.write_text("\n".join(lines) + "\n")
    first = ingest_file(str(path), s.store, s.config, s.workspace)
    assert (first.added, first.already_present) == (len(lines), 0)
    assert s.store.count() == len(lines)
    mapping = _mapping(s)
    assert mapping == index_mappings(s.store.wildcard())
    assert _type(mapping, "@timestamp") == "date" and _type(mapping, "source.ip") == "ip"
    assert _type(mapping, "http.response.status_code") == "long"
    # OpenSearch core has the wildcard type; Elastic's integ-test distribution lacks its module: keyword there
    expected = "wildcard" if s.engine == "opensearch" else "keyword"
    assert {_type(mapping, f) for f in WILDCARD_FIELDS} == {expected}
    assert _type(mapping, "user.id") == "keyword"
    second = ingest_file(str(path), s.store, s.config, s.workspace)
    assert (second.added, second.already_present) == (0, len(lines))
    assert s.store.count() == len(lines)
    assert list(s.workspace.tmp.iterdir()) == []  # no spool
    hit = s.store.conn.search(s.store.index, {"size": 1, "sort": [{"log.file.line": "asc"}],
                                              "query": {"match_all": {}}})["hits"]["hits"][0]["_source"]
    assert hit["@timestamp"] == "2026-03-02T08:00:00.000Z"
    assert hit["log.file.line"] == 1 and hit["log.original"] == lines[0]


def test_keyword_mapping_when_wildcard_is_off(search_setup, tmp_path):
    s = search_setup
    s.store.use_wildcard = False
    path = tmp_path / "access.log"
    path.write_text("\n".join(access_lines(10)) + "\n")
    ingest_file(str(path), s.store, s.config, s.workspace)
    assert _type(_mapping(s), "url.original") == "keyword"


def test_same_field_counts_as_local(search_setup, tmp_path):
    s = search_setup
    path = tmp_path / "portal.log"
    path.write_text("\n".join(access_lines(1500, seed=4)) + "\n")
    with LocalStore(s.workspace.events_db) as local:
        for store in (s.store, local):
            ingest([str(path)], store, s.config, s.workspace, options=IngestOptions(remote_user_field="user.id"))
        assert s.store.field_stats() == local.field_stats()


def test_rejected_documents_leave_nothing_behind(search_setup, tmp_path):
    s = search_setup
    # An index made by someone else with a conflicting type: the cluster rejects those documents.
    s.store.conn.create_index(s.store.index)
    body = {"properties": {"url": {"properties": {"path": {"type": "long"}}}}}
    if s.engine == "opensearch":
        s.client.indices.put_mapping(index=s.store.index, body=body)
    else:
        s.client.indices.put_mapping(index=s.store.index, **body)
    path = tmp_path / "access.log"
    lines = access_lines(50)
    lines.insert(10, '198.51.100.7 - - [02/Mar/2026:08:00:00 +0000] "-" 408 0 "-" "-"')  # no url.path: accepted
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ServiceError) as err:  # the store refused our events, nothing is stored: exit 3, not 4
        ingest_file(str(path), s.store, s.config, s.workspace)
    message = err.value.message
    assert err.value.exit_code == 3
    assert "51 events of access.log were rejected" in message and "the 1 this run had written were removed" in message
    assert err.value.problems and "rejected (400)" in err.value.problems[0].message
    assert err.value.problems[0].location.field.startswith("event.id=")
    s.store.refresh()
    assert s.store.count() == 0  # the one accepted document was removed again


class _FailingConn:
    """The store's client, whose bulk stream breaks after `after` documents (a connection lost mid-way)."""

    def __init__(self, conn: Any, after: int) -> None:
        self._conn, self.after, self.sent = conn, after, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def bulk(self, actions, threads, chunk_size):
        def limited():
            for action in actions:
                if action[0].startswith(b'{"create"'):
                    if self.sent == self.after:
                        raise ServiceError("connection lost (simulated)")
                    self.sent += 1
                yield action

        yield from self._conn.bulk(limited(), threads, chunk_size)


def test_interrupted_bulk_is_rolled_back_and_a_rerun_completes(search_setup, tmp_path):
    s = search_setup
    config = s.config.model_copy(update={"ingest": s.config.ingest.model_copy(update={"batch_size": 500,
                                                                                      "workers": 1})})
    old, new = tmp_path / "old.log", tmp_path / "access.log"
    lines = access_lines(3000, seed=7)
    old.write_text("\n".join(lines[:1000]) + "\n")
    new.write_text("\n".join(lines) + "\n")
    # the first 1000 lines were ingested before (as the same source name: same event ids)
    ingest_file("-", s.store, config, s.workspace, options=IngestOptions(stdin_name="x"), stdin=old.open("rb"))
    assert s.store.count() == 1000
    real = s.store.conn
    failing = _FailingConn(real, after=2500)
    s.store.conn = failing
    with pytest.raises(ServiceError, match="connection lost"):
        ingest_file("-", s.store, config, s.workspace, options=IngestOptions(stdin_name="x"),
                    stdin=new.open("rb"))
    s.store.conn = real
    assert failing.sent == 2500  # the first bulk requests went through: 1000 present, the rest created
    s.store.refresh()
    assert s.store.count() == 1000  # what this run created is gone; what was there before stays
    done = ingest_file("-", s.store, config, s.workspace, options=IngestOptions(stdin_name="x"), stdin=new.open("rb"))
    assert (done.added, done.already_present) == (len(lines) - 1000, 1000)
    assert s.store.count() == len(lines)


@pytest.mark.slow
def test_killed_ingest_is_completed_by_the_next_run(search_setup, tmp_path):
    """A process killed mid-bulk cannot clean up: the next run of the same input completes it."""
    s = search_setup
    path = tmp_path / "big.log"
    lines = access_lines(120_000, seed=9)
    n = len(lines)
    path.write_text("\n".join(lines) + "\n")
    env = {**os.environ, **s.env, "BREACHKIT_INGEST__BATCH_SIZE": "1000", "BREACHKIT_INGEST__WORKERS": "1",
           "BREACHKIT_WORKSPACE__PATH": str(tmp_path / "ws2")}
    env.pop("BREACHKIT_CONFIG", None)
    cmd = [sys.executable, str(REPO / "cli.py"), "ingest", "--to", s.engine, str(path)]
    process = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = 0
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if s.store.conn.index_exists(s.store.index):
                s.store.refresh()
                seen = s.store.count()
                if seen > 0:
                    break
            time.sleep(0.05)
        assert process.poll() is None and 0 < seen < n, (seen, process.returncode)
        process.kill()
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    s.store.refresh()
    partial = s.store.count()
    assert 0 < partial < n
    done = ingest_file(str(path), s.store, s.config, s.workspace)
    assert done.added + done.already_present == n and done.already_present >= partial
    assert s.store.count() == n


def test_never_writes_into_read_only_indices(search_setup, tmp_path):
    s = search_setup
    s.store.read_only_patterns = (s.store.index[:-3] + "*",)
    path = tmp_path / "access.log"
    path.write_text("\n".join(access_lines(10)) + "\n")
    with pytest.raises(UsageError, match="never writes into existing indices"):
        ingest_file(str(path), s.store, s.config, s.workspace)
    assert not s.store.conn.index_exists(s.store.index)


# --- unfinished runs are left out of detection ----------------------------------------------------------------

_ALL_GETS = ("title: Every GET\nid: 9b0c4d1e-0000-4000-8000-0000000000a1\nstatus: test\nlevel: low\n"
             "logsource: {product: breachkit}\ndetection:\n  sel:\n    http.request.method: GET\n  condition: sel\n")


def _batch_of(path: Path, config: Any, workspace: Any) -> Any:
    """The events breachkit reads from `path`, as one batch of the event schema (read by the embedded store)."""
    from breachkit.logs.schema import ARROW_SCHEMA

    with LocalStore(None) as local:
        ingest_file(str(path), local, config, workspace)
        table = local.con.sql("SELECT * FROM events ORDER BY \"log.file.line\"").to_arrow_table()
    return table.select(ARROW_SCHEMA.names).cast(ARROW_SCHEMA).combine_chunks().to_batches()[0]


def _gets(s: Any, tmp_path: Path) -> tuple[int, tuple[str, ...]]:
    """(events the rule finds over the store's index, the notes of the run)."""
    from breachkit.detect.engines import SearchEngine
    from breachkit.detect.rules import load_rules
    from breachkit.detect.run import run

    rule = tmp_path / "gets.yml"
    rule.write_text(_ALL_GETS)
    s.store.refresh()
    result = run(load_rules([rule]), SearchEngine.over(s.store))
    return sum(d.count for d in result.detections), result.notes


def test_events_of_unfinished_ingest_runs_are_left_out_of_detection_and_said(search_setup, tmp_path):
    from breachkit.logs import searchruns

    s = search_setup
    lines = access_lines(300, seed=11)
    gets = sum(1 for line in lines if '"GET ' in line)
    done, running, killed = tmp_path / "done.log", tmp_path / "running.log", tmp_path / "killed.log"
    for path, part in ((done, lines[:100]), (running, lines[100:200]), (killed, lines[200:])):
        path.write_text("\n".join(part) + "\n")
    ingest_file(str(done), s.store, s.config, s.workspace)
    committed = sum(1 for line in lines[:100] if '"GET ' in line)
    assert _gets(s, tmp_path) == (committed, ())

    # a run still writing: its documents are searchable in the index, and left out of detection
    loader = s.store.begin(running.name)
    loader.add(_batch_of(running, s.config, s.workspace))
    loader._finish()  # every document written (what a slow ingest has done so far)
    # a run killed after writing: no commit, no rollback (its process is gone)
    abandoned = s.store.begin(killed.name)
    abandoned.add(_batch_of(killed, s.config, s.workspace))
    abandoned._finish()
    s.store.refresh()
    assert s.store.count() == len(lines)
    assert {r.source for r in s.store.open_runs()} == {running.name, killed.name}
    found, notes = _gets(s, tmp_path)
    assert found == committed
    assert len(notes) == 2 and all("has not finished" in n and "were left out" in n for n in notes)
    assert f"100 events of an ingest of {running.name}" in notes[0]
    assert f"{len(lines) - 200} events of an ingest of {killed.name}" in notes[1]

    loader.commit()  # committed: searched from now on
    assert _gets(s, tmp_path)[0] == committed + sum(1 for line in lines[100:200] if '"GET ' in line)
    assert [r.source for r in s.store.open_runs()] == [killed.name]

    # the next ingest of the killed run's input completes it, and with it the killed run's documents count
    again = ingest_file(str(killed), s.store, s.config, s.workspace)
    assert (again.added, again.already_present) == (0, len(lines) - 200)
    assert s.store.open_runs() == []
    assert _gets(s, tmp_path) == (gets, ())

    # a rolled-back run leaves nothing registered; forgetting a source ends its interrupted runs too
    failing = s.store.begin("forgotten")
    failing.add(_batch_of(done, s.config, s.workspace).slice(0, 10))
    failing._finish()
    failing.abort()
    assert s.store.open_runs() == []
    stuck = s.store.begin(done.name)
    stuck.add(_batch_of(done, s.config, s.workspace).slice(0, 5))
    stuck._finish()
    assert len(s.store.open_runs()) == 1
    s.store.forget(done.name)
    assert s.store.open_runs() == []
    # the registry is hidden: patterns over the events never pick it up
    assert searchruns.runs_index(s.store.index) not in s.store.conn.get_mapping(s.store.index[:-6] + "*")


def test_a_rule_tests_private_case_index_registers_no_run_and_leaves_nothing(search_setup, tmp_path):
    from breachkit.detect.ruletest import search_engine_factory
    from breachkit.logs import searchruns

    s = search_setup
    path = tmp_path / "case.log"
    path.write_text("\n".join(access_lines(20)) + "\n")
    open_engine = search_engine_factory(s.store)
    with open_engine(_batch_of(path, s.config, s.workspace)) as engine:
        assert engine.left_out == [] and engine.notes == []
    case = f"{s.store.index}-case-1"
    assert not s.store.conn.index_exists(case)
    assert not s.store.conn.index_exists(searchruns.runs_index(case))


class _StaleConn:
    """The store's client, whose first `index_exists` answers False (another process creates it meanwhile)."""

    def __init__(self, conn: Any) -> None:
        self._conn, self.asked = conn, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def index_exists(self, index: str) -> bool:
        self.asked += 1
        return False if self.asked == 1 else self._conn.index_exists(index)


def test_a_registry_created_concurrently_is_used_not_an_error(search_setup, tmp_path):
    from breachkit.logs import searchruns

    s = search_setup
    path = tmp_path / "race.log"
    path.write_text("\n".join(access_lines(10)) + "\n")
    ingest_file(str(path), s.store, s.config, s.workspace)  # the registry exists now
    real = s.store.conn
    s.store.conn = stale = _StaleConn(real)
    try:
        s.store.register_run("r1", "race.log")  # create refused (exists): checked again, and used
    finally:
        s.store.conn = real
    assert stale.asked >= 2
    assert [r.run for r in searchruns.open_runs(real, s.store.index)] == ["r1"]
