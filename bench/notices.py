"""Notice throughput: rendering and delivery, against plain smtplib in the same run.

    python bench/notices.py [--messages 2000] [--server process|thread]

- render: breachkit renders each person's email (sandboxed Jinja2, locale choice, text + HTML) and composes
  the exact MIME bytes (`notices.compose.outgoing`), messages/s — by the wall clock, and by this process's CPU time
  (what the code costs, whatever else the machine is running).
- deliver: breachkit queues the approved set in the outbox (SQLite store; every message checked against its
  approved hash, all in one transaction) and delivers it over SMTP to a local aiosmtpd server
  (`notices.delivery.deliver`): per message, `sending` is committed before the message is handed to the server, and
  `sent` + timeline + audit after its reply, in the transaction that claims the next one — the price of never
  sending twice or losing one silently.
- baseline: `smtplib.SMTP.sendmail` of the same pre-rendered bytes over one connection, nothing recorded.

Prints messages/s for each, the ratio deliver/baseline (wall clock) and the CPU each costs per message. The SMTP
server runs in another process by default, as a real one does (`--server thread` runs it in this process, where
it competes with the client for the interpreter lock and penalises whichever side uses more CPU).
"""

from __future__ import annotations

import argparse
import signal
import smtplib
import subprocess
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
from breachkit.notices.recipients import recipients_from_frame
from breachkit.notices.templates import NoticeEnvironment
from breachkit.resources import bundled
from tests.services.smtp import start_server
from tests.services.system import free_port

BUNDLED_NOTICES = bundled("notices")
ROOT = Path(__file__).resolve().parents[1]

NOW = datetime(2026, 3, 21, 9, 0, tzinfo=UTC)
LOCALES = ("de", "fr", "en", "de-AT", "nl")
SENDER = "privacy@example.org"


def subject_table(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "subject_id": [f"u{i:07d}" for i in range(n)],
        "email": [f"user{i}@example.org" for i in range(n)],
        "name": [f"Person {i}" for i in range(n)],
        "locale": [LOCALES[i % len(LOCALES)] for i in range(n)],
        "country": [("DE", "FR", "AT", "NL")[i % 4] for i in range(n)],
        "categories": [["contact", "credentials"] if i % 2 else ["usage"] for i in range(n)],
    })


class _ProcessServer:
    """The test SMTP server in a child process (`python -m tests.services.smtp serve`)."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.services.smtp", "serve", "--port", str(self.port)],
                                     cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(200):
            try:
                smtplib.SMTP(self.host, self.port, timeout=5).quit()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the SMTP server did not start")

    def stop(self) -> int:
        """Stop it; how many messages it received."""
        self.proc.send_signal(signal.SIGINT)
        out = self.proc.communicate(timeout=60)[0]
        return int(out.strip().splitlines()[-1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--server", choices=["process", "thread"], default="process")
    args = parser.parse_args()
    n = args.messages
    thread = start_server() if args.server == "thread" else None
    process = _ProcessServer() if thread is None else None
    host, port = (thread.host, thread.port) if thread else (process.host, process.port)  # type: ignore[union-attr]
    config = Config(notices=NoticesConfig(smtp=SmtpConfig(host=host, port=port, security="none", sender=SENDER)))
    with tempfile.TemporaryDirectory() as tmp, IncidentStore(f"sqlite:///{tmp}/incidents.db") as store:
        incident = store.open_incident({"title": "Credential stuffing on the customer portal", "aware_at": NOW,
                                        "aware_justification": "confirmed", "data_categories": ["contact"],
                                        "description": "Attackers logged in with passwords stolen elsewhere."},
                                       actor="bench", now=NOW)
        env = NoticeEnvironment([BUNDLED_NOTICES])
        people = recipients_from_frame(subject_table(n), locales=env.locales)
        ctx = incident_notice_context(incident, config=config.notices)
        list(outgoing(incident, list(people)[:20], ctx, env, config, version=1, reason="bench", now=NOW))  # warm up

        start, cpu = time.perf_counter(), time.process_time()
        messages = list(outgoing(incident, people, ctx, env, config, version=1, reason="bench", now=NOW))
        render_s, render_cpu = time.perf_counter() - start, time.process_time() - cpu
        approved = {m.recipient: m.sha256 for m in messages}

        start, cpu = time.perf_counter(), time.process_time()
        store.outbox.enqueue_approved(incident.id, "subject", 1, messages, approved, actor="bench", now=NOW)
        report = deliver(store.outbox, incident.id, "subject", SmtpTransport(config.notices.smtp, None),
                         DeliveryOptions(sender=SENDER, rate_per_second=1e9), actor="bench")
        deliver_s, deliver_cpu = time.perf_counter() - start, time.process_time() - cpu
        assert report.sent == n, report

        start, cpu = time.perf_counter(), time.process_time()
        with smtplib.SMTP(host, port) as smtp:
            for m in messages:
                smtp.sendmail(SENDER, [m.address], m.message)
        baseline_s, baseline_cpu = time.perf_counter() - start, time.process_time() - cpu
    if thread is not None:
        thread.stop()
        received = len(thread.recorder.received)
    else:
        received = process.stop()  # type: ignore[union-attr]
    assert received == 2 * n, received
    print(f"{n} messages, {len(env.locales)} template locales, SMTP server in a {args.server}")
    print(f"  render (templates + MIME):          {n / render_s:8.0f} msg/s  ({render_s:.2f} s; by CPU time "
          f"{n / render_cpu:.0f} msg/s)")
    print(f"  deliver (outbox + SMTP, recorded):  {n / deliver_s:8.0f} msg/s  ({deliver_s:.2f} s; CPU "
          f"{1000 * deliver_cpu / n:.2f} ms/msg)")
    print(f"  baseline (smtplib, one connection): {n / baseline_s:8.0f} msg/s  ({baseline_s:.2f} s; CPU "
          f"{1000 * baseline_cpu / n:.2f} ms/msg)")
    print(f"  ratio deliver/baseline: {baseline_s / deliver_s:.2f}  (1.0 = as fast as sending with no bookkeeping)")


if __name__ == "__main__":
    main()
