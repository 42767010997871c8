"""Delivering queued messages over SMTP, exactly once or visibly `unknown`.

The transport speaks SMTP one phase at a time (MAIL, RCPT, DATA) so that every error says whether the
server can have the message: anything before DATA is accepted is safe to retry; a connection lost
after the message body went out is *uncertain* and becomes `unknown` instead of a silent resend.

yagmail opens and authenticates the connection (SSL, STARTTLS or plain; password from the
environment). Its own `send()` is not used: it composes its own MIME (so the bytes recorded in the
outbox would not be the bytes sent), retries a dropped connection by itself (a possible silent
duplicate) and logs recipient addresses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.charset
import hashlib
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from typing import Protocol

import yagmail

from breachkit.config import Config, SmtpConfig, read_secret
from breachkit.errors import ConfigError, ServiceError
from breachkit.notices.outbox import Outbox, Row, State, retry_delay, send_lock


class TemporaryFailure(Exception):
    """Not delivered, try again later (4xx, or the connection failed before the message was sent)."""


class PermanentFailure(Exception):
    """Refused for good (5xx): recorded as failed."""


class UncertainFailure(Exception):
    """The connection broke after the message body was sent: the server may have it."""


class Transport(Protocol):
    def send(self, sender: str, recipient: str, message: bytes) -> str: ...
    def close(self) -> None: ...


def _strip_controls(value: str) -> str:
    """Header values never carry CR, LF or other control characters (header injection)."""
    return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in value).strip()


_QP_UTF8 = email.charset.Charset("utf-8")
_QP_UTF8.header_encoding = email.charset.QP
_QP_UTF8.body_encoding = email.charset.QP
_WIRE = policy.compat32.clone(linesep="\r\n")


def compose(*, sender: str, sender_name: str, to_address: str, to_name: str, subject: str, text: str,
            html: str | None, message_id: str, date: datetime) -> bytes:
    """The exact bytes to send: text (+ HTML alternative), quoted-printable UTF-8, CRLF line ends.

    Built with the compat32 MIME classes: the same wire format as `EmailMessage` at a quarter of the cost
    (the header registry's parsing dominated a notice's rendering time)."""
    body = _text_part(text, "plain")
    msg: Message = body
    if html is not None:
        msg = MIMEMultipart("alternative", boundary=_boundary(message_id))
        msg.attach(body)
        msg.attach(_text_part(html, "html"))
    msg["From"] = formataddr((_strip_controls(sender_name), sender), charset="utf-8")
    msg["To"] = formataddr((_strip_controls(to_name), to_address), charset="utf-8")
    msg["Subject"] = Header(_strip_controls(subject), "utf-8").encode()
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = _strip_controls(message_id)
    msg["Auto-Submitted"] = "auto-generated"
    return msg.as_bytes(policy=_WIRE)


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _QP_UTF8)
    return part


def _boundary(message_id: str) -> str:
    """A boundary derived from the message id: the same notice composes to the same bytes."""
    return "=_bk_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


def _code(exc: smtplib.SMTPResponseException) -> str:
    message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {message}"


class SmtpTransport:
    """One SMTP connection, reused; reopened after a failure."""

    def __init__(self, config: SmtpConfig, password: str | None) -> None:
        self.config = config
        self.password = password
        self._client: yagmail.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context(cafile=str(cfg.ca_certs) if cfg.ca_certs else None)
        if not cfg.verify_certs:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        tls: dict[str, object] = {"context": context} if cfg.security == "ssl" else {}
        login = cfg.username or cfg.sender or "breachkit"  # a name for yagmail; no login without a username
        try:
            client = yagmail.SMTP(
                # a one-entry dict keeps yagmail from appending "@gmail.com" to a login without "@"
                user={login: login}, password=self.password or "", host=cfg.host, port=cfg.port,
                smtp_ssl=cfg.security == "ssl",
                smtp_starttls={"context": context} if cfg.security == "starttls" else False,
                smtp_skip_login=cfg.username is None, soft_email_validation=False, timeout=cfg.timeout, **tls)
            client.login()
        except smtplib.SMTPAuthenticationError as exc:
            raise ServiceError(f"SMTP server {cfg.host}:{cfg.port} refused the login: {_code(exc)}",
                               hint="check notices.smtp.username and BREACHKIT_SMTP_PASSWORD") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServiceError(f"cannot connect to the SMTP server {cfg.host}:{cfg.port}: {exc}",
                               hint="check notices.smtp (host, port, security) and that the server runs; "
                                    "the messages stay queued") from None
        self._client = client
        smtp: smtplib.SMTP = client.smtp
        smtp.ehlo_or_helo_if_needed()
        return smtp

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.smtp.close()

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipient: str) -> None:
        """MAIL and RCPT; a refusal raises Temporary/PermanentFailure (nothing was transmitted)."""
        for command, argument in (("mail", sender), ("rcpt", recipient)):
            code, reply = getattr(smtp, command)(argument)
            if code not in (250, 251):
                smtp.rset()
                text = f"{code} {reply.decode('utf-8', 'replace')}"
                raise (TemporaryFailure(text) if 400 <= code < 500 else PermanentFailure(text))

    def send(self, sender: str, recipient: str, message: bytes) -> str:
        reused = self._client is not None
        smtp = self._client.smtp if self._client is not None else self._connect()
        try:
            self._envelope(smtp, sender, recipient)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            if not reused:
                raise TemporaryFailure(f"connection lost before the message was sent: {exc}") from None
            # an idle connection the server closed (e.g. while waiting for a retry): nothing was sent, so
            # open a fresh one and try again once
            smtp = self._connect()
            try:
                self._envelope(smtp, sender, recipient)
            except (smtplib.SMTPServerDisconnected, OSError) as again:
                self._drop()
                raise TemporaryFailure(f"connection lost before the message was sent: {again}") from None
        try:
            code, reply = smtp.data(message)
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was transmitted
            raise (TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure)(_code(exc)) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise UncertainFailure(f"connection lost while sending the message: {exc}") from None
        text = f"{code} {reply.decode('utf-8', 'replace')}"
        if code == 250:
            return text
        smtp.rset()
        raise (TemporaryFailure(text) if 400 <= code < 500 else PermanentFailure(text))

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (recipient, error)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)  # `sending` rows a dead run left behind


@dataclass(frozen=True)
class DeliveryOptions:
    sender: str
    rate_per_second: float = 10.0
    max_attempts: int = 5
    backoff_seconds: float = 2.0

    @classmethod
    def from_config(cls, config: SmtpConfig) -> DeliveryOptions:
        return cls(config.require_sender(), config.rate_per_second, config.max_attempts, config.backoff_seconds)


def deliver(outbox: Outbox, incident_id: str, kind: str, transport: Transport, options: DeliveryOptions, *,
            actor: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
            sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
            on_message: Callable[[Row, State], None] | None = None) -> DeliveryReport:
    """Send every queued message of (incident, kind), retrying temporary failures with backoff."""
    report = DeliveryReport()
    interval = 1.0 / options.rate_per_second
    with send_lock(outbox.store, incident_id):
        report.interrupted = [r.recipient for r in outbox.orphans_to_unknown(incident_id, actor=actor, now=clock())]
        next_slot = monotonic()
        try:
            while True:
                row = outbox.claim(incident_id, kind, clock())
                if row is None:
                    due = outbox.next_due(incident_id, kind)
                    if due is None:
                        break
                    sleep(max(0.0, (due - clock()).total_seconds()))
                    continue
                row = dataclasses.replace(row, attempts=row.attempts + 1)
                pause = next_slot - monotonic()
                if pause > 0:
                    sleep(pause)
                next_slot = max(next_slot, monotonic()) + interval
                state = _send_one(outbox, row, transport, options, actor, clock, report)
                if on_message is not None:
                    on_message(row, state)
        finally:
            transport.close()
    return report


def _send_one(outbox: Outbox, row: Row, transport: Transport, options: DeliveryOptions, actor: str,
              clock: Callable[[], datetime], report: DeliveryReport) -> State:
    try:
        reply = transport.send(options.sender, row.address, row.message)
    except TemporaryFailure as exc:
        if row.attempts >= options.max_attempts:
            outbox.mark_failed(row, error=f"{exc} (after {row.attempts} attempts)", actor=actor, now=clock())
            report.failed.append((row.recipient, str(exc)))
            return State.FAILED
        now = clock()
        outbox.mark_retry(row, error=str(exc), at=now + retry_delay(row.attempts, options.backoff_seconds), now=now)
        report.retried += 1
        return State.QUEUED
    except PermanentFailure as exc:
        outbox.mark_failed(row, error=str(exc), actor=actor, now=clock())
        report.failed.append((row.recipient, str(exc)))
        return State.FAILED
    except UncertainFailure as exc:
        outbox.mark_unknown(row, error=str(exc), now=clock())
        report.unknown.append((row.recipient, str(exc)))
        return State.UNKNOWN
    except ServiceError as exc:  # cannot connect or log in: nothing was sent; stop the run, keep it queued
        now = clock()
        outbox.mark_retry(row, error=f"not attempted: {exc.message}", at=now, now=now, count_attempt=False)
        raise
    outbox.mark_sent(row, actor=actor, now=clock(), reply=reply)
    report.sent += 1
    return State.SENT


def send_plain(transport: Transport, smtp: SmtpConfig, *, to: str, subject: str, text: str, message_id: str,
               date: datetime) -> str:
    """A plain-text operational email (a reminder, a scan alert) from the configured sender; the transport's
    Temporary/Permanent/UncertainFailure propagate for the caller to decide."""
    sender = smtp.require_sender()
    message = compose(sender=sender, sender_name=smtp.sender_name or "breachkit", to_address=to, to_name="",
                      subject=subject, text=text, html=None, message_id=message_id, date=date)
    return transport.send(sender, to, message)


def transport_from_config(config: Config) -> SmtpTransport:
    """The SMTP transport of `notices.smtp`, password from BREACHKIT_SMTP_PASSWORD or `password_file`."""
    smtp = config.notices.smtp
    file = config.resolve(smtp.password_file) if smtp.password_file else None
    password = read_secret("BREACHKIT_SMTP_PASSWORD", file)
    if smtp.username and password is None:
        raise ConfigError("notices.smtp.username is set but there is no password",
                          hint="set BREACHKIT_SMTP_PASSWORD or notices.smtp.password_file (mode 0600)")
    ca = config.resolve(smtp.ca_certs) if smtp.ca_certs else None
    return SmtpTransport(smtp.model_copy(update={"ca_certs": ca}), password)
