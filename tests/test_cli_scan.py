"""`breachkit scan` for cron on the sample platform: checkpoint, alerts once, links to open incidents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from breachkit.incidents.model import Scope
from tests.services.smtp import start_server

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
ATTACKS = {a["id"]: a for a in json.loads((SAMPLES / "attacks.json").read_text())["attacks"]}
SINCE = "2026-03-19T00:00:00Z"


@pytest.fixture
def env(tmp_path, monkeypatch, invoke_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREACHKIT_ACTOR", "cron@heimwatt.example")
    server = start_server()
    for key, value in server.environment(sender="security@heimwatt.example").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BREACHKIT_SCAN__ALERT_TO", '["soc@heimwatt.example"]')
    shutil.copy(SAMPLES / "app-api.jsonl.gz", tmp_path / "app-api.jsonl.gz")
    invoke = invoke_cli

    invoke("init", ".")
    invoke("ingest", "app-api.jsonl.gz", "--format", "jsonl")
    yield invoke, server
    server.stop()


def test_alerts_once_then_only_what_is_new(env):
    invoke, server = env
    assert "never run" in invoke("scan", "--status").output
    first = json.loads(invoke("scan", "--since", SINCE, "-o", "json").output)
    assert first["new"] and not first["linked"]
    assert len(server.recorder.received) == 1
    alert = server.recorder.received[0].message
    assert alert["To"] == "soc@heimwatt.example" and f"{len(first['new'])} new detections" in alert["Subject"]
    body = alert.get_body(("plain",)).get_content()
    assert all(d["title"] in body for d in first["new"]) and "breachkit incident open" in body
    assert "scanned until" in invoke("scan", "--status").output
    # the next run starts at the checkpoint (minus the overlap): nothing new, no mail
    second = json.loads(invoke("scan", "-o", "json").output)
    assert second["new"] == [] and len(server.recorder.received) == 1
    # a backfill over the same events: all of it was reported before
    again = json.loads(invoke("scan", "--since", SINCE, "-o", "json").output)
    assert again["new"] == [] and again["ongoing"] == first["detections"]


def test_detections_of_an_open_incidents_actors_are_linked_not_alerted(env):
    invoke, server = env
    attack = ATTACKS["credential_stuffing"]
    scope = Scope(source_ips=attack["source_ips"])
    invoke("incident", "open", "--title", "Stuffing", "--aware-at", "2026-03-25T06:00:00Z", "--justification", "j",
           "--set", f"scope.source_ips={json.dumps(scope.source_ips)}")
    result = json.loads(invoke("scan", "--since", SINCE, "-o", "json").output)
    linked = result["linked"]["BK-2026-0001"]
    assert linked and all(scope.covers(list(d["key"].items())) for d in linked)
    assert not any(scope.covers(list(d["key"].items())) for d in result["new"])
    shown = json.loads(invoke("incident", "show", "BK-2026-0001", "-o", "json").output)
    assert any(e["action"] == "detection" and e["reason"] == "scheduled scan" for e in shown["timeline"])
    assert len(server.recorder.received) == 1


def _to(server, address: str) -> list:
    return [m for m in server.recorder.received if address in m.recipients]


def test_a_refused_address_is_retried_alone_and_the_checkpoint_waits_for_it(env, monkeypatch, fault_report):
    """Issue 11: alert delivery is per address — the refused one is recorded and retried by the next runs
    without re-alerting the others, and the checkpoint moves once every alert is delivered."""
    invoke, server = env
    soc, oncall = "soc@heimwatt.example", "oncall@heimwatt.example"
    monkeypatch.setenv("BREACHKIT_SCAN__ALERT_TO", json.dumps([soc, oncall]))
    server.recorder.script.reject = {oncall}
    first = invoke("scan", "--since", SINCE, "-o", "json", code=4)
    doc = json.loads(first.stdout)
    assert doc["alerts_sent"] == [soc] and doc["alerts_retrying"][0].startswith(oncall)
    assert doc["checkpoint_moved"] is False and doc["new"]
    assert "1 scan alert not delivered; 1 delivered" in first.output and oncall in first.output
    assert len(_to(server, soc)) == 1 and not _to(server, oncall)
    status = invoke("scan", "--status").output
    assert "scanned until 2026-03-19" in status  # the window's start: not past what is still to be alerted
    # the next run: the same detections are not new (no second alert to soc); oncall is tried again
    second = json.loads(invoke("scan", "-o", "json", code=4).stdout)
    assert second["new"] == [] and second["alerts_sent"] == [] and len(second["alerts_retrying"]) == 1
    assert len(_to(server, soc)) == 1
    server.recorder.script.reject = set()
    third = json.loads(invoke("scan", "-o", "json").stdout)
    assert third["alerts_sent"] == [oncall] and third["checkpoint_moved"] is True
    # lost: an address never alerted; twice to one address counts too (each address once, exactly)
    fault_report.record("scan.refused_alert_address", tried=2,
                        lost=sum(abs(len(_to(server, a)) - 1) for a in (soc, oncall)))
    assert len(_to(server, soc)) == 1 and len(_to(server, oncall)) == 1
    assert _to(server, oncall)[0].message["Subject"] == _to(server, soc)[0].message["Subject"]
    assert "scanned until 2026-03-19" not in invoke("scan", "--status").output


def test_an_address_that_keeps_refusing_is_given_up_after_max_attempts(env, monkeypatch):
    invoke, server = env
    monkeypatch.setenv("BREACHKIT_SCAN__ALERT_MAX_ATTEMPTS", "2")
    server.recorder.script.reject = {"soc@heimwatt.example"}
    assert "the next scan tries again" in invoke("scan", "--since", SINCE, code=4).output
    given_up = invoke("scan", "-o", "json", code=4)
    doc = json.loads(given_up.stdout)
    assert doc["alerts_given_up"] and doc["checkpoint_moved"] is True
    assert "given up after 2 attempts" in given_up.output
    third = json.loads(invoke("scan", "-o", "json").stdout)  # nothing pending: a clean run
    assert third["alerts_retrying"] == third["alerts_given_up"] == [] and not server.recorder.received


def test_dry_run_changes_nothing(env):
    invoke, server = env
    assert json.loads(invoke("scan", "--since", SINCE, "--dry-run", "-o", "json").output)["new"]
    assert "never run" in invoke("scan", "--status").output and not server.recorder.received


def test_scope_covers_addresses_ranges_and_accounts():
    scope = Scope(source_ips=["198.51.100.0/24", "2001:db8::/32"], user_ids=["u1"], imeis=["359623082323602"])
    assert scope.covers([("source.ip", "198.51.100.79")]) and scope.covers([("source.ip", "2001:db8::7")])
    assert not scope.covers([("source.ip", "198.51.101.1")]) and not scope.covers([("source.ip", "not-an-ip")])
    assert scope.covers([("source.ip", "192.0.2.1"), ("user.id", "u1")])
    assert scope.covers([("device.imei", "359623082323602")]) and not scope.covers([("user.name", "u1")])


def test_ongoing_activity_moves_its_last_seen(tmp_path):
    """A long campaign stays one reported activity: each run that sees it again extends what was reported."""
    from datetime import UTC, datetime, timedelta

    from breachkit.detect.engines import TimeWindow
    from breachkit.detect.run import Detection
    from breachkit.incidents.store import IncidentStore
    from breachkit.scan import ScanResult, commit

    t0 = datetime(2026, 3, 20, tzinfo=UTC)

    def detection(start: datetime, hours: float) -> Detection:
        return Detection("r1", "Brute force", "high", (), "event_count", "local", (("source.ip", "192.0.2.9"),),
                         ("e1",), start, start + timedelta(hours=hours))

    with IncidentStore(f"sqlite:///{tmp_path}/i.db") as store:
        commit(store, ScanResult("local", TimeWindow(t0, t0), 1, new=[detection(t0, 1)]), t0)
        # the next run sees the campaign go on for hours: ongoing, and remembered up to its new last_seen
        later = detection(t0 + timedelta(hours=1), 5)
        commit(store, ScanResult("local", TimeWindow(t0, t0), 1, ongoing=[later],
                                 seen={("r1", '[["source.ip","192.0.2.9"]]'): t0 + timedelta(hours=1)}), t0)
        with store.engine.connect() as conn:
            last = conn.exec_driver_sql("SELECT last_seen FROM scan_seen").scalar()
    assert str(last).startswith("2026-03-20 06:00")  # not still 01:00: a run at 06:30 is within QUIET_GAP


def test_events_ingested_late_but_dated_before_the_checkpoint_are_scanned_exactly_once(env, tmp_path, fault_report):
    """Issue 11: a log shipped days late is scanned by the next run whatever its dates (through the ingest log's
    record of what was stored since), alerted once, and not again by the runs after."""
    import gzip

    invoke, server = env
    first = json.loads(invoke("scan", "--since", SINCE, "-o", "json").output)
    assert first["late_from"] is None and len(server.recorder.received) == 1
    actor = next(dict(d["key"])["source.ip"] for d in first["new"] if "source.ip" in dict(d["key"]))
    late_ip = "192.0.2.99"  # the same activity from an address never seen: new to the scan
    with gzip.open(SAMPLES / "app-api.jsonl.gz", "rt", encoding="utf-8") as lines:
        moved = [line.replace(f'"{actor}"', f'"{late_ip}"') for line in lines if f'"source.ip":"{actor}"' in line]
    assert moved
    (tmp_path / "late-shipped.jsonl").write_text("".join(moved), encoding="utf-8")
    invoke("ingest", "late-shipped.jsonl", "--format", "jsonl")
    second = json.loads(invoke("scan", "-o", "json").output)
    earliest = min(json.loads(line)["@timestamp"] for line in moved)
    # back at least to the late events (the ingest of the fixture's log, minutes before the first run, is within
    # the late margin too: looked at twice, alerted once)
    assert second["late_from"].replace("+00:00", "Z")[:19] <= earliest[:19]
    assert second["new"] and all(dict(d["key"]).get("source.ip") == late_ip for d in second["new"])
    assert len(server.recorder.received) == 2 and late_ip in server.recorder.received[1].message.get_body(
        ("plain",)).get_content()
    third = json.loads(invoke("scan", "-o", "json").output)
    alerted_late = [m for m in server.recorder.received if late_ip in m.message.get_body(("plain",)).get_content()]
    # lost: the late actor not alerted, or alerted more than once
    fault_report.record("scan.late_events", tried=len(moved), lost=0 if len(alerted_late) == 1 else len(moved))
    # within the late margin the next run looks at them again: nothing is new, nothing alerted twice
    assert third["new"] == [] and third["ongoing"] and len(server.recorder.received) == 2


def test_late_data_is_found_from_what_the_ingest_log_says_was_stored_since_the_last_run(tmp_path):
    from datetime import UTC, datetime, timedelta

    from breachkit.logs import audit
    from breachkit.scan import LATE_MARGIN, late_events_since
    from breachkit.workspace import Workspace

    ws = Workspace(tmp_path / "ws").ensure()
    run = datetime(2026, 12, 1, 12, tzinfo=UTC)

    def stored(at: datetime, earliest: str, *, engine: str = "local", added: int = 5) -> None:
        audit.record(ws, at, "ingest", {"engine": engine, "committed_at": at.isoformat(), "earliest": earliest,
                                        "added": added, "replaced": 0})

    assert late_events_since(ws, "local", run) is None
    stored(run - LATE_MARGIN - timedelta(seconds=1), "2026-01-01T00:00:00+00:00")  # seen by the last run
    stored(run + timedelta(hours=1), "2026-11-20T00:00:00+00:00", added=0)  # nothing new stored
    stored(run + timedelta(hours=1), "2026-11-10T00:00:00+00:00", engine="elasticsearch")  # another engine
    assert late_events_since(ws, "local", run) is None
    stored(run + timedelta(hours=2), "2026-11-25T08:00:00+00:00")
    stored(run - timedelta(minutes=5), "2026-11-24T08:00:00+00:00")  # within the margin: may not have been seen
    assert late_events_since(ws, "local", run) == datetime(2026, 11, 24, 8, tzinfo=UTC)
