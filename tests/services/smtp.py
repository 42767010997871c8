"""A real SMTP server for the tests: aiosmtpd in a background thread, recording what it accepts.

Its behaviour is scripted per recipient: temporary (4xx) refusals a number of times, permanent (5xx)
rejection, a delay before accepting DATA, dropping the connection after receiving a message (so the
client cannot know whether it was accepted). STARTTLS/SSL with a throwaway CA (trustme) and AUTH
PLAIN/LOGIN with a password are available.

``python -m tests.services.smtp serve --port 8025`` runs one in the foreground (handy for a demo).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.services.system import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Script:
    temporary: dict[str, int] = field(default_factory=dict)  # address -> how many 451s before accepting
    reject: set[str] = field(default_factory=set)  # addresses answered with 550
    delay: float = 0.0  # seconds before answering DATA
    drop_after_data: set[str] = field(default_factory=set)  # accept the message, then hang up without a reply
    data_temporary: int = 0  # answer this many DATA transfers with 452 (after receiving the content)


class Recorder:
    """The aiosmtpd handler."""

    def __init__(self) -> None:
        self.script = Script()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            self.attempts[address] += 1
            if address in self.script.reject:
                return "550 5.1.1 mailbox unavailable"
            if self.script.temporary.get(address, 0) > 0:
                self.script.temporary[address] -= 1
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.script.delay:
            await asyncio.sleep(self.script.delay)
        with self.lock:
            if self.script.data_temporary > 0:
                self.script.data_temporary -= 1
                return "452 4.3.1 insufficient system storage"
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
            drop = bool(set(envelope.rcpt_tos) & self.script.drop_after_data)
        if drop:
            server.transport.close()  # the message is stored, the client never hears "250"
            return "421 closing"
        return "250 Message accepted"

    def by_message_id(self) -> Counter[str]:
        with self.lock:
            return Counter(r.message_id for r in self.received)


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def __call__(self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        def text(value: str | bytes) -> str:
            return value.decode() if isinstance(value, bytes) else value

        ok = isinstance(auth_data, LoginPassword) and (text(auth_data.login), text(auth_data.password)) == (
            self.username, self.password)
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: Recorder
    controller: Controller
    ca_file: Path | None = None

    def stop(self) -> None:
        if self.controller.loop.is_running():
            self.controller.stop()

    def environment(self, **more: str) -> dict[str, str]:
        """The BREACHKIT_NOTICES__SMTP__* variables that point breachkit at this (plain) server; `more` adds
        settings by name (sender="…", rate_per_second="…")."""
        values = {"host": self.host, "port": str(self.port), "security": "none", **more}
        return {f"BREACHKIT_NOTICES__SMTP__{key.upper()}": value for key, value in values.items()}


def start_server(*, tls: str = "none", username: str | None = None, password: str | None = None,
                 cert_dir: Path | None = None) -> SmtpServer:
    """Start a server on a free port of 127.0.0.1. tls: "none", "starttls" or "ssl" (needs cert_dir)."""
    recorder = Recorder()
    kwargs: dict[str, Any] = {}
    ca_file: Path | None = None
    if tls != "none":
        import trustme

        assert cert_dir is not None
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        ca_file = cert_dir / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        if tls == "starttls":
            kwargs |= {"tls_context": context, "require_starttls": True}
        else:
            kwargs["ssl_context"] = context
    if username is not None:
        kwargs |= {"authenticator": _Authenticator(username, password or ""), "auth_required": True,
                   "auth_require_tls": tls == "starttls"}  # with implicit TLS aiosmtpd does not see the TLS layer
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=10,
                            server_hostname="localhost", **kwargs)
    controller.start()
    return SmtpServer("127.0.0.1", port, recorder, controller, ca_file)


def main() -> None:  # pragma: no cover - manual use
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"SMTP on 127.0.0.1:{args.port}; Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
            print(f"\r{len(recorder.received)} messages received", end="", flush=True)
    except KeyboardInterrupt:
        controller.stop()
        print(f"\n{len(recorder.received)} messages received", flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
