"""Fast streams of mixed traffic for benchmarks: any number of JSON lines or combined-format lines.

The population (accounts, devices, addresses) is the one `write_sample` writes for the same seed, so the
streams join with `directory.csv`. Benign lines are assembled from pre-rendered fragments; attack episodes
(brute force, stuffing, spraying, enumeration, impossible travel, device abuse, scanners, bulk export, admin
from outside) are built with the dataset's own event builders and merged in by time, at `attack_rate` of the
lines. Timestamps only move forward from `start`; nothing reads the wall clock or global random state.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

from .data import APP_AGENTS, CHROME_WINDOWS, MODELS, STATIC
from .formats import (
    EPOCH,
    HOSTING,
    MONTHS,
    PORTAL_HOST,
    AccessRecord,
    ApiEvent,
    api_line,
    api_ts,
    eu_summer_time,
    luhn_check_digit,
    parsed_net,
    to_ms,
)
from .generator import DEFAULT_START, make_population, rng_for
from .population import Account, Device, Endpoint, Population
from .traffic import Browser, Caller
from .webattacks import NIKTO_AGENT, NIKTO_TRAVERSAL, NUCLEI_AGENT, NUCLEI_ATTACKS, NUCLEI_PATHS, SQLMAP_AGENT, response

Episode = list[tuple[int, str]]  # (epoch ms, line)
T = TypeVar("T")


def _hosting(rng: random.Random, country: str | None = None) -> Endpoint:
    """A random attacker address (the streams reuse addresses; the country still follows the block)."""
    net = rng.choice([n for n in HOSTING if country is None or n.country == country])
    block = parsed_net(net.cidr)
    return Endpoint(
        str(block.network_address + rng.randrange(1, min(block.num_addresses - 1, 1 << 64))), net.country, "hosting"
    )


class _Clock:
    """Renderings of an epoch-ms instant, cached per day: ISO UTC and Apache's Europe/Berlin local time."""

    def __init__(self) -> None:
        self._utc_day = self._local_day = -1
        self._utc_date = self._local_date = ""
        self._dst: dict[int, tuple[int, int]] = {}

    def iso(self, t_ms: int) -> str:
        sec, milli = divmod(t_ms, 1000)
        day, rem = divmod(sec, 86400)
        if day != self._utc_day:
            self._utc_day, self._utc_date = day, f"{EPOCH + timedelta(days=day):%Y-%m-%d}"
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        return f"{self._utc_date}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"

    def clf(self, t_ms: int) -> str:
        sec = t_ms // 1000
        ts_year = 1970 + sec // 31_556_952
        bounds = self._dst.get(ts_year)
        if bounds is None:
            begin, end = (to_ms(b) // 1000 for b in eu_summer_time(ts_year))
            bounds = self._dst[ts_year] = (begin, end)
        off = 2 if bounds[0] <= sec < bounds[1] else 1
        day, rem = divmod(sec + off * 3600, 86400)
        if day != self._local_day:
            loc = EPOCH + timedelta(days=day)
            self._local_day, self._local_date = day, f"{loc.day:02d}/{MONTHS[loc.month - 1]}/{loc.year}"
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        return f"{self._local_date}:{h:02d}:{m:02d}:{s:02d} +0{off}00"


def _merge(
    n: int,
    rng: random.Random,
    start: datetime,
    mean_gap_ms: float,
    benign: Callable[[int], str],
    episodes: list[Callable[[int], Episode]],
    attack_rate: float,
) -> Iterator[str]:
    """Yield `n` lines: benign ones every ~mean_gap_ms, attack episodes merged in by time."""
    heap: list[tuple[int, int, str]] = []
    seq = emitted = planted = 0
    t = to_ms(start)
    lam = 1.0 / mean_gap_ms
    while emitted < n:
        t += int(rng.expovariate(lam)) + 1
        while heap and heap[0][0] <= t:
            yield heapq.heappop(heap)[2]
            emitted += 1
            if emitted >= n:
                return
        if episodes and planted < attack_rate * emitted:
            for when, line in rng.choice(episodes)(t):
                seq += 1
                heapq.heappush(heap, (when, seq, line))
                planted += 1
        yield benign(t)
        emitted += 1


def _pick(rnd: Callable[[], float], seq: Sequence[T]) -> T:
    return seq[int(rnd() * len(seq))]


LOGIN_PATH = "/api/v1/auth/login"
EXPORT_QUERY = "format=csv&from=2026-02-01&to=2026-02-28"


def _head(ts: str, action: str, outcome: str) -> str:
    return f'{{"@timestamp":"{ts}","event.action":"{action}","event.outcome":"{outcome}"'


def _sess(sid: str) -> str:
    return f',"session.id":"{sid}"'


def _req(method: str, status: int, size: int, path: str, query: str = "") -> str:
    """The request/response fields in schema order (http.* before url.*), then the url fields."""
    out = f',"http.request.method":"{method}","http.response.status_code":{status},"http.response.body.bytes":{size}'
    if query:
        return f'{out},"url.original":"{path}?{query}","url.path":"{path}","url.query":"{query}"'
    return f'{out},"url.original":"{path}","url.path":"{path}"'


def _j(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _actors(pop: Population) -> list[Account]:
    """Accounts with benign traffic in the streams (active customers and installers)."""
    return [a for a in pop.accounts if a.active and a.account_type in ("end_user", "installer")
            and a.persona != "fraud" and a.sessions_per_day > 0]  # fmt: skip


def _weighted(accounts: list[Account]) -> list[Account]:
    """A lookup table in which each account appears in proportion to its activity."""
    return [a for a in accounts for _ in range(max(1, round(a.sessions_per_day * 10)))]


ADMIN_REF, LOGIN_REF = f"https://{PORTAL_HOST}/admin/", f"https://{PORTAL_HOST}/login"
ACCOUNT_REF, CUSTOMERS_REF = f"https://{PORTAL_HOST}/account", f"https://{PORTAL_HOST}/installer/customers"


class _ApiStream:
    def __init__(self, pop: Population, rng: random.Random) -> None:
        self.pop, self.rng, self.clock = pop, rng, _Clock()
        actors = _actors(pop)
        self.table = _weighted(actors)
        self.src: dict[str, list[tuple[str, str]]] = {}  # per address: without and with user.email
        for a in actors:
            roles = f',"user.roles":{_j(a.account_type)}'
            self.src[a.user_id] = [
                (f"{who}{roles}", f',{who[1:]},"user.email":{_j(a.login_email)}{roles}')
                for e in a.endpoints
                for who in [
                    f',"source.ip":"{e.ip}","source.geo.country_iso_code":"{e.country}","user.id":"{a.user_id}"'
                ]
            ]
        self.dev = {
            d.device_id: f',"device.id":"{d.device_id}","device.imei":"{d.imei}","device.model.name":{_j(d.model)}'
            f',"device.manufacturer":{_j(d.manufacturer)}'
            for d in pop.devices
        }
        self.tail = {a.user_id: f',"user_agent.original":{_j(a.app_agent)},"service.name":"app-api"}}' for a in actors}
        self.pub_tail = {
            a.user_id: f',"user_agent.original":{_j(a.integration_agent)},"service.name":"public-api"}}'
            for a in actors
            if a.integration_agent
        }
        self.sessions: dict[str, str] = {}
        self.customers = {a.user_id: a.customers for a in actors if a.customers}
        self.end_users = [a for a in actors if a.account_type == "end_user"]
        self.installers = [a for a in actors if a.account_type == "installer" and len(a.customers) >= 3]

    def line(self, t: int) -> str:
        rng = self.rng
        rnd = rng.random
        a = self.table[int(rnd() * len(self.table))]
        uid, tail = a.user_id, self.tail[a.user_id]
        plain, with_email = _pick(rnd, self.src[uid])
        ts = self.clock.iso(t)
        r = rnd()
        if r < 0.07:
            if rnd() < 0.05:
                return _head(ts, "login", "failure") + with_email + _req("POST", 401, 87, LOGIN_PATH) + tail
            sid = self.sessions[uid] = f"s-{rng.getrandbits(64):016x}"
            size = 590 + int(rnd() * 51)
            return _head(ts, "login", "success") + with_email + _sess(sid) + _req("POST", 200, size, LOGIN_PATH) + tail
        sid = self.sessions.get(uid) or self.sessions.setdefault(uid, f"s-{rng.getrandbits(64):016x}")
        devices = self.pop.devices_of.get(uid, ())
        if uid in self.pub_tail and r < 0.2 and devices:
            d = _pick(rnd, devices)
            q, size = f"since={self.clock.iso(t - 3_600_000)[:19]}Z", 1500 + int(rnd() * 7501)
            req = _req("GET", 200, size, f"/api/v1/devices/{d.device_id}/telemetry", q)
            return _head(ts, "api_call", "success") + plain + self.dev[d.device_id] + req + self.pub_tail[uid]
        if r < 0.08:
            self.sessions.pop(uid, None)
            return (
                _head(ts, "logout", "success") + plain + _sess(sid) + _req("POST", 204, 0, "/api/v1/auth/logout") + tail
            )
        if uid in self.customers and r < 0.6:
            cust = _pick(rnd, self.customers[uid])
            path, q = f"/api/v1/customers/{cust}/consumption", "from=2026-02-01&to=2026-03-01"
            req = _req("GET", 200, 8000 + int(rnd() * 52001), path, q)
            return _head(ts, "view", "success") + plain + f',"user.target.id":"{cust}"' + _sess(sid) + req + tail
        status = 500 if rnd() < 0.003 else 200
        head = _head(ts, "view", "failure" if status == 500 else "success")
        if devices and r < 0.55:
            d = _pick(rnd, devices)
            if r < 0.35:
                req = _req("GET", status, 600 + int(rnd() * 101), f"/api/v1/devices/{d.device_id}/status")
            else:
                req = _req(
                    "GET",
                    status,
                    5000 + int(rnd() * 35001),
                    f"/api/v1/devices/{d.device_id}/consumption",
                    "resolution=hour",
                )
            return head + plain + self.dev[d.device_id] + _sess(sid) + req + tail
        if r < 0.57:
            req = _req("GET", status, 20000 + int(rnd() * 280001), "/api/v1/export/consumption", EXPORT_QUERY)
            return head.replace('"view"', '"export"', 1) + plain + _sess(sid) + req + tail
        path = ("/api/v1/me", "/api/v1/devices", "/api/v1/notifications")[int(rnd() * 3)]
        return head + plain + _sess(sid) + _req("GET", status, 600 + int(rnd() * 3401), path) + tail

    # ---------------------------------------------------------------- attack episodes
    def _emit(self, events: list[ApiEvent]) -> Episode:
        return [(to_ms(api_ts(e)), api_line(e)) for e in events]

    def _at(self, t: int) -> datetime:
        return EPOCH + timedelta(milliseconds=t)

    def brute_force(self, t: int) -> Episode:
        rng = self.rng
        caller, ts = Caller(rng.choice(self.end_users), _hosting(rng), "python-requests/2.28.2"), self._at(t)
        events = []
        for _ in range(rng.randint(40, 50)):
            events.append(caller.login(ts, False, rng)[1])
            ts += timedelta(milliseconds=rng.randint(10_000, 13_000))
        return self._emit([*events, caller.login(ts, True, rng)[1]])

    def stuffing(self, t: int) -> Episode:
        rng = self.rng
        ips = [_hosting(rng, rng.choice(("US", "BR"))) for _ in range(10)]
        events = [
            Caller(a, rng.choice(ips), rng.choice(APP_AGENTS)).login(
                self._at(t + rng.randrange(20 * 60_000)), False, rng
            )[1]
            for a in rng.sample(self.end_users, 50)
        ]
        winner = Caller(rng.choice(self.end_users), rng.choice(ips), APP_AGENTS[0])
        return self._emit([*events, winner.login(self._at(t + 20 * 60_000), True, rng)[1]])

    def spraying(self, t: int) -> Episode:
        rng, ep = self.rng, _hosting(self.rng)
        victims = rng.sample(self.end_users, 40)
        return self._emit(
            [
                Caller(a, ep, CHROME_WINDOWS).login(self._at(t + i * 30_000), False, rng)[1]
                for i, a in enumerate(victims)
            ]
        )

    def enumeration(self, t: int) -> Episode:
        rng = self.rng
        caller = Caller(rng.choice(self.installers), _hosting(rng, "NL"), "python-requests/2.31.0", "public-api")
        base, events = int(rng.choice(self.end_users).user_id[1:]), []
        for i in range(220):
            acct = self.pop.by_id.get(uid := f"u{base + i}")
            ok = acct is not None and acct.account_type == "end_user"
            request = f"GET /api/v1/customers/{uid}/consumption?from=2025-03-01&to=2026-03-30"
            size = rng.randint(30_000, 90_000) if ok else 64
            events.append(caller.api(self._at(t + i * 3000), "view", request, 200 if ok else 404, size, target=uid))
        return self._emit(events)

    def travel(self, t: int) -> Episode:
        rng = self.rng
        a = rng.choice(self.end_users)
        legs = [a.endpoints[0], _hosting(rng, "NL"), _hosting(rng, "US"), _hosting(rng, "SG")]
        return self._emit(
            [Caller(a, ep, a.app_agent).login(self._at(t + i * 480_000), True, rng)[1] for i, ep in enumerate(legs)]
        )

    def devices(self, t: int) -> Episode:
        rng = self.rng
        caller, ev = Caller(rng.choice(self.end_users), _hosting(rng, "RO"), APP_AGENTS[0]).login(
            self._at(t), True, rng
        )
        events = [ev]
        assert caller.acct is not None
        for i in range(1, 11):
            kind, maker, model, tac = rng.choice(MODELS)
            body = tac + f"{rng.randrange(1_000_000):06d}"
            dev = Device(f"{kind}-{rng.getrandbits(32):08X}", body + luhn_check_digit(body), kind, maker, model,
                         caller.acct.user_id, None, self._at(t))  # fmt: skip
            events.append(
                caller.api(self._at(t + i * 240_000), "device_register", "POST /api/v1/devices", 201, 720, device=dev)
            )
        return self._emit(events)

    def shared_device(self, t: int) -> Episode:
        rng = self.rng
        owner = rng.choice([a for a in self.end_users[:200] if self.pop.devices_of.get(a.user_id)])
        dev, events = self.pop.devices_of[owner.user_id][0], []
        for i, a in enumerate(rng.sample(self.end_users, 9)):
            caller = Caller(a, _hosting(rng, "VN"), a.app_agent)
            events.append(
                caller.api(self._at(t + i * 300_000), "device_register", "POST /api/v1/devices", 201, 720, device=dev)
            )
        return self._emit(events)

    def episodes(self) -> list[Callable[[int], Episode]]:
        return [self.brute_force, self.stuffing, self.spraying, self.enumeration, self.travel, self.devices,
                self.shared_device]  # fmt: skip


class _AccessStream:
    def __init__(self, pop: Population, rng: random.Random) -> None:
        self.pop, self.rng, self.clock = pop, rng, _Clock()
        users = _actors(pop)
        self.table = _weighted(users)
        self.prefix = {a.user_id: [f"{e.ip} - {a.user_id} [" for e in a.endpoints] for a in users}
        self.anon = {a.user_id: [f"{e.ip} - - [" for e in a.endpoints] for a in users}
        self.suffix = {a.user_id: f' "{a.browser}"' for a in users}
        self.proto = {a.user_id: "HTTP/2.0" if a.http2 else "HTTP/1.1" for a in users}
        self.admins = [a for a in pop.accounts if a.account_type == "admin" and a.active]
        self.end_users = [a for a in users if a.account_type == "end_user"]
        self.installers = [a for a in users if a.account_type == "installer" and len(a.customers) >= 3]
        self.pages = ("/account", "/account/devices", "/account/consumption?period=month&date=2026-03",
                      "/account/settings", "/account/notifications")  # fmt: skip

    def line(self, t: int) -> str:
        rnd = self.rng.random
        r = rnd()
        when = self.clock.clf(t)
        if r < 0.004 and self.admins:
            a = _pick(rnd, self.admins)
            request = f"GET /admin/users/{_pick(rnd, self.end_users).user_id} HTTP/1.1"
            size = 12000 + int(rnd() * 4001)
            return f'{a.endpoints[0].ip} - {a.user_id} [{when}] "{request}" 200 {size} "{ADMIN_REF}" "{a.browser}"'
        a = _pick(rnd, self.table)
        uid, k = a.user_id, int(rnd() * len(a.endpoints))
        user, anon, proto, suffix = (
            self.prefix[uid][k] + when,
            self.anon[uid][k] + when,
            self.proto[uid],
            self.suffix[uid],
        )
        if r < 0.12:
            return f'{anon}] "GET /login {proto}" 200 {4700 + int(rnd() * 201)} "-"{suffix}'
        if r < 0.19:
            if rnd() < 0.05:
                return f'{anon}] "POST /login {proto}" 401 {4900 + int(rnd() * 201)} "{LOGIN_REF}"{suffix}'
            return f'{user}] "POST /login {proto}" 302 - "{LOGIN_REF}"{suffix}'
        if r < 0.45:
            path, size = STATIC[int(rnd() * 4)]
            status, shown = (304, "-") if rnd() < 0.6 else (200, str(size))
            return f'{user}] "GET {path} {proto}" {status} {shown} "{ACCOUNT_REF}"{suffix}'
        if r < 0.47:
            target = "/export/consumption.csv?from=2026-02-01&to=2026-02-28"
            return f'{user}] "GET {target} {proto}" 200 {20000 + int(rnd() * 280001)} "{ACCOUNT_REF}"{suffix}'
        if r < 0.5:
            return f'{user}] "GET /logout {proto}" 302 - "{ACCOUNT_REF}"{suffix}'
        if a.customers and r < 0.7:
            target = f"/installer/customers/{_pick(rnd, a.customers)}"
            return f'{user}] "GET {target} {proto}" 200 {9000 + int(rnd() * 3001)} "{CUSTOMERS_REF}"{suffix}'
        path = _pick(rnd, self.pages)
        return f'{user}] "GET {path} {proto}" 200 {6000 + int(rnd() * 9501)} "{ACCOUNT_REF}"{suffix}'

    # ---------------------------------------------------------------- attack episodes
    def _emit(self, records: list[AccessRecord]) -> Episode:
        return [(to_ms(r.ts), r.line()) for r in records]

    def _at(self, t: int) -> datetime:
        return EPOCH + timedelta(seconds=t // 1000)

    def scanner(self, t: int) -> Episode:
        rng = self.rng
        tool, b = rng.choice(("nikto", "sqlmap", "nuclei")), Browser(_hosting(rng).ip, None, "")
        if tool == "sqlmap":
            payloads = (
                "/account' OR 1=1-- -",
                "/account' UNION ALL SELECT NULL,NULL-- -",
                "/account' AND SLEEP(5)-- -",
            )
            targets, agent, gap = [f"/login?next={quote(x, safe='')}" for x in payloads], SQLMAP_AGENT, 20_000
        elif tool == "nuclei":
            targets, agent, gap = [*NUCLEI_PATHS[:20], *NUCLEI_ATTACKS], NUCLEI_AGENT, 800
        else:
            targets, agent, gap = (
                ["/.env", "/.git/HEAD", "/wp-login.php", *NIKTO_TRAVERSAL],
                NIKTO_AGENT.format(42),
                600,
            )
        b = replace(b, agent=agent)
        return self._emit([b.hit(self._at(t + i * gap), f"GET {x}", *response(x)) for i, x in enumerate(targets * 3)])

    def export_spike(self, t: int) -> Episode:
        rng = self.rng
        inst = rng.choice(self.installers)
        b = Browser(_hosting(rng, "NL").ip, inst.user_id, inst.browser)
        targets = [
            f"GET /export/consumption.csv?customer={c}&from=2023-01-01&to=2026-03-31" for c in inst.customers * 2
        ]
        return self._emit(
            [
                b.hit(self._at(t + i * 20_000), x, 200, rng.randint(1_200_000, 6_500_000))
                for i, x in enumerate(targets[:40])
            ]
        )

    def admin_outside(self, t: int) -> Episode:
        rng = self.rng
        admin = rng.choice(self.admins)
        b = Browser(_hosting(rng, "RO").ip, admin.user_id, admin.browser)
        pages = [f"GET /admin/users/{a.user_id}" for a in rng.sample(self.end_users, 15)]
        return self._emit([b.hit(self._at(t + i * 30_000), page, 200, 14000) for i, page in enumerate(pages)])

    def login_brute_force(self, t: int) -> Episode:
        rng = self.rng
        b = Browser(_hosting(rng).ip, None, "python-requests/2.28.2")
        recs = [b.hit(self._at(t + i * 12_000), "POST /login", 401, 5000) for i in range(45)]
        winner = replace(b, user=rng.choice(self.end_users).user_id)
        return self._emit([*recs, winner.hit(self._at(t + 45 * 12_000), "POST /login", 302, 0)])

    def episodes(self) -> list[Callable[[int], Episode]]:
        return [self.scanner, self.export_spike, self.admin_outside, self.login_brute_force]


def iter_api_events(
    n: int, *, seed: int = 7, start: datetime = DEFAULT_START, attack_rate: float = 0.01, mean_gap_ms: float = 500.0
) -> Iterator[str]:
    """`n` JSON lines of app/public-API traffic (the app-api.jsonl format), about 2 per second from `start`."""
    rng = rng_for(seed, "stream-api")
    s = _ApiStream(make_population(seed, start), rng)
    return _merge(n, rng, start, mean_gap_ms, s.line, s.episodes(), attack_rate)


def iter_access_lines(
    n: int, *, seed: int = 7, start: datetime = DEFAULT_START, attack_rate: float = 0.01, mean_gap_ms: float = 500.0
) -> Iterator[str]:
    """`n` combined-format portal lines (the portal-access.log format), about 2 per second from `start`."""
    rng = rng_for(seed, "stream-access")
    s = _AccessStream(make_population(seed, start), rng)
    return _merge(n, rng, start, mean_gap_ms, s.line, s.episodes(), attack_rate)
