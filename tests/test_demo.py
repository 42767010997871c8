"""The main job (scripts/demo → `breachkit demo`) end to end on the embedded engine."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from breachkit.cli import cli


@pytest.mark.slow
def test_demo_runs_the_whole_flow_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "demo"])
    assert result.exit_code == 0, result.output
    assert "opened BK-2026-0001" in result.output and "216 people affected" in result.output
    review = tmp_path / "demo" / "review"
    summary = json.loads((review / "subjects" / "summary.json").read_text())
    assert summary["rendered"] == 216 and set(summary["per_locale"]) >= {"de", "fr", "en"}
    assert (review / "authority" / "report.md").read_text().count("Art. 33(3)") >= 3
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (review / "subjects" / "messages").iterdir())
    monkeypatch.chdir(tmp_path / "demo")
    shown = json.loads(CliRunner().invoke(cli, ["incident", "show", "BK-2026-0001", "-o", "json"]).output)
    assert len(shown["tasks"]) >= 10 and shown["incident"]["approx_subjects"] == 216
    assert next(d for d in shown["deadlines"] if d["regime"] == "gdpr-33")["status"] == "met"
    status = json.loads(CliRunner().invoke(cli, ["notices", "status", "BK-2026-0001", "-o", "json"]).output)
    assert sum(status["counts"].values()) == 0  # rendered for review, nothing queued or sent


@pytest.mark.slow
def test_demo_decide_approve_send_file_then_the_disclosure_record_verifies(tmp_path, monkeypatch, invoke_cli):
    """Issue 13's acceptance on the demo's workspace: decide (people: yes) → approve → send (to a real SMTP
    server) → file, then `report disclosures` lists every notice and filing, each hash verifies against its
    --content, Art. 34 reads met at the send time and the two playbook tasks are done."""
    import csv
    import hashlib
    import io

    from tests.services.smtp import start_server

    monkeypatch.chdir(tmp_path)
    invoke_cli("demo", "demo")
    monkeypatch.chdir(tmp_path / "demo")
    server = start_server()
    try:
        for key, value in (("HOST", server.host), ("PORT", str(server.port)), ("SECURITY", "none"),
                           ("RATE_PER_SECOND", "100000")):
            monkeypatch.setenv(f"BREACHKIT_NOTICES__SMTP__{key}", value)
        iid = "BK-2026-0001"
        monkeypatch.setenv("BREACHKIT_ACTOR", "management@heimwatt.example")
        invoke_cli("incident", "decide", iid, "--subjects", "yes", "--reason", "customer records read: high risk")
        monkeypatch.setenv("BREACHKIT_ACTOR", "dpo@heimwatt.example")
        approval = json.loads(invoke_cli("notices", "approve", iid, "--version", "1", "--reason",
                                         "read in every locale", "-o", "json").output)
        people = json.loads(invoke_cli("subjects", "show", iid, "-o", "json").output)
        assert approval["messages"] == people["versions"][-1]["rows"] > 0 and approval["warnings"] == []
        monkeypatch.setenv("BREACHKIT_ACTOR", "communications@heimwatt.example")
        assert "no terminal" in invoke_cli("notices", "send", iid, code=2).output and not server.recorder.received
        sent = invoke_cli("notices", "send", iid, "--yes", "--no-progress").output
        assert f"sent {approval['messages']}" in sent and len(server.recorder.received) == approval["messages"]
        monkeypatch.setenv("BREACHKIT_ACTOR", "dpo@heimwatt.example")
        invoke_cli("incident", "update", iid, "--reference", "DEMO-LDA-0001", "--reason", "the authority's case")
        invoke_cli("report", "authority", iid, "--report-type", "follow_up", "-f", "pdf", "--out", "follow-up.pdf")
        filed = invoke_cli("incident", "file", iid, "--regime", "gdpr-33", "--stage", "authority", "--kind",
                           "follow_up", "--recipient", "the lead supervisory authority", "--document",
                           "follow-up.pdf").output
        assert hashlib.sha256((tmp_path / "demo" / "follow-up.pdf").read_bytes()).hexdigest() in filed
        rows = list(csv.DictReader(io.StringIO(invoke_cli("report", "disclosures", iid, "-f", "csv").output)))
        notices = [r for r in rows if r["kind"] == "subject_notice"]
        filings = [r for r in rows if r["kind"] == "authority_filing"]
        assert len(notices) == approval["messages"] and len(filings) == 2  # the demo's initial report, the follow-up
        assert len({r["recipient_id"] for r in notices}) == len(notices)
        assert all(r["content_kept"] == "yes" and r["sha256"] for r in notices + filings)
        assert filings[0]["approval"].startswith("approval ")  # the demo filed the approved PDF
        from breachkit.notices.disclosures import disclosure_content
        from breachkit.session import Session

        with Session.open("breachkit.toml", environ={}) as session:
            for row in notices + filings:
                assert hashlib.sha256(disclosure_content(session, row["id"]).data).hexdigest() == row["sha256"]
        for row in (notices[0], filings[-1]):  # and through the command, as an auditor would
            data = invoke_cli("report", "disclosures", "--content", row["id"]).stdout_bytes
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
        clock = json.loads(invoke_cli("incident", "clock", iid, "-o", "json").output)
        art34 = next(d for d in clock["deadlines"] if d["regime"] == "gdpr-34")
        assert art34["status"] == "met" and art34["met_by"] == "notices_delivered"
        assert art34["met_at"].replace("+00:00", "Z") == max(r["at"] for r in notices)
        tasks = {t["key"]: t for t in json.loads(invoke_cli("incident", "task", "list", iid, "-o", "json").output)}
        assert tasks["subject-communication-send"]["state"] == "done"
        assert tasks["authority-report-submit"]["state"] == "done"
        monkeypatch.setenv("COLUMNS", "300")  # one table row per line
        shown = invoke_cli("incident", "show", iid, "--no-timeline").output
        assert "met 2026-" in shown and "all 216 approved notices" in shown.replace(str(approval["messages"]), "216")
        assert "overdue by" in shown and "done 2026-" in shown  # tasks say where they stand in words
    finally:
        server.stop()
