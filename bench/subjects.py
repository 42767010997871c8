"""Subject-table build: breachkit against the naive client-side approach, in the same run.

    python bench/subjects.py [--events 1000000] [--directory-rows 1000000] [--directory-format csv|parquet]

Data (seeded, vectorised): N events of an energy platform's API (logins, device telemetry, consumption,
installer access to customers; IPv4 and IPv6 clients) over 14 days for the users of a directory of M
people, ingested into an embedded store in a temporary folder (timed apart). One percent of the events
are an attacker's, from 203.0.113.0/24 and 2001:db8:f001::/48 all through the period: stolen logins, an
installer token walking customer ids, device telemetry — about 1,000 identifiers. The directory is a CSV
(or Parquet) file of M rows. The scope: the attacker's two networks over the whole period.

- breachkit: `affected_identifiers` (one DuckDB aggregation) + `read_directory` + `build_subject_table`.
- baseline (naive): every event of the window with all its columns into pandas, the scope filtered in
  pandas (each address checked against the networks with `ipaddress`), categories with pandas' regex
  matching, group-bys in pandas, the directory read with `pandas.read_csv`/`read_parquet` and merged.
Prints both times, the ratio, and whether both found the same identifiers and people.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from breachkit.config import DirectoryConfig
from breachkit.incidents.model import Scope
from breachkit.logs.local import LocalStore
from breachkit.logs.schema import ARROW_SCHEMA
from breachkit.subjects.categories import attributed, compile_rules
from breachkit.subjects.directory import read_directory
from breachkit.subjects.identifiers import affected_identifiers
from breachkit.subjects.join import build_subject_table
from breachkit.subjects.schema import IDENTIFIER_FIELDS

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 14
NETWORKS = ["203.0.113.0/24", "2001:db8:f001::/48"]
ACTIONS = ["login", "view", "view", "view", "api_call", "export", "logout", "device_register", "password_reset"]
PATHS = ["/api/v1/auth/login", "/api/v1/me", "/api/v1/devices/{d}/status", "/api/v1/consumption",
         "/api/v1/devices/{d}/telemetry", "/api/v1/export/consumption", "/api/v1/auth/logout", "/api/v1/devices",
         "/api/v1/auth/password-reset"]


def _user_ids(index: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("u", pc.cast(pa.array(index + 1_000_000), pa.string()), "")


def _take(pool: list[str], index: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(pool, pa.string()).take(pa.array(index))
    return arr if present is None else pc.if_else(pa.array(present), arr, pa.scalar(None, pa.string()))


def generate(n: int, people: int, seed: int = 7) -> tuple[pa.Table, list[str]]:
    """(events, attacker addresses). Benign users act from their own address; the attacker from NETWORKS."""
    rng = np.random.default_rng(seed)
    n_attack = n // 100
    span_ms = DAYS * 86_400_000
    ts = np.sort(rng.integers(0, span_ms, n)) + int(START.timestamp() * 1000)
    attack = np.zeros(n, dtype=bool)
    attack[rng.choice(n, n_attack, replace=False)] = True
    user = rng.integers(0, people, n)
    kind = rng.integers(0, len(PATHS), n)
    # benign clients: one IPv4 per user from a public-looking range; every 10th user on IPv6
    v4 = [f"{81 + i // 65536 % 60}.{i // 256 % 256}.{i % 256}.{7 + i % 200}" for i in range(200_000)]
    v6 = [str(ipaddress.IPv6Address(0x2001_0DB8_0001 << 80 | i)) for i in range(20_000)]
    benign_pool = v4 + v6
    ip_index = np.where(user % 10 == 0, 200_000 + user % 20_000, user % 200_000)
    # the attacker: 30 IPv4 and 10 IPv6 addresses; 25 stolen accounts and one installer token
    bad_pool = [f"203.0.113.{10 + i}" for i in range(30)] + [f"2001:db8:f001:{i:x}::{i + 1:x}" for i in range(10)]
    stolen = rng.choice(people, 26, replace=False)
    targets = rng.choice(people, 650, replace=False)
    owned = rng.choice(people, 160, replace=False)
    a = np.flatnonzero(attack)
    leg = rng.integers(0, 10, n_attack)  # 0-3 logins with stolen accounts, 4-7 enumeration, 8-9 devices
    user[a] = np.where(leg < 4, stolen[rng.integers(0, 25, n_attack)], stolen[25])
    ip_index[a] = len(benign_pool) + rng.integers(0, len(bad_pool), n_attack)
    kind[a] = np.select([leg < 4, leg < 8], [0, 3], 4)
    target = np.full(n, -1)
    target[a] = np.where((leg >= 4) & (leg < 8), targets[rng.integers(0, 650, n_attack)], -1)
    installer = ~attack & (rng.random(n) < 0.02)  # benign installers looking at a customer
    target[installer] = rng.integers(0, people, int(installer.sum()))
    device_owner = np.where(attack & (kind == 4), owned[rng.integers(0, 160, n)], user)
    has_device = np.isin(kind, [2, 4])
    status = np.where(rng.random(n) < 0.06, 401, 200)
    status[a] = np.where(leg < 4, np.where(rng.random(n_attack) < 0.7, 401, 200),
                         np.where(rng.random(n_attack) < 0.2, 404, 200))
    devices = [f"GW-{i:08X}" for i in range(people)]
    imeis = [f"35847211{i:07d}" for i in range(people)]
    pre, _, post = zip(*(p.partition("{d}") for p in PATHS), strict=True)
    device_ids = pa.array(devices, pa.string()).take(pa.array(device_owner))
    paths = pc.binary_join_element_wise(pa.array(np.array(pre, dtype=object)[kind], pa.string()),
                                        pc.if_else(pa.array(has_device), device_ids, ""),
                                        pa.array(np.array(post, dtype=object)[kind], pa.string()), "")
    consumption = (kind == 3) & (target >= 0)
    paths = pc.if_else(pa.array(consumption), pc.binary_join_element_wise(
        "/api/v1/customers/", _user_ids(np.maximum(target, 0)), "/consumption", ""), paths)
    columns: dict[str, pa.Array] = {
        "@timestamp": pa.array(ts * 1000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "event.id": pc.binary_join_element_wise("e", pc.cast(pa.array(np.arange(n)), pa.string()), ""),
        "event.dataset": pa.array(["api"] * n, pa.string()),
        "event.action": pa.array(np.array(ACTIONS, dtype=object)[kind], pa.string()),
        "event.outcome": pa.array(np.where(status >= 400, "failure", "success"), pa.string()),
        "source.ip": _take(benign_pool + bad_pool, ip_index),
        "user.id": _user_ids(user),
        "user.target.id": pc.if_else(pa.array(target >= 0), _user_ids(np.maximum(target, 0)),
                                     pa.scalar(None, pa.string())),
        "device.id": pc.if_else(pa.array(has_device), device_ids, pa.scalar(None, pa.string())),
        "device.imei": _take(imeis, device_owner, has_device & (kind == 4)),
        "http.response.status_code": pa.array(status, pa.int64()),
        "url.path": paths,
        "log.file.path": pa.array(["bench"] * n, pa.string()),
    }
    table = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in ARROW_SCHEMA}, schema=ARROW_SCHEMA)
    return table, bad_pool


def write_directory(path: Path, people: int, fmt: str) -> None:
    rng = np.random.default_rng(3)
    ids = _user_ids(np.arange(people))
    countries = np.array(["DE", "AT", "CH", "FR", "NL", "BE", "IT", "ES", "PL"])
    country = countries[rng.integers(0, len(countries), people)]
    born = np.datetime64("1940-01-01") + rng.integers(0, 365 * 66, people).astype("timedelta64[D]")
    table = pa.table({
        "user_id": ids,
        "email": pc.binary_join_element_wise("Person.", pc.cast(pa.array(np.arange(people)), pa.string()),
                                             "@Example.ORG", ""),  # the join normalises case
        "name": pc.binary_join_element_wise("Person ", pc.cast(pa.array(np.arange(people)), pa.string()), ""),
        "phone": pa.array(np.where(rng.random(people) < 0.7, "+49 30 1234567", None), pa.string()),
        "locale": pa.array(np.char.lower(country), pa.string()),
        "country": pa.array(country, pa.string()),
        "account_type": pa.array(np.where(rng.random(people) < 0.03, "installer", "end_user"), pa.string()),
        "birth_date": pa.array(born.astype(str), pa.string()),
        "status": pa.array(["active"] * people, pa.string()),
    })
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


# --------------------------------------------------------------------------------------- the baseline


def baseline(store: LocalStore, scope: Scope, directory: Path, fmt: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The naive way: all events of the window to the client, everything else in pandas."""
    rules = compile_rules()
    events = store.con.execute('SELECT * EXCLUDE ("source.ip#bin") FROM events WHERE "@timestamp" BETWEEN ? AND ?',
                               [scope.since, scope.until]).df()
    nets = [ipaddress.ip_network(n) for n in scope.source_ips]
    in_scope = events["source.ip"].map(lambda ip: isinstance(ip, str) and any(ipaddress.ip_address(ip) in net
                                                                              for net in nets))
    events = events[in_scope.astype(bool)]
    ok = (events["event.outcome"] != "failure") & ~(events["http.response.status_code"] >= 400)
    cats: dict[str, pd.Series] = {}
    warnings.filterwarnings("ignore", "This pattern is interpreted as a regular expression")
    for rule in rules.rules:
        hit = pd.Series(True, index=events.index)
        for key, field in (("action", "event.action"), ("path", "url.path")):
            if getattr(rule, key) is not None:
                hit &= events[field].str.contains(getattr(rule, key), regex=True).fillna(False).astype(bool)
        cats[rule.category] = cats.get(rule.category, pd.Series(False, index=events.index)) | (hit & ok)
    exposed = pd.Series([[c for c in sorted(cats) if row[c]] for row in pd.DataFrame(cats).to_dict("records")],
                        index=events.index, dtype=object)
    has_target = events["user.target.id"].notna()
    long = pd.concat([pd.DataFrame({"field": f, "value": events[f], "ts": events["@timestamp"],
                                    "cats": [attributed(c, f, t) for c, t in zip(exposed, has_target, strict=True)]},
                                   index=events.index)
                      .dropna(subset=["value"]) for f in IDENTIFIER_FIELDS])
    ids = long.groupby(["field", "value"]).agg(first_seen=("ts", "min"), last_seen=("ts", "max"),
                                               events=("ts", "size"),
                                               categories=("cats", lambda s: sorted({c for x in s for c in x})))
    ids = ids.reset_index()
    people = pd.read_parquet(directory) if fmt == "parquet" else pd.read_csv(directory, dtype=str)
    people["email"] = people["email"].str.strip().str.lower()
    users = ids[ids["field"].isin(["user.id", "user.target.id"])]
    joined = users.merge(people, left_on="value", right_on="user_id", how="inner")
    subjects = joined.groupby("user_id").agg(email=("email", "first"), name=("name", "first"),
                                             country=("country", "first"), first_seen=("first_seen", "min"),
                                             last_seen=("last_seen", "max"), records=("events", "sum"),
                                             categories=("categories", lambda s: sorted({c for x in s for c in x})))
    return ids, subjects.reset_index()


# --------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--directory-rows", type=int, default=1_000_000)
    parser.add_argument("--directory-format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    now = START + timedelta(days=DAYS + 1)
    with tempfile.TemporaryDirectory(prefix="bk-bench-subjects-") as name:
        tmp = Path(name)
        t0 = time.perf_counter()
        table, _ = generate(args.events, args.directory_rows)
        directory = tmp / f"directory.{args.directory_format}"
        write_directory(directory, args.directory_rows, args.directory_format)
        t1 = time.perf_counter()
        store = LocalStore(tmp / "events.duckdb")
        for batch in table.to_batches(max_chunksize=100_000):
            store.load(batch, "bench")
        t2 = time.perf_counter()
        print(f"{store.count():,} events and {args.directory_rows:,} directory rows ({args.directory_format}) "
              f"generated in {t1 - t0:.1f} s; events ingested in {t2 - t1:.1f} s (not timed below)")
        scope = Scope(since=START, until=START + timedelta(days=DAYS), source_ips=NETWORKS)
        config = DirectoryConfig(source=str(directory))

        timings: dict[str, float] = {}
        started = time.perf_counter()
        ids = affected_identifiers(store, scope)
        timings["identifiers"] = time.perf_counter() - started
        read = read_directory(config, tmp, now=now)
        timings["directory"] = time.perf_counter() - started - timings["identifiers"]
        build = build_subject_table(ids, read.frame, None)
        ours_s = time.perf_counter() - started
        timings["join"] = ours_s - timings["identifiers"] - timings["directory"]
        print(f"breachkit (embedded): {ours_s:.2f} s  (identifiers {timings['identifiers']:.2f} s, directory read "
              f"{timings['directory']:.2f} s, join {timings['join']:.2f} s): {len(ids):,} identifiers, "
              f"{len(build.table):,} people, {len(build.unmatched):,} identifiers unmatched"
              f" ({len(read.rejected)} directory rows rejected)")
        if args.no_baseline:
            store.close()
            return
        started = time.perf_counter()
        base_ids, base_people = baseline(store, scope, directory, args.directory_format)
        base_s = time.perf_counter() - started
        print(f"baseline (all window events to pandas): {base_s:.2f} s: {len(base_ids):,} identifiers, "
              f"{len(base_people):,} people")
        print(f"ratio: {base_s / ours_s:.1f}x")
        same_ids = (set(zip(ids["field"], ids["value"], ids["events"], map(tuple, ids["categories"]), strict=True))
                    == set(zip(base_ids["field"], base_ids["value"], base_ids["events"],
                               map(tuple, base_ids["categories"]), strict=True)))
        same_people = set(build.table["subject_id"]) == set(base_people["user_id"])
        print(f"same identifiers (field, value, events, categories): {same_ids}; same people: {same_people}")
        store.close()


if __name__ == "__main__":
    main()
