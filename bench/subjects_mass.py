"""Subjects at the size of a mass breach: a scope reaching ~200,000 people of a 1M-row directory, then their notices.

    python bench/subjects_mass.py [--events 2000000] [--directory-rows 1000000] [--people 200000]
                                  [--notice-sizes 50000,200000] [--engines local,elasticsearch] [--no-baseline]
                                  [--render-folder]

Data (seeded, generated in chunks straight into the files: never the whole set in memory), in a temporary folder
removed at the end: N events of an energy platform's API over 14 days (as `bench/subjects.py`), of which 15 % are an
attacker's from 203.0.113.0/24 and 2001:db8:f001::/48: 26 stolen logins, an installer token walking `--people`
distinct customer ids (every one of them at least once), device telemetry. The directory: a CSV of M rows.

Each step runs in its own child process and prints its wall time (around the library call only: no interpreter
start, no imports) and its peak RSS: `ru_maxrss` of the child (`os.wait4`: this child only), next to the child's
RSS high-water mark just before the step (imports, inputs read) so that what the step itself adds is visible.

- build (embedded): `affected_identifiers` (DuckDB), `read_directory` (the CSV), `build_subject_table` (the join);
  then the three again in ONE child, as `subjects build` runs them: the total time and peak.
- baseline (same run): the naive way of `bench/subjects.py` (every window event into pandas, the scope and the
  categories in pandas, `pandas.read_csv` of the directory and a merge), and `pandas.read_csv` + merge alone.
- elasticsearch (`--engines …,elasticsearch`, node from BREACHKIT_TEST_ES_*): the events loaded (not timed in the
  comparison), then `affected_identifiers` over the index (composite aggregations paged to the end) and whether
  its identifier table equals the embedded one.
- notices, for each size in `--notice-sizes` (the first K people of the list saved as an incident's subject list
  in a SQLite incident store): render (`outgoing`: each email rendered and composed to its exact bytes, then
  dropped), approve (`approve_notices`: rendered, every SHA-256 recorded), queue (`send_notices(queue_only=True)`:
  rendered again, each checked against its approved hash, queued all or nothing); with `--render-folder` also
  `render_subject_notices` (three files per person). Peak RSS per step at each size: fixed memory means the peak
  at 200k stays near the peak at 50k.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# numpy, pyarrow and breachkit are imported in the children only: a child starts with its parent's RSS high-water
# mark (Linux keeps ru_maxrss across fork and exec), so the parent stays small.
START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 14
NETWORKS = ["203.0.113.0/24", "2001:db8:f001::/48"]
ACTIONS = ["login", "view", "view", "view", "api_call", "export", "logout", "device_register", "password_reset"]
PATHS = ["/api/v1/auth/login", "/api/v1/me", "/api/v1/devices/{d}/status", "/api/v1/consumption",
         "/api/v1/devices/{d}/telemetry", "/api/v1/export/consumption", "/api/v1/auth/logout", "/api/v1/devices",
         "/api/v1/auth/password-reset"]
CHUNK = 250_000
ATTACK_SHARE = 0.15
SENDER = "privacy@heimwatt.example"
ES_INDEX = "bench-subjects-mass"


def _mib(kib: int) -> float:
    return kib / 1024


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _text(values: np.ndarray, fmt: str) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    return pa.array(np.char.mod(fmt, values), pa.string())


def _user_ids(index: np.ndarray) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise("u", pc.cast(pa.array(index + 1_000_000), pa.string()), "")


# --------------------------------------------------------------------------------------- data (streamed)


def event_batches(n: int, people: int, reached: int, seed: int = 11) -> Iterator[pa.RecordBatch]:
    """The events in chunks of CHUNK, each from its own seeded generator; times rise from chunk to chunk."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from breachkit.logs.schema import ARROW_SCHEMA

    setup = np.random.default_rng(seed)
    stolen = setup.choice(people, 26, replace=False)
    targets = setup.permutation(setup.choice(people, reached, replace=False))
    owned = setup.choice(people, 160, replace=False)
    bad = np.array([f"203.0.113.{10 + i}" for i in range(240)] + [f"2001:db8:f001:{i:x}::{i + 1:x}" for i in range(40)])
    span = DAYS * 86_400_000 // max(1, -(-n // CHUNK))
    walked = 0  # enumeration events so far: target i is walked at enumeration event i (mod reached)
    pre, _, post = zip(*(p.partition("{d}") for p in PATHS), strict=True)
    for c, start in enumerate(range(0, n, CHUNK)):
        k = min(CHUNK, n - start)
        rng = np.random.default_rng([seed, c])
        ts = np.sort(rng.integers(0, span, k)) + c * span + int(START.timestamp() * 1000)
        attack = rng.random(k) < ATTACK_SHARE
        user = rng.integers(0, people, k)
        kind = rng.integers(0, len(PATHS), k)
        a = np.flatnonzero(attack)
        leg = rng.integers(0, 10, len(a))  # 0-1 logins with stolen accounts, 2-8 enumeration, 9 devices
        user[a] = np.where(leg < 2, stolen[rng.integers(0, 25, len(a))], stolen[25])
        kind[a] = np.select([leg < 2, leg < 9], [0, 3], 4)
        target = np.full(k, -1)
        enum = a[(leg >= 2) & (leg < 9)]
        target[enum] = targets[(walked + np.arange(len(enum))) % reached]
        walked += len(enum)
        installer = ~attack & (rng.random(k) < 0.02)
        target[installer] = rng.integers(0, people, int(installer.sum()))
        device_owner = np.where(attack & (kind == 4), owned[rng.integers(0, 160, k)], user)
        has_device = np.isin(kind, [2, 4])
        status = np.where(rng.random(k) < 0.06, 401, 200)
        status[a] = np.where(leg < 2, np.where(rng.random(len(a)) < 0.7, 401, 200),
                             np.where(rng.random(len(a)) < 0.2, 404, 200))
        v4 = pc.binary_join_element_wise(*(pc.cast(pa.array(x), pa.string()) for x in (
            81 + user // 65536 % 60, user // 256 % 256, user % 256, 7 + user % 200)), ".")
        v6 = pc.binary_join_element_wise("2001:db8:1:", _text(1 + user // 65535, "%x"), "::",
                                         _text(1 + user % 65535, "%x"), "")
        ip = pc.if_else(pa.array(user % 10 == 0), v6, v4)
        ip = pc.if_else(pa.array(attack), pa.array(np.where(attack, bad[rng.integers(0, len(bad), k)], "")), ip)
        device_ids = _text(device_owner, "GW-%08X")
        paths = pc.binary_join_element_wise(pa.array(np.array(pre, dtype=object)[kind], pa.string()),
                                            pc.if_else(pa.array(has_device), device_ids, ""),
                                            pa.array(np.array(post, dtype=object)[kind], pa.string()), "")
        consumption = (kind == 3) & (target >= 0)
        paths = pc.if_else(pa.array(consumption), pc.binary_join_element_wise(
            "/api/v1/customers/", _user_ids(np.maximum(target, 0)), "/consumption", ""), paths)
        none = pa.scalar(None, pa.string())
        columns: dict[str, pa.Array] = {
            "@timestamp": pa.array(ts * 1000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "event.id": pc.binary_join_element_wise("e", pc.cast(pa.array(np.arange(start, start + k)), pa.string()),
                                                    ""),
            "event.dataset": pa.array(["api"] * k, pa.string()),
            "event.action": pa.array(np.array(ACTIONS, dtype=object)[kind], pa.string()),
            "event.outcome": pa.array(np.where(status >= 400, "failure", "success"), pa.string()),
            "source.ip": ip,
            "user.id": _user_ids(user),
            "user.target.id": pc.if_else(pa.array(target >= 0), _user_ids(np.maximum(target, 0)), none),
            "device.id": pc.if_else(pa.array(has_device), device_ids, none),
            "device.imei": pc.if_else(pa.array(has_device & (kind == 4)), _text(device_owner, "35847211%07d"), none),
            "http.response.status_code": pa.array(status, pa.int64()),
            "url.path": paths,
            "log.file.path": pa.array(["bench"] * k, pa.string()),
        }
        yield pa.RecordBatch.from_arrays([columns.get(f.name, pa.nulls(k, f.type)) for f in ARROW_SCHEMA],
                                         schema=ARROW_SCHEMA)


def write_directory(path: Path, people: int, seed: int = 3) -> None:
    """The directory CSV, written chunk by chunk."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    countries = np.array(["DE", "AT", "CH", "FR", "NL", "BE", "IT", "ES", "PL"])
    writer: pacsv.CSVWriter | None = None
    try:
        for c, start in enumerate(range(0, people, CHUNK)):
            rng = np.random.default_rng([seed, c])
            index = np.arange(start, min(people, start + CHUNK))
            k = len(index)
            country = countries[rng.integers(0, len(countries), k)]
            born = np.datetime64("1940-01-01") + rng.integers(0, 365 * 66, k).astype("timedelta64[D]")
            number = pc.cast(pa.array(index), pa.string())
            batch = pa.record_batch({
                "user_id": _user_ids(index),
                "email": pc.binary_join_element_wise("Person.", number, "@Example.ORG", ""),
                "name": pc.binary_join_element_wise("Person ", number, ""),
                "phone": pa.array(np.where(rng.random(k) < 0.7, "+49 30 1234567", None), pa.string()),
                "locale": pa.array(np.char.lower(country), pa.string()),
                "country": pa.array(country, pa.string()),
                "account_type": pa.array(np.where(rng.random(k) < 0.03, "installer", "end_user"), pa.string()),
                "birth_date": pa.array(born.astype(str), pa.string()),
                "status": pa.array(["active"] * k, pa.string()),
            })
            if writer is None:
                writer = pacsv.CSVWriter(str(path), batch.schema)
            writer.write_batch(batch)
    finally:
        if writer is not None:
            writer.close()


# --------------------------------------------------------------------------------------- the steps (children)


def _scope() -> Any:
    from breachkit.incidents.model import Scope

    return Scope(since=START, until=START + timedelta(days=DAYS), source_ips=NETWORKS)


def _now() -> datetime:
    return START + timedelta(days=DAYS + 1)


def _directory_config(tmp: Path) -> Any:
    from breachkit.config import DirectoryConfig

    return DirectoryConfig(source=str(tmp / "directory.csv"))


def step_generate(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    from breachkit.logs.local import LocalStore

    def generate() -> int:
        with LocalStore(tmp / "events.duckdb") as store:
            for batch in event_batches(args.events, args.directory_rows, args.people):
                store.load(batch, "bench")
            count = store.count()
        write_directory(tmp / "directory.csv", args.directory_rows)
        return count

    return {"events": timed("generate + ingest", generate), "directory_rows": args.directory_rows}


def _identifiers(tmp: Path) -> Any:
    from breachkit.logs.local import LocalStore
    from breachkit.subjects.identifiers import affected_identifiers

    with LocalStore(tmp / "events.duckdb", read_only=True) as store:
        return affected_identifiers(store, _scope())


def step_identifiers(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    ids = timed("identifiers", _identifiers, tmp)
    ids.to_parquet(tmp / "identifiers.parquet")
    return {"identifiers": len(ids)}


def step_directory(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    from breachkit.subjects.directory import read_directory

    read = timed("directory read", read_directory, _directory_config(tmp), tmp, now=_now())
    read.frame.to_parquet(tmp / "directory.parquet")
    return {"rows": len(read.frame), "rejected": len(read.rejected)}


def step_join(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import pandas as pd

    from breachkit.subjects.join import build_subject_table

    ids, directory = pd.read_parquet(tmp / "identifiers.parquet"), pd.read_parquet(tmp / "directory.parquet")
    build = timed("join", build_subject_table, ids, directory, None)
    build.table.to_parquet(tmp / "subjects.parquet")
    return {"people": len(build.table), "unmatched": len(build.unmatched)}


def step_build(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    """identifiers + directory read + join in one process, as `subjects build` runs them."""
    from breachkit.subjects.directory import read_directory
    from breachkit.subjects.join import build_subject_table

    def build() -> Any:
        ids = _identifiers(tmp)
        read = read_directory(_directory_config(tmp), tmp, now=_now())
        return build_subject_table(ids, read.frame, None)

    built = timed("build (all three)", build)
    return {"people": len(built.table)}


def step_baseline(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import pandas as pd

    from bench.subjects import baseline
    from breachkit.logs.local import LocalStore

    with LocalStore(tmp / "events.duckdb", read_only=True) as store:
        base_ids, base_people = timed("baseline (naive, all)", baseline, store, _scope(), tmp / "directory.csv", "csv")
    ids = pd.read_parquet(tmp / "identifiers.parquet")
    people = pd.read_parquet(tmp / "subjects.parquet", columns=["subject_id"])
    same_ids = (set(zip(ids["field"], ids["value"], ids["events"], map(tuple, ids["categories"]), strict=True))
                == set(zip(base_ids["field"], base_ids["value"], base_ids["events"],
                           map(tuple, base_ids["categories"]), strict=True)))
    return {"identifiers": len(base_ids), "people": len(base_people), "same_identifiers": same_ids,
            "same_people": set(people["subject_id"]) == set(base_people["user_id"])}


def step_baseline_join(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import pandas as pd

    ids = pd.read_parquet(tmp / "identifiers.parquet")

    def naive() -> pd.DataFrame:
        people = pd.read_csv(tmp / "directory.csv", dtype=str)
        people["email"] = people["email"].str.strip().str.lower()
        users = ids[ids["field"].isin(["user.id", "user.target.id"])]
        joined = users.merge(people, left_on="value", right_on="user_id", how="inner")
        return joined.groupby("user_id").agg(email=("email", "first"), records=("events", "sum")).reset_index()

    return {"people": len(timed("baseline read_csv + merge", naive))}


def _es_client() -> tuple[Any, str]:
    from elasticsearch import Elasticsearch

    from bench.ingest import es_node

    with es_node() as (url, kwargs):  # BREACHKIT_TEST_ES_URL: the shared node (the context only yields it)
        return Elasticsearch(url, request_timeout=600, **kwargs), url


def _es_store(tmp: Path) -> Any:
    from breachkit.config import load_config
    from breachkit.logs.elasticsearch import ElasticsearchStore

    client, url = _es_client()
    config = load_config(environ={}).elasticsearch.model_copy(update={"hosts": [url], "index": ES_INDEX})
    spool = tmp / "spool"
    spool.mkdir(exist_ok=True)
    return ElasticsearchStore(client, config, spool)


def step_es_load(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    from breachkit.logs.local import LocalStore
    from breachkit.logs.schema import ARROW_SCHEMA

    es = _es_store(tmp)
    if es.client.indices.exists(index=ES_INDEX):
        es.client.indices.delete(index=ES_INDEX)
    es.ensure_index()
    loader = es.begin("bench")
    with LocalStore(tmp / "events.duckdb", read_only=True) as store:
        for batch in store.con.cursor().sql('SELECT * EXCLUDE ("source.ip#bin") FROM events').to_arrow_reader(50_000):
            loader.add(batch.cast(ARROW_SCHEMA))
    result = timed("elasticsearch load", loader.commit)
    return {"added": result.added, "rejected": result.rejected}


def step_es_identifiers(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import pandas as pd

    from breachkit.subjects.identifiers import affected_identifiers

    es = _es_store(tmp)
    searches = 0
    search = es.client.search

    def counted(*a: Any, **k: Any) -> Any:
        nonlocal searches
        searches += 1
        return search(*a, **k)

    es.client.search = counted  # type: ignore[method-assign]
    try:
        ids = timed("identifiers (elasticsearch)", affected_identifiers, es, _scope())
        local = pd.read_parquet(tmp / "identifiers.parquet")

        def rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:  # lists as tuples (Parquet reads them as arrays)
            return [tuple(tuple(v) if not isinstance(v, str) and hasattr(v, "__len__") else v for v in row)
                    for row in frame[list(local.columns)].itertuples(index=False)]

        same = rows(ids) == rows(local)
        return {"identifiers": len(ids), "searches": searches, "same_as_embedded": same}
    finally:
        if not args.keep_index:
            es.client.indices.delete(index=ES_INDEX)
            with contextlib.suppress(Exception):  # the template breachkit made for the index, if any
                es.client.indices.delete_index_template(name=ES_INDEX)


# --- notices


def _session(tmp: Path, size: int, actor: str) -> Any:
    from breachkit.config import load_config
    from breachkit.session import Session

    folder = tmp / f"notices-{size}"
    folder.mkdir(exist_ok=True)
    (folder / "breachkit.toml").write_text(
        '[workspace]\ntimezone = "Europe/Berlin"\n'
        '[notices]\ndpo_email = "dpo@heimwatt.example"\ncontroller_name = "HeimWatt"\n'
        'dpo_phone = "+49 711 555 0190"\ndpo_address = "Datenschutz, Königstraße 10, 70173 Stuttgart"\n'
        'controller_address = "Königstraße 10, 70173 Stuttgart"\n'
        f'[notices.smtp]\nhost = "127.0.0.1"\nport = 25\nsecurity = "none"\nsender = "{SENDER}"\n',
        encoding="utf-8")
    return Session(load_config(folder / "breachkit.toml", environ={}), actor=actor, clock=lambda: _now())


def _incident(tmp: Path, size: int) -> str:
    return (tmp / f"notices-{size}" / "incident.txt").read_text(encoding="utf-8")


def step_prepare(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import pandas as pd

    from breachkit.incidents import api as incidents
    from breachkit.incidents import decisions_api
    from breachkit.subjects.store import save_build

    size = args.size
    table = pd.read_parquet(tmp / "subjects.parquet").head(size)
    with _session(tmp, size, "dpo@heimwatt.example") as session:
        opened = incidents.open_incident(
            session, title="Customer data enumerated", aware_at=START + timedelta(days=DAYS),
            justification="an installer token walked customer ids", playbook="gdpr-personal-data-breach",
            occurred_at=START, detected_at=START + timedelta(days=DAYS),
            fields={"description": "An installer's token was used to read customers' consumption data.",
                    "data_categories": ["contact", "usage"]})
        iid = opened.incident.id
        stored = save_build(session.store, iid, table, {"counts": {"people": len(table)}}, engine="local",
                            actor=session.actor, now=session.now())
        decisions_api.decide(session, iid, subjects=True, reason="high risk: consumption data of each household")
    (tmp / f"notices-{size}" / "incident.txt").write_text(iid, encoding="utf-8")
    return {"people": len(table), "list_bytes": len(stored.table_parquet)}


def step_render(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    from breachkit.notices.compose import load_recipients, notice_context, outgoing, require_subject_decision
    from breachkit.notices.templates import environment_from_config

    with _session(tmp, args.size, "dpo@heimwatt.example") as session:
        store, config = session.store, session.config
        incident = store.get(_incident(tmp, args.size))

        def render() -> int:
            env = environment_from_config(config)
            people = load_recipients(store, incident, env)
            n = 0
            for _ in outgoing(incident, people, notice_context(store, config, incident), env, config, version=1,
                              reason=require_subject_decision(store, incident), now=session.now()):
                n += 1
            return n

        return {"messages": timed("render (compose bytes)", render)}


def step_render_folder(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import shutil

    from breachkit.notices.api import render_subject_notices

    out = tmp / f"rendered-{args.size}"
    with _session(tmp, args.size, "dpo@heimwatt.example") as session:
        summary = timed("render to folder", render_subject_notices, session, _incident(tmp, args.size), out)
    shutil.rmtree(out)
    return {"rendered": summary.rendered}


def step_approve(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    from breachkit.notices.approvals import approve_notices

    with _session(tmp, args.size, "dpo@heimwatt.example") as session:
        doc = timed("approve", approve_notices, session, _incident(tmp, args.size), version=1,
                    reason="read in every locale")
    return {"messages": doc.messages}


def step_queue(tmp: Path, args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    from breachkit.notices.api import send_notices

    with _session(tmp, args.size, "ops@heimwatt.example") as session:
        result = timed("queue", send_notices, session, _incident(tmp, args.size), queue_only=True,
                       override_reason="benchmark: the generated case file is incomplete")
    return {"queued": result.queued, "counts": result.counts}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {"generate": step_generate,
    "identifiers": step_identifiers, "directory": step_directory, "join": step_join, "build": step_build,
    "baseline": step_baseline, "baseline-join": step_baseline_join, "es-load": step_es_load,
    "es-identifiers": step_es_identifiers, "prepare": step_prepare, "render": step_render,
    "render-folder": step_render_folder, "approve": step_approve, "queue": step_queue}


def child(name: str, tmp: Path, args: argparse.Namespace) -> None:
    """Run one step; print one JSON line: its timed parts, each with the RSS mark before and after it."""
    timings: list[dict[str, Any]] = []

    def timed(label: str, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        before = _rss()
        started, cpu = time.perf_counter(), time.process_time()
        value = fn(*a, **k)
        timings.append({"label": label, "seconds": time.perf_counter() - started, "rss_before_kib": before,
                        "cpu": time.process_time() - cpu, "rss_after_kib": _rss()})
        return value

    info = STEPS[name](tmp, args, timed)
    print("RESULT " + json.dumps({"timed": timings, "info": info}, default=str), flush=True)


def run_child(name: str, tmp: Path, argv: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--tmp", str(tmp), *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"step {name} failed ({proc.returncode}):\n{out}")
    result: dict[str, Any] = json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT ")))
    result["peak_kib"] = usage.ru_maxrss
    return result


def show(name: str, result: dict[str, Any]) -> float:
    total = 0.0
    for t in result["timed"]:
        total += t["seconds"]
        grown = _mib(t["rss_after_kib"] - t["rss_before_kib"])
        print(f"  {t['label']:<28} {t['seconds']:8.2f} s (CPU {t['cpu']:6.2f} s)   "
              f"peak RSS {_mib(result['peak_kib']):7.0f} MiB "
              f"(before the step {_mib(t['rss_before_kib']):6.0f} MiB, +{grown:.0f})   {json.dumps(result['info'])}",
              flush=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--directory-rows", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=200_000, help="customer ids the enumeration walks")
    parser.add_argument("--notice-sizes", default="50000,200000")
    parser.add_argument("--engines", default="local")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--render-folder", action="store_true")
    parser.add_argument("--keep-index", action="store_true")
    parser.add_argument("--data", type=Path, help="a folder to keep the generated data in and reuse (default: a "
                                                  "temporary folder, removed at the end)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.tmp, args)
        return
    common = ["--events", str(args.events), "--directory-rows", str(args.directory_rows), "--people",
              str(args.people)] + (["--keep-index"] if args.keep_index else [])
    with contextlib.ExitStack() as stack:
        if args.data is not None:  # kept and reused: the data only generated when missing
            tmp = args.data
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bk-bench-mass-")))
        print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times on a "
              f"shared machine; CPU = this process's user + system time, all its threads)")
        print(f"data (streamed, seeded; parent process RSS {_mib(_rss()):.0f} MiB):")
        if not (tmp / "directory.csv").exists():
            show("generate", run_child("generate", tmp, common))
        print("embedded (DuckDB), one child process per step:")
        each = {s: show(s, run_child(s, tmp, common)) for s in ("identifiers", "directory", "join")}
        ours = sum(each.values())
        print(f"  = identifiers + directory read + join: {ours:.2f} s")
        whole = run_child("build", tmp, common)
        built = show("build", whole)
        if not args.no_baseline:
            print("baseline (pandas), same run:")
            base = show("baseline", run_child("baseline", tmp, common))
            join = show("baseline-join", run_child("baseline-join", tmp, common))
            print(f"  ratio naive / breachkit (the three steps in one process): {base / built:.1f}x; "
                  f"pandas read_csv + merge / our directory read + join: "
                  f"{join / (each['directory'] + each['join']):.1f}x")
        if "elasticsearch" in args.engines:
            print("elasticsearch:")
            show("es-load", run_child("es-load", tmp, common))
            show("es-identifiers", run_child("es-identifiers", tmp, common))
        for size in (int(s) for s in args.notice_sizes.split(",") if s):
            print(f"notices, {size:,} people (one child process per step):")
            sized = [*common, "--size", str(size)]
            t0 = time.perf_counter()
            prepared = run_child("prepare", tmp, sized)
            print(f"  (incident and subject list of {prepared['info']['people']:,} people saved in "
                  f"{time.perf_counter() - t0:.0f} s; the stored list is {prepared['info']['list_bytes'] / 2**20:.1f} "
                  "MiB of Parquet, which each step reads back whole)")
            steps = ["render", *(["render-folder"] if args.render_folder else []), "approve", "queue"]
            for step in steps:
                show(step, run_child(step, tmp, sized))
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
