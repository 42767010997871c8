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

import base64
import binascii
import contextlib
import functools
import hashlib
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _strip_controls(value: str) -> str:
    """Header values never carry CR, LF or other control characters (header injection)."""
    return _CONTROLS.sub(" ", value).strip()


_MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
# UTF-8 bytes per encoded word: "=?utf-8?b?" + 52 base64 + "?=" = 64 characters, so even "Subject: " and one word
# stay within the 76 characters RFC 2047 §2 allows a line with encoded words (and a name of up to 39 bytes is one
# word: some readers put a space between the words of a display name).
_WORD_BYTES = 39
CRLF = "\r\n"


def encoded_words(value: str) -> list[str]:
    """RFC 2047 "B" encoded words of UTF-8 text, each within 75 characters and never splitting a character (B, not
    Q: its length is arithmetic, while the standard library measures Q words character by character)."""
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > _WORD_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
            chunk = bytearray()
        chunk += data
    if chunk or not words:
        words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
    return words


def _fold(name: str, tokens: list[str]) -> str:
    """`Name: tokens` folded at white space so lines stay within 78 characters where a token allows (a longer token
    gets a line of its own); CRLF-terminated."""
    lines = [f"{name}:"]
    for token in tokens:
        if lines[-1].strip() not in ("", f"{name}:") and token and len(lines[-1]) + 1 + len(token) > _MAX_LINE:
            lines.append("")
        lines[-1] += " " + token
    return CRLF.join(lines) + CRLF


def _plain(value: str) -> bool:
    """Text that can go into a header as it is: ASCII, and nothing a reader would decode as an encoded word."""
    return value.isascii() and "=?" not in value


def _header(name: str, value: str) -> str:
    """One header field: plain text folded at its spaces, anything else as RFC 2047 encoded words (adjacent encoded
    words are joined again by readers, RFC 2047 §6.2, so folding between them adds nothing)."""
    return _fold(name, value.split(" ") if _plain(value) else encoded_words(value))


def _address(name: str, address: str) -> list[str]:
    """"Name <address>" as header tokens: a plain name quoted when needed (`formataddr`), others as encoded words."""
    if not name:
        return [address]
    if _plain(name):
        return formataddr((name, address)).split(" ")
    return [*encoded_words(name), f"<{address}>"]


def _quoted_printable(text: str) -> bytes:
    """The body as quoted-printable UTF-8 with CRLF line ends (RFC 2045 §6.7: soft breaks keep lines within 76,
    trailing white space and "=" encoded) — binascii's C encoder, line ends normalised first."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(lines.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


def _text_part(text: str, subtype: str) -> tuple[str, bytes]:
    """The part's MIME header fields and its encoded body."""
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}',
            _quoted_printable(text))


def compose(*, sender: str, sender_name: str, to_address: str, to_name: str, subject: str, text: str,
            html: str | None, message_id: str, date: datetime) -> bytes:
    """The exact bytes to send: text (+ HTML alternative), quoted-printable UTF-8, CRLF line ends.

    Hand-assembled rather than through `email.generator` (which folded every header again and walked the parts
    in Python: three quarters of the cost of a notice). The framing is the one fixed shape below; every encoding in
    it is standard: RFC 2047 "B" words of UTF-8, RFC 5322 folding at white space, addresses quoted by `formataddr`,
    quoted-printable by `binascii`; tests parse the result back with `email` for awkward inputs (long and non-ASCII
    names and subjects, CR/LF, "=", trailing spaces, long lines) and compare every field and body."""
    fields = [_fold("From", _address(_strip_controls(sender_name), sender)),
              _fold("To", _address(_strip_controls(to_name), to_address)),
              _header("Subject", _strip_controls(subject)),
              _header("Date", format_datetime(date.astimezone(UTC))),
              _header("Message-ID", _strip_controls(message_id)),
              "Auto-Submitted: auto-generated" + CRLF, "MIME-Version: 1.0" + CRLF]
    plain_head, plain_body = _text_part(text, "plain")
    if html is None:
        return ("".join(fields) + plain_head + CRLF).encode("ascii") + plain_body
    boundary = _boundary(message_id)
    html_head, html_body = _text_part(html, "html")
    head = "".join(fields) + f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
    delimiter = f"{CRLF}--{boundary}{CRLF}".encode("ascii")
    return b"".join([head.encode("ascii"), f"--{boundary}{CRLF}".encode("ascii"), plain_head.encode("ascii"),
                     CRLF.encode("ascii"), plain_body, delimiter, html_head.encode("ascii"), CRLF.encode("ascii"),
                     html_body, f"{CRLF}--{boundary}--{CRLF}".encode("ascii")])


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
    """Send every queued message of (incident, kind), retrying temporary failures with backoff.

    A delivered message is recorded `sent` in the same transaction that claims the next one, unless the rate
    limit makes the next one wait (then it is claimed after the wait, so no message sits in `sending` while
    nothing is being sent): see `Outbox.mark_sent_and_claim` for why this keeps every guarantee."""
    report = DeliveryReport()
    interval = 1.0 / options.rate_per_second
    with send_lock(outbox.store, incident_id):
        report.interrupted = [r.recipient for r in outbox.orphans_to_unknown(incident_id, actor=actor, now=clock())]
        next_slot = monotonic()
        claimed: Row | None = None
        try:
            while True:
                row, claimed = claimed or outbox.claim(incident_id, kind, clock()), None
                if row is None:
                    due = outbox.next_due(incident_id, kind)
                    if due is None:
                        break
                    sleep(max(0.0, (due - clock()).total_seconds()))
                    continue
                pause = next_slot - monotonic()
                if pause > 0:
                    sleep(pause)
                next_slot = max(next_slot, monotonic()) + interval
                state, claimed = _send_one(outbox, row, transport, options, actor, clock, report,
                                           claim_next=functools.partial(_due, next_slot, monotonic))
                if on_message is not None:
                    on_message(row, state)
        finally:
            transport.close()
    return report


def _due(slot: float, monotonic: Callable[[], float]) -> bool:
    """The rate limit lets the next message go now (so it may be claimed at once)."""
    return slot <= monotonic()


def _send_one(outbox: Outbox, row: Row, transport: Transport, options: DeliveryOptions, actor: str,
              clock: Callable[[], datetime], report: DeliveryReport,
              claim_next: Callable[[], bool] = lambda: False) -> tuple[State, Row | None]:
    """Send one message and record the outcome; on success, with `claim_next()`, the next message is claimed in the
    same transaction (returned)."""
    outcome = _attempt(outbox, row, transport, options, actor, clock, report)
    if isinstance(outcome, State):
        return outcome, None
    reply = outcome
    report.sent += 1
    if claim_next():
        return State.SENT, outbox.mark_sent_and_claim(row, actor=actor, now=clock(), reply=reply)
    outbox.mark_sent(row, actor=actor, now=clock(), reply=reply)
    return State.SENT, None


def _attempt(outbox: Outbox, row: Row, transport: Transport, options: DeliveryOptions, actor: str,
             clock: Callable[[], datetime], report: DeliveryReport) -> State | str:
    """Hand the message to the server: its reply (accepted), or the state a failure left it in (recorded)."""
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
    return reply


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
