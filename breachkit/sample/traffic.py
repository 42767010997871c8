"""Benign traffic of the app and public API and of the web portal over the whole window.

Benign behaviour is bounded on purpose, so that the planted attacks stand out (samples/README.md lists the
bounds): at most 2 failed logins per account in a row, every outside address belongs to one account, an
account is seen from at most 2 countries (home + a trip), installers touch at most 3 customers per session
and hold at most one session in any 3 hours, `/admin/` is reached only from 10.20.0.0/16.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import quote

from .data import BROWSERS, CRAWLERS, HOURLY, MONITOR_AGENT, STATIC, USER_PAGES, WORK_HOURLY
from .formats import BACKGROUND, PORTAL_HOST, RESIDENTIAL, AccessRecord, AddressBook, ApiEvent, SyslogRecord, nets
from .population import Account, Device, Endpoint, Population

LOGIN = "POST /api/v1/auth/login"


@dataclass
class Logs:
    """Everything a run produces, before sorting and writing."""

    access: list[AccessRecord] = field(default_factory=list)
    api: list[ApiEvent] = field(default_factory=list)
    auth: list[SyslogRecord] = field(default_factory=list)
    new_devices: list[Device] = field(default_factory=list)


def device_fields(dev: Device) -> dict[str, str]:
    return {
        "device.id": dev.device_id,
        "device.imei": dev.imei,
        "device.model.name": dev.model,
        "device.manufacturer": dev.manufacturer,
    }


def new_session(rng: random.Random) -> str:
    return f"s-{rng.getrandbits(64):016x}"


@dataclass(frozen=True)
class Caller:
    """Who calls the API and from where: the fields every event of one visit shares."""

    acct: Account | None
    ep: Endpoint
    agent: str
    service: str = "app-api"
    session: str | None = None

    def api(
        self,
        ts: datetime,
        action: str,
        request: str,
        status: int,
        size: int,
        *,
        email: str | None = None,
        target: str | None = None,
        device: Device | None = None,
    ) -> ApiEvent:
        """One event; `request` is "METHOD /path?query" as it would appear in a request line."""
        method, url = request.split(" ", 1)
        path, _, query = url.partition("?")
        ev: ApiEvent = {
            "@timestamp": ts,
            "event.action": action,
            "event.outcome": "success" if status < 400 else "failure",
            "source.ip": self.ep.ip,
            "source.geo.country_iso_code": self.ep.country or None,
            "user.id": self.acct.user_id if self.acct else None,
            "user.email": email,
            "user.roles": self.acct.account_type if self.acct else None,
            "user.target.id": target,
            "session.id": self.session,
            "http.request.method": method,
            "url.original": url,
            "url.path": path,
            "url.query": query or None,
            "http.response.status_code": status,
            "http.response.body.bytes": size,
            "user_agent.original": self.agent,
            "service.name": self.service,
        }
        if device is not None:
            ev.update(device_fields(device))
        return ev

    def login(self, ts: datetime, ok: bool, rng: random.Random, email: str | None = None) -> tuple[Caller, ApiEvent]:
        """A login attempt; on success the returned caller carries the new session."""
        assert self.acct is not None
        caller = replace(self, session=new_session(rng)) if ok else self
        size = rng.randint(590, 640) if ok else 87
        return caller, caller.api(ts, "login", LOGIN, 200 if ok else 401, size, email=email or self.acct.login_email)


@dataclass(frozen=True)
class Browser:
    """One visitor of the portal: address, logged-in user (None: `-`), user agent, protocol."""

    ip: str
    user: str | None
    agent: str
    proto: str = "HTTP/1.1"

    def hit(self, ts: datetime, request: str, status: int, size: int, ref: str | None = None) -> AccessRecord:
        method, target = request.split(" ", 1)
        return AccessRecord(ts, self.ip, self.user, method, target, status, size, self.agent, ref, self.proto)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    n, p, limit = 0, rng.random(), 2.718281828459045**-lam
    while p > limit:
        n += 1
        p *= rng.random()
    return n


def url(path: str) -> str:
    return f"https://{PORTAL_HOST}{path}"


class Benign:
    def __init__(
        self,
        pop: Population,
        rng: random.Random,
        addresses: AddressBook,
        logs: Logs,
        quiet: Mapping[str, list[tuple[datetime, datetime]]],
    ) -> None:
        self.pop, self.rng, self.addresses, self.logs, self.quiet = pop, rng, addresses, logs, quiet
        self.days = (pop.end - pop.start).days
        self.callers: dict[str, Caller] = {}  # the app's current session per account

    # ---------------------------------------------------------------- scheduling
    def at(self, day: int, hourly: tuple[int, ...]) -> datetime:
        rng = self.rng
        hour = rng.choices(range(24), hourly)[0]
        return self.pop.start + timedelta(
            days=day, hours=hour, seconds=rng.randrange(3600), milliseconds=rng.randrange(1000)
        )

    def is_quiet(self, user_id: str, t0: datetime) -> bool:
        return any(a <= t0 + timedelta(hours=2) and t0 <= b for a, b in self.quiet.get(user_id, ()))

    def endpoint(self, a: Account, day: int, mobile: bool) -> Endpoint:
        if a.trip and a.trip.first_day <= day <= a.trip.last_day:
            return a.trip.endpoint
        eps = [e for e in a.endpoints if (e.kind == "mobile") == mobile] or list(a.endpoints)
        return self.rng.choice(eps)

    def session_starts(self, a: Account, rate: float) -> list[tuple[int, datetime]]:
        office = a.account_type in ("installer", "admin")
        out: list[tuple[int, datetime]] = []
        for day in range(max(0, (a.created_at - self.pop.start).days), self.days):
            weekend = (self.pop.start + timedelta(days=day)).weekday() >= 5
            for _ in range(poisson(self.rng, rate * (0.25 if weekend and office else 1.0))):
                t0 = self.at(day, WORK_HOURLY if office else HOURLY)
                if t0 > a.created_at and not self.is_quiet(a.user_id, t0):
                    out.append((day, t0))
        out.sort(key=lambda x: x[1])
        if office:  # one session in any 3 hours
            spaced: list[tuple[int, datetime]] = []
            for item in out:
                if not spaced or item[1] - spaced[-1][1] >= timedelta(hours=3):
                    spaced.append(item)
            out = spaced
        return out

    def typed_email(self, a: Account) -> str:
        return a.email.strip() if self.rng.random() < 0.5 else a.login_email

    def run(self) -> None:
        for a in self.pop.accounts:
            if not a.active or a.persona == "fraud" or a.account_type == "test":
                continue
            if a.account_type == "admin":
                self.admin_portal(a)
                continue
            if a.persona == "new":
                self.onboarding(a)
            for day, t in self.session_starts(a, a.sessions_per_day):
                if a.account_type == "installer":
                    self.installer_app(a, day, t) if self.rng.random() < 0.75 else self.installer_portal(a, day, t)
                elif a.uses_app and (not a.uses_portal or self.rng.random() < 0.7):
                    self.app_session(a, day, t)
                else:
                    self.portal_session(a, day, t)
            if a.integration_agent:
                self.integration(a)
        self.anonymous()

    # ---------------------------------------------------------------- the app and the public API
    def app_caller(self, a: Account, ep: Endpoint, t: datetime, relogin: float) -> tuple[Caller | None, datetime]:
        """The account's app session from `ep`, logging in first when needed (None: the user gave up)."""
        rng, api = self.rng, self.logs.api
        caller = self.callers.get(a.user_id)
        if caller is not None and rng.random() >= relogin:
            return replace(caller, ep=ep), t
        fresh = Caller(a, ep, a.app_agent)
        r = rng.random()
        for _ in range(0 if r < 0.93 else (1 if r < 0.98 else 2)):
            api.append(fresh.login(t, False, rng, self.typed_email(a))[1])
            t += timedelta(seconds=rng.uniform(4, 20))
        if r >= 0.98 and rng.random() < 0.4:
            api.append(fresh.api(t, "password_reset", "POST /api/v1/auth/password-reset", 202, 45))
            return None, t
        caller, ev = fresh.login(t, True, rng, self.typed_email(a))
        api.append(ev)
        self.callers[a.user_id] = caller
        return caller, t + timedelta(seconds=rng.uniform(1, 4))

    def app_session(self, a: Account, day: int, t: datetime) -> None:
        rng = self.rng
        caller, t = self.app_caller(a, self.endpoint(a, day, mobile=rng.random() < 0.5), t, 0.3)
        if caller is None:
            return
        devices = self.pop.devices_of.get(a.user_id, ())
        for _ in range(rng.randint(2, 6)):
            self.logs.api.append(self.app_view(caller, t, devices))
            t += timedelta(seconds=rng.uniform(2, 45))
        if rng.random() < 0.12:
            self.logs.api.append(caller.api(t, "logout", "POST /api/v1/auth/logout", 204, 0))
            self.callers.pop(a.user_id, None)

    def app_view(self, c: Caller, t: datetime, devices: tuple[Device, ...]) -> ApiEvent:
        rng = self.rng
        dev = rng.choice(devices) if devices else None
        day = (t - timedelta(days=rng.randint(1, 7))).date()
        kinds = ("me", "devices", "status", "dconsumption", "consumption", "notif", "settings", "export")
        kind = rng.choices(kinds, (2, 3, 4, 3, 2, 1, 0.4, 0.15))[0]
        status = 500 if rng.random() < 0.003 else 200
        if dev is None or kind in ("me", "devices", "consumption", "notif", "export"):
            n = len(devices)
            request, size, action = {
                "me": ("GET /api/v1/me", rng.randint(820, 900), "view"),
                "consumption": (f"GET /api/v1/consumption?period={rng.choice(('day', 'week', 'month'))}",
                                rng.randint(2000, 9000), "view"),
                "notif": ("GET /api/v1/notifications", rng.randint(300, 4000), "view"),
                "export": (f"GET /api/v1/export/consumption?format=csv&from={day.replace(day=1)}&to={day}",
                           rng.randint(20_000, 300_000), "export"),
            }.get(kind, ("GET /api/v1/devices", 400 + 420 * n + rng.randint(0, 40), "view"))  # fmt: skip
            return c.api(t, action, request, status, size)
        base = f"/api/v1/devices/{dev.device_id}"
        if kind == "status":
            return c.api(t, "view", f"GET {base}/status", status, rng.randint(600, 700), device=dev)
        if kind == "settings":
            return c.api(t, "update", f"PUT {base}/settings", status, rng.randint(300, 330), device=dev)
        request = f"GET {base}/consumption?from={day}&to={t.date()}&resolution={rng.choice(('hour', 'day'))}"
        return c.api(t, "view", request, status, rng.randint(5_000, 40_000), device=dev)

    def onboarding(self, a: Account) -> None:
        """A new customer: first login in the app, then registers the devices."""
        rng = self.rng
        ep = self.endpoint(a, (a.created_at - self.pop.start).days, mobile=True)
        t = a.created_at + timedelta(seconds=rng.uniform(30, 120))
        caller, ev = Caller(a, ep, a.app_agent).login(t, True, rng)
        self.logs.api.append(ev)
        self.callers[a.user_id] = caller
        for dev in self.pop.devices_of.get(a.user_id, ()):
            ts = max(dev.registered_at, t + timedelta(seconds=5))
            self.logs.api.append(caller.api(ts, "device_register", "POST /api/v1/devices", 201, 730, device=dev))

    def installer_app(self, a: Account, day: int, t: datetime) -> None:
        rng, api = self.rng, self.logs.api
        caller, t = self.app_caller(a, self.endpoint(a, day, mobile=rng.random() < 0.6), t, 0.4)
        if caller is None:
            return
        api.append(caller.api(t, "view", "GET /api/v1/customers", 200, 300 + 180 * len(a.customers)))
        for cust in rng.sample(a.customers, min(len(a.customers), rng.randint(1, 3))):
            base = f"/api/v1/customers/{cust}"
            t += timedelta(seconds=rng.uniform(5, 60))
            query = f"from={(t - timedelta(days=30)).date()}&to={t.date()}"
            api.append(
                caller.api(t, "view", f"GET {base}/consumption?{query}", 200, rng.randint(8_000, 60_000), target=cust)
            )
            devs = self.pop.devices_of.get(cust, ())
            if rng.random() < 0.5:
                t += timedelta(seconds=rng.uniform(3, 30))
                api.append(caller.api(t, "view", f"GET {base}/devices", 200, 400 + 420 * len(devs), target=cust))
            if devs and rng.random() < 0.4:
                t += timedelta(seconds=rng.uniform(3, 30))
                dev = rng.choice(devs)
                request = f"GET /api/v1/devices/{dev.device_id}/status"
                api.append(caller.api(t, "view", request, 200, rng.randint(600, 700), target=cust, device=dev))
        if a.customers and rng.random() < 0.06:
            cust = rng.choice(a.customers)
            t += timedelta(seconds=rng.uniform(60, 600))
            dev = self.pop.registry.make(rng, rng.choice(("HP", "PV", "WB")), cust, a.user_id, t)
            self.logs.new_devices.append(dev)
            request = f"POST /api/v1/customers/{cust}/devices"
            api.append(caller.api(t, "device_register", request, 201, rng.randint(700, 760), target=cust, device=dev))

    def integration(self, a: Account) -> None:
        """A home-automation integration polling the public API every 2–4 hours (not while the owner travels)."""
        rng, agent = self.rng, a.integration_agent or ""
        caller = Caller(a, next(e for e in a.endpoints if e.kind == "home"), agent, "public-api")
        t = self.pop.start + timedelta(milliseconds=rng.randrange(3_600_000))
        while t < self.pop.end:
            day = (t - self.pop.start).days
            if not self.is_quiet(a.user_id, t) and not (a.trip and a.trip.first_day <= day <= a.trip.last_day):
                since = (t - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                for dev in self.pop.devices_of.get(a.user_id, ()):
                    request = f"GET /api/v1/devices/{dev.device_id}/telemetry?since={since}"
                    self.logs.api.append(caller.api(t, "api_call", request, 200, rng.randint(1_500, 9_000), device=dev))
                    t += timedelta(milliseconds=rng.randint(80, 900))
            t += timedelta(milliseconds=rng.randint(2 * 3_600_000, 4 * 3_600_000))

    # ---------------------------------------------------------------- the portal
    def page(self, b: Browser, t: datetime, target: str, size: int, ref: str | None, assets: bool = False) -> datetime:
        """GET a page (plus the static assets on the first page of a visit); returns the time after it."""
        rng = self.rng
        self.logs.access.append(b.hit(t, f"GET {target}", 200, size, ref))
        if assets:
            cached = rng.random() < 0.6
            for path, asset_size in STATIC[: 2 if cached else 4]:
                t += timedelta(milliseconds=rng.randint(20, 400))
                self.logs.access.append(
                    b.hit(t, f"GET {path}", *((304, 0) if cached else (200, asset_size)), url(target))
                )
        return t + timedelta(seconds=rng.uniform(4, 80))

    def portal_login(self, a: Account, b: Browser, t: datetime) -> tuple[Browser | None, datetime]:
        """Login page and form post(s); returns the logged-in browser (None: the user reset the password)."""
        rng, access = self.rng, self.logs.access
        t = self.page(b, t, "/login", rng.randint(4700, 4900), None, assets=True)
        r = rng.random()
        for _ in range(0 if r < 0.93 else (1 if r < 0.98 else 2)):
            access.append(b.hit(t, "POST /login", 401, rng.randint(4900, 5100), url("/login")))
            t += timedelta(seconds=rng.uniform(5, 25))
        if r >= 0.98 and rng.random() < 0.4:
            t = self.page(b, t, "/password/reset", 3900, url("/login"))
            access.append(b.hit(t, "POST /password/reset", 200, 2100, url("/password/reset")))
            return None, t
        logged_in = replace(b, user=a.user_id)
        access.append(logged_in.hit(t, "POST /login", 302, 0, url("/login")))
        return logged_in, t + timedelta(milliseconds=rng.randint(100, 600))

    def browser(self, a: Account, ep: Endpoint, user: str | None = None) -> Browser:
        return Browser(ep.ip, user, a.browser, "HTTP/2.0" if a.http2 else "HTTP/1.1")

    def portal_session(self, a: Account, day: int, t: datetime) -> None:
        rng = self.rng
        devices = self.pop.devices_of.get(a.user_id, ())
        b = self.browser(a, self.endpoint(a, day, mobile=rng.random() < 0.2), a.user_id)
        t = t.replace(microsecond=0)
        fresh = rng.random() < 0.6
        if fresh:  # else the session cookie is still valid
            logged_in, t = self.portal_login(a, replace(b, user=None), t)
            if logged_in is None:
                return
            b = logged_in
        t = self.page(b, t, "/account", rng.randint(13_500, 14_500), url("/login"), assets=not fresh)
        ref = url("/account")
        for _ in range(rng.randint(1, 5)):
            path, size, _w = rng.choices(USER_PAGES, [p[2] for p in USER_PAGES])[0]
            if "{dev}" in path and not devices:
                continue
            month = (t - timedelta(days=rng.randint(0, 60))).strftime("%Y-%m")
            dev = rng.choice(devices).device_id if devices else ""
            target = path.format(dev=dev, period=rng.choice(("day", "month", "year")), month=month)
            t = self.page(b, t, target, size + rng.randint(-300, 300), ref)
            ref = url(target)
        if rng.random() < 0.05:
            first = t.date().replace(day=1)
            target = f"/export/consumption.csv?from={first - timedelta(days=31)}&to={first - timedelta(days=1)}"
            self.logs.access.append(b.hit(t, f"GET {target}", 200, rng.randint(20_000, 300_000), ref))
            t += timedelta(seconds=rng.uniform(5, 30))
        if rng.random() < 0.3:
            self.logs.access.append(b.hit(t, "GET /logout", 302, 0, ref))

    def installer_portal(self, a: Account, day: int, t: datetime) -> None:
        rng = self.rng
        b, t = self.portal_login(a, self.browser(a, self.endpoint(a, day, mobile=False)), t.replace(microsecond=0))
        if b is None:
            return
        t = self.page(b, t, "/installer/customers", 6000 + 120 * len(a.customers), url("/login"))
        ref = url("/installer/customers")
        for cust in rng.sample(a.customers, min(len(a.customers), rng.randint(1, 3))):
            t = self.page(b, t, f"/installer/customers/{cust}", rng.randint(9000, 12000), ref)
            if rng.random() < 0.08:
                query = f"customer={cust}&from={(t - timedelta(days=365)).date()}&to={t.date()}"
                self.logs.access.append(
                    b.hit(t, f"GET /export/consumption.csv?{query}", 200, rng.randint(50_000, 400_000), ref)
                )
                t += timedelta(seconds=rng.uniform(10, 40))

    def admin_portal(self, a: Account) -> None:
        """Operators at work, always from the office network (10.20.0.0/16)."""
        rng = self.rng
        office = next(e for e in a.endpoints if e.kind == "office")
        users = [x for x in self.pop.accounts if x.account_type == "end_user"]
        ref = url("/admin/")
        for _day, t in self.session_starts(a, 0.8):
            b, t = self.portal_login(a, self.browser(a, office), t.replace(microsecond=0))
            if b is None:
                continue
            t = self.page(b, t, "/admin/", rng.randint(21_000, 23_000), None)
            for _ in range(rng.randint(1, 4)):
                u = rng.choice(users)
                if rng.random() < 0.5:
                    q = quote(u.name.split()[-1].lower().replace("'", ""), safe="")
                    t = self.page(b, t, f"/admin/users?q={q}", rng.randint(5_000, 9_000), ref)
                t = self.page(b, t, f"/admin/users/{u.user_id}", rng.randint(12_000, 16_000), ref)
                devs = self.pop.devices_of.get(u.user_id, ())
                if devs and rng.random() < 0.3:
                    t = self.page(b, t, f"/admin/devices/{rng.choice(devs).device_id}", rng.randint(8_000, 9_000), ref)
            if rng.random() < 0.3:
                self.page(b, t, f"/admin/audit?page={rng.randint(1, 5)}", rng.randint(30_000, 40_000), ref)

    def anonymous(self) -> None:
        """Uptime monitoring, crawlers and visitors who never log in."""
        rng, start, access = self.rng, self.pop.start, self.logs.access
        monitor = Browser(self.addresses.take(nets(role="monitor", pool=BACKGROUND)[0]), None, MONITOR_AGENT)
        t = start + timedelta(seconds=rng.randrange(60))
        while t < self.pop.end:
            access.append(monitor.hit(t, "GET /login", 200, rng.randint(4700, 4900)))
            t += timedelta(seconds=3600 + rng.randint(-3, 3))
        for agent, cidr in CRAWLERS:
            net = next(n for n in BACKGROUND if n.cidr == cidr)
            bots = [Browser(self.addresses.take(net), None, agent) for _ in range(3)]
            for day in range(self.days):
                for _ in range(rng.randint(1, 4)):
                    t, bot = start + timedelta(days=day, seconds=rng.randrange(86400)), rng.choice(bots)
                    for request, status, size in (
                        ("GET /robots.txt", 200, 67),
                        ("GET /", 302, 0),
                        ("GET /login", 200, 4810),
                    ):
                        access.append(bot.hit(t, request, status, size))
                        t += timedelta(seconds=rng.randint(1, 30))
        residential = [n for n in RESIDENTIAL if n.role == "residential"]
        for day in range(self.days):
            for _ in range(rng.randint(10, 18)):
                b = Browser(self.addresses.take(rng.choice(residential)), None, rng.choice(BROWSERS))
                t = self.at(day, HOURLY).replace(microsecond=0)
                ref = rng.choice((None, None, "https://www.google.com/", "https://www.bing.com/"))
                access.append(b.hit(t, "GET /", 302, 0, ref))
                t = self.page(
                    b, t + timedelta(milliseconds=rng.randint(50, 300)), "/login", rng.randint(4700, 4900), ref, True
                )
                if rng.random() < 0.1:
                    t = self.page(b, t, "/password/reset", 3900, url("/login"))
                    access.append(b.hit(t, "POST /password/reset", 200, 2100, url("/password/reset")))
