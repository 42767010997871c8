"""Ingestion: log files → parsed events → an event store (embedded DuckDB or Elasticsearch).

Each input is all-or-nothing. It is parsed completely into the store's staging area first (a staging
table for DuckDB; Elasticsearch and OpenSearch write as they read and remove the run's documents on
failure, see `breachkit.logs.search`); only when the whole input was read — no truncated gzip, not more
bad lines than `ingest.max_bad_ratio` — is it committed. Event ids are stable
(`schema.event_id`), so committing the same input again adds nothing.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

import pyarrow as pa

from breachkit.config import Config, IngestConfig
from breachkit.errors import BreachkitError, InputError, PartialFailure, Problem
from breachkit.logs.parsers import FORMATS, Parser, Record, detect_format, make_parser
from breachkit.logs.reader import STDIN, Line, LineReader, source_name
from breachkit.logs.schema import ARROW_SCHEMA, Event, event_id, url_extension
from breachkit.workspace import Workspace, write_private_text

# (phase, done, total or None): "read" counts input bytes, "load" counts events written.
ProgressCallback = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class LoadResult:
    added: int
    already_present: int
    rejected: int = 0  # events the store refused (per-document errors)
    errors: list[Problem] = field(default_factory=list)  # the first of those errors, with their reasons


class Loader(Protocol):
    """One input's way into a store: `add` stages batches, `commit` makes them visible, `abort` drops them."""

    def add(self, batch: pa.RecordBatch) -> None: ...
    def commit(self, progress: ProgressCallback | None = None) -> LoadResult: ...
    def abort(self) -> None: ...


class EventStore(Protocol):
    engine: str

    def begin(self, source: str) -> Loader: ...


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    sample: str


@dataclass(frozen=True)
class FileSummary:
    path: str
    source: str
    format: str
    lines: int
    events: int
    bad_lines: int
    bad_samples: tuple[BadLine, ...]
    samples_file: Path | None
    added: int
    already_present: int
    seconds: float
    bytes_read: int


@dataclass(frozen=True)
class IngestSummary:
    engine: str
    files: tuple[FileSummary, ...]
    failures: tuple[Problem, ...] = ()

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def bad_lines(self) -> int:
        return sum(f.bad_lines for f in self.files)


@dataclass(frozen=True)
class IngestOptions:
    format: str = "auto"
    dataset: str | None = None  # default: the format's (web for access logs, auth, api for JSON…)
    year: int | None = None  # syslog lines have no year: default from the file's mtime
    remote_user_field: str = "user.name"  # where %u of access logs goes (user.name, user.id, user.email)
    stdin_name: str = "stdin"


def _truncate_ms(ts: datetime) -> datetime:
    # Elasticsearch `date` keeps milliseconds; both stores keep exactly that.
    return ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000) if ts.microsecond % 1000 else ts


@dataclass(frozen=True)
class _Context:
    source: str
    dataset: str
    sample_limit: int


@dataclass(frozen=True)
class _Chunk:
    batch: pa.RecordBatch | None
    bad: list[BadLine]
    bad_count: int
    lines: int
    events: int


def _convert(records: Iterable[Record], ctx: _Context) -> _Chunk:
    """Parsed records → one Arrow batch of finished events, plus the bad-line accounting."""
    rows: list[Event] = []
    bad: list[BadLine] = []
    bad_count = lines = 0
    source = ctx.source
    for record in records:
        lines += 1
        if record.events is None:
            bad_count += 1
            if len(bad) < ctx.sample_limit:
                bad.append(BadLine(record.line, record.error or "unreadable", record.raw[:2000]))
            continue
        for k, event in enumerate(record.events):
            raw = record.raw if k == 0 else f"{record.raw}\0{k}"
            event["event.id"] = event_id(source, record.line, raw)
            event["@timestamp"] = _truncate_ms(event["@timestamp"])
            event.setdefault("event.dataset", ctx.dataset)
            if "url.path" in event and "url.extension" not in event:
                extension = url_extension(event["url.path"])
                if extension:
                    event["url.extension"] = extension
            event["log.file.path"] = source
            event["log.file.line"] = record.line
            event["log.original"] = record.raw
            rows.append(event)
    return _Chunk(to_batch(rows) if rows else None, bad, bad_count, lines, len(rows))


# Formats whose lines parse independently of each other can be parsed by worker processes; CSV records
# span lines and need the header, and syslog's year rolls over inside a file: those stay in-process.
_PARALLEL_FORMATS = frozenset({"combined", "common", "jsonl"})
# Below this size starting worker processes costs more than it saves (stdin, size unknown, counts as large).
PARALLEL_MIN_BYTES = 32 << 20
_worker_parser: Parser | None = None


def _init_worker(fmt: str, ingest: IngestConfig, year: int, remote_user_field: str) -> None:
    global _worker_parser  # one parser per worker process
    _worker_parser = make_parser(fmt, ingest, year=year, remote_user_field=remote_user_field)


def _work(lines: list[Line], ctx: _Context) -> _Chunk:
    assert _worker_parser is not None
    return _convert(_worker_parser.records(iter(lines)), ctx)


def _chunks(reader: LineReader, parser: Parser, fmt: str, cfg: IngestConfig, ctx: _Context,
            options: IngestOptions, year: int, size: int | None) -> Iterator[_Chunk]:
    """Chunks of converted events in input order: in worker processes where the format allows it,
    `ingest.workers` > 1 and the input is large (at most 2 chunks per worker in flight, so memory stays
    bounded), else here. Workers come from a forkserver: never a fork of a process running DuckDB threads."""
    if cfg.workers <= 1 or fmt not in _PARALLEL_FORMATS or (size is not None and size < PARALLEL_MIN_BYTES):
        records = parser.records(iter(reader))
        while chunk := list(itertools.islice(records, cfg.batch_size)):
            yield _convert(chunk, ctx)
        return
    lines = iter(reader)
    with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_init_worker, initargs=(fmt, cfg, year, options.remote_user_field)) as pool:
        pending: deque[Future[_Chunk]] = deque()
        while True:
            while len(pending) < 2 * cfg.workers and (block := list(itertools.islice(lines, cfg.batch_size))):
                pending.append(pool.submit(_work, block, ctx))
            if not pending:
                return
            yield pending.popleft().result()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_batch(rows: Sequence[Event]) -> pa.RecordBatch:
    """Events → an Arrow batch of the schema, built column by column (about twice as fast as
    `RecordBatch.from_pylist`; timestamps go in as epoch microseconds, which Arrow converts much faster
    than aware datetimes)."""
    columns = []
    for column in ARROW_SCHEMA:
        values = [row.get(column.name) for row in rows]
        if not any(v is not None for v in values):
            columns.append(pa.nulls(len(rows), column.type))
        elif column.name == "@timestamp":
            micros = pa.array([(v - _EPOCH) // _MICROSECOND for v in values if v is not None], pa.int64())
            columns.append(micros.cast(column.type))
        else:
            columns.append(pa.array(values, type=column.type))
    return pa.RecordBatch.from_arrays(columns, schema=ARROW_SCHEMA)


def _default_year(path: str, now: datetime) -> int:
    if path == STDIN:
        return now.year
    return datetime.fromtimestamp(Path(path).stat().st_mtime, UTC).year


def ingest_file(
    path: str,
    store: EventStore,
    config: Config,
    workspace: Workspace,
    *,
    options: IngestOptions = IngestOptions(),
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    stdin: BinaryIO | None = None,
) -> FileSummary:
    """Parse one input completely and commit it to `store`, or raise and leave the store unchanged."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    cfg = config.ingest
    source = options.stdin_name if path == STDIN else source_name(path)
    with LineReader(path, stdin=stdin) as reader:
        fmt = options.format
        if fmt == "auto":
            fmt = detect_format(path, reader.peek(50), cfg)
        elif fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}", path=path)
        year = options.year if options.year is not None else _default_year(path, now)
        parser = make_parser(fmt, cfg, year=year, remote_user_field=options.remote_user_field)
        dataset = options.dataset or parser.default_dataset
        total = None if path == STDIN else Path(path).stat().st_size
        loader = store.begin(source)
        context = _Context(source, dataset, cfg.bad_sample_size)
        bad: list[BadLine] = []
        bad_count = lines = events = 0
        try:
            for chunk in _chunks(reader, parser, fmt, cfg, context, options, year, total):
                lines += chunk.lines
                events += chunk.events
                bad_count += chunk.bad_count
                bad.extend(chunk.bad[: max(0, cfg.bad_sample_size - len(bad))])
                if chunk.batch is not None:
                    loader.add(chunk.batch)
                if progress is not None:
                    progress("read", reader.bytes_read if not reader.compressed else 0, total)
            _check_quality(path, fmt, lines, events, bad_count, bad, cfg.max_bad_ratio)
            result = loader.commit(progress)
        except BaseException:
            loader.abort()
            raise
    samples_file = _write_samples(workspace, source, now, bad) if bad else None
    if result.rejected:
        raise PartialFailure(
            f"{result.rejected} events were rejected by the store ({result.added} added)",
            path=path,
            problems=result.errors,
        )
    return FileSummary(
        path=path, source=source, format=fmt, lines=lines, events=events, bad_lines=bad_count,
        bad_samples=tuple(bad), samples_file=samples_file, added=result.added,
        already_present=result.already_present, seconds=time.perf_counter() - started,
        bytes_read=reader.bytes_read,
    )


def _check_quality(path: str, fmt: str, lines: int, events: int, bad_count: int, bad: Sequence[BadLine],
                   max_ratio: float) -> None:
    if lines and (events == 0 or bad_count / lines > max_ratio):
        first = bad[0] if bad else None
        detail = f"; first at line {first.line}: {first.reason}" if first else ""
        what = (f"none of {lines} lines could be read" if events == 0
                else f"{bad_count} of {lines} lines could not be read")
        raise InputError(
            f"{what} as {fmt}{detail}",
            path=path,
            line=first.line if first else None,
            hint="check --format (or the field mapping in breachkit.toml); nothing from this file was stored",
        )


def _write_samples(workspace: Workspace, source: str, now: datetime, bad: Sequence[BadLine]) -> Path:
    """Samples of unreadable lines go to a 0600 file in the workspace (raw lines may hold personal data)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source)[:80]
    target = workspace.rejects / f"{now:%Y%m%dT%H%M%SZ}-{safe}.txt"
    text = "".join(f"line {b.line}: {b.reason}\n  {b.sample}\n" for b in bad)
    write_private_text(target, text)
    return target


def ingest(
    paths: Iterable[str],
    store: EventStore,
    config: Config,
    workspace: Workspace,
    *,
    options: IngestOptions = IngestOptions(),
    now: datetime | None = None,
    progress_for: Callable[[str], ProgressCallback | None] | None = None,
    stdin: BinaryIO | None = None,
) -> IngestSummary:
    """Ingest several inputs; each is committed on its own. Failures are collected, not fatal to the rest.

    Raises the single error when every input failed; otherwise returns a summary with the failures,
    which the CLI reports with exit code 4 (partial).
    """
    done: list[FileSummary] = []
    failures: list[tuple[str, BreachkitError]] = []
    for path in _expand(paths):
        try:
            done.append(ingest_file(path, store, config, workspace, options=options, now=now,
                                    progress=progress_for(path) if progress_for else None, stdin=stdin))
        except BreachkitError as exc:
            if isinstance(exc, InputError | PartialFailure):
                failures.append((path, exc))
            else:
                raise  # service or configuration errors concern every file: stop
    if failures and not done and len(failures) == 1:
        raise failures[0][1]
    problems = tuple(Problem(str(exc)) for _, exc in failures)
    return IngestSummary(store.engine, tuple(done), problems)


def _expand(paths: Iterable[str]) -> Iterator[str]:
    """Files as given; a directory stands for the files directly inside it, sorted."""
    for path in paths:
        p = Path(path)
        if path != STDIN and p.is_dir():
            yield from (str(c) for c in sorted(p.iterdir()) if c.is_file() and not c.name.startswith("."))
        else:
            yield path
