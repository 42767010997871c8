"""Ingestion: log files → parsed events → an event store (embedded DuckDB, Elasticsearch or OpenSearch).

Each input is all-or-nothing: only when the whole input was read — no truncated gzip, not more bad lines
than `ingest.max_bad_ratio` — and the store took every event is it committed. Access logs and JSON lines
are parsed in bulk (`logs.columnar`), the other formats line by line. DuckDB stages the input in a
transaction first; Elasticsearch and OpenSearch, which have no transactions, write as they read and delete
the run's documents again on failure (`breachkit.logs.searchload`). Event ids are stable
(`schema.event_id`), so committing the same input again adds nothing; `replace` makes the commit replace
every event of the source instead (see the stores for how each does it without a gap).

Exit codes of an `ingest` call (`IngestSummary.error()` and `ingest()` decide them; the CLI only prints):

====  =====================================================================================================
0     every input was stored — including empty ones, and ones with unreadable lines within max_bad_ratio
1     no input was stored, and every failure was the input's (missing, unreadable, wrong format, too many bad
      lines, truncated gzip, a subfolder without --recursive)
2     no input was stored: the configuration or the command is wrong (nothing concerning one input)
3     no input was stored: the store failed (unreachable, refused us or our events); the inputs after the failure
      are not tried
4     some inputs were stored, others failed (each is listed; a store failure stops the ones after it)
====  =====================================================================================================
"""

from __future__ import annotations

import contextlib
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
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from breachkit.config import Config, IngestConfig
from breachkit.errors import (
    BreachkitError,
    InputError,
    Location,
    NotFoundError,
    PartialFailure,
    Problem,
    UsageError,
)
from breachkit.logs import audit, columnar
from breachkit.logs.finish import BadLine, Finished, finish
from breachkit.logs.inputs import OpenedInput, expand_inputs, open_input
from breachkit.logs.parsers import FORMATS, SNIFF_LINES, Parser, Record, detect_format, make_parser
from breachkit.logs.parsers.syslog import YearPlan, plan_years, scan_years
from breachkit.logs.reader import STDIN, Line, LineReader, source_name
from breachkit.logs.schema import ARROW_SCHEMA, Event
from breachkit.workspace import Workspace, write_private_text

__all__ = ["BadLine", "FileSummary", "IngestOptions", "IngestSummary", "LoadResult", "ingest", "ingest_file"]

# (phase, done, total or None): "read" counts input bytes, "load" counts events written.
ProgressCallback = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class LoadResult:
    added: int
    already_present: int
    rejected: int = 0  # events the store refused (per-document errors)
    errors: list[Problem] = field(default_factory=list)  # the first of those errors, with their reasons
    replaced: int = 0  # replace: events of the source overwritten by the new reading of the same line
    removed: int = 0  # replace: events of the source whose line is no longer in the input
    redated: int | None = None  # already present with another @timestamp (None: the store does not check)


class Loader(Protocol):
    """One input's way into a store: `add` stages batches, `commit` makes them visible, `abort` drops them."""

    def add(self, batch: pa.RecordBatch) -> None: ...
    def commit(self, progress: ProgressCallback | None = None) -> LoadResult: ...
    def abort(self) -> None: ...


def load_whole(loader: Loader, batch: pa.RecordBatch) -> LoadResult:
    """One batch through a loader, all or nothing: `store.load` of every store (rule tests, generated data)."""
    try:
        loader.add(batch)
        return loader.commit()
    except BaseException:
        loader.abort()
        raise


class EventStore(Protocol):
    engine: str

    def begin(self, source: str, *, replace: bool = False) -> Loader: ...
    def forget(self, source: str) -> int: ...
    def sources(self, limit: int = 20) -> list[tuple[str, int]]: ...


@dataclass(frozen=True)
class FileSummary:
    path: str
    source: str
    format: str | None  # None: the input was empty
    lines: int
    events: int
    bad_lines: int
    bad_samples: tuple[BadLine, ...]
    samples_file: Path | None
    added: int
    already_present: int
    seconds: float
    bytes_read: int
    replaced: int = 0
    removed: int = 0
    flagged: dict[str, int] = field(default_factory=dict)  # log.flags value → events carrying it
    notes: tuple[str, ...] = ()  # assumptions and corrections the reader must know (years, zones, …)
    earliest: datetime | None = None  # the input's earliest and latest @timestamp (None: no events)
    latest: datetime | None = None
    parser: str = "python"  # "columnar": read in bulk (logs/columnar), "python": line by line


@dataclass(frozen=True)
class IngestSummary:
    engine: str
    files: tuple[FileSummary, ...]
    failures: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()  # about the arguments (skipped hidden files, shared source names, …)

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def bad_lines(self) -> int:
        return sum(f.bad_lines for f in self.files)

    def error(self) -> BreachkitError | None:
        """What the caller must end with once the summary is shown: None (exit 0) or the partial failure (4)."""
        if not self.failures:
            return None
        total = len(self.failures) + len(self.files)
        return PartialFailure(f"{len(self.failures)} of {total} inputs failed; the others were stored",
                              problems=list(self.failures))


@dataclass(frozen=True)
class IngestOptions:
    format: str = "auto"
    dataset: str | None = None  # default: the format's (web for access logs, auth, api for JSON…)
    year: int | None = None  # the year of the LAST syslog line (default: from the file's modification time)
    timezone: str | None = None  # zone of times without an offset (default: ingest.assume_timezone)
    remote_user_field: str = "user.name"  # where %u of access logs goes (user.name, user.id, user.email)
    stdin_name: str = "stdin"
    replace: bool = False  # replace every stored event of the input's source by this reading
    recursive: bool = False  # a folder argument includes its subfolders
    reason: str | None = None  # recorded in the ingest log


@dataclass(frozen=True)
class _Context:
    source: str
    dataset: str
    sample_limit: int
    format: str = ""  # for the derived fields (logs.derive)
    delimiter: str = ","


@dataclass(frozen=True)
class _Chunk:
    batch: pa.RecordBatch | None
    bad: list[BadLine]
    bad_count: int
    lines: int
    events: int
    flagged: dict[str, int]


def _convert(records: Iterable[Record], ctx: _Context) -> _Chunk:
    """Parsed records → one Arrow batch of finished events, plus the bad-line accounting."""
    out = Finished()
    bad: list[BadLine] = []
    lines, bad_count = finish(records, ctx.source, ctx.dataset, out, bad, ctx.sample_limit,
                              fmt=ctx.format, delimiter=ctx.delimiter)
    rows = out.events
    return _Chunk(to_batch(rows) if rows else None, bad, bad_count, lines, len(rows), out.flagged)


# Formats whose lines parse independently of each other can be parsed by worker processes; CSV records
# span lines and need the header, and syslog's years and sshd connections carry over lines: those stay here.
_PARALLEL_FORMATS = frozenset({"combined", "common", "jsonl"})
# Below this size starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 32 << 20
_worker_parser: Parser | None = None


def _init_worker(fmt: str, ingest: IngestConfig, remote_user_field: str, timezone: str | None) -> None:
    global _worker_parser  # one parser per worker process
    _worker_parser = make_parser(fmt, ingest, remote_user_field=remote_user_field, timezone=timezone)


def _work(lines: list[Line], ctx: _Context) -> _Chunk:
    assert _worker_parser is not None
    return _convert(_worker_parser.records(iter(lines)), ctx)


def _chunks(reader: LineReader, parser: Parser, fmt: str, cfg: IngestConfig, ctx: _Context,
            options: IngestOptions, size: int) -> Iterator[_Chunk]:
    """Chunks of converted events in input order: in worker processes where the format allows it,
    `ingest.workers` > 1 and the input is large (at most 2 chunks per worker in flight, so memory stays
    bounded), else here. Workers come from a forkserver: never a fork of a process running DuckDB threads."""
    if cfg.workers <= 1 or fmt not in _PARALLEL_FORMATS or size < PARALLEL_MIN_BYTES:
        records = parser.records(iter(reader))
        while chunk := list(itertools.islice(records, cfg.batch_size)):
            yield _convert(chunk, ctx)
        return
    lines = iter(reader)
    with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_init_worker,
                             initargs=(fmt, cfg, options.remote_user_field, options.timezone)) as pool:
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


def _year_plan(opened: OpenedInput, options: IngestOptions, zone: str, now: datetime) -> YearPlan:
    """The first pass over a syslog input: the year of its first classic line, and what was assumed."""
    with LineReader(opened.path) as reader:
        scan = scan_years(reader)
    reference = opened.modified or now
    return plan_years(scan, reference=reference, reference_kind="mtime" if opened.modified else "now",
                      zone=ZoneInfo(zone), zone_name=zone, given_year=options.year)


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
    zone = options.timezone or cfg.assume_timezone
    with contextlib.ExitStack() as stack:
        opened = stack.enter_context(open_input(path, workspace, stdin))
        reader = stack.enter_context(LineReader(opened.path))
        fmt: str | None = options.format
        if fmt == "auto":
            fmt = detect_format(path, reader.peek(SNIFF_LINES), cfg)
        elif fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}", path=path)
        if fmt is None:
            return _empty(path, source, opened, options, started)
        plan = _year_plan(opened, options, zone, now) if fmt == "auth" else None
        parser = make_parser(fmt, cfg, year=plan.first_year if plan else None,
                             remote_user_field=options.remote_user_field, timezone=zone)
        context = _Context(source, options.dataset or parser.default_dataset, cfg.bad_sample_size, fmt,
                           cfg.csv.delimiter)
        # --- parse path: in bulk (logs/columnar) for access logs and JSON lines, else line by line ---
        bulk = stack.enter_context(columnar.bulk_parse(opened.path, fmt, parser, cfg, workspace.tmp,
                                                       options.remote_user_field, zone, opened.size))
        read: LineReader | columnar.BulkParse = reader if bulk is None else bulk
        chunks = (_chunks(reader, parser, fmt, cfg, context, options, opened.size) if bulk is None
                  else bulk.chunks(context, _convert))
        # --- end of the parse path ---
        loader = store.begin(source, replace=options.replace)
        bad: list[BadLine] = []
        flagged: dict[str, int] = {}
        bad_count = lines = events = 0
        span: tuple[datetime, datetime] | None = None
        try:
            for chunk in chunks:
                lines += chunk.lines
                events += chunk.events
                bad_count += chunk.bad_count
                bad.extend(chunk.bad[: max(0, cfg.bad_sample_size - len(bad))])
                for flag, count in chunk.flagged.items():
                    flagged[flag] = flagged.get(flag, 0) + count
                if chunk.batch is not None:
                    loader.add(chunk.batch)
                    span = _span(chunk.batch, span)
                if progress is not None:
                    progress("read", read.bytes_read if not read.compressed else 0, opened.size)
            _check_quality(path, fmt, lines, events, bad_count, bad, cfg.max_bad_ratio)
            if options.replace and events == 0:
                raise InputError("--replace with an input that yields no events would remove every event of "
                                 f"source {source!r}", path=path,
                                 hint=f"to remove them, use: breachkit logs forget {source}")
            result = loader.commit(progress)
        except BaseException:
            loader.abort()
            raise
    samples_file = _write_samples(workspace, source, now, bad) if bad else None
    notes = list(plan.notes if plan else ())
    notes += _redate_notes(result, options)
    if bulk is not None:
        notes.append(bulk.note())
    summary = FileSummary(
        path=path, source=source, format=fmt, lines=lines, events=events, bad_lines=bad_count,
        bad_samples=tuple(bad), samples_file=samples_file, added=result.added,
        already_present=result.already_present, seconds=time.perf_counter() - started,
        bytes_read=read.bytes_read, replaced=result.replaced, removed=result.removed, flagged=flagged,
        notes=tuple(notes), earliest=span[0] if span else None, latest=span[1] if span else None,
        parser="python" if bulk is None else "columnar",
    )
    _record(workspace, now, store.engine, summary, options, result,
            committed_at=now + timedelta(seconds=time.perf_counter() - started))
    if result.rejected:
        raise PartialFailure(
            f"{result.rejected} events were rejected by the store ({result.added} added)",
            path=path,
            problems=result.errors,
        )
    return summary


def _empty(path: str, source: str, opened: OpenedInput, options: IngestOptions, started: float) -> FileSummary:
    if options.replace:
        raise InputError(f"--replace with an empty input would remove every event of source {source!r}",
                         path=path, hint=f"to remove them, use: breachkit logs forget {source}")
    return FileSummary(path=path, source=source, format=None, lines=0, events=0, bad_lines=0, bad_samples=(),
                       samples_file=None, added=0, already_present=0, seconds=time.perf_counter() - started,
                       bytes_read=opened.size, notes=("empty input: nothing to store",))


def _redate_notes(result: LoadResult, options: IngestOptions) -> list[str]:
    if options.replace or not result.already_present:
        return []
    if result.redated:
        return [f"{result.redated} event(s) were already stored with another time (read then with another year "
                "or zone): they keep it; use --replace to store this reading instead"]
    if result.redated is None and (options.year is not None or options.timezone is not None):
        return [f"{result.already_present} event(s) were already stored and keep the times of their first "
                "reading; use --replace to store this reading (--year/--timezone) instead"]
    return []


def _span(batch: pa.RecordBatch, span: tuple[datetime, datetime] | None) -> tuple[datetime, datetime] | None:
    """The earliest and latest @timestamp so far (the scan finds late data by them: `breachkit.scan`)."""
    low, high = pc.min_max(batch.column("@timestamp")).values()
    if not low.is_valid:
        return span
    first, last = low.as_py().replace(tzinfo=UTC), high.as_py().replace(tzinfo=UTC)
    return (first, last) if span is None else (min(span[0], first), max(span[1], last))


def _record(workspace: Workspace, now: datetime, engine: str, f: FileSummary, options: IngestOptions,
            result: LoadResult, *, committed_at: datetime | None = None) -> None:
    # committed_at and earliest/latest: the scheduled scan extends its window back to events stored after its
    # last run but dated before its checkpoint (late data)
    audit.record(workspace, now, "replace" if options.replace else "ingest", {
        "committed_at": (committed_at or now).isoformat(),
        "earliest": f.earliest.isoformat() if f.earliest else None,
        "latest": f.latest.isoformat() if f.latest else None,
        "engine": engine, "source": f.source, "input": f.path, "format": f.format, "lines": f.lines,
        "events": f.events, "added": f.added, "already_present": f.already_present, "replaced": f.replaced,
        "removed": f.removed, "rejected": result.rejected, "bad_lines": f.bad_lines, "flagged": f.flagged,
        "parser": f.parser,
        "options": {"year": options.year, "timezone": options.timezone, "dataset": options.dataset},
        "notes": list(f.notes), "reason": options.reason,
    })


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
    """Ingest several inputs; each is committed on its own (exit codes: the module docstring).

    A failed input (InputError, or a store's per-document rejections) is listed and the others go on; an
    error that concerns every input (the store, the configuration) stops the run. When no input was
    stored, raises: the single error, or one listing them all. Otherwise returns the summary, whose
    `error()` is the partial failure to end with.
    """
    expansion = expand_inputs(paths, recursive=options.recursive)
    if options.replace:
        _one_input_per_source(expansion.paths, options.stdin_name)
    done: list[FileSummary] = []
    failed: list[BreachkitError] = list(expansion.failures)
    notes = list(expansion.notes)
    stopped: BreachkitError | None = None
    for i, path in enumerate(expansion.paths):
        try:
            done.append(ingest_file(path, store, config, workspace, options=options, now=now,
                                    progress=progress_for(path) if progress_for else None, stdin=stdin))
        except (InputError, PartialFailure) as exc:
            failed.append(exc)
        except BreachkitError as exc:
            if exc.location.path is None:  # a store or configuration error: say on which input it happened
                exc.location = Location(path)
            failed.append(exc)
            stopped = exc
            rest = expansion.paths[i + 1:]
            if rest:
                shown = ", ".join(rest[:5]) + (", …" if len(rest) > 5 else "")
                notes.append(f"not tried after that error: {len(rest)} input(s) ({shown})")
            break
    problems = tuple(Problem(str(exc)) for exc in failed)
    if failed and not done:
        if len(failed) == 1:
            raise failed[0]
        kind = type(stopped) if stopped is not None else InputError
        raise kind(f"none of the {len(failed)} inputs was stored", problems=list(problems),
                   hint=stopped.hint if stopped is not None else None)
    return IngestSummary(store.engine, tuple(done), problems, tuple(notes))


def _one_input_per_source(paths: Sequence[str], stdin_name: str) -> None:
    """With --replace, two inputs of one source would replace each other: refuse before reading any."""
    seen: dict[str, str] = {}
    for path in paths:
        name = stdin_name if path == STDIN else source_name(path)
        if name in seen and seen[name] != path:
            raise UsageError(f"--replace: {seen[name]} and {path} are both source {name!r}; the second would "
                             "replace the first", hint="replace them one at a time, or ingest them without --replace")
        seen[name] = path


@dataclass(frozen=True)
class ForgetResult:
    engine: str
    source: str
    removed: int


def forget_source(store: EventStore, source: str, workspace: Workspace, *, now: datetime | None = None,
                  reason: str | None = None) -> ForgetResult:
    """Remove every event of `source` (its `log.file.path`) from `store`, and record it in the ingest log.

    A source with no events is a usage error naming the stored sources: nothing is removed silently."""
    now = now or datetime.now(UTC)
    removed = store.forget(source)
    if removed == 0:
        known = store.sources()
        listed = ", ".join(f"{name} ({count:,})" for name, count in known) or "none"
        raise NotFoundError(f"no events of source {source!r} in the {store.engine} store",
                            hint=f"stored sources: {listed}")
    audit.record(workspace, now, "forget", {"engine": store.engine, "source": source, "removed": removed,
                                            "reason": reason})
    return ForgetResult(store.engine, source, removed)
