"""Scope → identifiers: data-category rules, the identifier table on the embedded engine against a plain
Python reference, the planted attacks of samples/, and the differential test against Elasticsearch
(generated data with IPv4/IPv6 and CIDR scopes, the samples, and real third-party logs)."""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from breachkit.config import CategoryRule, ElasticsearchConfig, load_config
from breachkit.errors import ConfigError, UsageError
from breachkit.incidents.model import DATA_CATEGORIES, Scope
from breachkit.logs.ingest import IngestOptions, ingest_file, to_batch
from breachkit.logs.local import LocalStore
from breachkit.logs.schema import ARROW_SCHEMA, event_id
from breachkit.subjects import identifiers as idmod
from breachkit.subjects.categories import ACTOR_CATEGORIES, DEFAULT_RULES, CompiledRules, compile_rules
from breachkit.subjects.identifiers import TIME_DTYPE, affected_identifiers
from breachkit.subjects.join import build_subject_table
from breachkit.subjects.schema import IDENTIFIER_COLUMNS, IDENTIFIER_FIELDS
from breachkit.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED = REPO.parent / "shared" / "data"
RULES = compile_rules()
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------ category rules


def _event(action: str | None = None, path: str | None = None, outcome: str | None = "success",
           status: int | None = 200) -> dict[str, Any]:
    return {"event.action": action, "url.path": path, "event.outcome": outcome, "http.response.status_code": status}


@pytest.mark.parametrize(("event", "expected"), [
    (_event("login", "/api/v1/auth/login"), ["credentials", "online_identifiers"]),
    (_event("login", "/login", "failure", 401), []),
    (_event("password_reset", "/api/v1/auth/password-reset"), ["credentials", "online_identifiers"]),
    (_event(None, "/admin/settings/api-keys"), ["credentials", "online_identifiers"]),
    (_event("view", "/api/v1/me"), ["contact", "identity", "online_identifiers"]),
    (_event(None, "/account"), ["contact", "identity", "online_identifiers"]),
    (_event(None, "/Account/Settings/"), ["contact", "identity", "online_identifiers"]),
    (_event(None, "/installer/customers/u100123"), ["contact", "identity", "online_identifiers"]),
    (_event("view", "/api/v1/customers"), ["contact", "identity", "online_identifiers"]),
    (_event(None, "/admin/users/u100045"), ["contact", "identity", "online_identifiers"]),
    (_event("view", "/api/v1/customers/u100385/consumption"), ["online_identifiers", "usage"]),
    (_event("view", "/api/v1/customers/u100385/consumption", "failure", 404), []),
    (_event(None, "/account/consumption"), ["online_identifiers", "usage"]),
    (_event("api_call", "/api/v1/devices/GW-D66DD1B8/telemetry"),
     ["device_identifiers", "online_identifiers", "usage"]),
    (_event("device_register", "/api/v1/customers/u1/devices"), ["device_identifiers", "online_identifiers"]),
    (_event("export", "/export/consumption.csv"), ["contact", "identity", "online_identifiers", "usage"]),
    (_event(None, "/billing/invoices/2026-03"), ["financial", "online_identifiers"]),
    (_event(None, "/account/address"), ["location", "online_identifiers"]),
    (_event("view", "/api/v1/notifications"), ["communications", "online_identifiers"]),
    (_event(None, "/static/js/portal.4b9d7a.js"), ["online_identifiers"]),
    (_event(None, None, None, None), ["online_identifiers"]),
])
def test_default_rules_fit_the_platform(event, expected):
    assert RULES.match(event) == expected


def test_default_rules_use_known_categories_only():
    assert {r.category for r in DEFAULT_RULES} <= set(DATA_CATEGORIES)
    # slots in vocabulary order, a category with rules for other people's data (a customer list) twice
    assert list(RULES.categories) == sorted(RULES.categories, key=list(DATA_CATEGORIES).index)
    assert {s for s in RULES.slots if s.endswith(".others")} == {"identity.others", "contact.others"}
    assert "special" not in RULES.categories and "online_identifiers" in RULES.categories


def test_action_and_path_both_required_and_failures_optionally_count():
    rules = compile_rules([CategoryRule(category="financial", action="^export$", path="(?i)/invoices"),
                           CategoryRule(category="usage", path="/meter")])
    assert rules.match(_event("export", "/INVOICES/7")) == ["financial"]
    assert rules.match(_event("view", "/invoices/7")) == []
    assert rules.match(_event("export", "/account")) == []
    assert rules.match(_event(None, "/Meter")) == []  # case-sensitive without (?i)
    assert rules.match(_event("export", "/invoices/7", "failure", 403)) == []
    lenient = compile_rules(rules.rules, only_successful=False)
    assert lenient.match(_event("export", "/invoices/7", "failure", 403)) == ["financial"]
    assert lenient.match(_event("export", "/invoices", None, 500)) == ["financial"]


def test_bad_rules_are_all_reported_with_their_key():
    with pytest.raises(ConfigError) as info:
        compile_rules([CategoryRule(category="usage", path="/ok"),
                       CategoryRule(category="energy", path="/x"),
                       CategoryRule(category="contact", path=r"/user\b"),
                       CategoryRule(category="identity", action="(?<=x)login"),
                       CategoryRule(category="location", path="(unclosed")])
    fields = [p.location.field for p in info.value.problems]
    assert fields == ["subjects.categories[1].category", "subjects.categories[2].path",
                      "subjects.categories[3].action", "subjects.categories[4].path"]
    assert "energy" in info.value.problems[0].message
    assert "\\b" in info.value.problems[1].message or "anchor" in info.value.problems[1].message


def test_none_means_the_default_rules():
    assert compile_rules(None).rules == tuple(DEFAULT_RULES)
    assert isinstance(RULES, CompiledRules)


# ------------------------------------------------------------------------------------ generated events

USERS = [f"u{100000 + i}" for i in range(60)]
DEVICES = [f"GW-{i:08X}" for i in range(40)]
IMEIS = [f"35847211{i:07d}" for i in range(40)]
NETS = ["198.51.100.", "203.0.113.", "2001:db8:1::", "2001:db8:2:0:0:0:0:"]
ACTIONS = ["login", "logout", "view", "export", "device_register", "password_reset", "api_call", None]
PATHS = ["/api/v1/auth/login", "/api/v1/me", "/api/v1/devices/{d}/telemetry", "/account/consumption",
         "/api/v1/customers/{u}/consumption", "/installer/customers/{u}", "/export/consumption.csv",
         "/billing/invoices", "/account/address", "/static/app.js", "/admin/settings/api-keys", None]


def _ip(rng: random.Random) -> str:
    base = rng.choice(NETS)
    if ":" in base:
        return str(ipaddress.ip_address(base + f"{rng.randint(1, 40):x}"))
    return base + str(rng.randint(1, 40))


def generated_events(n: int = 3000, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        user, device = rng.choice(USERS), rng.randrange(len(DEVICES))
        path = rng.choice(PATHS)
        status = rng.choice([200, 200, 200, 302, 401, 404, 500, None])
        ts = T0 + timedelta(milliseconds=rng.randrange(0, 6 * 3600 * 1000, 250))
        event: dict[str, Any] = {
            "@timestamp": ts, "event.id": event_id("gen", i, str(i)), "event.dataset": "api", "log.file.path": "gen",
            "log.file.line": i + 1, "event.action": rng.choice(ACTIONS),
            "event.outcome": rng.choice(["success", "failure", None]) if status is None else
            ("failure" if status >= 400 else "success"),
            "http.response.status_code": status, "source.ip": _ip(rng) if rng.random() < 0.95 else None,
            "user.id": user if rng.random() < 0.8 else None,
            "user.name": f"name-{user}" if rng.random() < 0.3 else None,
            "user.target.id": rng.choice(USERS) if rng.random() < 0.3 else None,
            "device.id": DEVICES[device] if rng.random() < 0.5 else None,
            "device.imei": IMEIS[device] if rng.random() < 0.4 else None,
            "session.id": f"s-{rng.randrange(30)}" if rng.random() < 0.5 else None,
            "url.path": None if path is None else path.format(d=DEVICES[device], u=rng.choice(USERS)),
        }
        events.append(event)
    # exact boundary events: one at the window's start and end, one a millisecond outside each
    for k, offset in enumerate((0, -1, 3600_000, 3600_001)):
        events.append({**events[k], "@timestamp": T0 + timedelta(hours=1, milliseconds=offset),
                       "event.id": event_id("gen", n + k, "edge"), "source.ip": "192.0.2.7",
                       "log.file.line": n + k + 1})
    return events


def reference_identifiers(events: Sequence[dict[str, Any]], scope: Scope, rules: CompiledRules) -> pd.DataFrame:
    """The identifier table computed the obvious way, event by event in Python."""
    networks = [ipaddress.ip_network(s, strict=False) for s in scope.source_ips]
    lists = {"user.id": scope.user_ids, "user.name": scope.user_names, "device.id": scope.device_ids,
             "device.imei": scope.imeis, "session.id": scope.session_ids}
    means = {"session.id": scope.session_ids, "device.id": scope.device_ids, "device.imei": scope.imeis}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        ts = e["@timestamp"]
        if (scope.since and ts < scope.since) or (scope.until and ts > scope.until):
            continue
        ip = e.get("source.ip")
        from_means = bool(ip and any(ipaddress.ip_address(ip) in n for n in networks)) or any(
            e.get(f) in vs for f, vs in means.items())
        if not (from_means or any(e.get(f) in vs for f, vs in lists.items())):
            continue
        status = e.get("http.response.status_code")
        succeeded = e.get("event.outcome") != "failure" and not (status is not None and status >= 400)
        for field in IDENTIFIER_FIELDS:
            if e.get(field) is None:
                continue
            row = rows.setdefault((field, e[field]), {"first": ts, "last": ts, "n": 0, "cats": set(), "exposing": 0,
                                                      "used": 0, "ok": 0})
            row["first"], row["last"] = min(row["first"], ts), max(row["last"], ts)
            row["n"] += 1
            reached = set(rules.match_for(e, field))
            row["cats"] |= reached
            row["exposing"] += bool(reached - ACTOR_CATEGORIES)
            row["used"] += field == "user.id" and from_means and succeeded
            row["ok"] += field == "user.id" and succeeded
    order = list(IDENTIFIER_FIELDS)
    keys = sorted(rows, key=lambda k: (order.index(k[0]), k[1]))
    return pd.DataFrame({
        "field": pd.Series([k[0] for k in keys], dtype="str"),
        "value": pd.Series([k[1] for k in keys], dtype="str"),
        "relation": pd.Series([IDENTIFIER_FIELDS[k[0]] for k in keys], dtype="str"),
        "first_seen": pd.Series([rows[k]["first"] for k in keys], dtype=TIME_DTYPE),
        "last_seen": pd.Series([rows[k]["last"] for k in keys], dtype=TIME_DTYPE),
        "events": pd.Series([rows[k]["n"] for k in keys], dtype="int64"),
        "categories": pd.Series([sorted(rows[k]["cats"]) for k in keys], dtype="object"),
        "exposing": pd.Series([rows[k]["exposing"] for k in keys], dtype="int64"),
        "used_by_actor": pd.Series([rows[k]["used"] for k in keys], dtype="int64"),
        "succeeded": pd.Series([rows[k]["ok"] for k in keys], dtype="int64"),
    })


SCOPES = {
    "ipv4 cidr + window": Scope(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2),
                                source_ips=["198.51.100.0/28", "192.0.2.7"]),
    "ipv6 cidr": Scope(source_ips=["2001:db8:2::/48"]),
    "ipv6 address, uncanonical": Scope(source_ips=["2001:DB8:1:0:0:0:0:7", "203.0.113.5/32"]),
    "mixed lists": Scope(since=T0 + timedelta(hours=2), user_ids=["u100003"], user_names=["name-u100007"],
                         device_ids=[DEVICES[4]], imeis=[IMEIS[9]], session_ids=["s-3"]),
    "open end": Scope(until=T0 + timedelta(hours=1, milliseconds=500, microseconds=700), source_ips=["192.0.2.0/24"],
                      user_ids=["u100011"]),
    "sub-millisecond start": Scope(since=T0 + timedelta(hours=1, microseconds=1), source_ips=["192.0.2.7"]),
    "nothing matches": Scope(source_ips=["10.9.9.9"], user_ids=["nobody"]),
}


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return generated_events()


@pytest.fixture(scope="module")
def local(events) -> Iterator[LocalStore]:
    store = LocalStore(None)
    store.load(to_batch(events), "gen")
    yield store
    store.close()


@pytest.mark.parametrize("name", SCOPES)
def test_local_matches_the_python_reference(local, events, name):
    got = affected_identifiers(local, SCOPES[name], RULES)
    expected = reference_identifiers(events, SCOPES[name], RULES)
    pd.testing.assert_frame_equal(got, expected)
    if name != "nothing matches":
        assert len(got) > 0


def test_frame_shape_and_window_edges(local, events):
    got = affected_identifiers(local, SCOPES["ipv4 cidr + window"])
    assert tuple(got.columns) == IDENTIFIER_COLUMNS
    assert str(got["first_seen"].dtype) == TIME_DTYPE and got["events"].dtype == "int64"
    assert set(got["relation"]) == {"actor", "target", "device"}
    assert list(got["field"].drop_duplicates()) == [f for f in IDENTIFIER_FIELDS if f in set(got["field"])]
    edge = affected_identifiers(local, Scope(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2),
                                             source_ips=["192.0.2.7"]))
    # the events at exactly since and until count, the ones a millisecond outside do not
    assert edge["first_seen"].min() == T0 + timedelta(hours=1) and edge["last_seen"].max() == T0 + timedelta(hours=2)
    empty = affected_identifiers(local, SCOPES["nothing matches"])
    assert empty.empty and tuple(empty.columns) == IDENTIFIER_COLUMNS
    assert str(empty["last_seen"].dtype) == TIME_DTYPE


def test_progress_is_reported(local):
    calls: list[tuple[str, int, int | None]] = []
    got = affected_identifiers(local, SCOPES["ipv6 cidr"], progress=lambda *a: calls.append(a))
    assert calls[0] == ("identifiers", 0, None) and calls[-1] == ("identifiers", len(got), len(got))


def test_scope_errors(local):
    for empty in (Scope(since=T0), Scope(user_ids=[""], imeis=["  "])):
        with pytest.raises(UsageError, match="no actor"):
            affected_identifiers(local, empty)
    with pytest.raises(UsageError) as info:
        affected_identifiers(local, Scope(source_ips=["10.0.0.1", "bogus", "10.0.0.0/33"]))
    assert [p.location.field for p in info.value.problems] == ["scope.source_ips[1]", "scope.source_ips[2]"]
    with pytest.raises(ConfigError):
        affected_identifiers(local, Scope(user_ids=["u1"]), [CategoryRule(category="nope")])


def _sql_agrees_with_reference(store: LocalStore) -> int:
    """Each category predicate as DuckDB evaluates it equals the Python reference, event by event."""
    cols = ", ".join(sql for _, sql in RULES.sql())
    names = ["event.action", "url.path", "event.outcome", "http.response.status_code"]
    fetched = ", ".join(f'"{n}"' for n in names)
    rows = store.con.execute(f"SELECT {fetched}, {cols} FROM events").fetchall()  # noqa: S608 - compiled rules
    for row in rows:
        event = dict(zip(names, row[:4], strict=True))
        on_duckdb = sorted({c for c, hit in zip(RULES.categories, row[4:], strict=True) if hit})
        assert on_duckdb == RULES.match(event), event
    return len(rows)


def test_the_sql_agrees_with_the_reference_event_by_event(local):
    assert _sql_agrees_with_reference(local) > 3000


# ------------------------------------------------------------------------------------ samples/

SAMPLE_INPUTS = [
    (SAMPLES / "portal-access.log", IngestOptions(format="combined", remote_user_field="user.id")),
    (SAMPLES / "app-api.jsonl.gz", IngestOptions(format="jsonl")),
]
ATTACKS = {a["id"]: a for a in json.loads((SAMPLES / "attacks.json").read_text())["attacks"]}


def _ingest(store: Any, tmp: Path, inputs: Sequence[tuple[Path, IngestOptions]]) -> None:
    config = load_config(environ={}, cwd=tmp)
    workspace = Workspace(tmp / "ws").ensure()
    for path, options in inputs:
        ingest_file(str(path), store, config, workspace, options=options)


@pytest.fixture(scope="module")
def samples_store(tmp_path_factory) -> Iterator[LocalStore]:
    tmp = tmp_path_factory.mktemp("samples")
    store = LocalStore(tmp / "events.duckdb")
    _ingest(store, tmp, SAMPLE_INPUTS)
    yield store
    store.close()


def attack_scope(attack: dict[str, Any], *, users: bool = False) -> Scope:
    return Scope(since=datetime.fromisoformat(attack["start"]), until=datetime.fromisoformat(attack["end"]),
                 source_ips=attack["source_ips"], user_ids=attack["user_ids"] if users else [])


def _values(frame: pd.DataFrame, *fields: str, reached: bool = False) -> set[str]:
    rows = frame[frame["field"].isin(fields)]
    if reached:
        rows = rows[rows["categories"].str.len() > 0]
    return set(rows["value"])


@pytest.mark.parametrize("attack_id", [a for a, v in ATTACKS.items() if v["log"] == "app-api.jsonl"])
def test_planted_attacks_ground_truth(samples_store, attack_id):
    attack = ATTACKS[attack_id]
    for users in (False, True):
        frame = affected_identifiers(samples_store, attack_scope(attack, users=users))
        if attack_id != "shared_device_identity":  # its target is the gateway's owner, found through the device
            assert set(attack["target_user_ids"]) <= _values(frame, "user.id", "user.target.id")
        assert set(attack["device_ids"]) <= _values(frame, "device.id")
        assert set(attack["imeis"]) <= _values(frame, "device.imei")
        assert set(attack["user_ids"]) <= _values(frame, "user.id")
    # with the attacker's addresses as scope, the people whose data was reached are exactly the affected
    # ones (the actor accounts aside); the shared-gateway owner is reached through the device instead
    frame = affected_identifiers(samples_store, attack_scope(attack))
    reached = _values(frame, "user.id", "user.target.id", reached=True) - set(attack["user_ids"])
    if attack_id == "malformed_imei":  # an integrity issue: the installer's customers were touched, not breached
        assert reached == set(attack["target_user_ids"]) and not attack["affected_user_ids"]
    elif attack_id == "shared_device_identity":
        assert not reached and attack["device_ids"] and attack["affected_user_ids"] == ["u100226"]
    else:
        assert reached == set(attack["affected_user_ids"]) - set(attack["user_ids"])


def test_the_sql_agrees_with_the_reference_on_the_samples(samples_store):
    assert _sql_agrees_with_reference(samples_store) == samples_store.count()


def test_enumeration_targets_and_categories(samples_store):
    attack = ATTACKS["customer_enumeration"]
    frame = affected_identifiers(samples_store, attack_scope(attack))
    targets = frame[frame["field"] == "user.target.id"]
    assert set(targets["value"]) == set(attack["target_user_ids"]) and len(targets) == 260
    assert (targets["relation"] == "target").all()
    hit = targets[targets["value"].isin(attack["affected_user_ids"])]
    # the response held the customers' consumption; the requester's address is the actor's data
    assert all(c == ["usage"] for c in hit["categories"])
    assert (targets[~targets["value"].isin(attack["affected_user_ids"])]["categories"].str.len() == 0).all()
    actor = frame[frame["field"] == "user.id"].iloc[0]
    assert actor["value"] == "u101459" and actor["events"] == attack["events"]
    assert "online_identifiers" in actor["categories"] and "usage" not in actor["categories"]
    assert actor["first_seen"] == datetime.fromisoformat(attack["start"])
    assert actor["last_seen"] == datetime.fromisoformat(attack["end"])


def test_portal_export_exposes_identity_contact_and_usage(samples_store):
    attack = ATTACKS["bulk_export"]
    frame = affected_identifiers(samples_store, attack_scope(attack, users=True))
    # ingest reads the exported customer from ?customer=…: the export exposes their data, not the installer's
    targets = frame[frame["field"] == "user.target.id"]
    assert set(targets["value"]) == set(attack["affected_user_ids"])
    assert all({"identity", "contact", "usage"} <= set(c) for c in targets["categories"])
    actor = frame[(frame["field"] == "user.id") & frame["value"].isin(attack["user_ids"])]
    assert "usage" not in actor["categories"].iloc[0]


# ------------------------------------------------------------------------------------ Elasticsearch


def _es_store(es_client, es_node, index: str, spool: Path) -> Any:
    from breachkit.logs.elasticsearch import ElasticsearchStore

    return ElasticsearchStore(es_client, ElasticsearchConfig(hosts=[es_node.url], index=index), spool)


def _os_store(os_client, os_node, index: str) -> Any:
    from breachkit.config import OpenSearchConfig
    from breachkit.logs.opensearch import OpenSearchStore

    return OpenSearchStore(os_client, OpenSearchConfig(hosts=[os_node.url], index=index))


@pytest.fixture(params=("elasticsearch", "opensearch"))
def search_store(request, tmp_path) -> Any:
    """An empty store on a fresh index of the Elasticsearch, then of the OpenSearch test node."""
    if request.param == "elasticsearch":
        return _es_store(request.getfixturevalue("es_client"), request.getfixturevalue("es_node"),
                         f"{request.getfixturevalue('es_prefix')}events", tmp_path)
    return _os_store(request.getfixturevalue("os_client"), request.getfixturevalue("os_node"),
                     f"{request.getfixturevalue('os_prefix')}events")


def _load_es(es: Any, batches: Sequence[pa.RecordBatch], source: str) -> None:
    loader = es.begin(source)
    for batch in batches:
        loader.add(batch)
    loader.commit()


def test_search_engine_identical_on_generated_data(local, events, search_store, monkeypatch):
    es = search_store
    _load_es(es, [to_batch(events)], "gen")
    assert es.count() == local.count()
    rules = compile_rules([*DEFAULT_RULES, CategoryRule(category="special", action="(?i)^(LOG|EXP)", path="[0-9]{3,}"),
                           CategoryRule(category="official_id", path=r"(?i)\.(js|csv)")])
    for name, scope in SCOPES.items():
        on_local = affected_identifiers(local, scope, rules)
        on_es = affected_identifiers(es, scope, rules)
        pd.testing.assert_frame_equal(on_es, on_local, obj=name)
    # small composite pages: the pager walks every page to the end
    monkeypatch.setattr(idmod, "ES_PAGE_BUCKETS", 4 * 13 * 25)  # about 25 per page
    calls: list[Any] = []
    scope = Scope(source_ips=["0.0.0.0/0", "::/0"])
    paged = affected_identifiers(es, scope, rules, progress=lambda *a: calls.append(a))
    pd.testing.assert_frame_equal(paged, affected_identifiers(local, scope, rules))
    assert len(paged) > 100 and calls[-1] == ("identifiers", len(paged), len(paged))


@pytest.fixture(scope="module", params=("elasticsearch", "opensearch"))
def es_samples(request, samples_store, tmp_path_factory) -> Iterator[Any]:
    """The sample platform's logs in Elasticsearch, then in OpenSearch."""
    from tests.services.fixtures import os_prefixed, prefixed

    tmp = tmp_path_factory.mktemp("es-samples")
    if request.param == "elasticsearch":
        client, node = request.getfixturevalue("es_client"), request.getfixturevalue("es_node")
        scope, make = prefixed(client, "subjects-samples"), lambda i: _es_store(client, node, i, tmp)
    else:
        client, node = request.getfixturevalue("os_client"), request.getfixturevalue("os_node")
        scope, make = os_prefixed(client, "subjects-samples"), lambda i: _os_store(client, node, i)
    with scope as prefix:
        es = make(f"{prefix}events")
        _ingest(es, tmp, SAMPLE_INPUTS)
        assert es.count() == samples_store.count()
        yield es


@pytest.mark.slow
def test_search_engine_identical_on_the_planted_attacks(samples_store, es_samples):
    for attack in ATTACKS.values():
        if not attack["source_ips"] or attack["log"] == "auth.log":
            continue
        for users in (False, True):
            scope = attack_scope(attack, users=users)
            pd.testing.assert_frame_equal(affected_identifiers(es_samples, scope),
                                          affected_identifiers(samples_store, scope), obj=attack["id"])


REAL = [
    SHARED / "logs" / "elastic-examples" / "apache_logs",
    SHARED / "logs" / "basjes-hackers-access" / "hackers-access.log",
]
REAL_RULES = [
    *DEFAULT_RULES,
    CategoryRule(category="special", path=r"(?i)\.(php|aspx?|cgi)"),
    CategoryRule(category="official_id", path=r"(?i)/(wp-(login|admin)|join|register)"),
    CategoryRule(category="criminal", path=r"[0-9]{4,}|%[0-9A-Fa-f]{2}"),
]


@pytest.mark.realdata
def test_search_engine_identical_on_real_logs(search_store, tmp_path):
    """Real Apache logs (real paths, agents and attack URLs). They name no accounts or devices, so each event
    gets its client address as `user.id` and its User-Agent as `device.id` — the same batches in both stores."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    parsed = LocalStore(None)
    _ingest(parsed, tmp_path, [(p, IngestOptions(format="combined")) for p in REAL])
    table = parsed.con.sql('SELECT * EXCLUDE ("source.ip#bin") FROM events').to_arrow_table().cast(ARROW_SCHEMA)
    table = table.set_column(table.schema.get_field_index("user.id"), "user.id", table.column("source.ip"))
    table = table.set_column(table.schema.get_field_index("device.id"), "device.id",
                             table.column("user_agent.original"))
    batches = table.to_batches(max_chunksize=20_000)
    local = LocalStore(None)
    for batch in batches:
        local.load(batch, "real")
    es = search_store
    _load_es(es, batches, "real")
    assert es.count() == local.count() > 13_000
    top = [r[0] for r in local.con.execute('SELECT "source.ip" FROM events WHERE "source.ip" IS NOT NULL '
                                           'GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 25').fetchall()]
    rules = compile_rules(REAL_RULES)
    scopes = [Scope(source_ips=top), Scope(source_ips=["66.249.0.0/16", "0.0.0.0/1"]),
              Scope(since=datetime(2015, 5, 18, tzinfo=UTC), until=datetime(2015, 5, 19, 12, tzinfo=UTC),
                    source_ips=["0.0.0.0/0", "::/0"])]
    for scope in scopes:
        on_local = affected_identifiers(local, scope, rules)
        assert len(on_local) > 20
        on_es = affected_identifiers(es, scope, rules)
        pd.testing.assert_frame_equal(on_es, on_local)
        # and the same people: a directory with an account for every address seen (a third of them unknown)
        accounts = sorted(set(on_local.loc[on_local["field"] == "user.id", "value"]))
        directory = pd.DataFrame({"subject_id": accounts[::3] + accounts[1::3],
                                  "email": [f"p{i}@example.org" for i in range(len(accounts[::3] + accounts[1::3]))]})
        people = build_subject_table(on_local, directory).table
        assert len(people) > 0
        pd.testing.assert_frame_equal(build_subject_table(on_es, directory).table, people)
    parsed.close()
    local.close()
