"""The main job (scripts/demo → `breachkit demo`) end to end on the embedded engine."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from breachkit.cli import cli

INSTALLER = "u101459"  # the installer account whose API token was used to enumerate the customers


@pytest.mark.slow
def test_demo_runs_the_whole_flow_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "demo"])
    assert result.exit_code == 0, result.output
    assert "3. Incident BK-2026-0001" in result.output
    assert "215 people whose data was read; 1 account used by someone else" in result.output
    assert "check passed" in result.output
    review = tmp_path / "demo" / "review"
    summary = json.loads((review / "subjects" / "summary.json").read_text())
    # 215 customers whose records were read, and the installer, told about its compromised token
    assert summary["rendered"] == 216 and set(summary["per_locale"]) >= {"de", "fr", "en"}
    assert summary["per_kind"] == {"breach": 215, "compromise": 1} and summary["skipped"] == 0
    messages = review / "subjects" / "messages"
    installer = (messages / f"{INSTALLER}.txt").read_text()
    assert "Ihr Konto" in (messages / f"{INSTALLER}.subject.txt").read_text()
    assert "API-Tokens" in installer and "260 Anfragen" in installer and "Verbrauchsdaten" not in installer
    customer = (messages / "u100385.txt").read_text()
    assert "Usage data" in customer and "API token" not in customer.split("What you should do now")[1]
    # nobody is told an attacker's address is theirs
    assert not [p.name for p in messages.iterdir() if re.search(r"\b203\.0\.113\.\d+\b", p.read_text())]
    # in the lead authority's language (LfDI Baden-Württemberg: German), with the incident's own German text
    report = (review / "authority" / "report.md").read_text()
    assert report.count("Art. 33 Abs. 3") >= 3
    assert "**Zahl der Personen, deren Daten betroffen sind:** 215 (genau)" in report
    assert "**Zahl der Datensätze:** 215 (genau)" in report  # the customer records the API returned
    assert "**Kompromittierte Konten (gesondert gezählt):** 1" in report and "LfDI Baden-Württemberg" in report
    assert "revFADP" in report and "nicht anwendbar" not in report
    assert "Das API-Token eines Installateur-Kontos" in report
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in messages.iterdir())
    monkeypatch.chdir(tmp_path / "demo")
    shown = json.loads(CliRunner().invoke(cli, ["incident", "show", "BK-2026-0001", "-o", "json"]).output)
    assert len(shown["tasks"]) >= 10 and shown["incident"]["approx_subjects"] == 215
    assert shown["incident"]["approx_records"] == 215 and shown["incident"]["compromised_accounts"] == [INSTALLER]
    # filed only because the pre-filing check passed (file_report runs it)
    assert next(d for d in shown["deadlines"] if d["regime"] == "gdpr-33")["status"] == "met"
    status = json.loads(CliRunner().invoke(cli, ["notices", "status", "BK-2026-0001", "-o", "json"]).output)
    assert sum(status["counts"].values()) == 0  # rendered for review, nothing queued or sent


@pytest.mark.slow
def test_the_demo_tells_its_story_in_one_screen_at_80_columns(tmp_path, monkeypatch):
    """Under 60 lines at 80 columns, no line wider, no word cut or broken across lines, the detection that opened
    the incident marked, one zone named, and next commands that work when pasted (absolute paths)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(cli, ["demo", "demo"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) < 60, result.stdout
    # only a path longer than the screen may overflow, on a line of its own (breaking it would break pasting)
    wide = [line for line in lines if len(line) > 80]
    assert all(len(line.split()) == 1 and line.strip().startswith("/") for line in wide), wide
    assert "…" not in result.stdout  # nothing cut to fit
    assert "Times in Europe/Berlin" in result.stdout and "UTC" not in result.stdout
    marked = [line for line in lines if line.lstrip().startswith("▶ high")]
    assert len(marked) == 1 and "Enumeration of other customers" in marked[0]
    commands = [line.strip() for line in lines if "breachkit " in line and line.startswith("  /")]
    assert commands and all(c.split()[0].startswith("/") for c in commands)
    # each rule title in the table is whole: its words appear in order, none split across lines
    table = " ".join(line.strip() for line in lines)
    assert "Enumeration of other customers' records" in table
    assert (tmp_path / "demo" / "detections.txt").stat().st_mode & 0o777 == 0o600
    # the screen and the full table count the same detections, rules that found them and rules that ran
    counts = re.search(r"2\. Detections: (\d+) from (\d+) of (\d+) rules", result.stdout)
    assert counts is not None, result.stdout
    full = (tmp_path / "demo" / "detections.txt").read_text(encoding="utf-8")
    assert f"{counts[1]} detections (local) from {counts[2]} of {counts[3]} rules" in full


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
        for key, value in server.environment(rate_per_second="100000").items():
            monkeypatch.setenv(key, value)
        iid = "BK-2026-0001"
        monkeypatch.setenv("BREACHKIT_ACTOR", "management@heimwatt.example")
        invoke_cli("incident", "decide", iid, "--subjects", "yes", "--reason", "customer records read: high risk")
        monkeypatch.setenv("BREACHKIT_ACTOR", "dpo@heimwatt.example")
        approval = json.loads(invoke_cli("notices", "approve", iid, "--version", "1", "--reason",
                                         "read in every locale", "-o", "json").output)
        # 215 customers whose records were read and the installer whose token was used: every kind approved
        assert approval["messages"] == 216 and approval["warnings"] == []
        assert approval["per_kind"] == {"breach": 215, "compromise": 1}
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
        assert "OVERDUE by" in shown and "done 2026-" in shown  # tasks say where they stand in words
    finally:
        server.stop()
