"""Faults at ingest: hostile and damaged input, interrupted commits. Each test injects one kind of fault,
measures what was lost with its own bookkeeping (not the ingest summary's), records it in the fault
report (tests/faults.py) and requires nothing lost.

"Lost" means: a line an investigation needs that has no event (for faults that keep lines), an event
that was stored before and is gone, an event stored from an input that was refused (a half-written
input), or a line dated wrongly.
"""

from __future__ import annotations

import gzip
import io
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from breachkit.config import load_config
from breachkit.errors import InputError
from breachkit.logs.ingest import IngestOptions, ingest, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.logs.parsers.web import CombinedParser
from breachkit.workspace import Workspace
from tests.test_ingest_local import access_lines

SEED = 20261211


@pytest.fixture
def env(tmp_path):
    config = load_config(environ={}, cwd=tmp_path)
    workspace = Workspace(tmp_path / "ws").ensure()
    store = LocalStore(workspace.events_db)
    yield config, workspace, store
    store.close()


SERVER_FIELDS = ("source.ip", "@timestamp", "http.response.status_code", "http.response.body.bytes")


def _server_fields(event: dict) -> tuple:
    return tuple(event.get(f) for f in SERVER_FIELDS)


def stored_lines(store: LocalStore, source: str) -> set[int]:
    return {r[0] for r in store.query('SELECT "log.file.line" FROM events WHERE "log.file.path" = ?', [source])}


def corrupt(lines: list[bytes], rng: random.Random, share: float, damage) -> tuple[list[bytes], set[int]]:
    """Damage a share of the lines (1-based numbers of the damaged ones returned)."""
    out, hit = [], set()
    for number, line in enumerate(lines, start=1):
        if rng.random() < share:
            line = damage(line, rng)
            hit.add(number)
        out.append(line)
    return out, hit


def _request_span(line: bytes) -> tuple[int, int]:
    start = line.index(b'"') + 1
    return start, line.index(b'" ', start)


def non_utf8(line: bytes, rng: random.Random) -> bytes:
    start, end = _request_span(line)
    at = rng.randrange(start + 5, end)
    # continuation bytes without a lead byte, or a lead byte without its continuation: never valid UTF-8
    junk = rng.choice([bytes(rng.choice(range(0x80, 0xC0)) for _ in range(rng.randrange(1, 40))),
                       bytes([rng.choice(range(0xC2, 0xF5))]) + b"A"])
    return line[:at] + junk + line[at:]


def stray_quote(line: bytes, rng: random.Random) -> bytes:
    start, end = _request_span(line)
    at = rng.randrange(start + 5, end)
    return line[:at] + rng.choice([b'"', b'"x"', b'("a")', b'" ']) + line[at:]


def control(line: bytes, rng: random.Random) -> bytes:
    start, end = _request_span(line)
    at = rng.randrange(start + 5, end)
    return line[:at] + bytes([rng.choice([0, 1, 7, 8, 0x1b, 0x7f])]) + b"[2J" + line[at:]


def long_value(line: bytes, rng: random.Random) -> bytes:
    _start, end = _request_span(line)
    return line[:end] + b"?" + b"A" * rng.randrange(8_200, 20_000) + line[end:]


@pytest.mark.parametrize(("kind", "damage"), [("non_utf8_bytes", non_utf8), ("unescaped_quotes", stray_quote),
                                              ("control_characters", control), ("overlong_values", long_value)])
def test_damaged_lines_are_all_kept(env, tmp_path, fault_report, kind, damage) -> None:
    config, workspace, store = env
    rng = random.Random(f"{SEED}-{kind}")
    clean = [line.encode() for line in access_lines(600, seed=7)]
    lines, hit = corrupt(clean, rng, 0.3, damage)
    path = tmp_path / f"{kind}.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = ingest_file(str(path), store, config, workspace, options=IngestOptions(format="combined"))
    kept = stored_lines(store, path.name)
    # the fields the server wrote (address, time, status, size) must be read as from the clean line
    parser = CombinedParser()
    want = {n: _server_fields(parser.parse_line(line.decode())[0]) for n, line in enumerate(clean, start=1)}
    columns = ", ".join(f'"{f}"' for f in SERVER_FIELDS)
    got = {r[0]: _server_fields(dict(zip(SERVER_FIELDS, r[1:], strict=True)))
           for r in store.query(f'SELECT "log.file.line", {columns} FROM events')}  # noqa: S608 - fixed names
    misread = sum(1 for n in kept if got[n] != want[n])
    lost = len(set(range(1, len(lines) + 1)) - kept) + misread
    fault_report.record(f"ingest.{kind}", tried=len(hit), lost=lost, detail=f"{summary.bad_samples[:1]}")
    assert len(hit) > 100
    assert lost == 0, (summary.bad_samples[:3], misread)
    # and every damaged line says how it was read
    flagged = {r[0] for r in store.query('SELECT "log.file.line" FROM events WHERE "log.flags" IS NOT NULL')}
    assert hit <= flagged


def test_garbage_lines_between_good_ones_lose_no_good_line(env, tmp_path, fault_report) -> None:
    config, workspace, store = env
    rng = random.Random(SEED)
    good = access_lines(500, seed=11)
    lines: list[str] = []
    garbage_at: set[int] = set()
    for line in good:
        if rng.random() < 0.2:
            lines.append(rng.choice(["", "   ", "garbage", "{not json", "\t-\t-", "Mar  1 sshd: x"]))
            if lines[-1].strip():
                garbage_at.add(len(lines))
        lines.append(line)
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(lines) + "\n")
    summary = ingest_file(str(path), store, config, workspace, options=IngestOptions(format="combined"))
    good_at = {n for n, text in enumerate(lines, start=1) if text in good}
    lost = len(good_at - stored_lines(store, "mixed.log"))
    fault_report.record("ingest.garbage_lines", tried=len(garbage_at), lost=lost)
    assert lost == 0
    assert summary.bad_lines == len(garbage_at)


def test_refused_inputs_store_nothing_and_keep_what_was_there(env, tmp_path, fault_report) -> None:
    """Truncated gzip, a wrong format, a binary file: each is refused whole and said; the store is unchanged."""
    config, workspace, store = env
    base = tmp_path / "base.log"
    base.write_text("\n".join(access_lines(100)) + "\n")
    ingest_file(str(base), store, config, workspace)
    before = store.query('SELECT "event.id" FROM events ORDER BY 1')
    data = gzip.compress(("\n".join(access_lines(20_000, seed=5)) + "\n").encode())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    wrong = tmp_path / "wrong.log"
    wrong.write_text("\n".join(access_lines(50, seed=6)) + "\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(random.Random(SEED).randbytes(100_000))
    tried = 0
    for path, options in ((cut, IngestOptions()), (wrong, IngestOptions(format="auth")), (blob, IngestOptions())):
        tried += 1
        with pytest.raises(InputError):
            ingest_file(str(path), store, config, workspace, options=options)
    after = store.query('SELECT "event.id" FROM events ORDER BY 1')
    lost = len(set(before) - set(after)) + len(set(after) - set(before))  # gone, or half-written
    fault_report.record("ingest.refused_input", tried=tried, lost=lost)
    assert lost == 0
    assert list(workspace.tmp.iterdir()) == []


def test_failing_arguments_do_not_stop_the_others(env, tmp_path, fault_report) -> None:
    config, workspace, store = env
    good = []
    for i in range(3):
        path = tmp_path / f"good{i}.log"
        path.write_text("\n".join(access_lines(20, seed=i)) + "\n")
        good.append(str(path))
    bad = [str(tmp_path / "missing.log"), good[0] + "/not-a-folder.log", str(tmp_path)]
    (tmp_path / "sub").mkdir()
    args = [bad[0], good[0], bad[1], good[1], bad[2], good[2]]
    summary = ingest(args, store, config, workspace, options=IngestOptions())
    lost = sum(21 - len(stored_lines(store, Path(p).name)) for p in good)
    fault_report.record("ingest.failing_argument", tried=len(bad), lost=lost)
    assert lost == 0
    assert summary.error() is not None and summary.error().exit_code == 4


def test_crash_inside_a_replace_keeps_the_old_events(env, tmp_path, fault_report, monkeypatch) -> None:
    config, workspace, store = env
    path = tmp_path / "web.log"
    lines = access_lines(300)
    path.write_text("\n".join(lines) + "\n")
    ingest_file(str(path), store, config, workspace)
    before = store.query('SELECT "event.id", "@timestamp" FROM events ORDER BY 1')
    path.write_text("\n".join(lines[:100]) + "\n")
    crashes = 0
    for statement in ("DELETE FROM events", "INSERT INTO events", "COMMIT"):
        real = LocalStore.begin

        def begin(self, source, *, replace=False, _statement=statement, _real=real):
            loader = _real(self, source, replace=replace)
            con = loader.con

            class Crash:
                def execute(self, sql, *args):
                    if sql.startswith(_statement):
                        raise duckdb.IOException(f"crash at {_statement}")
                    return con.execute(sql, *args)

                def __getattr__(self, name):
                    return getattr(con, name)

            loader.con = Crash()
            return loader

        monkeypatch.setattr(LocalStore, "begin", begin)
        with pytest.raises(duckdb.IOException):
            ingest_file(str(path), store, config, workspace, options=IngestOptions(replace=True))
        monkeypatch.undo()
        crashes += 1
    after = store.query('SELECT "event.id", "@timestamp" FROM events ORDER BY 1')
    lost = len(set(before) - set(after))
    fault_report.record("ingest.crash_during_replace", tried=crashes, lost=lost)
    assert lost == 0 and after == before


def test_year_boundaries_are_dated_right(env, tmp_path, fault_report) -> None:
    """Random syslog files spanning a New Year, written up to 40 days after their last line: no line dated
    wrongly (the years of the expected times are known here), none after the file's time."""
    config, workspace, store = env
    rng = random.Random(SEED)
    misdated = tried = 0
    for n in range(20):
        start = datetime(2026, 12, rng.randrange(1, 28), tzinfo=UTC)
        times = sorted(start + timedelta(minutes=rng.randrange(0, 60 * 24 * 60)) for _ in range(50))
        mtime = times[-1] + timedelta(days=rng.randrange(0, 40), hours=rng.randrange(0, 24))
        path = tmp_path / f"auth{n}.log"
        path.write_text("".join(f"{t:%b} {t.day:2d} {t:%H:%M:%S} h sshd[{i}]: Invalid user u{i} from 192.0.2.1\n"
                                for i, t in enumerate(times)))
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
        ingest_file(str(path), store, config, workspace)
        got = [r[0] for r in store.query('SELECT "@timestamp" FROM events WHERE "log.file.path" = ? '
                                         'ORDER BY "log.file.line"', [path.name])]
        tried += len(times)
        misdated += sum(1 for a, b in zip(got, times, strict=True) if a != b or a > mtime)
    fault_report.record("ingest.year_boundary", tried=tried, lost=misdated)
    assert misdated == 0


def test_stdin_interrupted_stream_stores_nothing(env, fault_report) -> None:
    """A gzip stream on stdin cut short (the sender died): refused whole, nothing half-stored, no spool left."""
    config, workspace, store = env
    data = gzip.compress(("\n".join(access_lines(20_000, seed=8)) + "\n").encode())
    with pytest.raises(InputError, match="truncated"):
        ingest_file("-", store, config, workspace, stdin=io.BytesIO(data[: len(data) // 3]))
    half_written = store.count()
    fault_report.record("ingest.interrupted_stdin", tried=1, lost=half_written)
    assert half_written == 0
    assert list(workspace.tmp.iterdir()) == []
