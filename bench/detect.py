"""Detection throughput: the embedded engine against the Zircolite approach, in the same run.

    python bench/detect.py [--events 1000000] [--engines local,elasticsearch,opensearch] [--mapping both]
                           [--no-baseline] [--data DIR]

Events: N generated events of the sample platform (half app/API JSON lines, half portal access-log
lines, seeded), written streaming (into `--data DIR` to keep and reuse them) and ingested once. Rules: the
shipped pack + SigmaHQ's web rules (../shared/data/sigma).
The ingest and the embedded run each happen in a child process of their own: their time, CPU time and peak
RSS are printed (at 10M events, run with --no-baseline: the SQLite baseline holds every event in memory).

- breachkit (embedded): `breachkit.detect.run.run` on DuckDB — every single-event rule and correlation.
- baseline (Zircolite's approach): pySigma's SQLite backend over one flat in-memory SQLite table whose
  text columns are `COLLATE NOCASE`; single-event rules as its SQL, correlations through its plan runner.
  Both get the same logsource scoping (`event.dataset`).
Prints query time (after load) per side, events/s, the ratio, and whether the single-event hits are
identical (correlation groups are compared and reported: the two define windows differently).
With `elasticsearch` / `opensearch` in --engines: a full run on a node (BREACHKIT_TEST_ES_URL /
BREACHKIT_TEST_OS_URL or one started by the test harness), split into time inside the cluster (the
searches' `took`) and in breachkit; with `--mapping both`, once with the infix-searched fields mapped as
`wildcard` (where the cluster has the type) and once as `keyword`, and the ratio of the two.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sigma.backends.sqlite import sqliteBackend as SQLiteBackend
from sigma.backends.sqlite.runtime import execute_plan
from sigma.collection import SigmaCollection

from breachkit.config import load_config
from breachkit.detect import compat
from breachkit.detect.engines import LocalEngine
from breachkit.detect.pipelines import taxonomy_pipeline
from breachkit.detect.rules import load_rules, rule_files
from breachkit.detect.run import run
from breachkit.logs.local import LocalStore
from breachkit.logs.schema import ARROW_SCHEMA, FIELDS, FieldType
from breachkit.resources import bundled
from breachkit.sample import iter_access_lines, iter_api_events
from breachkit.workspace import Workspace

BUNDLED_RULES = bundled("rules")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
START = datetime(2026, 3, 2, tzinfo=UTC)


def rule_paths() -> list[Path]:
    paths = [BUNDLED_RULES]
    if (SHARED / "sigma").is_dir():
        paths += compat.rule_paths(SHARED / "sigma", "web")
    return paths


def build_store(tmp: Path, n: int, data: Path | None = None) -> tuple[LocalStore, Workspace]:
    """The events ingested (each input in a child process: its measures printed) into a store in `tmp`."""
    from bench.ingest import input_file, show, step

    folder = data or tmp
    folder.mkdir(parents=True, exist_ok=True)
    inputs = (("jsonl", input_file(folder, "detect-api.jsonl", n // 2,
                                   lambda: iter_api_events(n // 2, seed=11, start=START)), n // 2),
              ("combined", input_file(folder, "detect-access.log", n - n // 2,
                                      lambda: iter_access_lines(n - n // 2, seed=12, start=START)), n - n // 2))
    workspace = Workspace(tmp / "ws").ensure()
    for fmt, path, lines in inputs:
        show(f"ingest {fmt}", lines, step("columnar", path, fmt, workspace.root, keep=True))
    return LocalStore(workspace.events_db), workspace


def _detect_child(target: str) -> None:
    """`_detect WORKSPACE`: the embedded run over the store, measured (warm-up run first), as JSON."""
    import json
    import resource

    ruleset = load_rules(rule_paths())
    with contextlib.closing(LocalStore(Workspace(Path(target)).events_db, read_only=True)) as store:
        engine = LocalEngine(store)
        run(ruleset, engine)  # warm-up: DuckDB caches, imports
        usage = resource.getrusage(resource.RUSAGE_SELF)
        wall, cpu = time.perf_counter(), usage.ru_utime + usage.ru_stime
        result = run(ruleset, engine)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"seconds": time.perf_counter() - wall, "cpu": usage.ru_utime + usage.ru_stime - cpu,
                          "rss_mb": usage.ru_maxrss / 1024, "detections": len(result.detections),
                          "events": store.count()}))


def detect_in_child(workspace: Workspace) -> dict[str, Any]:
    import json
    import subprocess

    done = subprocess.run([sys.executable, __file__, "_detect", str(workspace.root)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"embedded run failed:\n{done.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def sqlite_table(store: LocalStore) -> sqlite3.Connection:
    """Zircolite's layout: one flat table, text columns COLLATE NOCASE, ISO timestamps."""
    con = sqlite3.connect(":memory:")
    # Zircolite registers Python's re as SQLite's REGEXP
    con.create_function("regexp", 2, lambda pattern, value: value is not None
                        and re.search(pattern, str(value)) is not None, deterministic=True)
    cols = []
    for f in FIELDS:
        kind = "INTEGER" if f.type is FieldType.LONG else "TEXT COLLATE NOCASE"
        cols.append(f'"{f.name}" {kind}')
    con.execute(f"CREATE TABLE events ({', '.join(cols)})")
    names = ", ".join(f'"{f.name}"' for f in FIELDS)
    select = ", ".join(
        f"strftime(\"{f.name}\", '%Y-%m-%dT%H:%M:%S.%gZ')" if f.type is FieldType.DATE else f'"{f.name}"'
        for f in FIELDS)
    cursor = store.con.execute(f"SELECT {select} FROM events")
    marks = ", ".join("?" for _ in FIELDS)
    while batch := cursor.fetchmany(50_000):
        con.executemany(f"INSERT INTO events ({names}) VALUES ({marks})", batch)
    con.commit()
    return con


def scope_sql(datasets: tuple[str, ...] | None) -> str | None:
    """The dataset scope breachkit gives a rule, as SQL for the baseline table."""
    if datasets is None:
        return None
    return '"event.dataset" IN (' + ", ".join(f"'{d}'" for d in datasets) + ")"


def run_baseline(con: sqlite3.Connection,
                 scopes: dict[str, str | None]) -> tuple[dict[str, set[str]], dict[str, int], float]:
    files = rule_files(rule_paths())
    collection = SigmaCollection.load_ruleset(files, collect_errors=True)
    backend = SQLiteBackend(processing_pipeline=taxonomy_pipeline(), collect_errors=True, table="events",
                            timestamp_field="@timestamp", event_id_field="event.id")
    started = time.perf_counter()
    hits: dict[str, set[str]] = {}
    groups: dict[str, int] = {}
    for rule in collection.rules:
        rid = str(rule.id)
        if rid not in scopes:
            continue  # not run by breachkit either (skipped logsource, unsupported)
        try:
            queries = backend.convert(SigmaCollection([rule] + [r.rule for r in getattr(rule, "rules", None) or []
                                                                if hasattr(r, "rule")]))
        except Exception:
            continue
        plan = backend._correlation_plans.get(id(rule))
        if plan is not None:
            rows, _ = execute_plan(con, plan, include_events=False)
            groups[rid] = len(rows)
            continue
        for sql in queries:
            scope = scopes[rid]
            where = sql.split(" WHERE ", 1)
            sql = f"SELECT \"event.id\" FROM events WHERE ({where[1]})" + (f" AND {scope}" if scope else "")
            while True:
                try:
                    hits[rid] = {r[0] for r in con.execute(sql)}
                    break
                except sqlite3.OperationalError as exc:  # as Zircolite: absent fields become NULL columns
                    missing = re.match(r"no such column: (.+)", str(exc))
                    if missing is None:
                        raise
                    con.execute(f'ALTER TABLE events ADD COLUMN "{missing.group(1)}" TEXT COLLATE NOCASE')
    return hits, groups, time.perf_counter() - started


@contextlib.contextmanager
def es_node() -> Iterator[tuple[str, dict[str, Any]]]:
    from bench.ingest import es_node as node

    with node() as found:
        yield found


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_detect":
        _detect_child(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--engines", default="local")
    parser.add_argument("--no-baseline", action="store_true", help="skip the SQLite baseline (slow at 1M)")
    parser.add_argument("--data", type=Path, help="keep the generated inputs here (and reuse them)")
    parser.add_argument("--mapping", choices=["both", "wildcard", "keyword"], default="both",
                        help="search engines: map infix-searched fields as wildcard (where the cluster has it), "
                             "keyword, or both in turn (prints the ratio)")
    args = parser.parse_args()
    ruleset = load_rules(rule_paths())
    print(f"rules: {len(ruleset.rules)} single-event ({sum(r.generate for r in ruleset.rules)} alerting), "
          f"{len(ruleset.correlations)} correlations, {len(ruleset.skipped)} skipped")
    with tempfile.TemporaryDirectory(prefix="bk-bench-detect-") as name:
        tmp = Path(name)
        t0 = time.perf_counter()
        store, workspace = build_store(tmp, args.events, args.data)
        n = store.count()
        print(f"{n:,} events generated and ingested in {time.perf_counter() - t0:.0f} s")
        store.close()
        measured = detect_in_child(workspace)
        local_s = measured["seconds"]
        print(f"breachkit embedded: {local_s:.2f} s  ({n / local_s:,.0f} events/s), {measured['cpu']:.1f} s CPU, "
              f"peak RSS {measured['rss_mb']:,.0f} MB, {measured['detections']} detections")
        store = LocalStore(workspace.events_db)
        engine = LocalEngine(store)
        ours = run(ruleset, engine) if not args.no_baseline else None
        if args.no_baseline:
            search_benches(args, store, ruleset, n)
            store.close()
            return
        con = sqlite_table(store)
        scopes = {r.meta.id: scope_sql(r.datasets) for r in ruleset.rules}
        scopes.update({c.meta.id: None for c in ruleset.correlations})
        base_hits, base_groups, base_s = run_baseline(con, scopes)
        assert ours is not None
        print(f"baseline (SQLite, Zircolite layout): {base_s:.2f} s  ({n / base_s:,.0f} events/s)")
        print(f"ratio: {base_s / local_s:.1f}x")
        ours_hits: dict[str, set[str]] = {}
        for d in ours.detections:
            if d.kind == "event":
                ours_hits.setdefault(d.rule_id, set()).update(d.event_ids)
        compared = [rid for rid in base_hits if rid in scopes and any(r.meta.id == rid and r.generate
                                                                     for r in ruleset.rules)]
        differ = [rid for rid in compared if base_hits[rid] != ours_hits.get(rid, set())]
        print(f"single-event rules compared: {len(compared)}, identical: {len(compared) - len(differ)}"
              + (f", differing: {differ[:10]}" if differ else ""))
        ours_groups = {c.meta.id: sum(1 for d in ours.detections if d.rule_id == c.meta.id)
                       for c in ruleset.correlations}
        print("correlations (breachkit detections / baseline groups): "
              + ", ".join(f"{c.meta.title[:30]} {ours_groups[c.meta.id]}/{base_groups.get(c.meta.id, '-')}"
                          for c in ruleset.correlations))
        search_benches(args, store, ruleset, n)
        store.close()


def search_benches(args: argparse.Namespace, store: LocalStore, ruleset: Any, n: int) -> None:
    engines = args.engines.split(",")
    mappings = {"both": (True, False), "wildcard": (True,), "keyword": (False,)}[args.mapping]
    for engine in ("elasticsearch", "opensearch"):
        if engine in engines:
            bench_search(engine, store, ruleset, n, mappings)


def _search_store(engine: str, stack: contextlib.ExitStack, index: str, wildcard: bool) -> Any:
    config = load_config(environ={})
    if engine == "elasticsearch":
        from elasticsearch import Elasticsearch

        from breachkit.logs.elasticsearch import ElasticsearchStore

        url, kwargs = stack.enter_context(es_node())
        es = stack.enter_context(contextlib.closing(Elasticsearch(url, request_timeout=300, **kwargs)))
        return ElasticsearchStore(es, config.elasticsearch.model_copy(
            update={"hosts": [url], "index": index, "wildcard_fields": wildcard}))
    from opensearchpy import OpenSearch

    from bench.ingest import os_node
    from breachkit.logs.opensearch import OpenSearchStore

    url = stack.enter_context(os_node())
    client = stack.enter_context(contextlib.closing(OpenSearch(url, timeout=300, pool_maxsize=8)))
    return OpenSearchStore(client, config.opensearch.model_copy(
        update={"hosts": [url], "index": index, "wildcard_fields": wildcard}))


def bench_search(engine: str, store: LocalStore, ruleset: Any, n: int, mappings: tuple[bool, ...]) -> None:
    """A full run on a search engine, per mapping of the infix-searched fields (`wildcard` vs `keyword`),
    over the same events; time inside the cluster (the searches' `took`) vs in breachkit; the ratio."""
    from breachkit.detect.engines import SearchEngine

    walls: dict[bool, float] = {}
    found: dict[bool, set[tuple[str, tuple[str, ...]]]] = {}
    for wildcard in mappings:
        label = "wildcard" if wildcard else "keyword"
        with contextlib.ExitStack() as stack:
            search = _search_store(engine, stack, f"bench-detect-{label}", wildcard)
            search.conn.delete_index(search.index)
            loader = search.begin("bench")
            reader = store.con.sql('SELECT * EXCLUDE ("source.ip#bin") FROM events').to_arrow_reader(50_000)
            t0 = time.perf_counter()
            for batch in reader:
                loader.add(batch.cast(ARROW_SCHEMA))
            loader.commit()
            mapped = "wildcard" if search.fields().wildcard else "keyword"
            print(f"{engine} ({mapped} fields): {n:,} events loaded in {time.perf_counter() - t0:.0f} s")
            sengine = SearchEngine.over(search)
            t1 = time.perf_counter()
            result = run(ruleset, sengine)
            wall = walls[wildcard] = time.perf_counter() - t1
            found[wildcard] = {(d.rule_id, d.event_ids) for d in result.detections}
            inside = sengine.server_ms / 1000
            print(f"{engine} ({mapped}) run: {wall:.2f} s wall ({n / wall:,.0f} events/s), "
                  f"{len(result.detections)} detections; inside the cluster {inside:.2f} s ({inside / wall:.0%}), "
                  f"breachkit + transport {wall - inside:.2f} s")
            search.conn.delete_index(search.index)
            search.conn.delete_index_template(search.index)
    if len(walls) == 2:
        print(f"{engine}: keyword / wildcard wall time ratio {walls[False] / walls[True]:.2f}x; "
              f"detections identical: {found[True] == found[False]}")


if __name__ == "__main__":
    main()
