"""The direct SQLite reader (no SQLAlchemy) answers the case reads exactly as the store does, and quick commands use
it: `incident clock` on a current SQLite store does not import SQLAlchemy."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from breachkit.errors import NotFoundError
from breachkit.incidents import api as incidents
from breachkit.incidents import decisions_api
from breachkit.incidents.model import Status
from breachkit.incidents.store import IncidentStore
from breachkit.incidents.store.head import sqlite_file
from breachkit.incidents.store.outbox import Outgoing
from breachkit.incidents.store.sqlite_reader import SqliteReader, open_sqlite_reader
from breachkit.session import Session
from tests.board_world import make_world

NOW = datetime(2026, 3, 20, 10, 0, 0, 123456, tzinfo=UTC)


def _message(incident_id: str, recipient: str, version: int) -> Outgoing:
    return Outgoing(incident_id, recipient, "subject", version, f"{recipient}@example.org", b"bytes",
                    f"<{recipient}@b>", "the breach of March", f"{version:064d}")


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path, "sqlite:///" + str(tmp_path / "incidents.db"), now=NOW)
    store, people = w.session.store, w.people
    for version in (1, 2):
        store.approvals.add(people, kind="subject", version=version, hashes={"u1": "0" * 64}, summary={"de": 2},
                            actor="dpo@example.org", now=NOW + timedelta(minutes=version), reason="read it")
    store.outbox.enqueue([_message(people, r, 1) for r in ("u1", "u2", "u3")] + [_message(people, "u1", 2)],
                         actor="dpo@example.org", now=NOW)
    for minutes in (5, 7):  # two of version 1 sent, at different times
        row = store.outbox.claim(people, "subject", NOW)
        assert row is not None
        store.outbox.mark_sent(row, actor="dpo@example.org", now=NOW + timedelta(minutes=minutes, microseconds=9),
                               reply="250 ok")
    decisions_api.decide(w.session, w.running, authority=False, subjects=False, reason="no personal data on it")
    incidents.close_incident(w.session, w.running, reason="the laptop was encrypted and found")
    return w


def _reads(reader, incident_id):
    return {"get": reader.get(incident_id), "decisions": reader.decisions(incident_id),
            "filings": reader.filings(incident_id), "approvals": reader.approval_list(incident_id),
            "subject counts": reader.version_counts(incident_id, "subject"),
            "authority counts": reader.version_counts(incident_id, "authority")}


def test_the_direct_reader_gives_what_the_store_gives(world):
    store = world.session.store
    reader = open_sqlite_reader(tmp := sqlite_file(store.url))
    assert isinstance(reader, SqliteReader) and tmp is not None
    for incident_id in (world.overdue, world.running, world.people):
        assert _reads(reader, incident_id) == _reads(store, incident_id)
    people = _reads(reader, world.people)
    assert [a.version for a in people["approvals"]] == [1, 2] and people["decisions"] and people["filings"]
    assert people["subject counts"] == {1: (3, 2, NOW + timedelta(minutes=7, microseconds=9)), 2: (1, 0, None)}
    assert people["subject counts"][1][2].tzinfo is UTC
    open_ones = [s for s in Status if s is not Status.CLOSED]
    for status in ([], open_ones, [Status.CLOSED]):
        assert reader.list_incidents(status=status) == store.list_incidents(status=status)
    assert [i.id for i in reader.list_incidents(status=[Status.CLOSED])] == [world.running]
    with pytest.raises(NotFoundError) as direct:
        reader.get("BK-2026-9999")
    with pytest.raises(NotFoundError) as through_store:
        store.get("BK-2026-9999")
    assert str(direct.value) == str(through_store.value) and direct.value.hint == through_store.value.hint


def test_the_clock_is_the_same_read_either_way(world):
    config = world.session.config
    direct = Session(config, clock=lambda: NOW + timedelta(hours=80))
    assert isinstance(direct.reader, SqliteReader)
    through_store = Session(config, clock=lambda: NOW + timedelta(hours=80))
    through_store.store  # noqa: B018 (once the store is open, the session reads through it)
    assert isinstance(through_store.reader, IncidentStore)
    assert incidents.clock(direct).model_dump() == incidents.clock(through_store).model_dump()
    assert incidents.clock(direct, world.people.lower()).model_dump() == \
        incidents.clock(through_store, world.people).model_dump()
    assert incidents.list_incidents(direct) == incidents.list_incidents(through_store)


def test_a_store_that_is_not_current_is_left_to_the_store(tmp_path):
    assert open_sqlite_reader(tmp_path / "missing.db") is None
    assert not (tmp_path / "missing.db").exists()  # never created by a read
    (tmp_path / "empty.db").touch()
    assert open_sqlite_reader(tmp_path / "empty.db") is None  # no Alembic revision: the store creates the schema
    store = IncidentStore(f"sqlite:///{tmp_path / 'old.db'}")
    store.close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0005'")
    assert open_sqlite_reader(tmp_path / "old.db") is None  # the store migrates it
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    assert open_sqlite_reader(tmp_path / "junk.db") is None  # the store says what is wrong


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///ws/incidents.db", "ws/incidents.db"), ("sqlite:////abs/incidents.db", "/abs/incidents.db"),
    ("sqlite+pysqlite:///x.db", "x.db"), ("sqlite://", None), ("sqlite:///:memory:", None),
    ("sqlite:///x.db?mode=ro", None), ("postgresql+psycopg://u@h/db", None)])
def test_only_plain_sqlite_urls_are_read_directly(url, path):
    found = sqlite_file(url)
    assert (str(found) if found is not None else None) == path


def test_incident_clock_on_a_current_sqlite_store_does_not_import_sqlalchemy(world, tmp_path):
    code = ("import sys\nfrom breachkit.cli import main\nsys.argv = ['breachkit', 'incident', 'clock']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print('sqlalchemy loaded:', 'sqlalchemy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "120", "BREACHKIT_ACTOR": "test"})
    assert "gdpr-33" in done.stdout and done.stdout.rstrip().endswith("sqlalchemy loaded: False"), done.stdout
