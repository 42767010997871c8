"""Ingest throughput and memory: breachkit's parse + load into each engine, against plain baselines in the same run.

    python bench/ingest.py [--lines 200000] [--engines local,elasticsearch,opensearch] [--formats jsonl,combined]
                           [--repeat 1] [--python] [--data DIR]

The input files are generated streaming (any size, in fixed memory) into a temporary folder, or into/from
`--data DIR` (kept, and reused when they already have the requested size).

Embedded engine (DuckDB). Every measured step runs in a child process of its own, so that its peak RSS
(`ru_maxrss`) is that step's; wall time and CPU time (user + system, all threads) are printed for each.
  - JSON lines: breachkit (bulk parse, validation, stable ids, all-or-nothing load) vs DuckDB's own
    `read_json` loading the same file into a table (no ids, no validation, no raw line kept, no idempotence).
  - combined access log: breachkit vs DuckDB `read_csv` + `regexp_extract` of the same fields.
  - the storage floor: DuckDB alone writing the columns breachkit stores (the events of breachkit's run,
    read into Arrow untimed, then inserted into a new database file and committed: timed). Whatever parsing
    costs, breachkit's ratio cannot exceed baseline time / floor time (the baselines keep fewer columns and
    not the raw line): the bound is printed.
  - `--python`: breachkit's line-by-line parsers too (`ingest.columnar = false`), the reference path.
  The ratio is the baseline's time over breachkit's (> 1: breachkit faster), for wall and for CPU time; with
  `--repeat N` each side runs N times and the fastest run counts (the machine is shared: others' load only
  ever slows a run down).
Elasticsearch and OpenSearch: breachkit (parse, orjson bulk bodies streamed with parallel_bulk, op_type
create) vs the client's `parallel_bulk` of the very documents breachkit writes, pre-built (parsing and
document building excluded: the client's own limit for the same bytes), and of the raw JSON lines' objects
(smaller: no log.original, ids or file fields); all into fresh indices with the same template on one node.
The nodes are `BREACHKIT_TEST_ES_URL` (+ _USERNAME/_PASSWORD/_CA_CERTS) and `BREACHKIT_TEST_OS_URL`, or
ones started by the test harnesses. A first round of all three runs is not counted (a node fresh from start-up
runs its first bulk requests through a cold JVM: whichever side ran first was up to a third slower), then
`--repeat N` rounds interleave the sides, each into fresh indices, and the fastest run of each side counts.

Prints lines/s and the ratio breachkit/baseline (>1 means breachkit is faster; < 1 is expected: the
baselines skip work breachkit must do). Timings are wall-clock on this machine; compare ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from breachkit.config import Config, load_config
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore, events_table_sql, load_settings
from breachkit.logs.searchruns import RUNS_SUFFIX
from breachkit.sample import iter_access_lines, iter_api_events
from breachkit.workspace import Workspace

START = datetime(2026, 3, 2, tzinfo=UTC)
COMBINED_SQL = r"""
CREATE TABLE t AS
SELECT m['ip'] AS ip, m['user'] AS usr, strptime(m['ts'], '%d/%b/%Y:%H:%M:%S %z') AS ts, m['method'] AS method,
       m['url'] AS url, TRY_CAST(m['status'] AS BIGINT) AS status, TRY_CAST(m['bytes'] AS BIGINT) AS bytes,
       m['ref'] AS ref, m['ua'] AS ua
FROM (SELECT regexp_extract(line,
        '^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}|-) (\d+|-) "([^"]*)" "([^"]*)"',
        ['ip', 'user', 'ts', 'method', 'url', 'status', 'bytes', 'ref', 'ua']) AS m
      FROM read_csv(?, columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', header=false))
"""
JSON_SQL = "CREATE TABLE t AS SELECT * FROM read_json(?, format='newline_delimited')"


# --- the measured steps (each in a child process) -----------------------------------------------------------


def _step_breachkit(path: str, fmt: str, target: str, columnar: bool) -> dict[str, Any]:
    config = load_config(environ={})
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"columnar": columnar})})
    workspace = Workspace(Path(target)).ensure()
    options = IngestOptions(format=fmt, remote_user_field="user.id")
    with contextlib.closing(LocalStore(workspace.events_db)) as store:
        summary = ingest_file(path, store, config, workspace, options=options)
        stored = store.count()
    return {"events": summary.events, "stored": stored, "notes": list(summary.notes)}


def _step_duckdb(path: str, fmt: str, target: str) -> dict[str, Any]:
    con = duckdb.connect(str(Path(target) / "baseline.duckdb"))
    con.execute(JSON_SQL if fmt == "jsonl" else COMBINED_SQL, [path])
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    columns = len(con.execute("SELECT * FROM t LIMIT 0").description)
    con.close()
    return {"events": rows, "stored": rows, "notes": [], "columns": columns}


def _step_store(target: str) -> dict[str, Any]:
    """DuckDB writing breachkit's stored columns alone: the events the breachkit step left in `target`, read
    into Arrow first (not timed), then inserted into a new database file and committed (timed)."""
    with contextlib.closing(duckdb.connect(str(Workspace(Path(target)).events_db), read_only=True)) as src:
        table = src.sql("SELECT * FROM events").to_arrow_table()
    con = duckdb.connect(str(Path(target) / "copy.duckdb"))
    load_settings(con)  # as during an ingest
    con.register("incoming", table)
    con.execute(events_table_sql())  # the store's own table: its column types and compressions
    wall, cpu = time.perf_counter(), _cpu()
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO events BY NAME SELECT * FROM incoming")
    con.execute("COMMIT")
    seconds, cpu = time.perf_counter() - wall, _cpu() - cpu
    rows = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.close()
    return {"events": rows, "stored": rows, "notes": [], "columns": table.num_columns, "seconds": seconds,
            "cpu": cpu}


def _child(argv: list[str]) -> None:
    """`_step KIND PATH FORMAT TARGET`: run one step, print its measures as JSON on the last line."""
    kind, path, fmt, target = argv
    wall, cpu = time.perf_counter(), _cpu()
    if kind == "duckdb":
        result = _step_duckdb(path, fmt, target)
    elif kind == "store":
        result = _step_store(target)
    else:
        result = _step_breachkit(path, fmt, target, columnar=kind == "columnar")
    result.setdefault("seconds", time.perf_counter() - wall)  # unless the step timed a part of itself
    result.setdefault("cpu", _cpu() - cpu)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def step(kind: str, path: Path, fmt: str, target: Path, *, keep: bool = False) -> dict[str, Any]:
    """Run one step in a child process; `target` (its workspace) is emptied afterwards unless `keep`."""
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, __file__, "_step", kind, str(path), fmt, str(target)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"step {kind} {fmt} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for leftover in [] if keep else target.iterdir():  # the next run starts from an empty store
        if leftover.is_file():
            leftover.unlink()
        else:
            subprocess.run(["rm", "-rf", str(leftover)], check=True)
    return result


def best(kind: str, path: Path, fmt: str, target: Path, repeat: int, *, keep: bool = False) -> dict[str, Any]:
    """The fastest of `repeat` runs, each into an empty `target`; `keep`: the last run's store stays there."""
    runs = [step(kind, path, fmt, target, keep=keep and i == repeat - 1) for i in range(repeat)]
    return min(runs, key=lambda r: r["seconds"])


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def report(label: str, lines: int, ours: float, base: float, base_label: str) -> None:
    print(f"{label:<28} breachkit {lines / ours:>10,.0f} lines/s   {base_label} {lines / base:>10,.0f} lines/s   "
          f"ratio {base / ours:5.2f}")


# --- input files ------------------------------------------------------------------------------------------


def write_lines(path: Path, lines: Iterator[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", buffering=1 << 20) as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
            count += 1
    return count


def input_file(folder: Path, name: str, n: int, make: Callable[[], Iterator[str]]) -> Path:
    """The file `name` in `folder` with `n` lines, generated streaming unless it is there already."""
    path = folder / name
    marker = folder / f"{name}.lines"
    if path.exists() and marker.exists() and marker.read_text() == str(n):
        return path
    write_lines(path, make())
    marker.write_text(str(n))
    return path


def show(label: str, lines: int, result: dict[str, Any]) -> None:
    print(f"  {label:<22} {lines / result['seconds']:>10,.0f} lines/s  {result['seconds']:8.1f} s wall "
          f"{result['cpu']:8.1f} s CPU  peak RSS {result['rss_mb']:7,.0f} MB")


def bench_local(folder: Path, files: dict[str, tuple[Path, int]], repeat: int, python: bool) -> None:
    for fmt, (path, n) in files.items():
        print(f"{fmt}: {n:,} lines, {path.stat().st_size / 1e6:,.0f} MB")
        ours = best("columnar", path, fmt, folder / "ws", repeat, keep=True)
        assert ours["stored"] == n, ours
        floor = step("store", path, fmt, folder / "ws")  # reads what the last breachkit run stored, then empties
        base = best("duckdb", path, fmt, folder / "ws", repeat)
        show("breachkit (columnar)", n, ours)
        show("duckdb " + ("read_json" if fmt == "jsonl" else "read_csv+regexp"), n, base)
        show("duckdb writing ours", n, floor)
        if python:
            show("breachkit (line by line)", n, best("python", path, fmt, folder / "ws", repeat))
        print(f"  ratio (baseline time / breachkit time): wall {base['seconds'] / ours['seconds']:.2f}, "
              f"CPU {base['cpu'] / ours['cpu']:.2f}")
        print(f"  storing breachkit's {floor['columns']} columns alone (DuckDB inserting them from Arrow into a new "
              f"file) takes {floor['seconds'] / base['seconds']:.2f}× the baseline's whole wall time, "
              f"{floor['cpu'] / base['cpu']:.2f}× its CPU time (the baseline keeps {base['columns']} columns, "
              f"no raw line): the wall ratio cannot exceed {base['seconds'] / floor['seconds']:.2f}")
        # The same bound in CPU time: at a wall ratio r, breachkit has base wall / r seconds on `cores` cores.
        cores = os.cpu_count() or 1
        budget = base["seconds"] / 0.5 * cores
        print(f"  at 0.5× breachkit would have {base['seconds'] / 0.5:.1f} s of wall, at most {budget:.1f} s of CPU on "
              f"{cores} cores all busy: storing alone uses {floor['cpu']:.1f} s of it ({floor['cpu'] / budget:.0%}), "
              f"the parse the rest (breachkit used {ours['cpu']:.1f} s of CPU)")
        print(f"  {ours['notes'][-1]}")


@contextlib.contextmanager
def es_node() -> Iterator[tuple[str, dict[str, Any]]]:
    url = os.environ.get("BREACHKIT_TEST_ES_URL")
    if url:
        kwargs: dict[str, Any] = {}
        if os.environ.get("BREACHKIT_TEST_ES_USERNAME"):
            kwargs["basic_auth"] = (os.environ["BREACHKIT_TEST_ES_USERNAME"],
                                    os.environ.get("BREACHKIT_TEST_ES_PASSWORD", ""))
        if os.environ.get("BREACHKIT_TEST_ES_CA_CERTS"):
            kwargs["ca_certs"] = os.environ["BREACHKIT_TEST_ES_CA_CERTS"]
        yield url, kwargs
        return
    from tests.services.elasticsearch import ElasticsearchServer

    with ElasticsearchServer() as node:
        yield node.url, node.client_kwargs()


@contextlib.contextmanager
def os_node() -> Iterator[str]:
    url = os.environ.get("BREACHKIT_TEST_OS_URL")
    if url:
        yield url
        return
    from tests.services.opensearch import OpenSearchServer

    with OpenSearchServer() as node:
        yield node.url


def _prebuilt(config: Config, tmp: Path, jsonl: Path) -> list[tuple[str, dict[str, Any]]]:
    """The documents breachkit writes for `jsonl` (id, source), built before the clock starts."""
    import orjson

    from breachkit.logs.searchload import documents

    ws = Workspace(tmp / "ws-prebuilt").ensure()
    with contextlib.closing(LocalStore(None)) as local:
        ingest_file(str(jsonl), local, config, ws, options=IngestOptions(format="jsonl"))
        table = local.con.sql('SELECT * EXCLUDE ("source.ip#bin") FROM events').to_arrow_table()
    from breachkit.logs.schema import ARROW_SCHEMA

    out = []
    for batch in table.cast(ARROW_SCHEMA).to_batches(max_chunksize=20_000):
        out += [(i, orjson.loads(d)) for i, d in documents(batch)]
    return out


def bench_search(engine: str, config: Config, tmp: Path, jsonl: Path, n: int, repeat: int) -> None:
    """breachkit's ingest (parse + bulk) against `parallel_bulk` of the very documents it writes, pre-built
    (the client's own limit: the same bytes into the same template), and of the raw JSON lines' objects."""
    from breachkit.logs.search import SearchStore

    docs = _prebuilt(config, tmp, jsonl)
    raw = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    with contextlib.ExitStack() as stack:
        if engine == "elasticsearch":
            from elasticsearch import Elasticsearch, helpers

            from breachkit.logs.elasticsearch import ElasticsearchStore

            url, kwargs = stack.enter_context(es_node())
            client: Any = Elasticsearch(url, request_timeout=120, **kwargs)
            cfg = config.elasticsearch.model_copy(update={"hosts": [url], "index": "bench-breachkit"})
            store: SearchStore = ElasticsearchStore(client, cfg)
            bulk: Any = helpers.parallel_bulk
        else:
            from opensearchpy import OpenSearch
            from opensearchpy import helpers as os_helpers

            from breachkit.logs.opensearch import OpenSearchStore

            url = stack.enter_context(os_node())
            client = OpenSearch(url, timeout=120, pool_maxsize=8)
            ocfg = config.opensearch.model_copy(update={"hosts": [url], "index": "bench-breachkit"})
            store = OpenSearchStore(client, ocfg)
            bulk = os_helpers.parallel_bulk
        conn = store.conn
        template = store.template()
        actions: dict[str, list[tuple[Any, dict[str, Any]]]] = {"bench-prebuilt": docs,
                                                                 "bench-raw": list(enumerate(raw))}

        def clear() -> None:
            for index in ("bench-breachkit", *actions):
                conn.delete_index(index)
                conn.delete_index_template(index)
            conn.delete_index(f"bench-breachkit{RUNS_SUFFIX}")

        def ours(round_: int) -> float:
            ws = Workspace(tmp / f"ws-{engine}-{round_}").ensure()
            took = timed(lambda: ingest_file(str(jsonl), store, config, ws, options=IngestOptions(format="jsonl")))
            assert store.count() == n, (store.count(), n)
            return took

        def baseline(index: str) -> float:
            conn.put_index_template(index, {**template, "index_patterns": [index]})
            source = ({"_op_type": "create", "_index": index, "_id": str(i), "_source": d} for i, d in actions[index])

            def run() -> None:
                for ok, item in bulk(client, source, thread_count=store.bulk_threads,
                                     chunk_size=store.bulk_chunk_size, raise_on_error=True):
                    assert ok, item
                conn.refresh(index)

            return timed(run)

        # One round unmeasured: a node fresh from start-up runs its first bulk requests through a cold JVM
        # (interpreted code, JIT compiling), and whichever side ran first paid for it. Then `repeat` rounds,
        # the sides interleaved into fresh indices; the fastest run of each side counts.
        times: dict[str, list[float]] = {"bench-breachkit": [], **{index: [] for index in actions}}
        for round_ in range(repeat + 1):
            clear()
            took = {"bench-breachkit": ours(round_), **{index: baseline(index) for index in actions}}
            print(f"  {engine} round {round_}{' (warm-up, not counted)' if round_ == 0 else ''}: "
                  + ", ".join(f"{index} {seconds:.1f} s" for index, seconds in took.items()))
            if round_:
                for index, seconds in took.items():
                    times[index].append(seconds)
        best_of = {index: min(seconds) for index, seconds in times.items()}
        report(f"{engine} jsonl", n, best_of["bench-breachkit"], best_of["bench-prebuilt"],
               "parallel_bulk (same docs)")
        report(f"{engine} jsonl", n, best_of["bench-breachkit"], best_of["bench-raw"], "parallel_bulk (raw JSON) ")
        clear()
        client.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_step":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--engines", default="local,elasticsearch,opensearch")
    parser.add_argument("--formats", default="jsonl,combined")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the fastest counts")
    parser.add_argument("--python", action="store_true", help="also the line-by-line parsers (slow)")
    parser.add_argument("--data", type=Path, help="keep the generated files here (and reuse them)")
    args = parser.parse_args()
    engines, formats = set(args.engines.split(",")), args.formats.split(",")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bk-bench-")))
        folder = args.data or tmp
        folder.mkdir(parents=True, exist_ok=True)
        n = args.lines
        makers = {"jsonl": ("api.jsonl", lambda: iter_api_events(n, seed=1, start=START)),
                  "combined": ("access.log", lambda: iter_access_lines(n, seed=2, start=START))}
        started = time.perf_counter()
        files = {fmt: (input_file(folder, makers[fmt][0], n, makers[fmt][1]), n) for fmt in formats}
        print(f"inputs ready in {time.perf_counter() - started:.0f} s ({os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.1f})")
        if "local" in engines:
            bench_local(tmp, files, args.repeat, args.python)
        if "jsonl" in files:
            for engine in ("elasticsearch", "opensearch"):
                if engine in engines:
                    bench_search(engine, load_config(environ={}), tmp, files["jsonl"][0], n, args.repeat)


if __name__ == "__main__":
    main()
