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

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from breachkit.config import IngestConfig
from breachkit.logs.columnar import access
from breachkit.logs.columnar import vectors as v
from breachkit.logs.columnar.blocks import Block, BlockReader
from breachkit.logs.columnar.jsonl import JsonColumns
from breachkit.logs.finish import BadLine
from breachkit.logs.parsers.base import Parser, Record
from breachkit.logs.parsers.structured import JsonLinesParser
from breachkit.logs.parsers.web import WebParser

__all__ = ["BULK_FORMATS", "BulkChunk", "BulkParse", "bulk_parse"]

BULK_FORMATS: Final = frozenset({"combined", "common", "jsonl"})
# A block ends after the 1 MiB read in which it reached this many lines or bytes (tests make them small).
BLOCK_LINES = 100_000
BLOCK_BYTES = 16 << 20


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


class BulkParse:
    """One input read in bulk. `bytes_read`/`compressed` as LineReader's; `fallback` counts the lines the
    Python parser read."""

    def __init__(self, path: str, fmt: str, parser: Parser, cfg: IngestConfig, tmp: Path,
                 remote_user_field: str) -> None:
        self.fmt = fmt
        self.parser = parser
        self.user_field = remote_user_field
        self.fallback = 0
        self.lines = 0
        self._reader = BlockReader(path, max_lines=BLOCK_LINES, max_bytes=BLOCK_BYTES)
        self._json = JsonColumns(parser, tmp) if isinstance(parser, JsonLinesParser) else None

    @property
    def bytes_read(self) -> int:
        return self._reader.bytes_read

    @property
    def compressed(self) -> bool:
        return self._reader.compressed

    def close(self) -> None:
        self._reader.close()
        if self._json is not None:
            self._json.close()

    def note(self) -> str:
        if not self.lines:
            return "read in bulk (columnar)"
        return (f"read in bulk (columnar): {self.fallback:,} of {self.lines:,} lines needed the line-by-line "
                "parser (quotes, escapes, control characters, bytes that are not UTF-8, other forms)")

    def chunks(self, ctx: C, convert: Callable[[Iterable[Record], C], Converted]) -> Iterator[BulkChunk]:
        """The input's events block by block, in line order; `convert` is the line-by-line conversion of the
        records the bulk reading leaves to the parser (`ingest._convert`)."""
        for block in self._reader.blocks():
            yield self._block(block, ctx, convert)

    def _block(self, block: Block, ctx: C, convert: Callable[[Iterable[Record], C], Converted]) -> BulkChunk:
        text = block.text
        assert text is not None
        short = v.short_lines(text)
        if block.special:
            short = pc.and_(short, pa.array([i not in block.special for i in range(len(block))], pa.bool_()))
        if self._json is not None:
            fast, columns = self._json.parse(text, block.raws, short)
        else:
            assert isinstance(self.parser, WebParser)
            fast, columns = access.parse(self.fmt, self.parser, text, short, self.user_field)
        positions = pc.indices_nonzero(fast).to_pylist()
        rows = len(positions)
        numbers = [block.first + i for i in positions]
        columns["event.id"] = v.event_ids(ctx.source, numbers, [block.raws[i] for i in positions])
        columns["log.file.path"] = pa.array([ctx.source] * rows, pa.string()) if rows else pa.array([], pa.string())
        columns["log.file.line"] = pa.array(numbers, pa.int64())
        columns["log.original"] = pc.filter(text, fast)
        given = columns.get("event.dataset")
        columns["event.dataset"] = pa.array([ctx.dataset] * rows, pa.string()) if given is None else \
            pc.coalesce(given, ctx.dataset)
        batch = v.batch_of(columns, rows)
        slow = [block.line(i) for i in pc.indices_nonzero(pc.invert(fast)).to_pylist()]
        done = convert(self.parser.records(iter(slow)), ctx) if slow else None
        self.lines += rows + (done.lines if done else 0)
        if done is None or done.batch is None:
            merged: pa.RecordBatch | None = batch if rows else None
        elif not rows:
            merged = done.batch
        else:
            table = pa.Table.from_batches([batch, done.batch])
            table = table.take(pc.sort_indices(table["log.file.line"])).combine_chunks()
            merged = table.to_batches()[0]
        if done is None:
            return BulkChunk(merged, [], 0, rows, rows)
        self.fallback += done.lines
        return BulkChunk(merged, list(done.bad), done.bad_count, rows + done.lines, rows + done.events,
                         dict(done.flagged))


def applies(fmt: str, cfg: IngestConfig) -> bool:
    return fmt in BULK_FORMATS and cfg.columnar


@contextlib.contextmanager
def bulk_parse(path: str, fmt: str, parser: Parser, cfg: IngestConfig, tmp: Path,
               remote_user_field: str) -> Iterator[BulkParse | None]:
    """The bulk reading of one input, or None where the line parsers read it (see `applies`)."""
    if not applies(fmt, cfg):
        yield None
        return
    bulk = BulkParse(path, fmt, parser, cfg, tmp, remote_user_field)
    try:
        yield bulk
    finally:
        bulk.close()
