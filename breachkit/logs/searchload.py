"""Writing one input into an Elasticsearch or OpenSearch index (`breachkit.logs.search.SearchStore.begin`).

All-or-nothing per input on an engine without transactions
----------------------------------------------------------
Every event has a deterministic id (`schema.event_id`: source, line number, raw line), and documents are
written with `op_type: create`, so writing the same event twice stores it once (the second answers 409,
counted as already present). Batches stream into one parallel bulk while the input is still being read
(orjson-encoded bodies, no spool file), and every document carries the id of the run that created it
(`breachkit.run`; `create` never overwrites it). Then:

* the input is reported committed only when every document was acknowledged (created or already there);
* a failure before that (unreadable input, too many bad lines, a document the cluster rejects, a lost
  connection) deletes the documents this run created — found by the run id, so also those whose
  acknowledgement never arrived, and never those that were already there — and raises, so nothing of the
  input stays behind;
* a process killed mid-way cannot clean up: the documents written so far stay, and the next run of the
  same input completes it (present ids answer 409, the rest is created). Until then the input is not
  reported committed anywhere (nor in the ingest log), and a re-run is the documented recovery.
* meanwhile detection leaves the run's documents out and says so: the run is registered before its first
  document and unregistered by its commit (with earlier interrupted runs of its source) or its rollback
  (`searchruns`).

Replacing a source (`ingest --replace`) without a gap
-----------------------------------------------------
Replacing cannot be one transaction here, and the old reading of a line cannot be restored once
overwritten, so the order is chosen so that no line of the source is ever without its event, and events of
the source that existed before are deleted only once the whole new reading is acknowledged:

1. the input is read to the end into a 0600 Arrow spool in the workspace (so an input rejected whole — bad
   lines, a truncated gzip — changes nothing), its event ids into a temporary DuckDB file beside it;
2. the ids the source has now are paged (`search_after` on event.id) into the same DuckDB file;
3. the new events are bulk-*indexed*: a line read before has the same id, so its document is overwritten in
   one step (old reading or new, never none); a line new to the source is created. Each carries this
   run's id;
4. only when every document was acknowledged: refresh, then the ids of step 2 missing from step 1 (lines no
   longer in the input) are bulk-deleted, compared in DuckDB so memory stays bounded.

Failures and crashes, by step:

* 1–2 (a bad input, the cluster unreachable, the process killed): nothing was written; the source is as it
  was. A killed process leaves its spool and DuckDB file in `<workspace>/tmp` (0600).
* 3 fails (a document rejected, the connection lost): the documents of this run whose ids were not in the
  source before (step 2) are deleted — found by the run id, so also those never acknowledged — and the
  input fails. Lines the source had keep an event: the old reading, or the new one where it was already
  overwritten (it cannot be put back); lines it did not have get none. Step 4 is not done. Running the
  same replace again completes it.
* 3 killed: a mix of old and new readings of the source's lines, plus events of lines new to it; stale
  events of lines gone stay. Never a line without its event. Running the same replace again completes it.
* 4 fails or is killed: the new reading is complete; some events of lines no longer in the input remain.
  Nothing is rolled back (the new reading is whole); running the same replace again removes them (they
  are in its step 2 and not in its step 1).
* The ingest log entry is written after the commit: a run that did not finish has none.

A concurrent writer of the same source is not guarded against: an event it adds between steps 2 and 4 is
not deleted (it is not in step 2); one it adds during step 3 under an id of a line new to the source is
deleted by a rollback of step 3.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from breachkit.errors import Location, Problem, ServiceError
from breachkit.logs.ingest import LoadResult, ProgressCallback
from breachkit.logs.schema import ARROW_SCHEMA

if TYPE_CHECKING:
    from breachkit.logs.search import SearchStore

# Each document carries the id of the ingest run that wrote it (`create` never overwrites it): a failed run
# deletes exactly its own documents, even those whose acknowledgement it never received.
RUN_FIELD = "breachkit.run"
RUN_MAPPING: dict[str, Any] = {"type": "keyword"}


def documents(batch: pa.RecordBatch, run: str | None = None) -> Iterator[tuple[str, bytes]]:
    """(event id, JSON document) per row, nulls left out, encoded with orjson straight from the columns;
    with `run`, each document carries it in RUN_FIELD."""
    ts = batch.column("@timestamp").cast(pa.timestamp("ms", tz="UTC"))
    names = batch.schema.names
    columns: list[list[Any]] = []
    for name in names:
        column = batch.column(name)
        if name == "@timestamp":
            column = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")
        columns.append([None] * batch.num_rows if column.null_count == batch.num_rows else column.to_pylist())
    present = [(n, c) for n, c in zip(names, columns, strict=True) if any(v is not None for v in c)]
    keys = [n for n, _ in present]
    ids = batch.column("event.id").to_pylist()
    dumps = orjson.dumps
    for i, row in enumerate(zip(*(c for _, c in present), strict=True)):
        doc = {k: v for k, v in zip(keys, row, strict=True) if v is not None}
        if run is not None:
            doc[RUN_FIELD] = run
        yield ids[i], dumps(doc)


class _Spool:
    """A replace run's input, staged until it was read whole: an Arrow stream (0600, lz4) and a DuckDB file
    for the id sets (the new ones, and the source's before the writes), both removed by `close`."""

    def __init__(self, folder: Path | None) -> None:
        fd, name = tempfile.mkstemp(dir=folder, suffix=".arrow")  # 0600: the spool holds raw lines
        os.close(fd)
        self.path = Path(name)
        self._sink: pa.NativeFile | None = pa.OSFile(name, "wb")
        self._writer: ipc.RecordBatchStreamWriter | None = ipc.new_stream(
            self._sink, ARROW_SCHEMA, options=ipc.IpcWriteOptions(compression="lz4"))
        self.db_path = self.path.with_suffix(".duckdb")  # DuckDB creates the file itself (in the same folder)
        self.db = duckdb.connect(str(self.db_path))
        self.db.execute("SET temp_directory = ?", [str(self.path.parent)])
        for table in ("new_ids", "stored_ids", "written_ids"):
            self.db.execute(f"CREATE TABLE {table} (id VARCHAR)")

    def add(self, batch: pa.RecordBatch) -> None:
        assert self._writer is not None
        self._writer.write_batch(batch)
        self.insert("new_ids", batch.column("event.id"))

    def insert(self, table: str, ids: pa.Array | list[str]) -> None:
        self.db.register("incoming", pa.table({"id": pa.array(ids, pa.string()) if isinstance(ids, list) else ids}))
        self.db.execute(f"INSERT INTO {table} SELECT id FROM incoming")  # noqa: S608 - a table name of this class
        self.db.unregister("incoming")

    def finish_writing(self) -> None:
        if self._writer is not None and self._sink is not None:
            writer, sink, self._writer, self._sink = self._writer, self._sink, None, None
            writer.close()
            sink.close()

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.finish_writing()
        with pa.OSFile(str(self.path), "rb") as source:
            yield from ipc.open_stream(source)

    def ids(self, sql: str, chunk: int) -> Iterator[list[str]]:
        cursor = self.db.execute(sql)
        while rows := cursor.fetchmany(chunk):
            yield [r[0] for r in rows]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.finish_writing()
        with contextlib.suppress(Exception):
            self.db.close()
        self.path.unlink(missing_ok=True)
        for leftover in self.path.parent.glob(self.db_path.name + "*"):  # the database and its WAL
            leftover.unlink(missing_ok=True)


class SearchLoader:
    """One input's way into the index (see the module docs): batches stream into one long-running parallel
    bulk in a background thread as they are parsed (at most two batches queued); with `replace`, they are
    spooled first and written by `commit`."""

    def __init__(self, store: SearchStore, source: str, *, replace: bool = False) -> None:
        self.store = store
        self.source = source
        self.replace = replace
        self.staged = 0
        self.created: list[str] = []
        self.present = 0
        self.replaced = 0
        self.rejected = 0
        self.errors: list[Problem] = []
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._stopping = False
        self._op = "index" if replace else "create"
        self._head = '{"' + self._op + '":{"_index":' + orjson.dumps(store.index).decode() + ',"_id":"'
        self._progress: ProgressCallback | None = None
        self._done = 0
        self._finished = False  # committed, or rolled back: nothing left to undo
        self._written = False  # replace: every new document was acknowledged (step 4 never rolls back)
        self.run = secrets.token_hex(8)
        self._spool = _Spool(store.spool_dir) if replace else None
        try:  # not finished until committed or rolled back: detection leaves its documents out (searchruns)
            store.register_run(self.run, source)
        except BaseException:
            self._close_spool()
            raise

    # ------------------------------------------------------------------------------------ the bulk writer

    def _actions(self) -> Iterator[tuple[bytes, bytes | None]]:
        head = self._head
        while not self._stopping and (batch := self._queue.get()) is not None:
            for event_id, doc in documents(batch, self.run):
                yield (head + event_id + '"}}').encode(), doc

    def _run(self) -> None:
        store = self.store
        try:
            for ok, item in store.conn.bulk(self._actions(), store.bulk_threads, store.bulk_chunk_size):
                self._record(ok, item)
        except BaseException as exc:  # handed to the parsing thread at its next add/commit
            self._failure = exc

    def _record(self, ok: bool, item: dict[str, Any]) -> None:
        info = item.get(self._op, item)
        self._done += 1
        if ok and info.get("result") == "updated":
            self.replaced += 1  # replace: the same line's event, overwritten by the new reading
        elif ok:
            self.created.append(str(info.get("_id")))
        elif info.get("status") == 409:
            self.present += 1
        else:
            self.rejected += 1
            if len(self.errors) < 100:
                reason = info.get("error", {})
                detail = reason.get("reason", str(reason)) if isinstance(reason, dict) else str(reason)
                self.errors.append(Problem(f"rejected ({info.get('status')}): {detail}",
                                           Location(self.source, field=f"event.id={info.get('_id')}")))
        if self._progress is not None and self._done % 5000 == 0:
            self._progress("load", self._done, None)

    def _put(self, batch: pa.RecordBatch | None) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bk-bulk", daemon=True)
            self._thread.start()
        while True:
            self._raise_failure()
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise_failure()
                    raise ServiceError(f"the bulk writer to {self.store.engine} stopped") from None

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            with self.store.conn.errors():
                raise failure

    def _finish(self) -> None:
        if self._thread is not None:
            self._put(None)
            self._thread.join()
            self._thread = None
        self._raise_failure()

    # ------------------------------------------------------------------------------------ the Loader protocol

    def add(self, batch: pa.RecordBatch) -> None:
        """Queue `batch` for the bulk writer (blocks while two batches are waiting); replace: spool it."""
        self.staged += batch.num_rows
        if self._spool is not None:
            self._spool.add(batch)
        else:
            self._put(batch)

    def commit(self, progress: ProgressCallback | None = None) -> LoadResult:
        self._progress = progress
        removed = 0
        try:
            if self._spool is not None:
                self._snapshot(self._spool)
                for batch in self._spool.batches():
                    self._put(batch)
            self._finish()
            if self.rejected:
                raise _Rejected()
            self.store.refresh()
            self._written = True
            if self._spool is not None:
                removed = self._remove_others()
            # the input is whole: its events are searched from now on (and those of earlier, interrupted runs
            # of the same source, which this one completed)
            self.store.end_runs(self.run, source=self.source)
        except _Rejected:
            written = len(self.created)
            self.rollback()
            # The store refused us (exit 3), and nothing of the input is stored: not a partial success (exit 4)
            raise ServiceError(
                f"{self.rejected} events of {self.source} were rejected by {self.store.engine}; " + (
                    f"the {written} this run had written were removed again, nothing from this input is stored"
                    if not self.replace else
                    "the events of lines new to the source were removed again and nothing of the source was "
                    f"deleted ({self.replaced} lines already carry the new reading)"),
                problems=self.errors,
                hint=f"the index {self.store.index} does not accept these events (see the reasons); an index that "
                     "breachkit did not create, or one of another schema, may have to be replaced") from None
        except BaseException:
            self.rollback()
            raise
        finally:
            self._close_spool()
        self._finished = True
        if progress is not None:
            progress("load", self._done, self.staged)
        return LoadResult(added=len(self.created), already_present=self.present, replaced=self.replaced,
                          removed=removed)

    def abort(self) -> None:
        self._stopping = True
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join()
            self._thread = None
        self._failure = None
        try:
            self.rollback()
        finally:
            self._close_spool()

    # ------------------------------------------------------------------------------------ replace

    def _snapshot(self, spool: _Spool) -> None:
        """Step 2: the ids the source has before this run writes anything."""
        with self.store.conn.errors():
            for ids in self.store._source_ids(self.source):
                spool.insert("stored_ids", ids)

    def _remove_others(self) -> int:
        """Step 4: delete the source's events (as they were before this run) whose lines are no longer in
        the input; the id sets are compared in DuckDB, out of memory."""
        assert self._spool is not None
        store = self.store
        stale = self._spool.ids("SELECT id FROM stored_ids ANTI JOIN new_ids USING (id) ORDER BY id",
                                store.bulk_chunk_size)
        removed = 0
        with store.conn.errors():
            for ids in stale:
                removed += store._delete(ids, f"replace {self.source}: the new reading is stored; run the same "
                                               "replace again to remove the events of lines gone")
            if removed:
                store.conn.refresh(store.index)
        return removed

    def _close_spool(self) -> None:
        if self._spool is not None:
            spool, self._spool = self._spool, None
            spool.close()

    # ------------------------------------------------------------------------------------ rollback

    def rollback(self) -> None:
        """Delete the documents this run created (those that were already there stay; with replace, also
        those it overwrote: the old reading is gone, the new one is kept rather than none)."""
        if self._finished or self._written:
            return
        self._finished = True
        store = self.store
        created, self.created = set(self.created), []
        with store.conn.errors():
            if store.conn.index_exists(store.index):
                store.conn.refresh(store.index)
                created |= set(self._run_ids())
        if created and self._spool is not None:  # replace: keep the ids the source had before (overwritten)
            self._spool.insert("written_ids", sorted(created))
            created = {i for ids in self._spool.ids("SELECT id FROM written_ids ANTI JOIN stored_ids USING (id)",
                                                    10_000) for i in ids}
        if created:
            with store.conn.errors():
                store._delete(created, f"written by an aborted ingest of {self.source}; run the same ingest "
                                       "again: it completes the input")
                store.conn.refresh(store.index)
        store.end_runs(self.run)  # only once its documents are gone

    def _run_ids(self) -> Iterator[str]:
        """Ids of the documents this run wrote, found by its run id (also those never acknowledged)."""
        conn = self.store.conn
        resp = conn.scroll_start(self.store.index, {"query": {"term": {RUN_FIELD: self.run}}, "size": 5000,
                                                    "_source": False, "sort": ["_doc"]})
        try:
            while hits := resp["hits"]["hits"]:
                yield from (str(h["_id"]) for h in hits)
                resp = conn.scroll_next(resp["_scroll_id"])
        finally:
            if resp.get("_scroll_id"):
                conn.scroll_clear(resp["_scroll_id"])


class _Rejected(Exception):
    pass
