"""Building blocks shared by the sample generators: clock formats, Luhn, the address plan, log line formats.

Everything here is a pure function of its arguments (no wall clock, no global random state), so the same
seed always gives the same bytes. Month names and zone offsets are computed here rather than with
`strftime("%b")` or the system tz database, which depend on the locale and the installed tzdata.
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any, Final

from breachkit.logs.schema import FIELD_NAMES

MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# The platform's public names: all under reserved names (RFC 2606/6761), so no generated address is real.
PORTAL_HOST: Final = "portal.heimwatt.example"
COMPANY_DOMAIN: Final = "heimwatt.example"
BASTIONS: Final = ("bastion-1", "bastion-2")
LOGIND_PID: Final = {"bastion-1": 612, "bastion-2": 598}  # systemd-logind's pid on each bastion


# ---------------------------------------------------------------------------------------------- time
def _last_sunday(year: int, month: int) -> datetime:
    first_next = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    last = first_next - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


@lru_cache(maxsize=64)
def eu_summer_time(year: int) -> tuple[datetime, datetime]:
    """UTC bounds of EU summer time: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC."""
    return (
        _last_sunday(year, 3).replace(hour=1),
        _last_sunday(year, 10).replace(hour=1),
    )


def berlin_offset_hours(ts: datetime) -> int:
    """UTC offset of Europe/Berlin at the instant `ts` (aware, UTC): 1 (CET) or 2 (CEST)."""
    begin, end = eu_summer_time(ts.year)
    return 2 if begin <= ts < end else 1


def iso_ms(ts: datetime) -> str:
    """ISO 8601 UTC with millisecond precision and a `Z`: 2026-03-20T06:12:33.123Z."""
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z"


def clf_time(ts: datetime) -> str:
    """Apache/Nginx `%t` body in Europe/Berlin local time: 20/Mar/2026:07:12:33 +0100."""
    off = berlin_offset_hours(ts)
    loc = ts + timedelta(hours=off)
    return f"{loc.day:02d}/{MONTHS[loc.month - 1]}/{loc.year}:{loc:%H:%M:%S} +0{off}00"


def syslog_time(ts: datetime) -> str:
    """RFC 3164 timestamp as rsyslog writes it (UTC on the bastions): `Mar 27 13:06:56`, `Apr  1 09:00:00`."""
    return f"{MONTHS[ts.month - 1]} {ts.day:>2} {ts:%H:%M:%S}"


def ms(n: float) -> timedelta:
    return timedelta(milliseconds=round(n))


def to_ms(ts: datetime) -> int:
    """Milliseconds since the epoch (ts aware)."""
    return (ts - EPOCH) // timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------------- IMEI
def luhn_check_digit(payload: str) -> str:
    """Check digit that makes `payload + digit` pass the Luhn test (IMEI: 14-digit payload)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) >= 2 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def is_valid_imei(text: str) -> bool:
    """15 digits with a valid Luhn check digit."""
    return len(text) == 15 and luhn_valid(text)


# ---------------------------------------------------------------------------------------------- addresses
@dataclass(frozen=True)
class Net:
    """A block of the synthetic address plan. `country` is "" for the internal (RFC 1918) networks."""

    cidr: str
    country: str
    role: str  # residential | mobile | hosting | cloud | crawler | monitor | internal


def _residential() -> tuple[Net, ...]:
    # Realistic-looking public IPv4 /16s per country (not checked against any registry) and IPv6 from the
    # documentation prefix 2001:db8::/32. Geo is consistent by construction: country = the block's country.
    v4: dict[str, tuple[str, ...]] = {
        "DE": ("84.150", "91.61", "93.215", "79.241", "87.178"),
        "AT": ("77.116", "80.110", "178.115"),
        "CH": ("85.3", "178.82", "83.76"),
        "FR": ("90.12", "86.247", "92.154"),
        "NL": ("84.105", "77.170", "94.208"),
        "BE": ("81.240", "109.133", "91.180"),
        "IT": ("79.46", "93.44", "151.38"),
        "ES": ("83.45", "88.27", "79.148"),
        "PL": ("83.24", "89.70", "46.205"),
    }
    nets: list[Net] = []
    for i, (cc, prefixes) in enumerate(v4.items()):
        for j, p in enumerate(prefixes):
            nets.append(Net(f"{p}.0.0/16", cc, "mobile" if j == len(prefixes) - 1 else "residential"))
        nets.append(Net(f"2001:db8:{0x100 + i:x}::/48", cc, "residential"))
    return tuple(nets)


RESIDENTIAL: Final = _residential()
# Attackers: the IPv4 documentation ranges (RFC 5737) and a documentation IPv6 block, split by country.
HOSTING: Final = (
    Net("192.0.2.0/24", "RU", "hosting"),
    Net("198.51.100.0/25", "US", "hosting"),
    Net("198.51.100.128/25", "BR", "hosting"),
    Net("203.0.113.0/25", "NL", "hosting"),
    Net("203.0.113.128/25", "RO", "hosting"),
    Net("2001:db8:f001::/48", "SG", "hosting"),
    Net("2001:db8:f002::/48", "VN", "hosting"),
)
# Internet background (SSH noise, crawlers, uptime monitoring): realistic-looking public blocks.
BACKGROUND: Final = (
    Net("218.92.0.0/16", "CN", "cloud"),
    Net("164.90.0.0/16", "US", "cloud"),
    Net("103.151.0.0/16", "IN", "cloud"),
    Net("121.180.0.0/16", "KR", "cloud"),
    Net("177.36.0.0/16", "BR", "cloud"),
    Net("14.161.0.0/16", "VN", "cloud"),
    Net("66.249.64.0/19", "US", "crawler"),
    Net("40.77.167.0/24", "US", "crawler"),
    Net("216.144.250.0/24", "US", "monitor"),
)
# The only private addresses in the data: the operator's own networks (the admin allow-list is 10.0.0.0/8).
INTERNAL: Final = (
    Net("10.20.0.0/16", "", "internal"),  # office LAN: admin portal access
    Net("10.8.0.0/24", "", "internal"),  # VPN: SSH to the bastions
    Net("10.30.0.0/24", "", "internal"),  # CI runners
)
ALL_NETS: Final = RESIDENTIAL + HOSTING + BACKGROUND + INTERNAL
ADMIN_ALLOW_LIST: Final = "10.0.0.0/8"


@cache
def parsed_net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


@lru_cache(maxsize=65536)
def nets(country: str | None = None, role: str | None = None, pool: tuple[Net, ...] = ALL_NETS) -> list[Net]:
    return [n for n in pool if (country is None or n.country == country) and (role is None or n.role == role)]


class AddressBook:
    """Hands out unique addresses from the plan; one instance per generated dataset."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def take(self, net: Net) -> str:
        block = parsed_net(net.cidr)
        for _ in range(100_000):
            offset = self._rng.randrange(1, block.num_addresses - 1)
            ip = str(block.network_address + offset)
            if ip not in self._used and not (block.version == 4 and ip.endswith((".0", ".255"))):
                self._used.add(ip)
                return ip
        raise RuntimeError(f"address block {net.cidr} exhausted")

    def take_from(self, choices: list[Net]) -> str:
        return self.take(self._rng.choice(choices))


# ---------------------------------------------------------------------------------------------- log lines
@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One request of the web portal, rendered in Apache/Nginx combined format."""

    ts: datetime
    ip: str
    user: str | None
    method: str
    target: str
    status: int
    size: int
    agent: str
    referrer: str | None = None
    protocol: str = "HTTP/1.1"

    def line(self) -> str:
        size = str(self.size) if self.size > 0 else "-"
        return (
            f'{self.ip} - {self.user or "-"} [{clf_time(self.ts)}] "{self.method} {self.target} {self.protocol}" '
            f'{self.status} {size} "{self.referrer or "-"}" "{self.agent}"'
        )


@dataclass(frozen=True, slots=True)
class SyslogRecord:
    """One auth.log line."""

    ts: datetime
    host: str
    program: str
    pid: int | None
    message: str

    def line(self) -> str:
        tag = f"{self.program}[{self.pid}]" if self.pid is not None else self.program
        return f"{syslog_time(self.ts)} {self.host} {tag}: {self.message}"


def pam_auth_failure(ip: str, user: str) -> str:
    """pam_unix's line for a failed password of an existing user (note the two spaces before `user=`)."""
    return f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}"


ApiEvent = dict[str, Any]  # ECS dotted name → value; "@timestamp" holds an aware datetime
_FIELD_ORDER: Final[Mapping[str, int]] = {name: i for i, name in enumerate(FIELD_NAMES)}


def api_line(event: ApiEvent) -> str:
    """JSON line with flat ECS keys in schema order; keys whose value is None are left out."""
    keys = sorted((k for k, v in event.items() if v is not None), key=_FIELD_ORDER.__getitem__)
    out = {k: iso_ms(event[k]) if k == "@timestamp" else event[k] for k in keys}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def api_ts(event: ApiEvent) -> datetime:
    ts = event["@timestamp"]
    assert isinstance(ts, datetime)
    return ts
