"""notices render/send/status/resolve and report authority through the CLI, against a real SMTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.services.smtp import start_server

YEAR = datetime.now(UTC).year
IID = f"BK-{YEAR}-0001"
TABLE = """subject_id,email,name,locale,country,account_type,minor,categories,identifiers,records
u1,Lea.Koehler@Example.org,Lea Köhler,de-AT,AT,end_user,false,credentials;contact,user.id:u1,12
u2,jean@example.fr,"Jean {{ 7*7 }}",fr,FR,end_user,false,contact,user.target.id:u2,3
u3,ann@example.org,Ann <script>,en,IE,installer,false,device_identifiers,device.imei:3584,1
u4,not-an-address,Bad Row,en,DE,end_user,false,contact,user.id:u4,1
u5,jean@example.fr,Duplicate,fr,FR,end_user,false,contact,user.id:u5,1
"""


@pytest.fixture
def env(tmp_path, monkeypatch, invoke_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREACHKIT_ACTOR", "dpo@heimwatt.example")
    server = start_server()
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__HOST", server.host)
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__PORT", str(server.port))
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__SECURITY", "none")
    monkeypatch.setenv("BREACHKIT_NOTICES__SMTP__SENDER", "privacy@heimwatt.example")
    monkeypatch.setenv("BREACHKIT_NOTICES__DPO_EMAIL", "dpo@heimwatt.example")
    # a complete contact point: the pre-filing check refuses reports and sending without it
    monkeypatch.setenv("BREACHKIT_NOTICES__DPO_PHONE", "+43 1 555 0190")
    monkeypatch.setenv("BREACHKIT_NOTICES__DPO_ADDRESS", "Datenschutz, Königstraße 10, 70173 Stuttgart")
    monkeypatch.setenv("BREACHKIT_NOTICES__CONTROLLER_ADDRESS", "Königstraße 10, 70173 Stuttgart")
    invoke = invoke_cli

    invoke("init", ".")
    (tmp_path / "subjects.csv").write_text(TABLE, encoding="utf-8")
    aware = (datetime.now(UTC) - timedelta(hours=10)).isoformat()
    invoke("incident", "open", "--title", "Credential stuffing on the portal", "--aware-at", aware,
           "--justification", "confirmed takeovers", "--set", "description=Attackers logged in with stolen passwords.",
           "--set", "description.de=Angreifer haben sich mit gestohlenen Passwörtern angemeldet.",
           "--set", "description.fr=Des attaquants se sont connectés avec des mots de passe volés.",
           "--set", 'data_categories=["contact","credentials"]', "--set", "impact.confidentiality=true")
    yield invoke, server, tmp_path
    server.stop()


def test_render_review_then_send_exactly_once_and_account(env):
    invoke, server, tmp = env
    out = invoke("notices", "render", IID, "--kind", "subject", "--recipients", "subjects.csv", "--out", "review")
    assert "3 emails rendered" in out.output and "rows rejected" in out.output
    summary = json.loads((tmp / "review" / "summary.json").read_text())
    assert summary["per_locale"] == {"de": 1, "en": 1, "fr": 1} and summary["rejected"] == 2
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (tmp / "review" / "messages").iterdir())
    assert "49" not in (tmp / "review" / "messages" / "u2.txt").read_text()
    # sending needs the recorded decision to tell the people
    assert "no recorded decision" in invoke("notices", "send", IID, "--recipients", "subjects.csv", "--yes",
                                            code=2).output
    invoke("incident", "decide", IID, "--subjects", "yes", "--reason", "passwords exposed: high risk")
    invoke("notices", "send", IID, "--recipients", "subjects.csv", "--dry-run", "--out", "eml")
    assert len(list((tmp / "eml").glob("*.eml"))) == 3 and not server.recorder.received
    # nothing goes out unapproved, nor without a confirmation (--yes when there is no terminal)
    assert "not approved" in invoke("notices", "send", IID, "--recipients", "subjects.csv", "--yes", code=2).output
    approved = json.loads(invoke("notices", "approve", IID, "--version", "1", "--recipients", "subjects.csv",
                                 "--reason", "read in de, en, fr", "-o", "json").output)
    assert approved["messages"] == 3 and approved["per_locale"] == {"de": 1, "en": 1, "fr": 1}
    assert approved["rejected"] == 2 and approved["warnings"] == []
    refused = invoke("notices", "send", IID, "--recipients", "subjects.csv", code=2)
    assert "no terminal" in refused.output and "--yes" in refused.output and not server.recorder.received
    out = invoke("notices", "send", IID, "--recipients", "subjects.csv", "--yes")
    assert "sent 3" in out.output
    # the domain is normalised, the local part kept (it may be case-sensitive, RFC 5321)
    assert sorted(r.recipients[0] for r in server.recorder.received) == [
        "Lea.Koehler@example.org", "ann@example.org", "jean@example.fr"]
    german = next(r for r in server.recorder.received if r.recipients == ["Lea.Koehler@example.org"])
    assert german.message["Subject"] and "Köhler" in german.message.get_body(("plain",)).get_content()
    # again: nothing new goes out
    assert "queued 0 new, 3 already" in invoke("notices", "send", IID, "--recipients", "subjects.csv",
                                                "--yes").output
    assert len(server.recorder.received) == 3
    status = json.loads(invoke("notices", "status", IID, "-o", "json").output)
    assert status["counts"]["sent"] == 3 and status["problems"] == []
    shown = json.loads(invoke("incident", "show", IID, "-o", "json").output)
    disclosures = [e for e in shown["timeline"] if e["action"] == "disclosure"]
    assert len(disclosures) == 3 and all(len(e["changes"]["sha256"]) == 64 for e in disclosures)
    assert {e["reason"] for e in disclosures} == {"Art. 34 communication: passwords exposed: high risk"}


def test_rejected_recipient_by_the_server_is_reported_and_can_be_resent(env):
    invoke, server, _ = env
    invoke("incident", "decide", IID, "--subjects", "yes", "--reason", "high risk")
    invoke("notices", "approve", IID, "--version", "1", "--recipients", "subjects.csv", "--reason", "checked")
    server.recorder.script.reject = {"ann@example.org"}
    out = invoke("notices", "send", IID, "--recipients", "subjects.csv", "--yes", code=4)
    assert "failed: u3" in out.output
    status = json.loads(invoke("notices", "status", IID, "-o", "json").output)
    assert status["counts"]["failed"] == 1 and "550" in status["problems"][0]["error"]
    server.recorder.script.reject = set()
    invoke("notices", "resolve", IID, "--action", "resend", "--failed", "--reason", "mailbox fixed")
    invoke("notices", "send", IID, "--recipients", "subjects.csv", "--yes")
    assert json.loads(invoke("notices", "status", IID, "-o", "json").output)["counts"]["sent"] == 3


def test_authority_report_formats_and_the_delay_rule(env):
    invoke, _, tmp = env
    md = invoke("report", "authority", IID).output
    assert "Credential stuffing on the portal" in md
    invoke("report", "authority", IID, "-f", "pdf", "--out", "report.pdf")
    assert (tmp / "report.pdf").read_bytes()[:5] == b"%PDF-" and (tmp / "report.pdf").stat().st_mode & 0o777 == 0o600
    doc = json.loads(invoke("report", "authority", IID, "-f", "json").output)
    assert doc  # structure is pinned by tests/test_notices_render.py
    # 80 h after awareness without a filing: the report must give reasons for the delay
    late = (datetime.now(UTC) - timedelta(hours=80)).isoformat()
    invoke("incident", "update", IID, "--set", f"aware_at={late}", "--reason", "awareness was earlier")
    out = invoke("report", "authority", IID, code=1)
    assert "delay_reasons" in out.output
    invoke("incident", "update", IID, "--set", "delay_reasons=Forensics needed two days to confirm the scope.",
           "--reason", "late")
    assert "Forensics needed" in invoke("report", "authority", IID).output
    follow = invoke("report", "authority", IID, "--report-type", "follow_up", code=1)
    assert "authority_reference" in follow.output and "consequences" in follow.output  # blanks: errors in a follow-up
    invoke("incident", "update", IID, "--set", "consequences=Account takeover; phishing.", "--set",
           "measures_taken=Passwords reset.", "--set", 'subject_categories=["customers"]', "--set", "approx_subjects=3",
           "--reason", "follow-up")
    invoke("incident", "update", IID, "--reference", "LDA-BY-2026-4711", "--reason", "the authority's case number")
    assert "LDA-BY-2026-4711" in invoke("report", "authority", IID, "--report-type", "follow_up").output
    audit_exports = json.loads(invoke("incident", "show", IID, "-o", "json").output)
    assert audit_exports["incident"]["delay_reasons"]


def test_sending_and_reporting_stop_on_check_errors_unless_overridden_with_a_reason(env, monkeypatch):
    invoke, server, _ = env
    invoke("incident", "decide", IID, "--subjects", "yes", "--reason", "passwords exposed: high risk")
    monkeypatch.delenv("BREACHKIT_NOTICES__DPO_PHONE")
    refused = invoke("notices", "send", IID, "--recipients", "subjects.csv", code=1)
    assert "pre-filing check found 1 error" in refused.output and "notices.dpo_phone" in refused.output
    assert not server.recorder.received
    assert "refused" not in invoke("notices", "status", IID).output
    assert "--override-check needs --reason" in invoke("notices", "send", IID, "--recipients", "subjects.csv",
                                                       "--override-check", code=2).output
    assert "give --override-check" in invoke("report", "authority", IID, "--reason", "x", code=2).output
    invoke("notices", "approve", IID, "--version", "1", "--recipients", "subjects.csv", "--reason", "checked")
    invoke("notices", "send", IID, "--recipients", "subjects.csv", "--override-check", "--reason",
           "DPO phone line not set up yet; email contact given", "--yes")
    assert len(server.recorder.received) == 3
    assert "notices.dpo_phone" in invoke("report", "authority", IID, code=1).output
    invoke("report", "authority", IID, "--override-check", "--reason", "phone follows by letter")
    shown = json.loads(invoke("incident", "show", IID, "-o", "json").output)
    overrides = [e for e in shown["timeline"] if e["action"] == "override"]
    assert [(e["changes"]["action"], e["reason"]) for e in overrides] == [
        ("sending the notices", "DPO phone line not set up yet; email contact given"),
        ("the authority report", "phone follows by letter")]
    assert overrides[0]["changes"]["errors"][0]["field"] == "notices.dpo_phone"


def test_people_who_would_read_another_language_or_miss_the_incident_text_stop_the_sending(env):
    """A Swedish reader gets English, a French reader without the French description gets only the general
    wording: the review lists both, and sending refuses until someone accepts it with a reason (recorded)."""
    invoke, server, tmp = env
    (tmp / "more.csv").write_text(TABLE + "u6,sven@example.se,Sven Öberg,sv,SE,end_user,false,contact,user.id:u6,1\n",
                                  encoding="utf-8")
    invoke("incident", "update", IID, "--set", "description.fr=", "--reason", "the French text was wrong")
    shown = json.loads(invoke("incident", "show", IID, "-o", "json").output)["incident"]
    assert list(shown["translations"]) == ["de"]
    out = invoke("notices", "render", IID, "--kind", "subject", "--recipients", "more.csv", "--out", "review")
    assert "1 person asked for sv and get en" in out.output
    assert "1 person reading fr miss the incident's own description" in out.output
    languages = json.loads((tmp / "review" / "summary.json").read_text())["languages"]
    assert (languages["fallback_language"], languages["missing_text"]) == (1, 1)
    assert {(g["subject_id"], g["locale"], tuple(g["missing_text"])) for g in languages["recipients_with_gaps"]} == {
        ("u6", "en", ()), ("u2", "fr", ("description",))}
    invoke("incident", "decide", IID, "--subjects", "yes", "--reason", "passwords exposed: high risk")
    refused = invoke("notices", "send", IID, "--recipients", "more.csv", code=1)
    assert "language_fallback" not in refused.output  # the messages name the people and the fix
    assert "asked for sv but would get the notice in en" in refused.output
    assert "would not get the incident's own description" in refused.output and "description.fr=" in refused.output
    assert "--accept-fallback" in refused.output and not server.recorder.received
    assert "--accept-fallback needs --reason" in invoke("notices", "send", IID, "--recipients", "more.csv",
                                                        "--accept-fallback", code=2).output
    approved = invoke("notices", "approve", IID, "--version", "1", "--recipients", "more.csv", "--reason", "read")
    assert "language: 1 person asked for sv and get en" in approved.output
    sent = invoke("notices", "send", IID, "--recipients", "more.csv", "--accept-fallback", "--reason",
                  "Swedish customer reads English; the French text follows in a second notice", "--yes")
    assert "sent 4" in sent.output and "asked for sv" in sent.output
    timeline = json.loads(invoke("incident", "show", IID, "-o", "json").output)["timeline"]
    accepted = [e for e in timeline if e["action"] == "override"]
    assert [(e["changes"]["action"], e["reason"]) for e in accepted] == [
        ("sending the notices: language fallback accepted",
         "Swedish customer reads English; the French text follows in a second notice")]
    assert sorted(x["code"] for x in accepted[0]["changes"]["errors"]) == ["language_fallback", "notice_text_missing"]


def test_accepting_the_fallback_leaves_every_other_error_standing(env, monkeypatch):
    invoke, server, _ = env
    invoke("incident", "decide", IID, "--subjects", "yes", "--reason", "passwords exposed: high risk")
    invoke("incident", "update", IID, "--set", "description.de=", "--reason", "redo the German text")
    monkeypatch.delenv("BREACHKIT_NOTICES__DPO_PHONE")
    refused = invoke("notices", "send", IID, "--recipients", "subjects.csv", "--accept-fallback", "--reason",
                     "German follows", code=1)
    assert "notices.dpo_phone" in refused.output and "would not get" not in refused.output
    assert not server.recorder.received
    assert not [e for e in json.loads(invoke("incident", "show", IID, "-o", "json").output)["timeline"]
                if e["action"] == "override"]  # nothing went ahead: nothing recorded


def test_the_authority_report_speaks_the_lead_authoritys_language(env):
    invoke, _, tmp = env
    assert "Personal data breach notification" in invoke("report", "authority", IID).output
    invoke("incident", "update", IID, "--set", "lead_authority=CNIL", "--reason", "main establishment in Paris")
    french = invoke("report", "authority", IID, "--out", "fr.md")
    assert "report in fr (the language of the lead authority CNIL)" in french.output
    text = (tmp / "fr.md").read_text(encoding="utf-8")
    assert "Notification d'une violation de données à caractère personnel" in text
    assert "Des attaquants se sont connectés" in text
    german = invoke("report", "authority", IID, "--locale", "de").output
    assert "Meldung einer Verletzung des Schutzes personenbezogener Daten" in german
    assert "Angreifer haben sich mit gestohlenen Passwörtern angemeldet." in german
    invoke("incident", "update", IID, "--set", "lead_authority=Garante per la protezione dei dati personali",
           "--reason", "Italian establishment")
    out = invoke("notices", "render", IID, "--kind", "authority", "--out", "authority", "--format", "md")
    assert "no report templates in it, so en" in out.output
    assert "Personal data breach notification" in (tmp / "authority" / "report.md").read_text(encoding="utf-8")
