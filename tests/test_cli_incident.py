"""The incident commands end to end with click's CliRunner over a real SQLite store (and a real SMTP server
for reminders)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.services.smtp import start_server


@pytest.fixture
def run(tmp_path, monkeypatch, invoke_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREACHKIT_ACTOR", "ic@heimwatt.example")
    invoke_cli("init", ".")
    return invoke_cli


def hours_ago(h: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=h)).isoformat()


def test_open_with_a_playbook_and_detections_then_work_the_incident(run, tmp_path):
    detections = tmp_path / "det.ndjson"
    detections.write_text(json.dumps({
        "rule_id": "bk-credential-stuffing", "title": "Credential stuffing", "level": "high", "kind": "value_count",
        "engine": "local", "key": {"source.ip": "203.0.113.9"}, "event_ids": ["a", "b"], "count": 2,
        "first_seen": "2026-11-20T10:00:00Z", "last_seen": "2026-11-20T10:05:00Z"}) + "\n")
    out = run("incident", "open", "--title", "Credential stuffing", "--aware-at", hours_ago(80),
              "--justification", "SOC confirmed account takeovers", "--playbook", "gdpr-personal-data-breach",
              "--commander", "ic@heimwatt.example", "--detections", str(detections), "-o", "json")
    opened = json.loads(out.output)
    assert opened["tasks"] >= 10 and opened["detections"] == 1
    iid = opened["id"]
    shown = json.loads(run("incident", "show", iid, "-o", "json").output)
    assert shown["incident"]["scope"]["source_ips"] == ["203.0.113.9"]
    assert {d["status"] for d in shown["deadlines"]} == {"overdue", "open"}
    # update, then a stale version is a conflict (exit 5) and changes nothing
    run("incident", "update", iid, "--set", "impact.confidentiality=true", "--set",
        'data_categories=["contact","credentials"]', "--reason", "scoping")
    conflict = run("incident", "update", iid, "--set", "title=lost", "--reason", "r", "--if-version", "1", code=5)
    assert "changed by someone else" in conflict.output
    # tasks
    run("incident", "task", "assign", iid, "contain", "sec@heimwatt.example")
    run("incident", "task", "check", iid, "contain", "1", "2")
    done = run("incident", "task", "done", iid, "contain", "--note", "sessions revoked")
    assert "done, 2/" in done.output
    tasks = json.loads(run("incident", "task", "list", iid, "-o", "json").output)
    contain = next(t for t in tasks if t["key"] == "contain")
    assert contain["assignee"] == "sec@heimwatt.example" and contain["completed_by"] == "ic@heimwatt.example"
    # assessment and decisions
    out = run("incident", "assess", iid, "--answer", "dpc_base=1", "--answer", "ei=1", "--answer",
              "cb_confidentiality=0.5", "--answer", "malicious=yes", "--answer", "adjust_volume=yes")
    assert "severity high" in out.output
    out = run("incident", "decide", iid, "--authority", "yes", "--subjects", "yes", "--reason",
              "credentials exposed; high risk", "-o", "json")
    decided = json.loads(out.output)
    assert decided["authority"]["suggested"] is True and len(decided["recorded"]) == 2
    run("incident", "decide", iid, "--authority", "no", code=2)  # a decision needs a reason
    # the clock: overdue, and the report now needs reasons for the delay
    clock = json.loads(run("incident", "clock", iid, "-o", "json").output)["deadlines"]
    gdpr = next(c for c in clock if c["regime"] == "gdpr-33")
    assert gdpr["status"] == "overdue" and gdpr["needs_delay_reasons"] and gdpr["remaining_seconds"] < 0
    watch = run("incident", "clock", "--watch", "--count", "2", "--interval", "0.01")
    assert "clock at" in watch.output and "OVERDUE by" in watch.output  # in words, not only in red
    # the pre-filing check refuses the filing (late without reasons, blanks the form asks for): overridden, recorded
    refused = run("incident", "file", iid, "--regime", "gdpr-33", "--stage", "authority", "--reference",
                  "LDA-BY-4711", "--recipient", "BayLDA", code=1)
    assert "delay_reasons" in refused.output and "notices.dpo_phone" in refused.output
    run("incident", "file", iid, "--regime", "gdpr-33", "--stage", "authority", "--reference", "LDA-BY-4711",
        "--recipient", "BayLDA", "--override-check", "--reason", "filed by phone with the LDA; the form follows")
    run("incident", "file", iid, "--regime", "gdpr-33", "--stage", "authority", "--kind", "follow_up",
        "--override-check", "--reason", "follow-up by phone")
    clock = json.loads(run("incident", "clock", iid, "-o", "json").output)["deadlines"]
    assert next(c for c in clock if c["regime"] == "gdpr-33")["status"] == "late"
    run("incident", "note", iid, "called the LDA hotline")
    run("incident", "close", iid, "--reason", "done")
    timeline = json.loads(run("incident", "show", iid, "-o", "json").output)["timeline"]
    actions = [e["action"] for e in timeline]
    assert actions[0] == "opened" and actions[-1] == "status" and "note" in actions and "filing" in actions
    assert actions.index("override") < actions.index("filing")
    assert {e["actor"] for e in timeline} == {"ic@heimwatt.example"}


def test_register_lists_notified_and_unnotified_breaches_formula_safe(run, tmp_path):
    run("incident", "open", "--title", "=HYPERLINK(\"http://evil\")", "--aware-at", hours_ago(2),
        "--justification", "lost laptop, encrypted")
    run("incident", "decide", "BK-" + str(datetime.now(UTC).year) + "-0001", "--authority", "no", "--reason",
        "full-disk encryption, key safe: unlikely to result in a risk")
    run("report", "register", "--out", "register.csv")
    path = tmp_path / "register.csv"
    assert path.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert rows[0]["title"].startswith("'=") and rows[0]["authority_decision"] == "no"
    assert "encryption" in rows[0]["authority_reasons"]
    data = json.loads(run("report", "register", "-f", "json").output)
    assert data[0]["notified_authority"] == "no"


def test_timeline_picture_and_bad_inputs(run, tmp_path):
    run("incident", "open", "--title", "t", "--aware-at", hours_ago(1), "--justification", "j",
        "--playbook", "nis2-significant-incident", "--regime", "nis2", "--regime", "gdpr-33")
    iid = f"BK-{datetime.now(UTC).year}-0001"
    run("report", "timeline", iid, "--out", "t.svg")
    assert b"<svg" in (tmp_path / "t.svg").read_bytes()[:400]
    run("report", "timeline", iid, "--out", "t.gif", code=2)
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: x\nroles: {a: A}\ntasks:\n  - id: t\n    title: T\n    role: b\n    due: 4 hours\n")
    out = run("incident", "open", "--title", "t", "--aware-at", hours_ago(1), "--justification", "j",
              "--playbook", str(bad), code=1)
    assert "bad.yaml:7" in out.output and "bad.yaml:8" in out.output
    assert "unknown regime" in run("incident", "open", "--title", "t", "--aware-at", hours_ago(1),
                                   "--justification", "j", "--regime", "gdpr-99", code=2).output
    assert "ISO 8601" in run("incident", "open", "--title", "t", "--aware-at", "yesterday", "--justification", "j",
                             code=2).output
    assert "no incident BK-2026-0999" in run("incident", "show", "BK-2026-0999", code=2).output


def test_remind_sends_each_reminder_once(run, tmp_path, monkeypatch):
    server = start_server()
    try:
        monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__HOST", server.host)
        monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__PORT", str(server.port))
        monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__SECURITY", "none")
        monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__SENDER", "privacy@heimwatt.example")
        run("incident", "open", "--title", "t", "--aware-at", hours_ago(67), "--justification", "j",
            "--playbook", "gdpr-personal-data-breach", "--commander", "ic@heimwatt.example")
        first = json.loads(run("remind", "-o", "json").output)
        sent = first["sent"]
        assert sent and {r["recipient"] for r in sent} >= {"ic@heimwatt.example", "dpo@example.org"}
        gdpr = [r for r in sent if r["subject"] == "deadline:gdpr-33.authority"]
        assert {r["threshold"] for r in gdpr} == {"6h"}  # 5 h left: only the tightest threshold
        assert {r["threshold"] for r in sent if r["subject"] == "task:triage"} == {"overdue"}
        assert len(server.recorder.received) == len(sent)
        second = json.loads(run("remind", "-o", "json").output)
        assert second["sent"] == [] and second["already_sent"] == len(sent)
        assert len(server.recorder.received) == len(sent)
        subjects = {r.message["Subject"] for r in server.recorder.received}
        assert any("OVERDUE" in s for s in subjects)
    finally:
        server.stop()


def test_remind_keeps_unsent_reminders_for_the_next_run(run, monkeypatch):
    server = start_server()
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__HOST", server.host)
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__PORT", str(server.port))
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__SECURITY", "none")
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__SENDER", "privacy@heimwatt.example")
    run("incident", "open", "--title", "t", "--aware-at", hours_ago(71), "--justification", "j",
        "--commander", "ic@heimwatt.example")
    server.recorder.script.reject = {"ic@heimwatt.example"}
    out = run("remind", code=4)
    assert "could not be sent" in out.output
    server.recorder.script.reject = set()
    again = json.loads(run("remind", "-o", "json").output)
    assert [r["recipient"] for r in again["sent"]] == ["ic@heimwatt.example"]
    server.stop()




def test_times_documents_reopening_and_the_record_through_the_commands(run, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    assert "in the future" in run("incident", "open", "--title", "t", "--aware-at", future, "--justification", "j",
                                  code=2).output
    out = run("incident", "open", "--title", "t", "--aware-at", hours_ago(5), "--occurred-at", hours_ago(2),
              "--justification", "j", code=2)
    assert "is after aware_at" in out.output and "--allow-order" in out.output
    assert "--allow-order needs --reason" in run("incident", "open", "--title", "t", "--aware-at", hours_ago(5),
                                                 "--occurred-at", hours_ago(2), "--justification", "j",
                                                 "--allow-order", code=2).output
    iid = json.loads(run("incident", "open", "--title", "t", "--aware-at", hours_ago(5), "--occurred-at",
                         hours_ago(2), "--justification", "j", "--allow-order", "--reason",
                         "the proxy's clock was three hours fast", "--playbook", "gdpr-personal-data-breach",
                         "-o", "json").output)["id"]
    assert "in the future" in run("incident", "update", iid, "--set", f"aware_at={future}", "--reason", "r",
                                  code=2).output
    listed = run("incident", "task", "list", iid).output
    assert re.search(r"OVERDUE by 4 h \d\d min", listed) and re.search(r"due in 6 h 5\d min", listed)
    assert "due in 1 d 6 h" in listed
    assert listed.index("triage") < listed.index("contain") < listed.index("lessons-learned")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 the report as submitted")
    out = run("incident", "file", iid, "--regime", "gdpr-33", "--stage", "authority", "--recipient", "BayLDA",
              "--reference", "LDA-1", "--document", "report.pdf",
              "--override-check", "--reason", "contact details follow in the next filing")
    assert "document sha256" in out.output and "not an approved authority report" in out.output
    bare = run("incident", "file", iid, "--regime", "gdpr-33", "--stage", "authority", "--kind", "follow_up",
               "--override-check", "--reason", "contact details follow")
    assert "no document kept" in bare.output
    run("incident", "decide", iid, "--authority", "yes", "--subjects", "no", "--reason", "risk, not high")
    run("incident", "close", iid, "--reason", "done")
    closed = run("incident", "task", "done", iid, "contain", code=2)
    assert "is closed" in closed.output and "incident reopen" in closed.output
    run("incident", "note", iid, "a note is still taken")
    assert "is reopened" in run("incident", "reopen", iid, "--reason", "the LDA asked a question").output
    run("incident", "task", "done", iid, "contain")
    table = run("report", "disclosures", iid).output
    assert "authority_filing" in table and "no document kept" in table and "sha256sum" in table
    record = run("report", "disclosures", iid, "-f", "json", "--out", "record.json").output
    assert "disclosures → record.json" in record and (tmp_path / "record.json").stat().st_mode & 0o777 == 0o600
    rows = json.loads((tmp_path / "record.json").read_text())["disclosures"]
    kept = next(r for r in rows if r["content_kept"])
    run("report", "disclosures", "--content", kept["id"], "--out", "filed.pdf")
    assert (tmp_path / "filed.pdf").read_bytes() == b"%PDF-1.4 the report as submitted"
    window = run("report", "disclosures", "--since", hours_ago(1), "-f", "csv").output
    assert len(list(csv.DictReader(io.StringIO(window)))) >= 3  # every incident's, from the last hour
    assert "must be after" in run("report", "disclosures", "--since", hours_ago(1), "--until", hours_ago(2),
                                  "-f", "csv", code=2).output
