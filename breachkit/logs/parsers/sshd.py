"""What an OpenSSH server line means: action, outcome, user and client address.

Forms covered (each has an expected-event case in tests/data/auth_cases.yaml; the realdata test runs every
sshd line of fail2ban's annotated test logs): logins accepted and failed (any method, `invalid user`,
Solaris' `[ID n auth.info]` and kernel-time prefixes), `Invalid user`, `User X from A not allowed
because …`, `ROOT LOGIN REFUSED`, PAM errors (`error: PAM: Authentication failure for X from A`,
`pam_unix(sshd:auth): authentication failure; … rhost=A user=X`, and the old `sshd(pam_unix)[pid]:
authentication failure; …` program form), maximum authentication attempts, disconnects and resets
(`Connection closed by [authenticating|invalid user X] A port N [preauth]`, `Disconnected from …`,
`Received disconnect from A: 11: …`), tcp wrappers' `refused connect from`, and the pre-authentication
errors (no identification string, bad protocol version, kex_exchange_identification, banner exchange,
ssh_dispatch_run_fatal, no matching cipher/kex/MAC, timeout before authentication).

Not classified on purpose: `input_userauth_request: invalid user X` (sshd writes it next to `Invalid user X
from A` for the same attempt: two events would count the attempt twice), `Postponed …`.

Outcome: `failure` for failed or refused authentication and for connections that ended before
authentication completed (`[preauth]`, or after an earlier failure of the same connection without a
success); `success` for accepted logins; `unknown` for other disconnects.

Forged addresses: sshd does not escape user names, so "Failed password for invalid user x from 10.0.0.1
port 22 ssh2 from 192.0.2.7 port 4711 ssh2" is possible. As fail2ban does, the address is the one in the
position sshd writes it: the first `from ADDR [port N [sshN]]` followed by the end of the line, ":" (auth
info) or "[preauth]" — what the attacker typed is followed by more text, so it never qualifies before the
real one; forms whose address ends the line are anchored at the end.

Connections. sshd handles each connection in its own process, so lines of one (host, pid) belong to one
connection. `Connections` remembers the client address a connection's lines gave (for an hour, at most
65,536 connections, forgotten when the connection closes) and gives it to later lines of the same
connection that do not name it (`Disconnecting: Too many authentication failures`, kex errors, …),
flagged `source_from_connection`. This makes the parser stateful: lines must be read in file order.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from breachkit.logs.schema import FLAG_SOURCE_FROM_CONNECTION, Event, canonical_ip

_ADDR = r"(?P<ip>[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*|[A-Za-z0-9][\w.-]*\.[A-Za-z]{2,})"
_TAIL = r"(?: port \d+)?(?: ssh\d?)?(?=:|\s*$|\s+\[preauth\])"
_FROM = r" from " + _ADDR + _TAIL
_PORT_END = r"(?: port \d+)?(?P<preauth>\s+\[preauth\])?\s*$"
_PREFIX_RE = re.compile(r"^(?:\[ID \d+ [\w.]+\] |kernel: ?\[ *\d+\.\d+\]:? ?)")

FAILURE, SUCCESS, UNKNOWN = "failure", "success", "unknown"


@dataclass(frozen=True)
class Form:
    pattern: re.Pattern[str]
    action: str
    outcome: str  # FAILURE / SUCCESS / UNKNOWN; UNKNOWN forms become FAILURE when [preauth] or after failures
    closes: bool = False  # the connection ends with this line
    user: str | None = None  # the account, when the form names it by its text (ROOT LOGIN REFUSED)


def _form(pattern: str, action: str, outcome: str, *, closes: bool = False, flags: int = 0,
          user: str | None = None) -> Form:
    return Form(re.compile(pattern, flags), action, outcome, closes, user)


# First match wins. Named groups: user, ip, preauth (and code/reason for Received disconnect).
FORMS: Final[tuple[Form, ...]] = (
    _form(r"^Accepted \S+ for (?P<user>.*?)" + _FROM, "login", SUCCESS),
    _form(r"^Failed \S+ for (?:invalid user )?(?P<user>.*?)" + _FROM, "login", FAILURE),
    _form(r"^Invalid user (?P<user>.*?)" + _FROM, "invalid_user", FAILURE),
    _form(r"^(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?(?P<user>.*?)" + _FROM,
          "max_auth_attempts", FAILURE),
    _form(r"^(?:error: )?PAM: (?:authentication (?:failure|error)|User not known to the underlying "
          r"authentication module) for (?:(?:illegal|invalid) user )?(?P<user>.*?) from " + _ADDR
          + r"(?: via \S+)?\s*$", "auth_failure", FAILURE, flags=re.I),
    _form(r"^(?:pam_unix\(sshd:auth\): )?authentication failure;.*?\brhost=(?P<ip>\S*)(?:\s+user=(?P<user>\S+))?",
          "auth_failure", FAILURE),
    _form(r"^ROOT LOGIN REFUSED FROM " + _ADDR + _PORT_END, "login_refused", FAILURE, user="root"),
    # greedy user: the real "from ADDR not allowed because" is the last one (the reason is sshd's text)
    _form(r"^User (?P<user>.+) from " + _ADDR + r" not allowed because ", "login_refused", FAILURE),
    _form(r"^User (?P<user>\S+) not allowed because ", "login_refused", FAILURE),
    _form(r"^refused connect from \S+ \(" + _ADDR + r"\)\s*$", "connection_refused", FAILURE),
    _form(r"^(?:error: )?Received disconnect from " + _ADDR + r"(?: port \d+)?:\s*(?P<code>\d+): ?(?P<reason>.*?)"
          r"(?P<preauth>\s+\[preauth\])?\s*$", "disconnect", UNKNOWN, closes=True),
    _form(r"^Disconnecting(?: (?:authenticating|invalid))? user (?P<user>.*) " + _ADDR
          + r" port \d+: Too many authentication failures(?: \[preauth\])?\s*$", "max_auth_attempts", FAILURE),
    _form(r"^Disconnecting(?: (?:authenticating|invalid))? user (?P<user>\S*) " + _ADDR
          + r" port \d+: .*?(?P<preauth>\s+\[preauth\])?\s*$", "disconnect", UNKNOWN),
    _form(r"^Disconnecting: Too many authentication failures(?: for (?:invalid user )?(?P<user>.+?))?"
          r"(?: \[preauth\])?\s*$", "max_auth_attempts", FAILURE),
    _form(r"^(?:Disconnected from|Connection closed by|Connection reset by)(?: (?:authenticating|invalid))?"
          r"(?: user (?P<user>.*?))? " + _ADDR + _PORT_END, "disconnect", UNKNOWN, closes=True),
    _form(r"^Did not receive identification string from " + _ADDR + _TAIL, "no_identification", FAILURE),
    _form(r"^Bad protocol version identification .*" + _FROM, "bad_protocol", FAILURE),
    _form(r"^banner exchange: Connection from " + _ADDR + r" port \d+: ", "bad_protocol", FAILURE),
    _form(r"^(?:error: )?kex_exchange_identification: ", "bad_protocol", FAILURE),
    _form(r"^ssh_dispatch_run_fatal: Connection from (?:(?:authenticating|invalid) user \S* )?" + _ADDR
          + r" port \d+: ", "protocol_error", FAILURE),
    _form(r"^(?:fatal: )?Timeout before authentication for (?:connection from )?" + _ADDR
          + r"(?: port \d+| to \S+, pid = \d+)?\s*$", "auth_timeout", FAILURE),
    _form(r"^(?:fatal: )?Unable to negotiate with " + _ADDR + r" port \d+: ", "negotiation_failed", FAILURE),
    _form(r"^(?:fatal: )?(?:Unable to negotiate a \S+|no matching .*? found\b)", "negotiation_failed", FAILURE),
    _form(r"^(?:fatal: )?Read from socket failed: Connection reset by peer(?P<preauth>\s+\[preauth\])?\s*$",
          "disconnect", UNKNOWN, closes=True),
    _form(r"^Connection from " + _ADDR + r"(?: port \d+(?: on \S+ port \d+(?: rdomain \S*)?)?)?\s*$",
          "connection", UNKNOWN),
    _form(r"^SSH: Server;Ltype: \w+;Remote: " + _ADDR + r"-\d+;", "", UNKNOWN),
)
_PAM_SESSION_RE = re.compile(r"^session (?P<what>opened|closed) for user (?P<user>[^\s(]+)")


def is_sshd(program: str) -> bool:
    """OpenSSH ≥ 9.8 logs as sshd-session/sshd-auth; old PAM logs as `sshd(pam_unix)`."""
    return program in ("sshd", "sshd-session", "sshd-auth") or program.startswith("sshd(")


@dataclass
class _Connection:
    address: str | None  # None: a failure was seen before any line named the client
    seen: datetime
    failed: bool = False
    accepted: bool = False


class Connections:
    """Per (host, pid): the client address and whether authentication failed (see the module docstring)."""

    MAX: Final = 65_536
    TTL: Final = timedelta(hours=1)

    def __init__(self) -> None:
        self._by_key: OrderedDict[tuple[str | None, int], _Connection] = OrderedDict()

    def get(self, key: tuple[str | None, int], now: datetime) -> _Connection | None:
        conn = self._by_key.get(key)
        if conn is None or abs(now - conn.seen) > self.TTL:
            return None
        return conn

    def put(self, key: tuple[str | None, int], conn: _Connection) -> None:
        self._by_key[key] = conn
        self._by_key.move_to_end(key)
        if len(self._by_key) > self.MAX:
            self._by_key.popitem(last=False)

    def forget(self, key: tuple[str | None, int]) -> None:
        self._by_key.pop(key, None)


def strip_prefix(message: str) -> str:
    return _PREFIX_RE.sub("", message, count=1)


def classify(program: str, message: str, event: Event, key: tuple[str | None, int] | None,
             connections: Connections) -> None:
    """Add action, outcome, user and address of an sshd `message` to `event` (which has @timestamp)."""
    text = strip_prefix(message)
    now: datetime = event["@timestamp"]
    conn = connections.get(key, now) if key is not None else None
    for form in FORMS:
        m = form.pattern.match(text)
        if m is None:
            continue
        found = m.groupdict()
        outcome = form.outcome
        if form.action:
            event["event.action"] = form.action
        user = found.get("user", form.user)
        if user is not None:
            event["user.name"] = user  # "" when sshd logged an empty name ("Invalid user  from …")
        address = found.get("ip") or None
        if address is not None:
            _set_address(event, address)
        elif conn is not None and conn.address is not None:
            _set_address(event, conn.address)
            event["log.flags"] = [FLAG_SOURCE_FROM_CONNECTION]
        if outcome == UNKNOWN and form.action and (
                found.get("preauth") or _auth_failed_disconnect(found)
                or (conn is not None and conn.failed and not conn.accepted)):
            outcome = FAILURE
        if form.action:
            event["event.outcome"] = outcome
        _remember(connections, key, conn, address, now, outcome, form)
        return
    m = _PAM_SESSION_RE.match(text)
    if m is not None:
        event["event.action"] = f"session_{m.group('what')}"
        event["event.outcome"] = SUCCESS
        event["user.name"] = m.group("user")


def _auth_failed_disconnect(found: dict[str, str | None]) -> bool:
    """`Received disconnect` codes that mean authentication failed: 3 (…Auth fail), 14 (no methods)."""
    code, reason = found.get("code"), found.get("reason") or ""
    return (code == "3" and "auth fail" in reason.lower()) or (
        code == "14" and "authentication methods available" in reason)


def _set_address(event: Event, address: str) -> None:
    ip = canonical_ip(address)
    if ip is not None:
        event["source.ip"] = ip
    else:
        event["source.address"] = address


def _remember(connections: Connections, key: tuple[str | None, int] | None, conn: _Connection | None,
              address: str | None, now: datetime, outcome: str, form: Form) -> None:
    if key is None:
        return
    if form.closes:
        connections.forget(key)
        return
    if address is not None and (conn is None or conn.address != address):
        conn = _Connection(address, now, failed=conn.failed if conn else False,
                           accepted=conn.accepted if conn else False)
    if conn is None:
        if outcome != FAILURE:
            return
        conn = _Connection(None, now)
    conn.seen = now
    if outcome == FAILURE:
        conn.failed = True
    elif outcome == SUCCESS:
        conn.accepted = True
    connections.put(key, conn)
