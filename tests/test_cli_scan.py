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
    for key, value in (("HOST", server.host), ("PORT", str(server.port)), ("SECURITY", "none"),
                       ("SENDER", "security@heimwatt.example")):
        monkeypatch.setenv(f"BREACHKIT_NOTICES__SMTP__{key}", value)
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


def test_a_failed_alert_keeps_the_checkpoint_so_the_next_run_alerts_again(env):
    invoke, server = env
    server.recorder.script.reject = {"soc@heimwatt.example"}
    out = invoke("scan", "--since", SINCE, code=3)
    assert "could not be sent" in out.output
    assert "never run" in invoke("scan", "--status").output
    server.recorder.script.reject = set()
    assert json.loads(invoke("scan", "--since", SINCE, "-o", "json").output)["new"]
    assert len(server.recorder.received) == 1


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
