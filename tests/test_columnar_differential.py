"""The columnar (bulk) parse path against the Python parsers, its reference: identical stored events (every
column, ids included) and identical summaries (lines, events, bad lines with their samples, flags) on seeded
hostile input, through plain files, gzip and stdin, with small blocks so that lines meet block and read
boundaries; and on the real Apache logs in ../shared/data."""

from __future__ import annotations

import gzip
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from breachkit.config import Config, load_config
from breachkit.errors import InputError
from breachkit.logs import columnar, reader
from breachkit.logs.ingest import FileSummary, IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.workspace import Workspace
from tests.columnar_data import access_lines, join, json_lines

REAL = Path(__file__).resolve().parents[2] / "shared/data/logs"


@dataclass
class Outcome:
    summary: FileSummary | None
    error: str | None
    rows: list[tuple[Any, ...]]


def config_for(tmp: Path, *, bulk: bool, **ingest: Any) -> Config:
    config = load_config(environ={}, cwd=tmp)
    return config.model_copy(update={"ingest": config.ingest.model_copy(update={"columnar": bulk, **ingest})})


def read(tmp: Path, name: str, path: str, *, bulk: bool, options: IngestOptions, data: bytes | None = None,
         **ingest: Any) -> Outcome:
    workspace = Workspace(tmp / f"ws-{name}-{bulk}").ensure()
    with LocalStore(workspace.events_db) as store:
        try:
            summary = ingest_file(path, store, config_for(tmp, bulk=bulk, **ingest), workspace, options=options,
                                  stdin=io.BytesIO(data) if data is not None else None)
        except InputError as exc:
            return Outcome(None, str(exc), [])
        rows = store.query('SELECT * FROM events ORDER BY "log.file.line", "event.id"')
    assert summary.parser == ("columnar" if bulk else "python")
    return Outcome(summary, None, rows)


def assert_same(tmp: Path, name: str, path: str, *, options: IngestOptions, data: bytes | None = None,
                **ingest: Any) -> Outcome:
    python = read(tmp, name, path, bulk=False, options=options, data=data, **ingest)
    bulk = read(tmp, name, path, bulk=True, options=options, data=data, **ingest)
    assert bulk.error == python.error
    if python.summary is None:
        return bulk
    assert bulk.summary is not None
    for attr in ("format", "lines", "events", "bad_lines", "bad_samples", "added", "already_present", "flagged",
                 "bytes_read"):
        assert getattr(bulk.summary, attr) == getattr(python.summary, attr), attr
    assert len(bulk.rows) == len(python.rows)
    for ours, theirs in zip(bulk.rows, python.rows, strict=True):
        assert ours == theirs
    return bulk


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few hundred lines and 64 KiB reads: lines meet every boundary in small inputs."""
    monkeypatch.setattr(columnar, "BLOCK_LINES", 300)
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 1 << 17)
    monkeypatch.setattr(reader, "CHUNK_BYTES", 1 << 16)


HOW = {1: "in this process", 2: "on 2 threads of this process"}  # ingest.workers → where the blocks are parsed


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["combined", "common"])
def test_access_logs_read_alike(tmp_path: Path, fmt: str, seed: int, workers: int) -> None:
    rng = random.Random(seed)
    data = join(access_lines(1500, seed, combined=fmt == "combined"), rng, bom=seed == 2)
    path = tmp_path / "access.log"
    path.write_bytes(data)
    out = assert_same(tmp_path, "a", str(path), options=IngestOptions(format=fmt), max_bad_ratio=1.0,
                      workers=workers)
    assert out.summary is not None and out.summary.events > 500
    assert out.summary.bad_lines > 0 and out.summary.flagged  # the hostile families were met
    note = out.summary.notes[-1]
    assert note.startswith(f"read in bulk (columnar, {HOW[workers]}):") and "of 1," in note


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("seed", [4, 5, 6])
def test_json_lines_read_alike(tmp_path: Path, seed: int, workers: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "api.jsonl"
    path.write_bytes(join(json_lines(1500, seed), rng, bom=seed == 5))
    out = assert_same(tmp_path, "j", str(path), options=IngestOptions(format="jsonl"), max_bad_ratio=1.0,
                      workers=workers)
    assert out.summary is not None and out.summary.events > 500 and out.summary.bad_lines > 0
    assert f"(columnar, {HOW[workers]})" in out.summary.notes[-1]


@pytest.mark.parametrize("fmt", ["combined", "jsonl"])
def test_worker_processes_read_alike(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columnar, "PARALLEL_MIN_BYTES", 0)
    lines = json_lines(1200, 8) if fmt == "jsonl" else access_lines(1200, 8)
    path = tmp_path / "input.log"
    path.write_bytes(join(lines, random.Random(8)))
    out = assert_same(tmp_path, "w", str(path), options=IngestOptions(format=fmt), max_bad_ratio=1.0, workers=3)
    assert out.summary is not None and "in 2 worker processes" in out.summary.notes[-1]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_json_lines_with_a_zone_and_mapping(tmp_path: Path, zone: str) -> None:
    lines = json_lines(600, 7)
    lines += [b'{"ts": "2026-03-29T02:30:00", "client": {"addr": "192.0.2.1"}, "u": 5}',  # a gap in Berlin
              b'{"ts": "2026-10-25T02:30:00", "client": {"addr": "::1"}, "u": "x"}',  # a fold in Berlin
              b'{"ts": 1772409600, "client": "flat", "u": true}']
    path = tmp_path / "mapped.jsonl"
    path.write_bytes(join(lines, random.Random(7)))
    mapping = {"@timestamp": "ts", "source.ip": "client.addr", "user.id": "u"}
    config = load_config(environ={}, cwd=tmp_path)
    jsonl = config.ingest.jsonl.model_copy(update={"mapping": mapping})
    assert_same(tmp_path, "m", str(path), options=IngestOptions(format="jsonl", timezone=zone),
                max_bad_ratio=1.0, jsonl=jsonl)


def test_json_lines_with_a_timestamp_format(tmp_path: Path) -> None:
    lines = [b'{"@timestamp": "02.03.2026 10:11:12", "user.id": "a"}', b'{"@timestamp": 1772409600}',
             b'{"@timestamp": "1772409600"}', b'{"@timestamp": "2026-03-02T00:00:00Z"}'] * 20
    path = tmp_path / "fmt.jsonl"
    path.write_bytes(b"\n".join(lines))
    config = load_config(environ={}, cwd=tmp_path)
    jsonl = config.ingest.jsonl.model_copy(update={"timestamp_format": "%d.%m.%Y %H:%M:%S"})
    assert_same(tmp_path, "f", str(path), options=IngestOptions(format="jsonl", timezone="Asia/Tokyo"),
                max_bad_ratio=1.0, jsonl=jsonl)


@pytest.mark.parametrize("field", ["user.id", "user.email"])
def test_remote_user_field_and_targets(tmp_path: Path, field: str) -> None:
    path = tmp_path / "targets.log"
    path.write_bytes(join(access_lines(800, 9), random.Random(9)))
    assert_same(tmp_path, "t", str(path), options=IngestOptions(format="combined", remote_user_field=field),
                max_bad_ratio=1.0)


def test_gzip_and_stdin(tmp_path: Path) -> None:
    data = join(access_lines(900, 11), random.Random(11))
    packed = tmp_path / "access.log.gz"
    packed.write_bytes(gzip.compress(data))
    assert_same(tmp_path, "gz", str(packed), options=IngestOptions(format="auto"), max_bad_ratio=1.0)
    out = assert_same(tmp_path, "in", "-", options=IngestOptions(format="combined", stdin_name="web"),
                      data=gzip.compress(data), max_bad_ratio=1.0)
    assert out.summary is not None and out.summary.source == "web"


def test_truncated_gzip_and_too_many_bad_lines_store_nothing(tmp_path: Path) -> None:
    data = gzip.compress(join(access_lines(2000, 12), random.Random(12)))
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    out = assert_same(tmp_path, "cut", str(cut), options=IngestOptions(format="combined"), max_bad_ratio=1.0)
    assert out.error is not None and "truncated" in out.error
    bad = tmp_path / "bad.log"
    bad.write_bytes(join(access_lines(600, 13), random.Random(13)))
    out = assert_same(tmp_path, "bad", str(bad), options=IngestOptions(format="combined"), max_bad_ratio=0.01)
    assert out.error is not None and "could not be read" in out.error


@pytest.mark.parametrize("fmt", ["combined", "jsonl"])
def test_a_block_failing_on_a_parsing_thread_stores_nothing_and_leaves_no_scratch(
        tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error while a pool thread converts a block (here: the fourth block) reaches the ingest as itself; the
    input stores nothing, the blocks in flight finish, and every converter is closed (no JSON scratch file)."""
    from breachkit.errors import ServiceError

    path = tmp_path / "input.log"
    path.write_bytes(join(json_lines(1500, 9) if fmt == "jsonl" else access_lines(1500, 9), random.Random(9)))
    convert, seen = columnar._Converter.convert, []

    def failing(self: Any, raw: Any, ctx: Any, line_convert: Any) -> Any:
        seen.append(raw)
        if len(seen) == 4:
            raise ServiceError("the fourth block failed")
        return convert(self, raw, ctx, line_convert)

    monkeypatch.setattr(columnar._Converter, "convert", failing)
    workspace = Workspace(tmp_path / "ws").ensure()
    with LocalStore(workspace.events_db) as store, pytest.raises(ServiceError, match="fourth block"):
        ingest_file(str(path), store, config_for(tmp_path, bulk=True, workers=2), workspace,
                    options=IngestOptions(format=fmt))
    with LocalStore(workspace.events_db) as store:
        assert store.count() == 0
    assert len(seen) >= 4 and not list(workspace.tmp.iterdir())


def test_over_long_lines_at_read_boundaries(tmp_path: Path) -> None:
    """Lines just under and over the readable length, with CR before the newline, across 64 KiB reads."""
    limit = reader.MAX_LINE_BYTES
    ok = b'192.0.2.1 - - [02/Mar/2026:01:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "ua"'
    lines = []
    for size in (limit - 1, limit, limit + 1, limit + 2, 3 * limit, 70_000, 140_000):
        filler = b"A" * max(0, size - len(ok) - 1)
        lines += [ok, ok.replace(b"/x", b"/x" + filler)[:size], ok + b"\r", b"B" * size + b"\r"]
    path = tmp_path / "long.log"
    path.write_bytes(b"\n".join(lines) + b"\n" + b"C" * 100_000)  # the last line has no newline
    assert_same(tmp_path, "long", str(path), options=IngestOptions(format="combined"), max_bad_ratio=1.0)


def test_reingest_and_replace_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "api.jsonl"
    path.write_bytes(join(json_lines(700, 14), random.Random(14)))
    config = config_for(tmp_path, bulk=True, max_bad_ratio=1.0)
    workspace = Workspace(tmp_path / "ws").ensure()
    with LocalStore(workspace.events_db) as store:
        first = ingest_file(str(path), store, config, workspace, options=IngestOptions(format="jsonl"))
        again = ingest_file(str(path), store, config, workspace, options=IngestOptions(format="jsonl"))
        replaced = ingest_file(str(path), store, config, workspace,
                               options=IngestOptions(format="jsonl", replace=True))
        assert store.count() == first.events
    assert first.added == first.events and again.added == 0 and again.already_present == first.events
    assert replaced.replaced == first.events and replaced.removed == 0


def test_python_path_is_forced_by_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(join(access_lines(50, 15), random.Random(15)))
    out = read(tmp_path, "py", str(path), bulk=False, options=IngestOptions(format="combined"), max_bad_ratio=1.0)
    assert out.summary is not None and not any("columnar" in note for note in out.summary.notes)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["elastic-examples/apache_logs", "basjes-hackers-access/hackers-access.log"])
def test_real_apache_logs_read_alike(tmp_path: Path, name: str) -> None:
    path = REAL / name
    if not path.is_file():
        pytest.fail(f"{path} is missing (realdata)")
    out = assert_same(tmp_path, "real", str(path), options=IngestOptions(format="auto"))
    assert out.summary is not None and out.summary.events > 3000
    # the common case is read in bulk: the line parser only sees the odd lines
    fallback = int(out.summary.notes[-1].split(":")[1].split(" of ")[0].replace(",", ""))
    assert fallback < out.summary.lines * 0.05


@pytest.mark.parametrize("seed", range(6))
def test_block_reader_gives_line_readers_lines(tmp_path: Path, seed: int) -> None:
    """Line numbers, over-long lines (split across reads or not), CR, the byte-order mark, bytes that are not
    UTF-8 and a last line without a newline: BlockReader's blocks hold exactly LineReader's lines."""
    from breachkit.logs.columnar.blocks import BlockReader

    rng = random.Random(seed)
    pieces = [b"", b"\r", b"plain", b"\xff\xfe", b"\xef\xbb\xbfbom", b"\xc3\xa9t\xc3\xa9", b"tab\tx", b"\x00"]
    lines = []
    for _ in range(400):
        size = rng.choice([0, 1, 10, 100, reader.MAX_LINE_BYTES - 1, reader.MAX_LINE_BYTES, reader.MAX_LINE_BYTES + 1,
                           70_000])
        body = b"".join(rng.choice(pieces) for _ in range(3)) + b"y" * size
        lines.append(body + rng.choice([b"", b"\r"]))
    data = (b"\xef\xbb\xbf" if seed % 2 else b"") + b"\n".join(lines) + rng.choice([b"", b"\n"])
    path = tmp_path / "mixed.bin"
    path.write_bytes(gzip.compress(data) if seed % 3 == 0 else data)
    with reader.LineReader(str(path)) as line_reader:
        expected = list(line_reader)
    with BlockReader(str(path), max_lines=rng.choice([1, 7, 300]), max_bytes=1 << 16) as block_reader:
        got = [block.line(i) for block in block_reader.blocks() for i in range(len(block))]
        assert block_reader.bytes_read == line_reader.bytes_read
    assert got == expected
