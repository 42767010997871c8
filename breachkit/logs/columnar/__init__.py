"""Columnar ingest: access logs and JSON lines parsed in bulk, giving exactly the events of the line parsers.

Why. The Python parsers make a dict per event and a Python object per field; at tens of millions of lines a
day that is most of the ingest time. Here a block of lines (`blocks.BlockReader`: LineReader's semantics,
up to ~16 MiB at a time, so memory is bounded by the block, not the input) is parsed column by column with
Arrow's kernels (RE2 regular expressions, casts, arithmetic) and, for JSON, DuckDB's reader.

The reference stays the Python parser. A line is only read in bulk when its reading there is known to be
the parser's own (`access`, `jsonl` say when); every other line of the block — lenient or ambiguous
quotes, escapes, control characters, bytes that are not UTF-8, over-long lines, odd times, blank lines —
goes through the format's parser and `finish`, exactly as on the line-by-line path (the caller's `convert`),
and is counted (`BulkParse.fallback`). Values that only breachkit's own functions compute exactly (the
canonical address, the action and target rules, the URL extension, other time forms) are computed by those
functions once per distinct value. tests/test_columnar_differential.py holds both paths to the same events
and the same bad-line reports on generated hostile input and on real logs.

`ingest.columnar = false` in the configuration reads every input line by line.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from breachkit.config import IngestConfig
from breachkit.logs.columnar import access
from breachkit.logs.columnar import vectors as v
from breachkit.logs.columnar.blocks import BlockReader, RawBlock, decode
from breachkit.logs.columnar.derived import add_derived
from breachkit.logs.columnar.jsonl import JsonColumns
from breachkit.logs.finish import BadLine
from breachkit.logs.parsers import make_parser
from breachkit.logs.parsers.base import Parser, Record
from breachkit.logs.parsers.structured import JsonLinesParser
from breachkit.logs.parsers.web import WebParser
from breachkit.logs.reader import STDIN, LineReader

__all__ = ["BULK_FORMATS", "BulkChunk", "BulkParse", "bulk_parse"]

BULK_FORMATS: Final = frozenset({"combined", "common", "jsonl"})
# A block ends after the 1 MiB read in which it reached this many lines or bytes (tests make them small).
BLOCK_LINES = 100_000
BLOCK_BYTES = 16 << 20
# Inputs from this size on are parsed in worker processes (below, starting them costs more than they save).
PARALLEL_MIN_BYTES = 32 << 20
THREADS = 2  # blocks parsed at once in this process when it parses (`BulkParse.threads`)


class Context(Protocol):
    """What a block needs of the ingest context (`ingest._Context`)."""

    @property
    def source(self) -> str: ...
    @property
    def dataset(self) -> str: ...


class Converted(Protocol):
    """The line-by-line conversion of some records (`ingest._Chunk`)."""

    @property
    def batch(self) -> pa.RecordBatch | None: ...
    @property
    def bad(self) -> list[BadLine]: ...
    @property
    def bad_count(self) -> int: ...
    @property
    def lines(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def flagged(self) -> dict[str, int]: ...


C = TypeVar("C", bound=Context)


@dataclass(frozen=True)
class BulkChunk:
    batch: pa.RecordBatch | None
    bad: list[BadLine]
    bad_count: int
    lines: int
    events: int
    flagged: dict[str, int] = field(default_factory=dict)


class _Converter:
    """Turns blocks into chunks of finished events, in this process or in a worker (one per process: it
    holds the parser and, for JSON, a DuckDB connection and a scratch file)."""

    def __init__(self, fmt: str, parser: Parser, tmp: Path, user_field: str) -> None:
        self.fmt = fmt
        self.parser = parser
        self.user_field = user_field
        self.json = JsonColumns(parser, tmp) if isinstance(parser, JsonLinesParser) else None
        self.decoder = LineReader(STDIN, stdin=io.BytesIO())  # LineReader's line decoding, for `decode`

    def close(self) -> None:
        if self.json is not None:
            self.json.close()

    def convert(self, raw: RawBlock, ctx: C, convert: Callable[[Iterable[Record], C], Converted]) -> Converted_:
        """(the block's chunk, how many of its lines the Python parser read)."""
        block = decode(raw, self.decoder)
        text = block.text
        short = v.short_lines(text)
        if block.special:
            short = pc.and_(short, pa.array([i not in block.special for i in range(len(block))], pa.bool_()))
        if self.json is not None:
            fast, columns = self.json.parse(text, block.raws, short)
        else:
            assert isinstance(self.parser, WebParser)
            fast, columns = access.parse(self.fmt, self.parser, text, short, self.user_field)
        keep = add_derived(columns, pc.sum(fast).as_py() or 0)
        if not pc.all(keep).as_py():  # a derived value finish would escape: the line parser reads the line
            fast = v.narrow(fast, keep)
            columns = {name: pc.filter(column, keep) for name, column in columns.items()}
        indices = pc.indices_nonzero(fast)
        positions = indices.to_pylist()
        rows = len(positions)
        numbers = pc.add(pc.cast(indices, pa.int64()), block.first)
        raws = block.raws
        columns["event.id"] = v.event_ids(ctx.source, numbers.to_pylist(), [raws[i] for i in positions])
        columns["log.file.path"] = v.repeat(ctx.source, rows)
        columns["log.file.line"] = numbers
        columns["log.original"] = pc.filter(text, fast)
        given = columns.get("event.dataset")
        columns["event.dataset"] = v.repeat(ctx.dataset, rows) if given is None else pc.coalesce(given, ctx.dataset)
        batch = v.batch_of(columns, rows)
        # The lines the bulk reading leaves to the parser (see the module docstring), read line by line.
        slow = [block.line(i) for i in pc.indices_nonzero(pc.invert(fast)).to_pylist()]
        done = convert(self.parser.records(iter(slow)), ctx) if slow else None
        if done is None:
            return BulkChunk(batch if rows else None, [], 0, rows, rows), 0
        if done.batch is None:
            merged: pa.RecordBatch | None = batch if rows else None
        elif not rows:
            merged = done.batch
        else:
            table = pa.Table.from_batches([batch, done.batch])
            merged = table.take(pc.sort_indices(table["log.file.line"])).combine_chunks().to_batches()[0]
        return BulkChunk(merged, list(done.bad), done.bad_count, rows + done.lines, rows + done.events,
                         dict(done.flagged)), done.lines


Converted_ = tuple["BulkChunk", int]
_worker: _Converter | None = None


def _init_worker(fmt: str, cfg: IngestConfig, user_field: str, zone: str, tmp: Path) -> None:
    global _worker  # one converter per worker process
    _worker = _Converter(fmt, make_parser(fmt, cfg, remote_user_field=user_field, timezone=zone), tmp, user_field)
    atexit.register(_worker.close)


def _work(raw: RawBlock, ctx: Any, convert: Callable[[Iterable[Record], Any], Converted]) -> Converted_:
    assert _worker is not None
    return _worker.convert(raw, ctx, convert)


class BulkParse:
    """One input read in bulk. `bytes_read`/`compressed` as LineReader's; `fallback` counts the lines the
    Python parser read, `lines` all lines read (blank ones aside)."""

    def __init__(self, path: str, fmt: str, parser: Parser, cfg: IngestConfig, tmp: Path, user_field: str,
                 zone: str, size: int) -> None:
        self.fmt = fmt
        self.cfg = cfg
        self.user_field = user_field
        self.zone = zone
        self.tmp = tmp
        self.fallback = 0
        self.lines = 0
        # The main process reads the input and feeds the store (whose insert runs in DuckDB's own threads while
        # the next blocks are parsed): it keeps one of `ingest.workers` for itself; with two or fewer, parsing
        # here as well is faster than sending blocks to a second process competing for the same cores.
        self.workers = cfg.workers - 1 if cfg.workers > 2 and size >= PARALLEL_MIN_BYTES else 0
        # Parsing here with two workers allowed: two blocks at once on two threads. Arrow's kernels and DuckDB's
        # JSON reader release the GIL, so the two overlap each other and the store's insert (the Python parts,
        # ids and glue, take turns). bench/ingest.py, 1M lines on 2 cores: combined 5.8 s instead of 6.3-7.3 s,
        # JSON lines 9.2 s instead of 10.7 s, for about one more block in memory (+120 MB peak).
        self.threads = THREADS if self.workers == 0 and cfg.workers >= THREADS and size > BLOCK_BYTES else 1
        self._reader = BlockReader(path, max_lines=BLOCK_LINES, max_bytes=BLOCK_BYTES)
        self._here = _Converter(fmt, parser, tmp, user_field) if self.workers == 0 and self.threads == 1 else None

    @property
    def bytes_read(self) -> int:
        return self._reader.bytes_read

    @property
    def compressed(self) -> bool:
        return self._reader.compressed

    def close(self) -> None:
        self._reader.close()
        if self._here is not None:
            self._here.close()

    def note(self) -> str:
        how = (f"in {self.workers} worker process{'es' if self.workers > 1 else ''}" if self.workers
               else f"on {self.threads} threads of this process" if self.threads > 1 else "in this process")
        return (f"read in bulk (columnar, {how}): {self.fallback:,} of {self.lines:,} lines needed the line-by-line "
                "parser (quotes, escapes, control characters, bytes that are not UTF-8, other forms)")

    def chunks(self, ctx: C, convert: Callable[[Iterable[Record], C], Converted]) -> Iterator[BulkChunk]:
        """The input's events block by block, in line order; `convert` is the line-by-line conversion of the
        records the bulk reading leaves to the parser (`ingest._convert`, a module-level function: it goes to
        the workers by name)."""
        for chunk, fallback in self._converted(ctx, convert):
            self.lines += chunk.lines
            self.fallback += fallback
            yield chunk

    def _converted(self, ctx: C, convert: Callable[[Iterable[Record], C], Converted]) -> Iterator[Converted_]:
        raws = self._reader.raw_blocks()
        if self._here is not None:
            for raw in raws:
                yield self._here.convert(raw, ctx, convert)
            return
        if self.workers == 0:
            yield from self._on_threads(raws, ctx, convert)
            return
        # Workers come from a forkserver: never a fork of a process running DuckDB threads. At most two
        # blocks per worker are in flight, so memory stays bounded.
        with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"),
                                 initializer=_init_worker,
                                 initargs=(self.fmt, self.cfg, self.user_field, self.zone, self.tmp)) as pool:
            pending: deque[Future[Converted_]] = deque()
            while True:
                while len(pending) < 2 * self.workers and (block := next(raws, None)) is not None:
                    pending.append(pool.submit(_work, block.packed(), ctx, convert))
                if not pending:
                    return
                yield pending.popleft().result()

    def _on_threads(self, raws: Iterator[RawBlock], ctx: C,
                    convert: Callable[[Iterable[Record], C], Converted]) -> Iterator[Converted_]:
        """`self.threads` blocks at a time, each converted on a pool thread with a converter no other thread uses
        meanwhile (a JSON converter holds a DuckDB connection and a scratch file); in input order."""
        idle: queue.SimpleQueue[_Converter] = queue.SimpleQueue()
        made: list[_Converter] = []

        def work(raw: RawBlock) -> Converted_:
            try:
                converter = idle.get_nowait()
            except queue.Empty:  # a thread's first block: a parser of its own, made as a worker process makes it
                parser = make_parser(self.fmt, self.cfg, remote_user_field=self.user_field, timezone=self.zone)
                converter = _Converter(self.fmt, parser, self.tmp, self.user_field)
                made.append(converter)
            try:
                return converter.convert(raw, ctx, convert)
            finally:
                idle.put(converter)

        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="breachkit-parse") as pool:
                pending: deque[Future[Converted_]] = deque()
                while True:
                    while len(pending) < self.threads and (block := next(raws, None)) is not None:
                        pending.append(pool.submit(work, block))
                    if not pending:
                        return
                    yield pending.popleft().result()
        finally:  # the pool has finished every block it took (also when the caller stopped reading)
            for converter in made:
                converter.close()


def applies(fmt: str, cfg: IngestConfig) -> bool:
    return fmt in BULK_FORMATS and cfg.columnar


@contextlib.contextmanager
def bulk_parse(path: str, fmt: str, parser: Parser, cfg: IngestConfig, tmp: Path, user_field: str, zone: str,
               size: int) -> Iterator[BulkParse | None]:
    """The bulk reading of one input (`size` bytes, read in worker processes when large), or None where the
    line parsers read it (see `applies`)."""
    if not applies(fmt, cfg):
        yield None
        return
    bulk = BulkParse(path, fmt, parser, cfg, tmp, user_field, zone, size)
    try:
        yield bulk
    finally:
        bulk.close()
