"""Ingest throughput: breachkit's parse + load into each engine, against plain baselines in the same run.

    python bench/ingest.py [--lines 200000] [--engines local,elasticsearch]

Embedded engine (DuckDB):
  - JSON lines: breachkit (Python parse, validation, stable ids, staging + anti-join insert) vs DuckDB's own
    `read_json` loading the same file into a table (no ids, no validation, no idempotence).
  - combined access log: breachkit vs DuckDB `read_csv` + `regexp_extract` of the same fields.
Elasticsearch and OpenSearch: breachkit (parse, orjson bulk bodies streamed with parallel_bulk, op_type
create) vs the client's `parallel_bulk` of the very documents breachkit writes, pre-built (parsing and
document building excluded: the client's own limit for the same bytes), and of the raw JSON lines' objects
(smaller: no log.original, ids or file fields); all into fresh indices with the same template on one node.
The nodes are `BREACHKIT_TEST_ES_URL` (+ _USERNAME/_PASSWORD/_CA_CERTS) and `BREACHKIT_TEST_OS_URL`, or
ones started by the test harnesses.

Prints lines/s and the ratio breachkit/baseline (>1 means breachkit is faster; < 1 is expected: the
baselines skip work breachkit must do). Timings are wall-clock on this machine; compare ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from breachkit.config import Config, load_config
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
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


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def write_lines(path: Path, lines: Iterator[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
            count += 1
    return count


def report(label: str, lines: int, ours: float, base: float, base_label: str) -> None:
    print(f"{label:<28} breachkit {lines / ours:>10,.0f} lines/s   {base_label} {lines / base:>10,.0f} lines/s   "
          f"ratio {base / ours:5.2f}")


def bench_local(config: Config, tmp: Path, jsonl: Path, combined: Path, n_json: int, n_comb: int) -> None:
    for label, path, fmt, n, baseline_sql, base_label in (
        ("local  jsonl", jsonl, "jsonl", n_json,
         "CREATE TABLE t AS SELECT * FROM read_json(?, format='newline_delimited')", "duckdb read_json"),
        ("local  combined", combined, "combined", n_comb, COMBINED_SQL, "duckdb regexp   "),
    ):
        ws = Workspace(tmp / f"ws-{fmt}").ensure()
        options = IngestOptions(format=fmt, remote_user_field="user.id")
        with contextlib.closing(LocalStore(ws.events_db)) as store:
            ours = timed(lambda: ingest_file(str(path), store, config, ws, options=options))  # noqa: B023
            assert store.count() == n, (store.count(), n)
        db = tmp / f"baseline-{fmt}.duckdb"
        con = duckdb.connect(str(db))
        base = timed(lambda: con.execute(baseline_sql, [str(path)]))  # noqa: B023
        con.close()
        report(label, n, ours, base, base_label)


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


def bench_search(engine: str, config: Config, tmp: Path, jsonl: Path, n: int) -> None:
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
        for index in ("bench-breachkit", "bench-prebuilt", "bench-raw"):
            conn.delete_index(index)
            conn.delete_index_template(index)
        ws = Workspace(tmp / f"ws-{engine}").ensure()
        ours = timed(lambda: ingest_file(str(jsonl), store, config, ws, options=IngestOptions(format="jsonl")))
        assert store.count() == n, (store.count(), n)
        template = store.template()
        results = {}
        for index, source in (("bench-prebuilt", docs), ("bench-raw", list(enumerate(raw)))):
            conn.put_index_template(index, {**template, "index_patterns": [index]})
            actions = ({"_op_type": "create", "_index": index, "_id": str(i), "_source": d} for i, d in source)

            def baseline(actions: Any = actions, index: str = index) -> None:
                for ok, item in bulk(client, actions, thread_count=store.bulk_threads,
                                     chunk_size=store.bulk_chunk_size, raise_on_error=True):
                    assert ok, item
                conn.refresh(index)

            results[index] = timed(baseline)
        report(f"{engine} jsonl", n, ours, results["bench-prebuilt"], "parallel_bulk (same docs)")
        report(f"{engine} jsonl", n, ours, results["bench-raw"], "parallel_bulk (raw JSON) ")
        for index in ("bench-breachkit", "bench-prebuilt", "bench-raw"):
            conn.delete_index(index)
            conn.delete_index_template(index)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--engines", default="local,elasticsearch,opensearch")
    args = parser.parse_args()
    engines = set(args.engines.split(","))
    config = load_config(environ={})
    with tempfile.TemporaryDirectory(prefix="bk-bench-") as name:
        tmp = Path(name)
        jsonl, combined = tmp / "api.jsonl", tmp / "access.log"
        n_json = write_lines(jsonl, iter_api_events(args.lines, seed=1, start=START))
        n_comb = write_lines(combined, iter_access_lines(args.lines, seed=2, start=START))
        print(f"{n_json:,} JSON lines ({jsonl.stat().st_size / 1e6:.0f} MB), "
              f"{n_comb:,} access-log lines ({combined.stat().st_size / 1e6:.0f} MB)")
        if "local" in engines:
            bench_local(config, tmp, jsonl, combined, n_json, n_comb)
        for engine in ("elasticsearch", "opensearch"):
            if engine in engines:
                bench_search(engine, config, tmp, jsonl, n_json)


if __name__ == "__main__":
    main()
