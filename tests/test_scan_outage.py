"""Issue 11: the cluster goes away in the middle of a scheduled scan (a TCP proxy in front of the real node is
cut while the rules run). The scan fails as a service error (exit 3) naming the cluster; nothing of the run is
committed (no checkpoint, no detection marked seen, no alert); the next scan, with the cluster back, covers the
whole window and alerts once; the one after alerts nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from breachkit.errors import ServiceError
from breachkit.scan import run_scan, scan_status
from breachkit.session import Session
from tests.services.smtp import start_server
from tests.services.tcpproxy import TcpProxy

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SINCE = "2026-03-19T00:00:00Z"


@pytest.fixture
def outage(search_setup, tmp_path, monkeypatch, invoke_cli):
    """A project whose engine is the search node behind a proxy, with the sample API logs ingested through it."""
    setup = search_setup
    node = urlsplit(setup.config.model_dump()[setup.engine]["hosts"][0])
    proxy = TcpProxy(node.hostname or "127.0.0.1", node.port or 9200).start()
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    for key, value in setup.env.items():
        monkeypatch.setenv(key, value)
    hosts_key = f"BREACHKIT_{setup.engine.upper()}__HOSTS"
    monkeypatch.setenv(hosts_key, json.dumps([f"{node.scheme}://{node.hostname}:{proxy.port}"]))
    monkeypatch.setenv(f"BREACHKIT_{setup.engine.upper()}__REQUEST_TIMEOUT", "10")
    monkeypatch.setenv("BREACHKIT_INGEST__DEFAULT_ENGINE", setup.engine)
    monkeypatch.setenv("BREACHKIT_ACTOR", "cron@heimwatt.example")
    server = start_server()
    for key, value in server.environment(sender="security@heimwatt.example").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BREACHKIT_SCAN__ALERT_TO", '["soc@heimwatt.example"]')
    shutil.copy(SAMPLES / "app-api.jsonl.gz", project / "app-api.jsonl.gz")
    invoke_cli("init", ".")
    invoke_cli("ingest", "app-api.jsonl.gz", "--format", "jsonl")
    try:
        yield project, proxy, server
    finally:
        proxy.cut()
        server.stop()


def _keys(detections) -> set[tuple[str, tuple]]:
    return {(d.rule_id, d.key) for d in detections}


def test_a_cluster_lost_mid_scan_commits_nothing_and_the_next_scan_covers_the_window(outage, fault_report):
    project, proxy, server = outage
    config = project / "breachkit.toml"
    with Session.open(config) as session:  # what the window holds (a dry run changes nothing)
        expected = _keys(run_scan(session, since=SINCE, dry_run=True).new)
    assert expected
    ran: list[str] = []

    def cut_after_three(meta) -> None:  # the node goes away while the rules run
        ran.append(meta.id)
        if len(ran) == 3:
            proxy.cut()

    with Session.open(config) as session, pytest.raises(ServiceError) as lost:
        run_scan(session, since=SINCE, on_rule=cut_after_three)
    assert lost.value.exit_code == 3 and str(proxy.port) in str(lost.value)
    assert len(ran) >= 3
    with Session.open(config) as session:
        assert scan_status(session).checkpoint is None  # nothing of the failed run is committed
        engine = scan_status(session).engine
        assert session.store.scans.seen() == {} and session.store.scans.pending_alerts(engine) == []
    assert server.recorder.received == []

    proxy.restore()
    with Session.open(config) as session:
        complete = run_scan(session, since=SINCE)
        # lost: detections of the window the scans after the outage never alerted
        fault_report.record("scan.cluster_lost_mid_scan", tried=1, lost=len(expected - _keys(complete.new)))
        assert _keys(complete.new) == expected
        assert complete.run is not None and complete.run.incomplete is None
        assert complete.new and complete.checkpoint_moved
        assert len(server.recorder.received) == 1  # one alert for the whole window, once
        again = run_scan(session)
        assert again.new == [] and len(server.recorder.received) == 1


def test_the_cli_reports_a_lost_cluster_as_exit_3_and_keeps_the_checkpoint(outage, invoke_cli):
    _, proxy, server = outage
    proxy.cut()
    out = invoke_cli("scan", "--since", SINCE, code=3)
    assert str(proxy.port) in out.output
    assert "never run" in invoke_cli("scan", "--status").output and server.recorder.received == []
    proxy.restore()
    assert json.loads(invoke_cli("scan", "--since", SINCE, "-o", "json").output)["new"]
    assert len(server.recorder.received) == 1
