"""Delivery through the outbox to a real SMTP server (aiosmtpd): exactly once, resumable after a kill,
temporary and permanent refusals, uncertain sends, TLS and authentication, the rate limit."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breachkit.config import SmtpConfig
from breachkit.errors import ServiceError, UsageError
from breachkit.incidents.store import IncidentStore
from breachkit.notices.delivery import DeliveryOptions, SmtpTransport, compose, deliver
from breachkit.notices.outbox import Outbox, Outgoing, State, send_lock
from tests.services.smtp import SmtpServer, start_server

NOW = datetime(2026, 3, 21, 9, 0, tzinfo=UTC)
SENDER = "privacy@heimwatt.example"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def smtp():
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path):
    with IncidentStore(f"sqlite:///{tmp_path}/incidents.db") as s:
        s.open_incident({"title": "Credential stuffing", "aware_at": NOW, "aware_justification": "confirmed"},
                        actor="a", now=NOW)
        yield s


def messages(n: int, incident: str = "BK-2026-0001", version: int = 1) -> list[Outgoing]:
    out = []
    for i in range(n):
        address = f"user{i:05d}@example.org"
        text = f"Dear user {i},\nyour account was accessed.\n"
        body = compose(sender=SENDER, sender_name="HeimWatt Privacy", to_address=address, to_name=f"User {i}",
                       subject="Security incident", text=text, html=f"<p>{text}</p>",
                       message_id=f"<{incident}.subject.v{version}.{i}@breachkit>", date=NOW)
        out.append(Outgoing(incident, f"u{i:05d}", "subject", version, address, body,
                            f"<{incident}.subject.v{version}.{i}@breachkit>", "Art. 34 communication",
                            hashlib.sha256(f"{address}{text}".encode()).hexdigest()))
    return out


def transport(server: SmtpServer) -> SmtpTransport:
    return SmtpTransport(SmtpConfig(host=server.host, port=server.port, security="none"), None)


def fast(**kw) -> DeliveryOptions:
    return DeliveryOptions(sender=SENDER, rate_per_second=kw.pop("rate", 100_000.0), **kw)


def test_a_thousand_messages_are_delivered_exactly_once(store, smtp):
    outbox = Outbox(store)
    assert outbox.enqueue(messages(1000), actor="dpo", now=NOW).added == 1000
    report = deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    assert report.sent == 1000 and not report.failed and not report.unknown
    received = smtp.recorder.by_message_id()
    assert len(received) == 1000 and set(received.values()) == {1}
    assert outbox.counts("BK-2026-0001")["sent"] == 1000
    # the disclosure record: one timeline entry and one audit entry per message, with hash and reason
    audit = [a for a in store.audit_log("BK-2026-0001") if a["action"] == "send"]
    assert len(audit) == 1000 and {a["reason"] for a in audit} == {"Art. 34 communication"}
    first = outbox.rows("BK-2026-0001")[0]
    assert audit[0]["sha256"] == hashlib.sha256(first.message).hexdigest() == first.sha256
    assert audit[0]["target"] == first.address
    assert sum(e.action == "disclosure" for e in store.timeline("BK-2026-0001")) == 1000
    # queuing and sending again changes nothing
    again = outbox.enqueue(messages(1000), actor="dpo", now=NOW)
    assert (again.added, again.already) == (0, 1000)
    assert deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo").sent == 0
    assert len(smtp.recorder.received) == 1000


def test_changed_content_for_the_same_version_is_reported_not_queued(store):
    outbox = Outbox(store)
    outbox.enqueue(messages(2), actor="dpo", now=NOW)
    changed = [m.__class__(**{**m.__dict__, "content_sha256": "0" * 64}) for m in messages(2)]
    result = outbox.enqueue(changed, actor="dpo", now=NOW)
    assert (result.added, result.changed) == (0, ["u00000", "u00001"])
    assert outbox.enqueue(messages(2, version=2), actor="dpo", now=NOW).added == 2


CHILD = textwrap.dedent("""
    import sys
    from breachkit.config import SmtpConfig
    from breachkit.incidents.store import IncidentStore
    from breachkit.notices.delivery import DeliveryOptions, SmtpTransport, deliver
    from breachkit.notices.outbox import Outbox
    url, port = sys.argv[1], int(sys.argv[2])
    with IncidentStore(url) as store:
        deliver(Outbox(store), "BK-2026-0001", "subject",
                SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"), None),
                DeliveryOptions(sender="privacy@heimwatt.example", rate_per_second=100000), actor="cron")
""")


@pytest.mark.slow
def test_killed_mid_run_and_restarted_no_silent_duplicate_no_loss(store, smtp, tmp_path):
    outbox = Outbox(store)
    outbox.enqueue(messages(1000), actor="dpo", now=NOW)
    smtp.recorder.script.delay = 0.004  # so the kill lands mid-run, often while a message is in flight
    child = subprocess.Popen([sys.executable, "-c", CHILD, store.url, str(smtp.port)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while len(smtp.recorder.received) < 300 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    before = outbox.counts("BK-2026-0001")
    assert 300 <= before["sent"] + before["sending"] < 1000, before
    smtp.recorder.script.delay = 0
    report = deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    after = outbox.counts("BK-2026-0001")
    assert after["sent"] + after["unknown"] == 1000 and after["queued"] == 0
    assert len(report.interrupted) == after["unknown"] == before["sending"]
    received = smtp.recorder.by_message_id()
    unknown = {r.message_id for r in outbox.rows("BK-2026-0001", states=[State.UNKNOWN])}
    for row in outbox.rows("BK-2026-0001", states=[State.SENT]):
        assert received[row.message_id] == 1, row.recipient  # sent: received exactly once
    assert all(received[m] <= 1 for m in unknown)  # unknown: maybe received, never twice
    # the operator decides: the ones the server has are marked sent, the rest resent
    arrived = [r.recipient for r in outbox.rows("BK-2026-0001", states=[State.UNKNOWN])
               if received[r.message_id]]
    outbox.resolve("BK-2026-0001", "subject", action="sent", recipients=arrived, actor="dpo", now=NOW,
                   reason="found in the server log")
    outbox.resolve("BK-2026-0001", "subject", action="resend", actor="dpo", now=NOW, reason="not in the server log")
    deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    assert outbox.counts("BK-2026-0001")["sent"] == 1000
    assert set(smtp.recorder.by_message_id().values()) == {1} and len(smtp.recorder.by_message_id()) == 1000


def test_temporary_refusals_are_retried_with_backoff_until_the_server_recovers(store, smtp):
    outbox = Outbox(store)
    outbox.enqueue(messages(5), actor="dpo", now=NOW)
    smtp.recorder.script.temporary = {"user00001@example.org": 2}
    smtp.recorder.script.data_temporary = 1
    slept: list[float] = []
    report = deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(backoff_seconds=0.05), actor="dpo",
                     sleep=lambda s: (slept.append(s), time.sleep(s)))
    assert report.sent == 5 and report.retried == 3 and not report.failed
    assert smtp.recorder.attempts["user00001@example.org"] == 3
    assert max(slept) >= 0.05 * 0.5  # waited for the retry instead of spinning
    assert set(smtp.recorder.by_message_id().values()) == {1}


def test_temporary_refusals_give_up_after_max_attempts(store, smtp):
    outbox = Outbox(store)
    outbox.enqueue(messages(2), actor="dpo", now=NOW)
    smtp.recorder.script.temporary = {"user00000@example.org": 99}
    report = deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(max_attempts=3, backoff_seconds=0.01),
                     actor="dpo")
    assert report.sent == 1 and [r for r, _ in report.failed] == ["u00000"]
    failed = outbox.rows("BK-2026-0001", states=[State.FAILED])[0]
    assert failed.attempts == 3 and "451" in failed.last_error and "after 3 attempts" in failed.last_error


def test_permanent_rejections_are_recorded_and_the_rest_is_sent(store, smtp):
    outbox = Outbox(store)
    outbox.enqueue(messages(10), actor="dpo", now=NOW)
    smtp.recorder.script.reject = {"user00003@example.org", "user00007@example.org"}
    report = deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    assert report.sent == 8 and sorted(r for r, _ in report.failed) == ["u00003", "u00007"]
    assert all("550" in e for _, e in report.failed)
    assert outbox.counts("BK-2026-0001")["failed"] == 2
    assert next(e.reason for e in store.timeline("BK-2026-0001") if e.action == "send failed").startswith("550")


def test_a_connection_lost_after_the_body_is_unknown_and_needs_a_decision(store, smtp):
    outbox = Outbox(store)
    outbox.enqueue(messages(3), actor="dpo", now=NOW)
    smtp.recorder.script.drop_after_data = {"user00001@example.org"}
    report = deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    assert report.sent == 2 and [r for r, _ in report.unknown] == ["u00001"]
    assert len(smtp.recorder.received) == 3  # the server does have it
    # a second run does not resend it on its own
    deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    assert len(smtp.recorder.received) == 3
    assert outbox.resolve("BK-2026-0001", "subject", action="sent", actor="dpo", now=NOW, reason="in server log") == 1
    assert outbox.counts("BK-2026-0001")["sent"] == 3


def test_an_unreachable_server_is_a_service_error_and_nothing_is_lost(store, smtp):
    outbox = Outbox(store)
    outbox.enqueue(messages(3), actor="dpo", now=NOW)
    smtp.stop()
    with pytest.raises(ServiceError, match="cannot connect"):
        deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    rows = outbox.rows("BK-2026-0001")
    assert [r.state for r in rows] == [State.QUEUED] * 3 and {r.attempts for r in rows} == {0}


def test_rate_limit_spaces_messages(store, smtp):
    outbox = Outbox(store)
    outbox.enqueue(messages(11), actor="dpo", now=NOW)
    fake = [0.0]

    def sleep(seconds: float) -> None:
        fake[0] += seconds

    deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(rate=5.0), actor="dpo", sleep=sleep,
            monotonic=lambda: fake[0])
    assert fake[0] == pytest.approx(10 / 5.0)  # 11 messages at 5/s: 10 intervals of 0.2 s


def test_one_sender_at_a_time(store):
    with send_lock(store, "BK-2026-0001"), pytest.raises(UsageError, match="another"), \
            send_lock(store, "BK-2026-0001"):
        pass


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_a_verified_certificate_and_login(store, tmp_path, security):
    server = start_server(tls=security, username="mailer", password="s3cret", cert_dir=tmp_path)
    try:
        outbox = Outbox(store)
        outbox.enqueue(messages(2), actor="dpo", now=NOW)
        config = SmtpConfig(host=server.host, port=server.port, security=security, username="mailer",
                            ca_certs=server.ca_file)
        with pytest.raises(ServiceError, match="refused the login"):
            deliver(outbox, "BK-2026-0001", "subject", SmtpTransport(config, "wrong"), fast(), actor="dpo")
        untrusted = SmtpConfig(host=server.host, port=server.port, security=security, username="mailer")
        with pytest.raises(ServiceError, match="CERTIFICATE_VERIFY_FAILED"):
            deliver(outbox, "BK-2026-0001", "subject", SmtpTransport(untrusted, "s3cret"), fast(), actor="dpo")
        assert deliver(outbox, "BK-2026-0001", "subject", SmtpTransport(config, "s3cret"), fast(),
                       actor="dpo").sent == 2
    finally:
        server.stop()


def test_headers_cannot_be_injected(smtp):
    body = compose(sender=SENDER, sender_name="x", to_address="lea@example.org",
                   to_name="Lea\r\nBcc: victim@example.org", subject="Hi\nBcc: victim@example.org",
                   text="t", html=None, message_id="<m@b>", date=NOW)
    headers = body.split(b"\r\n\r\n", 1)[0].decode()
    assert "\nBcc:" not in headers and headers.count("\n") == headers.count("\r\n")
    transport(smtp).send(SENDER, "lea@example.org", body)
    assert smtp.recorder.received[0].recipients == ["lea@example.org"]
    assert smtp.recorder.received[0].message["Bcc"] is None


def test_pg_store_delivers_exactly_once(pg_database_url, smtp):
    with IncidentStore(pg_database_url) as store:
        store.open_incident({"title": "t", "aware_at": NOW, "aware_justification": "j"}, actor="a", now=NOW)
        outbox = Outbox(store)
        outbox.enqueue(messages(50), actor="dpo", now=NOW)
        with pytest.raises(UsageError, match="another"), send_lock(store, "BK-2026-0001"):
            deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
        assert deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo").sent == 50
    assert set(smtp.recorder.by_message_id().values()) == {1}


def test_retry_delays_double_and_cap():
    from breachkit.notices.outbox import retry_delay

    assert [retry_delay(a, 2.0) for a in (1, 2, 3)] == [timedelta(seconds=s) for s in (2, 4, 8)]
    assert retry_delay(30, 2.0) == timedelta(hours=1)


def test_a_connection_the_server_closed_while_idle_is_reopened_without_losing_an_attempt(smtp):
    from aiosmtpd.controller import Controller

    sender = transport(smtp)
    body = messages(2)
    sender.send(SENDER, body[0].address, body[0].message)
    smtp.controller.stop()  # the server goes away and comes back: the open connection is dead
    smtp.controller = Controller(smtp.recorder, hostname=smtp.host, port=smtp.port)
    smtp.controller.start()
    assert sender.send(SENDER, body[1].address, body[1].message).startswith("250")
    sender.close()
    assert len(smtp.recorder.received) == 2


def test_resolving_an_empty_list_of_recipients_changes_nothing(store, smtp):
    outbox = Outbox(store)
    outbox.enqueue(messages(2), actor="dpo", now=NOW)
    smtp.recorder.script.drop_after_data = {"user00000@example.org", "user00001@example.org"}
    deliver(outbox, "BK-2026-0001", "subject", transport(smtp), fast(), actor="dpo")
    assert outbox.resolve("BK-2026-0001", "subject", action="sent", recipients=[], actor="dpo", now=NOW,
                          reason="none confirmed") == 0
    assert outbox.counts("BK-2026-0001")["unknown"] == 2
    assert outbox.resolve("BK-2026-0001", "subject", action="sent", recipients=["u00001"], actor="dpo", now=NOW,
                          reason="in the server log") == 1
    assert outbox.resolve("BK-2026-0001", "subject", action="resend", actor="dpo", now=NOW, reason="all others") == 1
