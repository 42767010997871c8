"""Ingestion into the embedded DuckDB store: idempotence, all-or-nothing files, bad-line accounting."""

from __future__ import annotations

import gzip
import io
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breachkit.config import Config, load_config
from breachkit.errors import InputError
from breachkit.logs.ingest import IngestOptions, ingest, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.workspace import Workspace

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def access_lines(n: int, seed: int = 1) -> list[str]:
    """Seeded combined-format lines, with some exact duplicates (same second, same request)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = START + timedelta(seconds=i // 3)
        ip = f"198.51.100.{rng.randrange(1, 60)}"
        path = rng.choice(["/", "/account", "/login", "/account/devices", "/export/consumption.csv"])
        method = "POST" if path == "/login" else "GET"
        status = rng.choice([200, 200, 302, 401]) if path == "/login" else 200
        size = rng.randrange(100, 9000)
        line = (f'{ip} - - [{ts:%d/%b/%Y:%H:%M:%S} +0000] "{method} {path} HTTP/1.1" {status} {size} '
                f'"-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"')
        out.append(line)
        if i % 50 == 0:
            out.append(line)  # a genuine duplicate request
    return out


@pytest.fixture
def env(tmp_path: Path) -> tuple[Config, Workspace, LocalStore]:
    config = load_config(environ={}, cwd=tmp_path)
    workspace = Workspace(tmp_path / "ws").ensure()
    store = LocalStore(workspace.events_db)
    yield config, workspace, store
    store.close()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_ingest_counts_and_duplicates_kept(env, tmp_path):
    config, workspace, store = env
    lines = access_lines(600)
    path = write(tmp_path / "access.log", lines)
    summary = ingest([str(path)], store, config, workspace)
    (f,) = summary.files
    assert (f.format, f.lines, f.events, f.added, f.already_present, f.bad_lines) == (
        "combined", len(lines), len(lines), len(lines), 0, 0)
    assert store.count() == len(lines)  # duplicate lines are distinct events (line numbers differ)
    stats = store.field_stats()
    assert stats["event.id"].distinct == len(lines)
    assert stats["log.file.path"].distinct == 1


def test_reingest_adds_nothing_and_gzip_and_appended_file(env, tmp_path):
    config, workspace, store = env
    lines = access_lines(300)
    plain = write(tmp_path / "access.log", lines)
    ingest([str(plain)], store, config, workspace)
    before = store.query('SELECT "event.id" FROM events ORDER BY 1')
    again = ingest([str(plain)], store, config, workspace).files[0]
    assert (again.added, again.already_present) == (0, len(lines))
    # the same file gzip'ed, from another folder: same source name and ids
    other = tmp_path / "copy"
    other.mkdir()
    with gzip.open(other / "access.log.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    gz = ingest([str(other / "access.log.gz")], store, config, workspace).files[0]
    assert (gz.added, gz.already_present) == (0, len(lines))
    assert store.query('SELECT "event.id" FROM events ORDER BY 1') == before
    # the file grew (log appended): only the new lines are added
    more = access_lines(350)[: len(lines) + 20]
    assert more[: len(lines)] == lines
    write(plain, more)
    grown = ingest([str(plain)], store, config, workspace).files[0]
    assert (grown.added, grown.already_present) == (20, len(lines))


def test_truncated_gzip_stores_nothing(env, tmp_path):
    config, workspace, store = env
    data = gzip.compress(("\n".join(access_lines(5000)) + "\n").encode())
    bad = tmp_path / "cut.log.gz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as err:
        ingest_file(str(bad), store, config, workspace)
    assert err.value.location.path == str(bad)
    assert store.count() == 0
    assert list(workspace.tmp.iterdir()) == []


def test_a_load_leaves_the_store_connection_settings_as_they_were(env, tmp_path):
    """A load runs with LOAD_SETTINGS (a memory limit; rows appended on all threads, in no set order) and puts
    the connection's own values back: after a new source (streamed), a known one (spooled) and a failed one."""
    from breachkit.logs.local import LOAD_SETTINGS

    config, workspace, store = env
    settings = f"SELECT {', '.join(f'current_setting({name!r})' for name in LOAD_SETTINGS)}"
    before = store.query(settings)  # DuckDB's defaults: reset exactly (its memory limit's text is rounded down)
    assert before != [tuple(LOAD_SETTINGS.values())]
    plain = write(tmp_path / "access.log", access_lines(300))
    ingest_file(str(plain), store, config, workspace)
    assert store.query(settings) == before
    ingest_file(str(plain), store, config, workspace)
    assert store.query(settings) == before
    data = gzip.compress(("\n".join(access_lines(5000)) + "\n").encode())
    (tmp_path / "cut.log.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        ingest_file(str(tmp_path / "cut.log.gz"), store, config, workspace)
    assert store.query(settings) == before
    # rows stored in no set order: an input's events are still all there, read in line order when asked
    lines = [r[0] for r in store.query('SELECT "log.original" FROM events ORDER BY "log.file.line"')]
    assert lines == access_lines(300)


def test_wrong_format_flag_rejects_file_whole(env, tmp_path):
    config, workspace, store = env
    path = write(tmp_path / "access.log", access_lines(100))
    with pytest.raises(InputError, match=r"none of 102 lines could be read as auth") as err:
        ingest_file(str(path), store, config, workspace, options=IngestOptions(format="auth"))
    assert err.value.location.line == 1
    assert "--format" in (err.value.hint or "")
    assert store.count() == 0


def test_too_many_bad_lines_rejects_file(env, tmp_path):
    config, workspace, store = env
    lines = access_lines(40)
    mixed = [x for pair in zip(lines, ["garbage line"] * 40 + ["more garbage"] * 10, strict=False) for x in pair]
    path = write(tmp_path / "mixed.log", mixed + ["junk"] * 5)
    with pytest.raises(InputError, match=r"of \d+ lines could not be read as combined"):
        ingest_file(str(path), store, config, workspace, options=IngestOptions(format="combined"))
    assert store.count() == 0


def test_bad_lines_counted_sampled_and_ingest_goes_on(env, tmp_path):
    config, workspace, store = env
    lines = access_lines(200)
    lines.insert(10, "this is not an access log line")
    lines.insert(50, "x" * (1024 * 1024))  # a 1 MB line
    raw = ("\n".join(lines) + "\n").encode()
    raw = raw.replace(b"this is not", b"this \xff\xfe not")  # invalid UTF-8 (kept escaped, still no log line)
    path = tmp_path / "access.log"
    path.write_bytes(raw)
    f = ingest_file(str(path), store, config, workspace)
    assert f.bad_lines == 2
    assert [(b.line, b.reason.split(" ")[0]) for b in f.bad_samples] == [(11, "does"), (51, "line")]
    assert f.bad_samples[0].sample == "this \\xff\\xfe not an access log line"
    assert f.events == len(lines) - 2 == store.count()
    assert f.samples_file is not None and f.samples_file.parent == workspace.rejects
    assert oct(f.samples_file.stat().st_mode & 0o777) == "0o600"
    assert "line 51: line longer than 32,764 bytes" in f.samples_file.read_text()


def test_binary_garbage_is_not_a_log(env, tmp_path):
    config, workspace, store = env
    path = tmp_path / "blob.bin"
    path.write_bytes(random.Random(3).randbytes(200_000))
    with pytest.raises(InputError, match="not a text log file"):
        ingest_file(str(path), store, config, workspace)
    assert store.count() == 0


def test_stdin_and_several_files_partial(env, tmp_path):
    config, workspace, store = env
    good = write(tmp_path / "a.log", access_lines(30))
    summary = ingest([str(good), str(tmp_path / "missing.log"), "-"], store, config, workspace,
                     options=IngestOptions(stdin_name="pipe"),
                     stdin=io.BytesIO(("\n".join(access_lines(10, seed=9)) + "\n").encode()))
    assert [f.source for f in summary.files] == ["a.log", "pipe"]
    assert len(summary.failures) == 1 and "missing.log" in str(summary.failures[0])
    assert store.count() == 31 + 11


def test_timestamps_are_utc_ms_and_files_private(env, tmp_path):
    config, workspace, store = env
    line = ('203.0.113.9 - alice [17/May/2015:10:05:03 +0200] "POST /login HTTP/1.1" 401 12 "-" "curl/8.0"')
    ingest([str(write(tmp_path / "x.log", [line]))], store, config, workspace,
           options=IngestOptions(remote_user_field="user.id"))
    row = store.query('SELECT "@timestamp", "user.id", "event.action", "event.outcome", "event.dataset" FROM events')
    assert row == [(datetime(2015, 5, 17, 8, 5, 3, tzinfo=UTC), "alice", "login", "failure", "web")]
    assert os.stat(workspace.events_db).st_mode & 0o777 == 0o600
    assert workspace.root.stat().st_mode & 0o777 == 0o700


def test_parallel_parsing_gives_the_same_store(env, tmp_path, monkeypatch):
    """Worker processes parse large access logs; the stored events are exactly the in-process ones."""
    import breachkit.logs.ingest as ingest_module

    config, workspace, store = env
    lines = access_lines(3000, seed=5)
    lines.insert(777, "not a log line")
    path = write(tmp_path / "big.log", lines)
    sequential = ingest_file(str(path), store, config, workspace)
    expected = store.query('SELECT * EXCLUDE ("log.file.path") FROM events ORDER BY "event.id"')
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 0)
    small_batches = config.model_copy(update={"ingest": config.ingest.model_copy(
        update={"workers": 2, "batch_size": 500})})
    with LocalStore(tmp_path / "parallel.duckdb") as other:
        parallel = ingest_file(str(path), other, small_batches, workspace)
        assert other.query('SELECT * EXCLUDE ("log.file.path") FROM events ORDER BY "event.id"') == expected
    assert (parallel.lines, parallel.events, parallel.bad_lines) == (sequential.lines, sequential.events, 1)
    assert parallel.bad_samples == sequential.bad_samples


def test_raw_lines_are_stored_zstd_compressed(env, tmp_path):
    """The raw line is the store's largest column: zstd, not DuckDB's default string compressions (which would
    write it slower and 3× larger), and still read back byte for byte."""
    config, workspace, store = env
    lines = access_lines(130_000 // 51 * 50)  # over one row group (122,880 rows): segments get written
    ingest([str(write(tmp_path / "access.log", lines))], store, config, workspace)
    store.con.execute("CHECKPOINT")
    used = {r[0] for r in store.query(
        "SELECT DISTINCT compression FROM pragma_storage_info('events') "
        "WHERE column_name = 'log.original' AND segment_type = 'VARCHAR'")}
    assert used == {"ZSTD"}
    stored = store.query('SELECT "log.original" FROM events ORDER BY "log.file.line"')
    assert [r[0] for r in stored] == lines
