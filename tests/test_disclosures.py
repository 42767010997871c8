"""The disclosure record, four-eyes approval and state that follows actions (issue 13), a clock that cannot lie
(issue 11.3), through the library's use cases against a real SMTP server (aiosmtpd) and a SQLite store."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breachkit.config import load_config
from breachkit.errors import ConfigError, ConflictError, UsageError
from breachkit.incidents import api as incidents
from breachkit.incidents import decisions_api, tasks_api
from breachkit.incidents.reports_api import export_register, export_timeline
from breachkit.notices.api import notice_status, resolve_notices, send_notices
from breachkit.notices.approvals import approve_notices, send_plan
from breachkit.notices.disclosures import disclosure_content, disclosure_record
from breachkit.session import Session
from tests.services.smtp import start_server

AWARE = datetime(2026, 3, 31, 5, 30, tzinfo=UTC)
TABLE = """subject_id,email,name,locale,country,categories
u1,lea@example.org,Lea Köhler,de,DE,contact
u2,jean@example.fr,Jean Dupont,fr,FR,contact
u3,ann@example.org,=HYPERLINK("x"),en,IE,contact
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def smtp():
    server = start_server()
    yield server
    server.stop()


def make_session(tmp_path: Path, smtp, clock: Clock, extra: str = "", sender: str | None = "privacy@heimwatt.example",
                 actor: str = "dpo@heimwatt.example") -> Session:
    sender_line = f'sender = "{sender}"\n' if sender else ""
    (tmp_path / "breachkit.toml").write_text(
        '[workspace]\ntimezone = "Europe/Berlin"\n'
        '[notices]\ndpo_email = "dpo@heimwatt.example"\ncontroller_name = "HeimWatt"\n'
        # a complete contact point: the pre-filing check refuses sending and filing without it
        'dpo_phone = "+49 711 555 0190"\ndpo_address = "Datenschutz, Königstraße 10, 70173 Stuttgart"\n'
        'controller_address = "Königstraße 10, 70173 Stuttgart"\n' + extra +
        f'[notices.smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\nsecurity = "none"\n{sender_line}'
        'rate_per_second = 100000.0\n', encoding="utf-8")
    (tmp_path / "subjects.csv").write_text(TABLE, encoding="utf-8")
    return Session(load_config(tmp_path / "breachkit.toml", environ={}), actor=actor, clock=clock)


@pytest.fixture
def world(tmp_path, smtp):
    clock = Clock(AWARE + timedelta(hours=10))
    with make_session(tmp_path, smtp, clock) as session:
        opened = incidents.open_incident(session, title="Credential stuffing", aware_at=AWARE,
                                         justification="confirmed takeovers", playbook="gdpr-personal-data-breach",
                                         occurred_at=AWARE - timedelta(days=1), detected_at=AWARE - timedelta(hours=2),
                                         fields={"description": "Attackers logged in with stolen passwords.",
                                                 "data_categories": ["contact"],
                                                 "translations": {
                                                     "de": {"description": "Angreifer meldeten sich mit gestohlenen "
                                                                           "Passwörtern an."},
                                                     "fr": {"description": "Des attaquants se sont connectés avec "
                                                                           "des mots de passe volés."}}})
        yield session, opened.incident.id, clock, tmp_path


def _approve_and_send(session: Session, iid: str, tmp: Path, version: int = 1):
    approve_notices(session, iid, version=version, recipients=tmp / "subjects.csv", reason="read in de, fr, en")
    return send_notices(session, iid, version=version, recipients=tmp / "subjects.csv")


def test_approved_notices_are_sent_the_record_shows_them_and_every_hash_verifies(world, smtp):
    session, iid, clock, tmp = world
    decisions_api.decide(session, iid, subjects=True, reason="passwords exposed: high risk")
    with pytest.raises(UsageError, match="not approved"):
        send_notices(session, iid, recipients=tmp / "subjects.csv")
    approval = approve_notices(session, iid, version=1, recipients=tmp / "subjects.csv", reason="checked")
    assert approval.messages == 3 and approval.per_locale == {"de": 1, "en": 1, "fr": 1} and not approval.warnings
    plan = send_plan(session, iid, version=1)
    assert (plan.to_send, plan.approved_by, plan.per_locale) == (3, "dpo@heimwatt.example", approval.per_locale)
    # a confirmation that says no sends nothing
    refused = send_notices(session, iid, recipients=tmp / "subjects.csv", confirm=lambda p: False)
    assert refused.cancelled and not smtp.recorder.received and sum(notice_status(session, iid).counts.values()) == 0
    clock.now += timedelta(hours=1)
    seen: list[int] = []
    result = send_notices(session, iid, recipients=tmp / "subjects.csv",
                          confirm=lambda p: seen.append(p.messages) is None)
    assert result.sent == 3 and seen == [3]
    # what was approved is what was sent: the same hashes, and the Date header is the approval's time
    approved = session.store.approvals.hashes(approval.approval_id)
    for message in smtp.recorder.received:
        row = next(r for r in session.store.outbox.rows(iid) if r.address == message.recipients[0])
        assert approved[row.recipient] == row.sha256 == hashlib.sha256(message.data).hexdigest()
        assert message.message["Date"] == "Tue, 31 Mar 2026 15:30:00 +0000"
    record = disclosure_record(session, iid, fmt="csv", out=tmp / "record.csv", reason="authority asked")
    assert (tmp / "record.csv").stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO((tmp / "record.csv").read_text(encoding="utf-8"))))
    notices = [r for r in rows if r["kind"] == "subject_notice"]
    assert len(notices) == 3 and {r["recipient_id"] for r in notices} == {"u1", "u2", "u3"}
    assert all(r["reason"] == "Art. 34 communication: passwords exposed: high risk" for r in notices)
    assert all(r["reply"].startswith("250") and r["approval"].startswith("approval ") for r in notices)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)  # in time order
    for r in notices:
        content = disclosure_content(session, r["id"])
        assert hashlib.sha256(content.data).hexdigest() == r["sha256"] and content.name.endswith(".eml")
    assert "sha256sum" in record.document.verify and notices[0]["verify"].endswith("| sha256sum")
    # producing the record, and each content, is itself on the record
    again = disclosure_record(session, iid).document
    exports = [d for d in again.disclosures if d.kind == "export"]
    assert any(d.what == "disclosures (csv)" and d.reason == "authority asked" for d in exports)
    assert sum(d.what == "disclosure content" for d in exports) == 3
    # Art. 34 met at the time the last message was delivered; the send task done by that action
    clock.now += timedelta(days=200)
    state = incidents.incident_state(session, iid)
    art34 = next(d for d in state.deadlines if d.regime == "gdpr-34")
    assert art34.status.value == "met" and art34.met_at == AWARE + timedelta(hours=11)
    assert art34.elapsed == timedelta(hours=11)
    send_task = next(t for t in state.tasks if t.key == "subject-communication-send")
    assert send_task.state.value == "done" and "notices_delivered" in (send_task.done_by_action or "")
    assert next(t for t in state.tasks if t.key == "subject-communication-prepare").state.value == "done"
    with pytest.raises(UsageError, match="follows what was done"):
        tasks_api.reopen_task(session, iid, "subject-communication-send", reason="by hand")


def test_the_csv_record_is_formula_safe_and_the_json_one_is_a_typed_document(world):
    session, iid, _, tmp = world
    decisions_api.decide(session, iid, subjects=True, reason="=cmd|' /C calc'!A0")
    _approve_and_send(session.as_actor("+dpo@heimwatt.example"), iid, tmp)
    text = disclosure_record(session, iid, fmt="csv").data.decode()
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert not any(c[:1] in "=+-@" for c in cells if c), [c for c in cells if c[:1] in "=+-@"]
    doc = json.loads(disclosure_record(session, iid, fmt="json").data)
    assert doc["schema"] == "breachkit.disclosures/1" and doc["counts"]["subject_notice"] == 3
    md = disclosure_record(session, iid, fmt="md").data.decode()
    assert md.startswith("# Disclosure record: incident") and "sha256sum" in md
    pdf = disclosure_record(session, iid, fmt="pdf", out=tmp / "record.pdf")
    assert pdf.data[:5] == b"%PDF-" and (tmp / "record.pdf").stat().st_mode & 0o777 == 0o600
    with pytest.raises(UsageError, match="PDF needs an output file"):
        disclosure_record(session, iid, fmt="pdf")


def test_a_message_changed_after_approval_is_refused_and_nothing_is_queued(world, smtp):
    session, iid, _, tmp = world
    decisions_api.decide(session, iid, subjects=True, reason="high risk")
    approve_notices(session, iid, version=1, recipients=tmp / "subjects.csv", reason="checked")
    incidents.update_incident(session, iid, {"description": "Attackers read the customers' bank details."},
                              reason="new finding")
    with pytest.raises(ConflictError) as err:
        send_notices(session, iid, recipients=tmp / "subjects.csv")
    # the description is English prose: only the English message (u3) says it
    assert "1 message differs from the approved bytes" in err.value.message and "Nothing was queued" in \
        err.value.message
    assert [p.message for p in err.value.problems] == ["changed: u3"]
    assert sum(notice_status(session, iid).counts.values()) == 0 and not smtp.recorder.received
    # one more person in the list: not approved either
    (tmp / "more.csv").write_text(TABLE + "u4,kim@example.org,Kim,en,DE,contact\n", encoding="utf-8")
    approve_notices(session, iid, version=2, recipients=tmp / "subjects.csv", reason="corrected text")
    with pytest.raises(ConflictError, match="1 recipient was not in the approved set"):
        send_notices(session, iid, version=2, recipients=tmp / "more.csv")
    assert send_notices(session, iid, version=2, recipients=tmp / "subjects.csv").sent == 3
    with pytest.raises(UsageError, match="already in the outbox"):
        approve_notices(session, iid, version=2, recipients=tmp / "subjects.csv", reason="again")


def test_a_failure_while_queuing_leaves_nothing_queued(world, monkeypatch):
    """All or nothing: the whole approved set is queued in one transaction (a crash between approval and send)."""
    from breachkit.notices import api as notices_api

    session, iid, _, tmp = world
    decisions_api.decide(session, iid, subjects=True, reason="high risk")
    approve_notices(session, iid, version=1, recipients=tmp / "subjects.csv", reason="checked")
    real = notices_api.outgoing

    def breaking(*args, **kwargs):
        for n, message in enumerate(real(*args, **kwargs)):
            if n == 2:
                raise RuntimeError("the process dies here")
            yield message

    monkeypatch.setattr(notices_api, "outgoing", breaking)
    with pytest.raises(RuntimeError):
        send_notices(session, iid, recipients=tmp / "subjects.csv", queue_only=True)
    assert sum(notice_status(session, iid).counts.values()) == 0
    monkeypatch.setattr(notices_api, "outgoing", real)
    assert send_notices(session, iid, recipients=tmp / "subjects.csv").sent == 3


def test_four_eyes_when_configured(tmp_path, smtp):
    clock = Clock(AWARE + timedelta(hours=10))
    with make_session(tmp_path, smtp, clock, extra="require_second_person = true\n") as session:
        iid = incidents.open_incident(session, title="t", aware_at=AWARE, justification="j").incident.id
        decisions_api.decide(session, iid, subjects=True, reason="high risk")
        approve_notices(session, iid, version=1, recipients=tmp_path / "subjects.csv", reason="checked")
        with pytest.raises(UsageError, match=r"four eyes: dpo@heimwatt\.example approved version 1"):
            send_notices(session, iid, recipients=tmp_path / "subjects.csv")
        other = session.as_actor("comms@heimwatt.example")
        assert send_notices(other, iid, recipients=tmp_path / "subjects.csv").sent == 3
        sent_by = {a["actor"] for a in session.store.audit_log(iid) if a["action"] == "send"}
        assert sent_by == {"comms@heimwatt.example"}


def test_the_sender_is_required_and_a_foreign_domain_is_warned_about(tmp_path, smtp):
    clock = Clock(AWARE + timedelta(hours=10))
    with make_session(tmp_path, smtp, clock, sender=None) as session:
        iid = incidents.open_incident(session, title="t", aware_at=AWARE, justification="j").incident.id
        decisions_api.decide(session, iid, subjects=True, reason="high risk")
        with pytest.raises(ConfigError) as err:
            approve_notices(session, iid, version=1, recipients=tmp_path / "subjects.csv", reason="checked")
        assert err.value.location.field == "notices.smtp.sender"
    with make_session(tmp_path, smtp, clock, sender="privacy@example.org") as session:
        doc = approve_notices(session, iid, version=1, recipients=tmp_path / "subjects.csv", reason="checked")
        assert doc.warnings and "not in the controller's domain heimwatt.example" in doc.warnings[0]
        assert send_plan(session, iid).warnings == doc.warnings


OVERRIDE = "the fixture's case file has no contact details; filed as a team would, with the gap recorded"


def test_filed_documents_are_kept_linked_to_their_approval_and_a_filing_without_one_is_flagged(world):
    session, iid, clock, tmp = world
    approved = approve_notices(session, iid, version=1, kind="authority", formats=("pdf", "md"),
                               out=tmp / "approved", reason="facts checked")
    assert sorted(approved.formats) == ["report.md", "report.pdf"]
    assert all(Path(f).stat().st_mode & 0o777 == 0o600 for f in approved.files)
    pdf = tmp / "approved" / "report.pdf"
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == approved.formats["report.pdf"]
    clock.now += timedelta(hours=1)
    filing = incidents.file_report(session, iid, regime="gdpr-33", stage="authority", recipient="LDA Bayern",
                                   reference="LDA-1", document=pdf,
                                   override_reason=OVERRIDE)
    assert filing.approval_id == approved.approval_id and filing.document_name == "report.pdf"
    clock.now += timedelta(hours=1)
    bare = incidents.file_report(session, iid, regime="gdpr-33", stage="authority", kind="follow_up",
                                 override_reason=OVERRIDE)
    assert bare.content_sha256 is None and bare.reference == "LDA-1"
    clock.now += timedelta(hours=1)
    incidents.file_report(session, iid, regime="gdpr-34", stage="subjects", kind="public_communication",
                          recipient="www.heimwatt.example/security", document=("notice.html", b"<p>notice</p>"),
                          override_reason=OVERRIDE)
    with pytest.raises(UsageError, match="not met by a public communication"):
        incidents.file_report(session, iid, regime="gdpr-33", stage="authority", kind="public_communication")
    with pytest.raises(UsageError, match="in the future"):
        incidents.file_report(session, iid, regime="gdpr-33", stage="authority", kind="follow_up",
                              filed_at=clock.now + timedelta(days=1))
    doc = disclosure_record(session, iid).document
    filings = [d for d in doc.disclosures if d.kind in ("authority_filing", "public_communication")]
    assert [d.kind for d in filings] == ["authority_filing", "authority_filing", "public_communication"]
    first, second, public = filings
    assert first.approval and first.content_kept and first.to == "LDA Bayern" and first.reference == "LDA-1"
    assert disclosure_content(session, first.id).data == pdf.read_bytes()
    assert second.flags == ["no document kept: what was filed cannot be shown or verified"]
    with pytest.raises(UsageError, match="no document was kept"):
        disclosure_content(session, second.id)
    assert disclosure_content(session, public.id).data == b"<p>notice</p>"
    state = incidents.incident_state(session, iid)
    assert {d.regime: d.status.value for d in state.deadlines} == {"gdpr-33": "met", "gdpr-34": "met"}
    tasks = {t.key: t.state.value for t in state.tasks}
    assert tasks["authority-report-submit"] == tasks["dpo-review"] == tasks["subject-communication-send"] == "done"
    assert tasks["follow-up-report"] == "done"
    with pytest.raises(UsageError, match="not a disclosure id"):
        disclosure_content(session, "nope")


def test_a_decision_not_to_notify_closes_art_33_as_not_required_on_clock_register_and_picture(world, fault_report):
    session, iid, clock, tmp = world
    clock.now = AWARE + timedelta(hours=20)
    decisions_api.decide(session, iid, authority=False, subjects=False,
                         reason="full-disk encryption, key safe: unlikely to result in a risk")
    incidents.close_incident(session, iid, reason="documented")
    clock.now = AWARE + timedelta(days=248)
    deadlines = {d.regime: d for d in incidents.clock(session, iid).deadlines}
    # lost: a stage the clock still counts (overdue) after the decision not to notify
    fault_report.record("clock.decision_not_to_notify", tried=2,
                        lost=sum(deadlines[r].status != "not_required" for r in ("gdpr-33", "gdpr-34")))
    assert deadlines["gdpr-33"].status == "not_required" and deadlines["gdpr-33"].met_at == AWARE + timedelta(hours=20)
    assert not deadlines["gdpr-33"].needs_delay_reasons and deadlines["gdpr-34"].status == "not_required"
    assert deadlines["gdpr-33"].elapsed_seconds == 20 * 3600
    row = json.loads(export_register(session, "json").data)[0]
    assert row["late_stages"] == [] and row["stages"][0].startswith("gdpr-33.authority not required 2026-04-01")
    export_timeline(session, iid, tmp / "t.svg")
    assert "not required: decision" in (tmp / "t.svg").read_text(encoding="utf-8")
    tasks = {t.key: t.state.value for t in incidents.incident_state(session, iid).tasks}
    assert tasks["authority-report-submit"] == tasks["subject-communication-send"] == "skipped"
    assert tasks["decide"] == "done"


def test_moments_in_the_future_or_out_of_order_are_refused_unless_the_order_is_explained(world, fault_report):
    session, iid, clock, _ = world
    wrong = [  # each must be refused, naming the moment
        (r"aware_at .* is in the future", lambda: incidents.open_incident(
            session, title="t", aware_at=datetime(2027, 1, 1, tzinfo=UTC), justification="j")),
        ("in the future", lambda: incidents.update_incident(
            session, iid, {"aware_at": "2030-01-01T00:00:00Z"}, reason="typo")),
        ("in the future", lambda: incidents.update_incident(
            session, iid, {"occurred_at": (clock.now + timedelta(hours=1)).isoformat()}, reason="typo")),
        (r"occurred_at .* is after aware_at", lambda: incidents.open_incident(
            session, title="t", aware_at=AWARE, occurred_at=AWARE + timedelta(hours=1), justification="j")),
        (r"detected_at .* is after aware_at", lambda: incidents.update_incident(
            session, iid, {"detected_at": (AWARE + timedelta(hours=3)).isoformat()}, reason="late")),
    ]
    accepted = 0
    for pattern, attempt in wrong:
        try:
            attempt()
            accepted += 1
        except UsageError as refused:
            assert re.search(pattern, str(refused)), str(refused)
    # lost: a wrong moment taken into the legal clock
    fault_report.record("clock.future_or_out_of_order", tried=len(wrong), lost=accepted)
    assert accepted == 0
    # within the allowed clock skew (5 minutes by default)
    incidents.update_incident(session, iid, {"detected_at": (clock.now + timedelta(minutes=3)).isoformat()},
                              reason="the SIEM's clock runs ahead", allow_order=True)
    opened = incidents.open_incident(session, title="t", aware_at=AWARE, occurred_at=AWARE + timedelta(hours=1),
                                     justification="j", allow_order="the logs' clock was an hour fast")
    assert "moments out of order accepted: the logs' clock was an hour fast" in \
        session.store.timeline(opened.incident.id)[0].reason
    updated = incidents.update_incident(session, iid, {"detected_at": (AWARE + timedelta(hours=3)).isoformat()},
                                        reason="the alert was raised after the report", allow_order=True)
    entry = session.store.timeline(iid)[-1]
    assert updated.detected_at == AWARE + timedelta(hours=3) and entry.reason == "the alert was raised after the report"
    assert "detected_at" in entry.changes["order_override"][0]


def test_a_closed_incident_refuses_changes_until_reopened(world, smtp):
    session, iid, _, tmp = world
    decisions_api.decide(session, iid, authority=True, subjects=True, reason="high risk")
    incidents.close_incident(session, iid, reason="done")
    refused = [
        lambda: incidents.update_incident(session, iid, {"cause": "x"}, reason="r"),
        lambda: tasks_api.complete_task(session, iid, "contain"),
        lambda: decisions_api.decide(session, iid, authority=False, reason="r"),
        lambda: incidents.file_report(session, iid, regime="gdpr-33", stage="authority"),
        lambda: incidents.link_detections(session, iid, [incidents.linked(_detection())]),
        lambda: approve_notices(session, iid, version=1, recipients=tmp / "subjects.csv", reason="r"),
        lambda: incidents.set_status(session, iid, "investigating", reason="r"),
    ]
    for attempt in refused:
        with pytest.raises(UsageError, match="closed") as err:
            attempt()
        assert "reopen" in (err.value.hint or "")
    incidents.add_note(session, iid, "the insurer asked for a copy of the register")  # notes are still taken
    with pytest.raises(UsageError, match="needs a reason"):
        incidents.reopen_incident(session, iid, reason=" ")
    reopened = incidents.reopen_incident(session, iid, reason="the authority asked for more information")
    assert reopened.status.value == "investigating"
    entry = session.store.timeline(iid)[-1]
    assert (entry.action, entry.reason) == ("reopened", "the authority asked for more information")
    assert incidents.update_incident(session, iid, {"cause": "stolen passwords"}, reason="r").cause
    with pytest.raises(UsageError, match="nothing to reopen"):
        incidents.reopen_incident(session, iid, reason="again")


def _detection():
    from breachkit.detect.document import DetectionItem

    seen = AWARE - timedelta(hours=3)
    return DetectionItem(rule_id="r", title="t", key={"source.ip": "203.0.113.9"}, count=1, event_ids=["e"],
                         first_seen=seen, last_seen=seen)


def test_resolving_messages_on_a_closed_incident_documents_them_but_does_not_resend(world, smtp):
    session, iid, _, tmp = world
    decisions_api.decide(session, iid, authority=True, subjects=True, reason="high risk")
    smtp.recorder.script.drop_after_data = {"lea@example.org"}
    result = _approve_and_send(session, iid, tmp)
    assert [r for r, _ in result.unknown] == ["u1"]
    incidents.close_incident(session, iid, reason="done")
    with pytest.raises(UsageError, match="closed"):
        resolve_notices(session, iid, action="resend", reason="r")
    with pytest.raises(UsageError, match="closed"):
        send_notices(session, iid, recipients=tmp / "subjects.csv")
    assert resolve_notices(session, iid, action="sent", reason="in the server log") == 1
    confirmed = [d for d in disclosure_record(session, iid).document.disclosures if d.recipient_id == "u1"]
    assert len(confirmed) == 1 and "confirmed it was delivered" in confirmed[0].flags[0]
    art34 = next(d for d in incidents.incident_state(session, iid).deadlines if d.regime == "gdpr-34")
    assert art34.status.value == "met"  # every approved message is now sent


CHILD = """
import sys
from pathlib import Path
from breachkit.notices.api import send_notices
from breachkit.session import Session
with Session.open(sys.argv[1], actor="comms@heimwatt.example", environ={}) as session:
    send_notices(session, sys.argv[2], recipients=Path(sys.argv[3]))
"""


@pytest.mark.slow
def test_killed_while_sending_resumes_without_rendering_again_and_art_34_waits_for_every_message(world, smtp):
    """A crash between send and the state update is the outbox's case: the message in flight becomes `unknown`,
    the rest is sent by the next run from the approved bytes already queued, and the stage is met only once every
    approved message is sent (the state is derived from the outbox, so it cannot be left behind)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    session, iid, _, tmp = world
    root = Path(__file__).resolve().parents[1]
    many = "subject_id,email,name,locale,country,categories\n" + "".join(
        f"p{i:04d},person{i}@example.org,Person {i},{('de', 'en', 'fr')[i % 3]},DE,contact\n" for i in range(400))
    (tmp / "many.csv").write_text(many, encoding="utf-8")
    decisions_api.decide(session, iid, subjects=True, reason="high risk")
    # the child runs on the real clock, long after the fixture's 72 hours: the check asks for the delay's reasons
    incidents.update_incident(session, iid, {"delay_reasons": "the fixture's breach is months old"}, reason="late")
    approve_notices(session, iid, version=1, recipients=tmp / "many.csv", reason="checked")
    smtp.recorder.script.delay = 0.01
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp / "breachkit.toml"), iid, str(tmp / "many.csv")],
                             cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 120
    while len(smtp.recorder.received) < 100 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    before = notice_status(session, iid).counts
    assert 100 <= before["sent"] + before["sending"] < 400 and before["queued"] > 0, before

    def art34() -> str:
        return next(d.status.value for d in incidents.incident_state(session, iid).deadlines if d.regime == "gdpr-34")

    assert art34() == "open"
    smtp.recorder.script.delay = 0
    (tmp / "many.csv").write_text(many.replace("Person 1,", "Someone Else,"), encoding="utf-8")  # not read again
    result = send_notices(session, iid, recipients=tmp / "many.csv")
    assert result.already == 400 and result.queued == 0 and len(result.interrupted) == before["sending"]
    after = notice_status(session, iid).counts
    assert after["sent"] + after["unknown"] == 400 and after["queued"] == 0
    received = smtp.recorder.by_message_id()
    assert all(n == 1 for n in received.values())
    if after["unknown"]:
        assert art34() == "open"  # not every approved message is known to be delivered
        rows = session.store.outbox.rows(iid, states=[])
        arrived = [r.recipient for r in rows if r.state.value == "unknown" and received[r.message_id]]
        resolve_notices(session, iid, action="sent", recipients=arrived, reason="found in the server log")
        resolve_notices(session, iid, action="resend", reason="not in the server log")
        send_notices(session, iid, recipients=tmp / "many.csv")
    assert notice_status(session, iid).counts["sent"] == 400
    assert set(smtp.recorder.by_message_id().values()) == {1} and len(smtp.recorder.by_message_id()) == 400
    assert art34() == "met"
    record = disclosure_record(session, iid).document
    assert sum(d.kind == "subject_notice" for d in record.disclosures) == 400


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_with_queued_messages_keeps_their_bytes_through_the_upgrade(tmp_path, backend, request):
    """Migration 0003 moves the outbox's message bytes into outbox_messages: every byte is kept."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import text

    from breachkit.incidents.store import MIGRATIONS, IncidentStore
    from breachkit.incidents.store.engine import forget_migrated
    from breachkit.notices.outbox import Outgoing

    url = request.getfixturevalue("pg_database_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/s.db"
    with IncidentStore(url) as store:
        store.open_incident({"title": "t", "aware_at": AWARE, "aware_justification": "j"}, actor="a", now=AWARE)
        body = b"From: a@b\r\n\r\n" + bytes(range(256)) * 40
        store.outbox.enqueue([Outgoing("BK-2026-0001", "u1", "subject", 1, "u1@example.org", body, "<m@b>", "r",
                                       "0" * 64)], actor="a", now=AWARE)
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        with store.engine.connect() as conn:
            assert bytes(conn.execute(text("SELECT message FROM outbox")).scalar_one()) == body
        forget_migrated(store.engine)
    with IncidentStore(url) as reopened:
        assert reopened.outbox.rows("BK-2026-0001")[0].message == body
