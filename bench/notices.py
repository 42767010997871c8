"""Notice throughput: rendering and delivery, against plain smtplib in the same run.

    python bench/notices.py [--messages 2000]

- render: breachkit renders each person's email (sandboxed Jinja2, locale choice, text + HTML) and composes
  the exact MIME bytes (`notices.compose.outgoing`), messages/s.
- deliver: breachkit queues them in the outbox (SQLite store) and delivers them over SMTP to a local aiosmtpd
  server (`notices.delivery.deliver`): per message, `sending` is committed before and `sent` + timeline +
  audit after the server's reply — the price of never sending twice or losing one silently.
- baseline: `smtplib.SMTP.sendmail` of the same pre-rendered bytes over one connection, nothing recorded.

Prints messages/s for each and the ratio deliver/baseline. The SMTP server runs in this process (a thread),
so both sides share its cost.
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from breachkit.config import Config, NoticesConfig, SmtpConfig
from breachkit.incidents.store import IncidentStore
from breachkit.notices.compose import outgoing
from breachkit.notices.context import incident_notice_context
from breachkit.notices.delivery import DeliveryOptions, SmtpTransport, deliver
from breachkit.notices.outbox import Outbox
from breachkit.notices.recipients import recipients_from_frame
from breachkit.notices.templates import NoticeEnvironment
from breachkit.resources import bundled
from tests.services.smtp import start_server

BUNDLED_NOTICES = bundled("notices")

NOW = datetime(2026, 3, 21, 9, 0, tzinfo=UTC)
LOCALES = ("de", "fr", "en", "de-AT", "nl")


def subject_table(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "subject_id": [f"u{i:07d}" for i in range(n)],
        "email": [f"user{i}@example.org" for i in range(n)],
        "name": [f"Person {i}" for i in range(n)],
        "locale": [LOCALES[i % len(LOCALES)] for i in range(n)],
        "country": [("DE", "FR", "AT", "NL")[i % 4] for i in range(n)],
        "categories": [["contact", "credentials"] if i % 2 else ["usage"] for i in range(n)],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    n = args.messages
    server = start_server()
    config = Config(notices=NoticesConfig(smtp=SmtpConfig(host=server.host, port=server.port, security="none")))
    with tempfile.TemporaryDirectory() as tmp, IncidentStore(f"sqlite:///{tmp}/incidents.db") as store:
        incident = store.open_incident({"title": "Credential stuffing on the customer portal", "aware_at": NOW,
                                        "aware_justification": "confirmed", "data_categories": ["contact"],
                                        "description": "Attackers logged in with passwords stolen elsewhere."},
                                       actor="bench", now=NOW)
        env = NoticeEnvironment([BUNDLED_NOTICES])
        people = recipients_from_frame(subject_table(n), locales=env.locales)
        ctx = incident_notice_context(incident, config=config.notices)

        start = time.perf_counter()
        messages = list(outgoing(incident, people, ctx, env, config, version=1, reason="bench", now=NOW))
        render_s = time.perf_counter() - start

        outbox = Outbox(store)
        start = time.perf_counter()
        outbox.enqueue(messages, actor="bench", now=NOW)
        report = deliver(outbox, incident.id, "subject", SmtpTransport(config.notices.smtp, None),
                         DeliveryOptions(sender=config.notices.smtp.sender, rate_per_second=1e9), actor="bench")
        deliver_s = time.perf_counter() - start
        assert report.sent == n, report

        start = time.perf_counter()
        with smtplib.SMTP(server.host, server.port) as smtp:
            for m in messages:
                smtp.sendmail(config.notices.smtp.sender, [m.address], m.message)
        baseline_s = time.perf_counter() - start
    server.stop()
    assert len(server.recorder.received) == 2 * n
    print(f"{n} messages, {len(env.locales)} template locales")
    print(f"  render (templates + MIME):          {n / render_s:8.0f} msg/s  ({render_s:.2f} s)")
    print(f"  deliver (outbox + SMTP, recorded):  {n / deliver_s:8.0f} msg/s  ({deliver_s:.2f} s)")
    print(f"  baseline (smtplib, one connection): {n / baseline_s:8.0f} msg/s  ({baseline_s:.2f} s)")
    print(f"  ratio deliver/baseline: {baseline_s / deliver_s:.2f}  (1.0 = as fast as sending with no bookkeeping)")


if __name__ == "__main__":
    main()
