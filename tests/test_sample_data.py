"""The committed sample dataset (samples/) and its generator (breachkit.sample).

Checks that the committed files are exactly what the generator writes, that every line has the documented
format, that attacks.json describes what is really in the logs, and that benign traffic stays below the
thresholds that make each planted attack stand out. Regenerate with `python -m breachkit.sample samples/`.
"""

from __future__ import annotations

import csv
import gzip
import ipaddress
import itertools
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breachkit.logs.schema import FIELD_NAMES, coerce
from breachkit.sample import SampleManifest, iter_access_lines, iter_api_events, write_sample
from breachkit.sample.formats import is_valid_imei, luhn_valid
from breachkit.sample.webattacks import classify_url

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
REGENERATE = "regenerate with: python -m breachkit.sample samples/"
MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
COMBINED = re.compile(
    r"^(?P<ip>\S+) - (?P<user>\S+) \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-) "(?P<ref>[^"]*)" "(?P<agent>[^"]*)"$'
)
SYSLOG = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<time>\d\d:\d\d:\d\d) (?P<host>bastion-[12]) "
    r"(?P<prog>[\w-]+)\[(?P<pid>\d+)\]: (?P<msg>.+)$"
)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ADDRESS = re.compile(r"(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7})(?![\w.:])")
INTERNAL = ipaddress.ip_network("10.0.0.0/8")


@dataclass(frozen=True)
class Sample:
    """The freshly generated dataset, parsed by this test's own (independent) readers."""

    dir: Path
    manifest: SampleManifest
    truth: dict[str, Any]
    api: list[dict[str, Any]]
    access: list[dict[str, Any]]
    auth: list[dict[str, Any]]
    directory: list[dict[str, str]]
    devices: list[dict[str, str]]

    def attack(self, attack_id: str) -> dict[str, Any]:
        return next(a for a in self.truth["attacks"] if a["id"] == attack_id)

    def events(self, log: str) -> list[dict[str, Any]]:
        return {"app-api.jsonl": self.api, "portal-access.log": self.access, "auth.log": self.auth}[log]


def _clf_time(text: str) -> datetime:
    day, mon, rest = text.split("/", 2)
    year, hh, mm, rest = rest.split(":", 3)
    ss, off = rest.split(" ")
    sign = 1 if off[0] == "+" else -1
    local = datetime(int(year), MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    return local - sign * timedelta(hours=int(off[1:3]), minutes=int(off[3:5]))


def _age(born: date, when: date) -> int:
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


def _access_event(line: str) -> dict[str, Any]:
    m = COMBINED.match(line)
    assert m is not None, f"not combined format: {line}"
    method, _, rest = m["request"].partition(" ")
    target = rest.rsplit(" ", 1)[0]
    return {
        "@timestamp": _clf_time(m["time"]),
        "offset": m["time"][-5:],
        "source.ip": m["ip"],
        "user.id": None if m["user"] == "-" else m["user"],
        "http.request.method": method,
        "url.original": target,
        "url.path": target.split("?", 1)[0],
        "status": int(m["status"]),
        "bytes": 0 if m["size"] == "-" else int(m["size"]),
        "size": m["size"],
        "user_agent.original": m["agent"],
        "line": line,
    }


def _auth_event(line: str, year: int) -> dict[str, Any]:
    m = SYSLOG.match(line)
    assert m is not None, f"not syslog format: {line}"
    hh, mm, ss = (int(x) for x in m["time"].split(":"))
    ts = datetime(year, MONTHS[m["mon"]], int(m["day"]), hh, mm, ss, tzinfo=UTC)
    found = ADDRESS.findall(m["msg"])
    return {"@timestamp": ts, "host.name": m["host"], "program": m["prog"], "pid": int(m["pid"]),
            "message": m["msg"], "source.ip": found[0] if found else None, "addresses": set(found)}  # fmt: skip


def load(out: Path, manifest: SampleManifest) -> Sample:
    truth = json.loads((out / "attacks.json").read_text(encoding="utf-8"))
    api_text = _read_text(next(out.glob("app-api.jsonl*")))
    api = []
    for line in api_text.splitlines():
        ev = json.loads(line)
        ev["_keys"] = list(ev)
        ev["@timestamp"] = _iso(ev["@timestamp"])
        api.append(ev)
    year = _iso(truth["start"]).year
    with (out / "directory.csv").open(encoding="utf-8", newline="") as f:
        directory = list(csv.DictReader(f))
    with (out / "devices.csv").open(encoding="utf-8", newline="") as f:
        devices = list(csv.DictReader(f))
    return Sample(
        dir=out,
        manifest=manifest,
        truth=truth,
        api=api,
        access=[_access_event(x) for x in (out / "portal-access.log").read_text(encoding="utf-8").splitlines()],
        auth=[_auth_event(x, year) for x in (out / "auth.log").read_text(encoding="utf-8").splitlines()],
        directory=directory,
        devices=devices,
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    out = tmp_path_factory.mktemp("sample")
    return load(out, write_sample(out))


# ---------------------------------------------------------------------------------------------- files
def test_committed_samples_are_what_the_generator_writes(sample: Sample) -> None:
    fresh = {p.name for p in sample.dir.iterdir()}
    committed = {p.name for p in SAMPLES.iterdir() if p.name != "README.md"}
    assert committed == fresh, REGENERATE
    for name in sorted(fresh):
        new, old = (sample.dir / name).read_bytes(), (SAMPLES / name).read_bytes()
        if name.endswith(".gz"):
            # compressed bytes depend on the zlib build; the content and the header must not
            assert old[:10] == new[:10] and old[3] == 0 and old[4:8] == b"\0\0\0\0", "gzip header: no name, mtime 0"
            assert gzip.decompress(old) == gzip.decompress(new), f"{name} differs; {REGENERATE}"
        else:
            assert old == new, f"{name} differs; {REGENERATE}"


def test_sizes_and_volume(sample: Sample) -> None:
    total = sum(p.stat().st_size for p in SAMPLES.iterdir())
    assert total < 8 * 1024 * 1024
    lines = len(sample.api) + len(sample.access) + len(sample.auth)
    assert 20_000 <= lines <= 40_000
    assert 1900 <= len(sample.directory) <= 2100
    api_name = next(p.name for p in sample.dir.glob("app-api.jsonl*"))
    raw_size = len(_read_text(sample.dir / api_name).encode())
    assert api_name == ("app-api.jsonl.gz" if raw_size > 4 * 1024 * 1024 else "app-api.jsonl")
    files = sample.truth["files"]
    assert files["app-api.jsonl"]["lines"] == len(sample.api)
    assert files["portal-access.log"]["lines"] == len(sample.access)
    assert [f.name for f in sample.manifest.files][-1] == "attacks.json"


def test_readme_describes_every_file_and_attack(sample: Sample) -> None:
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    assert REGENERATE.split(": ")[1] in readme
    for name in [p.name for p in sample.dir.iterdir()] + [a["id"] for a in sample.truth["attacks"]]:
        assert f"`{name}`" in readme, name


def test_cli_writes_a_sample_and_another_seed_differs(sample: Sample, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "breachkit.sample", str(tmp_path), "--seed", "8"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "portal-access.log" in done.stdout
    for name in ("directory.csv", "portal-access.log", "auth.log", "attacks.json"):
        assert (tmp_path / name).read_bytes() != (sample.dir / name).read_bytes(), name
    api = next(tmp_path.glob("app-api.jsonl*"))
    assert _read_text(api) != _read_text(next(sample.dir.glob("app-api.jsonl*")))


# ---------------------------------------------------------------------------------------------- formats
def test_api_lines_use_only_schema_fields(sample: Sample) -> None:
    order = {name: i for i, name in enumerate(FIELD_NAMES)}
    required = {"@timestamp", "event.action", "event.outcome", "source.ip", "http.request.method", "url.original",
                "url.path", "http.response.status_code", "http.response.body.bytes", "user_agent.original",
                "service.name"}  # fmt: skip
    raw = _read_text(next(sample.dir.glob("app-api.jsonl*"))).splitlines()
    previous = datetime.min.replace(tzinfo=UTC)
    for line, ev in zip(raw, sample.api, strict=True):
        keys = ev["_keys"]
        assert set(keys) <= set(FIELD_NAMES), set(keys) - set(FIELD_NAMES)
        assert keys == sorted(keys, key=order.__getitem__), "keys in schema order"
        assert required <= set(keys), line
        assert None not in (ev[k] for k in keys)
        assert ISO_MS.match(json.loads(line)["@timestamp"])
        assert ev["@timestamp"] >= previous
        previous = ev["@timestamp"]
        assert ev["event.outcome"] in ("success", "failure")
        assert ev["service.name"] in ("app-api", "public-api")
        assert ("user.email" in ev) == (ev["event.action"] == "login"), line
        query = ev.get("url.query")
        assert ev["url.original"] == (f"{ev['url.path']}?{query}" if query else ev["url.path"])
        for k in keys:
            if k != "@timestamp":
                assert coerce(k, ev[k]) == ev[k], (k, line)  # canonical IPs, integer sizes
    actions = Counter(ev["event.action"] for ev in sample.api)
    assert {"login", "logout", "password_reset", "view", "export", "api_call", "device_register"} <= set(actions)


def test_portal_lines_are_combined_format_in_berlin_time(sample: Sample) -> None:
    switch = datetime(2026, 3, 29, 1, tzinfo=UTC)
    users = {row["user_id"]: row for row in sample.directory}
    times = [ev["@timestamp"] for ev in sample.access]
    assert times == sorted(times)
    for ev in sample.access:
        assert ev["offset"] == ("+0100" if ev["@timestamp"] < switch else "+0200"), ev["line"]
        assert ev["user.id"] is None or ev["user.id"] in users
    internal = [ev for ev in sample.access if ipaddress.ip_address(ev["source.ip"]) in INTERNAL]
    assert all(ipaddress.ip_address(ev["source.ip"]) in ipaddress.ip_network("10.20.0.0/16") for ev in internal)
    assert {users[ev["user.id"]]["account_type"] for ev in internal if ev["user.id"]} == {"admin"}
    assert {"+0100", "+0200"} == {ev["offset"] for ev in sample.access}
    assert any(":" in ev["source.ip"] for ev in sample.access), "some IPv6 clients"
    assert any(ev["size"] == "-" for ev in sample.access), "%b is - for empty bodies"
    paths = {ev["url.path"] for ev in sample.access}
    assert {"/login", "/logout", "/account", "/account/devices", "/password/reset", "/export/consumption.csv"} <= paths
    assert not any(ev["url.path"].startswith("/api/") for ev in sample.access if ev["user.id"]), (
        "the API logs elsewhere"
    )
    sqlmap = [ev for ev in sample.access if ev["user_agent.original"].startswith("sqlmap")]
    assert {ev["offset"] for ev in sqlmap} == {"+0100", "+0200"}, "the sqlmap run straddles the DST switch"


def test_auth_lines_are_syslog(sample: Sample) -> None:
    messages = [ev["message"] for ev in sample.auth]
    assert {ev["host.name"] for ev in sample.auth} == {"bastion-1", "bastion-2"}
    assert sum(m.startswith("message repeated 3 times: [ Failed password for root from ") for m in messages) == 1
    for needle in (
        "Accepted password for ",
        "Accepted publickey for ",
        "Invalid user ",
        "Failed password for invalid user ",
    ):
        assert any(m.startswith(needle) for m in messages), needle
    cron = "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
    assert sum(ev["program"] == "CRON" and ev["message"] == cron for ev in sample.auth) >= 24 * 14
    assert any(ln.startswith("Apr  1 ") for ln in (sample.dir / "auth.log").read_text().splitlines()), "day padding"
    times = [ev["@timestamp"] for ev in sample.auth]
    assert times == sorted(times)


def test_directory(sample: Sample) -> None:
    header = (sample.dir / "directory.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "user_id,email,name,locale,country,account_type,birth_date,status,phone,created_at"
    rows = sample.directory
    assert len({r["user_id"] for r in rows}) == len(rows)
    types = Counter(r["account_type"] for r in rows)
    assert set(types) == {"end_user", "installer", "admin", "test"}
    assert types["end_user"] > 0.9 * len(rows) and 0.01 * len(rows) < types["installer"] < 0.05 * len(rows)
    assert {r["status"] for r in rows} == {"active", "disabled"}
    assert {r["locale"] for r in rows} == {"de", "fr", "en", "nl", "it"}
    assert {"DE", "AT", "CH", "FR", "NL", "BE", "IT", "ES", "PL"} == {r["country"] for r in rows}
    messy = [r for r in rows if r["email"] != r["email"].strip().lower()]
    assert len(messy) >= 20 and any(r["email"] != r["email"].strip() for r in messy)
    assert all(
        r["email"].strip().lower().endswith((".example", "example.com", "example.org", "example.net")) for r in rows
    )
    info = sample.truth["directory"]
    assert sorted(info["emails_needing_normalisation"]) == sorted(r["user_id"] for r in messy)
    by_norm: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_norm[r["email"].strip().lower()].append(r["user_id"])
    assert sorted(ids for ids in by_norm.values() if len(ids) > 1) == sorted(
        info["duplicate_emails_after_normalisation"]
    )
    born = {r["user_id"]: date.fromisoformat(r["birth_date"]) for r in rows if r["birth_date"]}
    minors = [uid for uid, day in born.items() if _age(day, date.fromisoformat(info["reference_date"])) < 18]
    assert minors == info["minors"] and len(minors) >= 5
    for when in (_iso(sample.truth["start"]).date(), _iso(sample.truth["end"]).date()):  # unambiguous in the window
        assert [uid for uid, day in born.items() if _age(day, when) < 18] == minors
    assert set(sample.attack("customer_enumeration")["affected_user_ids"]) & set(minors), "a child among the exposed"


def test_imeis_pass_luhn_except_the_planted_malformed_ones(sample: Sample) -> None:
    planted = set(sample.attack("malformed_imei")["imeis"])
    assert len(planted) == 2 and not any(is_valid_imei(x) for x in planted)
    assert any(len(x) == 15 and not luhn_valid(x) for x in planted) and any(len(x) == 14 for x in planted)
    ids = [d["device_id"] for d in sample.devices]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[A-Z]{2}-[0-9A-F]{8}", x) for x in ids)
    imeis = {d["device_id"]: d["imei"] for d in sample.devices}
    for d in sample.devices:
        assert is_valid_imei(d["imei"]) or d["imei"] in planted, d
    users = {r["user_id"] for r in sample.directory}
    assert all(
        d["owner_user_id"] in users and (d["installer_id"] in users or not d["installer_id"]) for d in sample.devices
    )
    owners = Counter(d["owner_user_id"] for d in sample.devices if d["registered_at"] < sample.truth["start"])
    assert max(owners.values()) <= 3
    for ev in sample.api:
        if "device.imei" in ev:
            assert imeis[ev["device.id"]] == ev["device.imei"]
            assert is_valid_imei(ev["device.imei"]) or ev["device.imei"] in planted


def test_addresses_are_public_or_the_internal_allow_list(sample: Sample) -> None:
    with (sample.dir / "ip-geo.csv").open(encoding="utf-8", newline="") as f:
        geo = [(ipaddress.ip_network(r["network"]), r["country_iso_code"]) for r in csv.DictReader(f)]
    countries: dict[str, set[str]] = defaultdict(set)
    for ev in sample.api:
        countries[ev["source.ip"]].add(ev.get("source.geo.country_iso_code", ""))
    for ip, seen in countries.items():
        assert len(seen) == 1, ip
        expected = next(cc for net, cc in geo if ipaddress.ip_address(ip) in net)
        assert seen == {expected}, ip
    assert any(":" in ip for ip in countries) and any("." in ip for ip in countries)
    every = {ev["source.ip"] for ev in sample.access} | set(countries)
    every |= set().union(*(ev["addresses"] for ev in sample.auth))
    for text in every:
        addr = ipaddress.ip_address(text)
        if addr in INTERNAL:
            continue
        assert not (addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_unspecified), text
        for private in ("172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "198.18.0.0/15"):
            assert addr not in ipaddress.ip_network(private), text


# ---------------------------------------------------------------------------------------------- ground truth
def _selected(sample: Sample, attack: dict[str, Any]) -> list[dict[str, Any]]:
    start, end = _iso(attack["start"]), _iso(attack["end"])
    out = []
    for ev in sample.events(attack["log"]):
        if not start <= ev["@timestamp"] <= end:
            continue
        ok = True
        for field, allowed in attack["match"].items():
            if attack["log"] == "auth.log" and field == "source.ip":
                ok = ok and bool(ev["addresses"] & set(allowed))
            else:
                ok = ok and ev.get(field) in allowed
        if ok:
            out.append(ev)
    return out


def test_attacks_json_matches_the_logs(sample: Sample) -> None:
    ids = [a["id"] for a in sample.truth["attacks"]]
    assert len(ids) == len(set(ids)) == 15
    users = {r["user_id"] for r in sample.directory}
    for attack in sample.truth["attacks"]:
        picked = _selected(sample, attack)
        assert len(picked) == attack["events"], attack["id"]
        assert picked[0]["@timestamp"] == _iso(attack["start"]) and picked[-1]["@timestamp"] == _iso(attack["end"])
        if attack["log"] == "auth.log":
            seen_ips = set().union(*(ev["addresses"] for ev in picked))
        else:
            seen_ips = {ev["source.ip"] for ev in picked}
        assert set(attack["source_ips"]) <= seen_ips, attack["id"]
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", attack["technique"])
        assert set(attack["affected_user_ids"]) <= users and set(attack["target_user_ids"]) <= users | {
            t for t in attack["target_user_ids"] if attack["id"] == "customer_enumeration"
        }
        if attack["log"] != "auth.log":
            assert set(attack["user_ids"]) == {ev.get("user.id") for ev in picked} - {None}, attack["id"]
        if attack["log"] == "app-api.jsonl":
            assert set(attack["device_ids"]) <= {ev.get("device.id") for ev in picked}
            assert set(attack["imeis"]) <= {ev.get("device.imei") for ev in picked}
            assert set(attack["emails"]) <= {ev.get("user.email") for ev in picked}
            assert set(attack["countries"]) <= {ev.get("source.geo.country_iso_code") for ev in picked}


def _ids(attack: dict[str, Any], key: str) -> set[str]:
    return set(attack[key])


def test_login_attacks(sample: Sample) -> None:
    brute = _selected(sample, sample.attack("brute_force_login"))
    assert [ev["event.outcome"] for ev in brute[:47]] == ["failure"] * 46 + ["success"]
    assert brute[45]["@timestamp"] - brute[0]["@timestamp"] < timedelta(minutes=10)

    burst = _selected(sample, sample.attack("hour_boundary_burst"))
    hour = burst[0]["@timestamp"].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert len({ev["user.id"] for ev in burst}) == 1 and {ev["event.outcome"] for ev in burst} == {"failure"}
    assert sum(ev["@timestamp"] < hour for ev in burst) == 6 == sum(ev["@timestamp"] >= hour for ev in burst)
    assert (burst[0]["@timestamp"].time().isoformat(), burst[-1]["@timestamp"].time().isoformat()) == (
        "13:59:30",
        "14:00:30",
    )

    stuffing = sample.attack("credential_stuffing")
    logins = [ev for ev in _selected(sample, stuffing) if ev["event.action"] == "login"]
    assert max(Counter(ev.get("user.id") or ev["user.email"] for ev in logins).values()) <= 2
    assert len(stuffing["source_ips"]) == 40 and len(stuffing["countries"]) == 2
    winners = {ev["user.id"] for ev in logins if ev["event.outcome"] == "success"}
    assert winners == _ids(stuffing, "affected_user_ids")

    travel = [ev for ev in _selected(sample, sample.attack("impossible_travel")) if ev["event.action"] == "login"]
    assert len({ev["source.geo.country_iso_code"] for ev in travel}) == 4
    assert travel[-1]["@timestamp"] - travel[0]["@timestamp"] < timedelta(minutes=30)


def test_data_access_attacks(sample: Sample) -> None:
    enumeration = sample.attack("customer_enumeration")
    enum = _selected(sample, enumeration)
    assert len({ev["user.target.id"] for ev in enum if "user.target.id" in ev}) >= 200
    assert enum[-1]["@timestamp"] - enum[0]["@timestamp"] < timedelta(minutes=15)
    assert all(ev["url.path"] == f"/api/v1/customers/{ev['user.target.id']}/consumption" for ev in enum[1:])
    found = {ev["user.target.id"] for ev in enum[1:] if ev["http.response.status_code"] == 200}
    assert found == _ids(enumeration, "affected_user_ids")

    shared = sample.attack("shared_device_identity")
    on_device = {ev["user.id"] for ev in _selected(sample, shared) if ev.get("device.id") == shared["device_ids"][0]}
    assert len(on_device) >= 8

    bulk = sample.attack("bulk_export")
    exports = [ev for ev in _selected(sample, bulk) if ev["url.path"].startswith("/export/")]
    assert len(exports) == bulk["counts"]["exports"] and min(ev["bytes"] for ev in exports) > 1_000_000
    customers = {dict(p.split("=") for p in ev["url.original"].split("?")[1].split("&"))["customer"] for ev in exports}
    assert customers == _ids(bulk, "affected_user_ids")


def test_scanner_and_ssh_attacks(sample: Sample) -> None:
    scanners = sample.attack("web_scanners")
    scans = _selected(sample, scanners)
    agents = " ".join(ev["user_agent.original"] for ev in scans).lower()
    assert all(tool in agents for tool in ("sqlmap", "nikto", "nuclei"))
    urls = [ev["url.original"] for ev in scans]
    for needle in ("' OR 1=1--", "UNION SELECT", "../../etc/passwd", "%2e%2e%2f"):
        assert any(needle in u for u in urls), needle
    kinds = Counter(classify_url(u) for u in urls)
    assert (kinds["sqli"], kinds["traversal"]) == (scanners["counts"]["sqli"], scanners["counts"]["traversal"])
    assert min(kinds["sqli"], kinds["traversal"]) > 10

    ssh = sample.attack("ssh_brute_force")
    lines = _selected(sample, ssh)
    counts = ssh["counts"]
    assert sum(ev["message"].startswith("Failed password") for ev in lines) == counts["failed_password_lines"] >= 40
    accepted = next(ev for ev in lines if ev["message"].startswith("Accepted password for deploy from "))
    assert accepted["pid"] == counts["accepted_session_pid"]
    session = [ev for ev in sample.auth if ev["pid"] == accepted["pid"] and ev["host.name"] == accepted["host.name"]]
    assert any("session opened for user deploy" in ev["message"] for ev in session)


# ---------------------------------------------------------------------------------------------- separability
Item = tuple[Hashable, datetime, Hashable]


def _over(items: Iterable[Item], width: timedelta, threshold: int) -> set[Hashable]:
    """Keys with at least `threshold` distinct values inside some sliding window of `width`."""
    by_key: dict[Hashable, list[tuple[datetime, Hashable]]] = defaultdict(list)
    for key, ts, value in items:
        by_key[key].append((ts, value))
    hits = set()
    for key, seq in by_key.items():
        seq.sort(key=lambda x: x[0])
        counts: Counter[Hashable] = Counter()
        lo = 0
        for ts, value in seq:
            counts[value] += 1
            while seq[lo][0] < ts - width:
                old = seq[lo][1]
                counts[old] -= 1
                if not counts[old]:
                    del counts[old]
                lo += 1
            if len(counts) >= threshold:
                hits.add(key)
                break
    return hits


def _failed_logins(sample: Sample) -> list[dict[str, Any]]:
    return [ev for ev in sample.api if ev["event.action"] == "login" and ev["event.outcome"] == "failure"]


def test_benign_login_failures_stay_below_the_login_attacks(sample: Sample) -> None:
    a, n = sample.attack, itertools.count()
    failures = _failed_logins(sample)
    per_account = _over(
        ((ev["user.id"], ev["@timestamp"], next(n)) for ev in failures if "user.id" in ev), timedelta(minutes=10), 10
    )
    assert per_account == _ids(a("brute_force_login"), "user_ids") | _ids(a("hour_boundary_burst"), "user_ids")
    per_ip = _over(
        ((ev["source.ip"], ev["@timestamp"], ev["user.email"].lower()) for ev in failures), timedelta(hours=1), 5
    )
    stuffing, spraying = _ids(a("credential_stuffing"), "source_ips"), _ids(a("password_spraying"), "source_ips")
    assert spraying <= per_ip <= stuffing | spraying and len(per_ip & stuffing) >= 30
    rows = {r["user_id"]: r for r in sample.directory}
    logins = {ev["user.id"] for ev in sample.api if ev["event.action"] == "login" and ev["event.outcome"] == "success"}
    odd = {uid for uid in logins if rows[uid]["status"] == "disabled" or rows[uid]["account_type"] == "test"}
    assert odd == _ids(a("disabled_account_login"), "user_ids") | _ids(a("test_account_login"), "user_ids")


def test_benign_api_use_stays_below_the_account_and_device_attacks(sample: Sample) -> None:
    a, api = sample.attack, sample.api
    by_device: dict[str, set[str]] = defaultdict(set)
    for ev in api:
        if "device.id" in ev:
            by_device[ev["device.id"]].add(ev["user.id"])
    assert {d for d, users in by_device.items() if len(users) >= 8} == _ids(a("shared_device_identity"), "device_ids")
    regs = ((ev["user.id"], ev["@timestamp"], ev["device.id"]) for ev in api if ev["event.action"] == "device_register")
    assert _over(regs, timedelta(hours=1), 8) == _ids(a("device_registration_burst"), "user_ids")
    geo = ((ev["user.id"], ev["@timestamp"], ev.get("source.geo.country_iso_code")) for ev in api if "user.id" in ev)
    assert _over(geo, timedelta(minutes=30), 3) == _ids(a("impossible_travel"), "user_ids")
    touched = ((ev["user.id"], ev["@timestamp"], ev["user.target.id"]) for ev in api if "user.target.id" in ev)
    assert _over(touched, timedelta(minutes=15), 50) == _ids(a("customer_enumeration"), "user_ids")
    assert not any(classify_url(ev["url.original"]) for ev in api)


def test_benign_portal_and_ssh_stay_below_their_attacks(sample: Sample) -> None:
    a, access, n = sample.attack, sample.access, itertools.count()
    exports = [ev for ev in access if ev["url.path"].startswith("/export/")]
    by_user = ((ev["user.id"], ev["@timestamp"], next(n)) for ev in exports)
    assert _over(by_user, timedelta(minutes=15), 10) == _ids(a("bulk_export"), "user_ids")
    assert {ev["source.ip"] for ev in exports if ev["bytes"] > 1_000_000} == _ids(a("bulk_export"), "source_ips")
    admin = [ev for ev in access if ev["url.path"].startswith("/admin")]
    outside = {ev["source.ip"] for ev in admin if ipaddress.ip_address(ev["source.ip"]) not in INTERNAL}
    assert outside == _ids(a("admin_from_outside"), "source_ips")
    scanner = re.compile(r"sqlmap|nikto|nuclei", re.I)
    noisy = {
        ev["source.ip"]
        for ev in access
        if scanner.search(ev["user_agent.original"]) or classify_url(ev["url.original"])
    }
    assert noisy == _ids(a("web_scanners"), "source_ips")
    auth = sample.auth
    ssh = ((ev["source.ip"], ev["@timestamp"], next(n)) for ev in auth if ev["message"].startswith("Failed password"))
    assert _over(ssh, timedelta(minutes=10), 10) == _ids(a("ssh_brute_force"), "source_ips")
    accepted = {ev["source.ip"] for ev in auth if ev["message"].startswith("Accepted password")}
    assert accepted == _ids(a("ssh_brute_force"), "source_ips")


# ---------------------------------------------------------------------------------------------- streams
def _take(it: Iterator[str], n: int) -> list[str]:
    return list(itertools.islice(it, n))


def test_streams_are_fast_valid_and_reproducible() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    api = _take(iter_api_events(20_000, seed=11, start=start), 30_000)
    assert len(api) == 20_000
    assert api[:500] == _take(iter_api_events(500, seed=11, start=start), 500)
    assert api[:500] != _take(iter_api_events(500, seed=12, start=start), 500)
    last = ""
    targets: Counter[str] = Counter()
    for line in api:
        ev = json.loads(line)
        assert set(ev) <= set(FIELD_NAMES) and ISO_MS.match(ev["@timestamp"]) and ev["@timestamp"] >= last
        assert list(ev) == sorted(ev, key=FIELD_NAMES.index), "keys in schema order"
        assert ev["@timestamp"] >= "2026-03-02T00:00:00.000Z"
        last = ev["@timestamp"]
        if "user.target.id" in ev:
            targets[ev["user.id"]] += 1
    assert max(targets.values()) >= 200, "the attack mix includes an enumeration"
    access = _take(iter_access_lines(20_000, seed=11, start=start), 30_000)
    assert len(access) == 20_000 and all(COMBINED.match(x) for x in access)
    stamps = [_clf_time(COMBINED.match(x)["time"]) for x in access]  # type: ignore[index]
    assert stamps == sorted(stamps) and stamps[0] >= start
    assert any("sqlmap" in x or "Nikto" in x or "Nuclei" in x for x in access)
