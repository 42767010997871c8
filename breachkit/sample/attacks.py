"""The planted attacks on the app and public API.

Each attack is written to one log and described by a `PlantedAttack` (manifest.py): its `match` (field →
allowed values, all fields must match) selects exactly the attack's `events` lines inside [start, end] of that
log, so tests can count them; `affected_user_ids` are the data subjects whose personal data the attacker reached.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .data import APP_AGENTS, CHROME_WINDOWS, MODELS
from .formats import HOSTING, AddressBook, ApiEvent, api_ts, is_valid_imei, luhn_check_digit
from .manifest import API_LOG, AttackPart, PlantedAttack
from .population import Account, Device, Endpoint, Population
from .traffic import Caller, Logs


def floor_to(ts: datetime, log: str) -> datetime:
    """Truncate to what the log shows: milliseconds in JSON, seconds in the text logs."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000 if log == API_LOG else 0)


def uniq(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@dataclass
class Planter:
    """Plants attacks into `logs`, remembering the accounts it used and when they must stay quiet."""

    pop: Population
    rng: random.Random
    addresses: AddressBook
    logs: Logs
    attacks: list[PlantedAttack] = field(default_factory=list)
    quiet: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def when(self, day: int, clock: str, jitter_ms: bool = True) -> datetime:
        h, m, s = (int(x) for x in clock.split(":"))
        ms = self.rng.randint(0, 999) if jitter_ms else 0
        return self.pop.start + timedelta(days=day, hours=h, minutes=m, seconds=s, milliseconds=ms)

    def pick(self, pred: Callable[[Account], bool], n: int = 1) -> list[Account]:
        chosen = self.rng.sample([a for a in self.pop.accounts if a.user_id not in self.used and pred(a)], n)
        self.used.update(a.user_id for a in chosen)
        return chosen

    def hosting(self, country: str) -> Endpoint:
        return Endpoint(self.addresses.take(next(n for n in HOSTING if n.country == country)), country, "hosting")

    def device(self, kind: str, owner: str, installer: str | None, t: datetime, imei: str | None = None) -> Device:
        dev = self.pop.registry.make(self.rng, kind, owner, installer, t, imei)
        self.logs.new_devices.append(dev)
        return dev

    def hold(self, user_id: str, start: datetime, end: datetime) -> None:
        """Keep the account's benign traffic out of [start − 1 h, end + 1 h]."""
        self.quiet.setdefault(user_id, []).append((start - timedelta(hours=1), end + timedelta(hours=1)))

    def add(self, log: str, times: list[datetime], match: Mapping[str, Iterable[str]], **kw: Any) -> None:
        start, end = floor_to(min(times), log), floor_to(max(times), log)
        matched = tuple((k, uniq(v)) for k, v in match.items())
        self.attacks.append(PlantedAttack(log=log, start=start, end=end, events=len(times), match=matched, **kw))

    def add_api(self, events: list[ApiEvent], match: Mapping[str, Iterable[str]], **kw: Any) -> None:
        self.logs.api.extend(events)
        self.add(API_LOG, [api_ts(e) for e in events], match, **kw)


def regular_user(a: Account) -> bool:
    return a.account_type == "end_user" and a.persona == "regular" and a.active


def intrude(p: Planter, c: Caller, t: datetime, n: int) -> list[ApiEvent]:
    """What an intruder does right after getting in: profile, devices, device status, an export."""
    rng, out = p.rng, []
    assert c.acct is not None
    devices = p.pop.devices_of.get(c.acct.user_id, ())
    steps: list[tuple[str, Device | None]] = [("GET /api/v1/me", None), ("GET /api/v1/devices", None)]
    if devices:
        steps.append((f"GET /api/v1/devices/{devices[0].device_id}/status", devices[0]))
    steps.append((f"GET /api/v1/export/consumption?format=csv&from=2025-01-01&to={t.date()}", None))
    for request, dev in steps[:n]:
        t += timedelta(milliseconds=rng.randint(700, 6000))
        if "export" in request:
            out.append(c.api(t, "export", request, 200, rng.randint(150_000, 900_000)))
        else:
            out.append(c.api(t, "view", request, 200, rng.randint(600, 2500), device=dev))
    return out


def credential_stuffing(p: Planter) -> None:
    rng = p.rng
    t0, span_ms = p.when(4, "02:05:00", False), 90 * 60_000
    ips = [p.hosting("US") for _ in range(22)] + [p.hosting("BR") for _ in range(18)]
    targets = p.pick(regular_user, 320)
    known = {a.login_email for a in p.pop.accounts}
    unknown: list[str] = []
    while len(unknown) < 60:
        first = rng.choice(("anna", "jan", "marie", "lukas", "sophie", "paul", "emma", "tom"))
        last = rng.choice(("schmitt", "meier", "dupuis", "jansen", "rossi", "weber", "lambert", "visser"))
        email = f"{first}.{last}{rng.randint(1, 999)}@{rng.choice(('gmx.example', 'web.example', 'example.com'))}"
        if email not in known and email not in unknown:
            unknown.append(email)
    winners = {a.user_id for a in rng.sample(targets, 7)}
    attempts: list[tuple[int, Account | None, str, bool]] = []
    for a in targets:
        offsets = sorted(rng.randrange(span_ms) for _ in range(1 if rng.random() < 0.7 else 2))
        attempts += [(off, a, a.login_email, a.user_id in winners and off == offsets[-1]) for off in offsets]
    attempts += [(rng.randrange(span_ms), None, email, False) for email in unknown]
    attempts.sort(key=lambda x: x[0])
    events: list[ApiEvent] = []
    for off, acct, email, ok in attempts:
        t, caller = t0 + timedelta(milliseconds=off), Caller(acct, rng.choice(ips), rng.choice(APP_AGENTS))
        if acct is None:
            events.append(caller.api(t, "login", "POST /api/v1/auth/login", 401, 87, email=email))
            continue
        caller, ev = caller.login(t, ok, rng, email)
        events.append(ev)
        if ok:
            events += intrude(p, caller, t, rng.choice((2, 3, 4)))
    logins = [e for e in events if e["event.action"] == "login"]
    p.add_api(
        events, {"source.ip": [e.ip for e in ips]},
        id="credential_stuffing", title="Credential stuffing on the app login",
        description="Leaked e-mail/password pairs replayed against POST /api/v1/auth/login from 40 rotating "
        "hosting addresses in two countries: 1–2 attempts per account, a few successes followed by the intruder "
        "reading the account (profile, devices, sometimes a consumption export).",
        technique="T1110.004", related_techniques=("T1078",),
        source_ips=uniq(e.ip for e in ips), countries=("US", "BR"),
        user_ids=uniq(str(e["user.id"]) for e in events if e["user.id"]),
        emails=uniq(str(e["user.email"]) for e in logins),
        target_user_ids=tuple(a.user_id for a in targets),
        affected_user_ids=tuple(a.user_id for a in targets if a.user_id in winners),
        counts=(
            ("login_attempts", len(logins)),
            ("failed_logins", sum(e["event.outcome"] == "failure" for e in logins)),
            ("successful_logins", sum(e["event.outcome"] == "success" for e in logins)),
            ("post_login_events", len(events) - len(logins)),
            ("existing_accounts", len(targets)),
            ("unknown_emails", len(unknown)),
            ("distinct_ips", len({e["source.ip"] for e in events})),
        ),
        notes="Unknown e-mails carry no user.id. Each address makes about 12 attempts on 12 different accounts.",
    )  # fmt: skip


def brute_force(p: Planter) -> None:
    rng = p.rng
    (victim,) = p.pick(lambda a: regular_user(a) and a.uses_app)
    caller, t = Caller(victim, p.hosting("NL"), "python-requests/2.28.2"), p.when(2, "21:14:05")
    events: list[ApiEvent] = []
    for _ in range(46):
        events.append(caller.login(t, False, rng)[1])
        t += timedelta(milliseconds=rng.randint(10_000, 13_000))
    caller, ev = caller.login(t, True, rng)
    events += [ev, *intrude(p, caller, t, 4)]
    p.hold(victim.user_id, api_ts(events[0]), api_ts(events[-1]))
    p.add_api(
        events, {"source.ip": [caller.ep.ip]},
        id="brute_force_login", title="Password brute force on one account",
        description="46 failed logins for one account from one address within 10 minutes, then a success and "
        "the intruder reading profile, devices and exporting consumption.",
        technique="T1110.001", source_ips=(caller.ep.ip,), countries=(caller.ep.country,),
        emails=(victim.login_email,), user_ids=(victim.user_id,), target_user_ids=(victim.user_id,),
        affected_user_ids=(victim.user_id,),
        counts=(("failed_logins", 46), ("successful_logins", 1), ("post_login_events", 4)),
    )  # fmt: skip


def password_spraying(p: Planter) -> None:
    rng = p.rng
    victims = p.pick(regular_user, 90)
    ep, t = p.hosting("US"), p.when(5, "04:10:00")
    events: list[ApiEvent] = []
    for a in victims:
        t += timedelta(milliseconds=rng.randint(24_000, 36_000))
        events.append(Caller(a, ep, CHROME_WINDOWS).login(t, False, rng)[1])
    p.add_api(
        events, {"source.ip": [ep.ip]},
        id="password_spraying", title="Password spraying",
        description="One address tries one seasonal password (pattern <Season><Year>!, e.g. Frühling2026!) "
        "once against each of 90 accounts over 45 minutes; every attempt fails.",
        technique="T1110.003", source_ips=(ep.ip,), countries=(ep.country,), user_ids=tuple(a.user_id for a in victims),
        emails=tuple(a.login_email for a in victims), target_user_ids=tuple(a.user_id for a in victims),
        counts=(("failed_logins", len(events)), ("distinct_accounts", len(victims))),
        indicators=("password pattern <Season><Year>! (not visible in the logs)",),
    )  # fmt: skip


def shared_device(p: Planter) -> None:
    rng = p.rng
    fraud = [a for a in p.pop.accounts if a.persona == "fraud"]
    p.used.update(a.user_id for a in fraud)

    def private_gateway(a: Account) -> Device | None:
        return next((d for d in p.pop.devices_of.get(a.user_id, ()) if d.kind == "GW" and not d.installer_id), None)

    (owner,) = p.pick(lambda a: regular_user(a) and private_gateway(a) is not None)
    device = private_gateway(owner)
    assert device is not None
    t = p.when(7, "10:00:00")
    events: list[ApiEvent] = []
    for i, a in enumerate(fraud):
        t += timedelta(seconds=rng.randint(1500, 2400))
        caller, ev = Caller(a, p.hosting("VN" if i % 2 == 0 else "RO"), rng.choice(APP_AGENTS)).login(t, True, rng)
        tt = t + timedelta(seconds=rng.uniform(20, 90))
        events += [
            ev,
            caller.api(tt, "device_register", "POST /api/v1/devices", 201, rng.randint(700, 760), device=device),
        ]
        for _ in range(2):
            tt += timedelta(seconds=rng.uniform(30, 300))
            query = f"from={(tt - timedelta(days=30)).date()}&to={tt.date()}&resolution=hour"
            request = f"GET /api/v1/devices/{device.device_id}/consumption?{query}"
            events.append(caller.api(tt, "view", request, 200, rng.randint(20_000, 40_000), device=device))
    ips = uniq(str(e["source.ip"]) for e in events)
    p.add_api(
        events, {"user.id": [a.user_id for a in fraud]},
        id="shared_device_identity", title="One gateway identity claimed by many accounts",
        description="Nine accounts created the evening before (placeholder names, throw-away addresses) each "
        "register the same gateway (device.id and IMEI of a real customer's device) and read its hourly "
        "consumption: 10 accounts on one device, the owner's data exposed.",
        technique="T1098.005", related_techniques=("T1036",),
        source_ips=ips, countries=("VN", "RO"),
        user_ids=tuple(a.user_id for a in fraud), emails=tuple(a.login_email for a in fraud),
        target_user_ids=(owner.user_id,), affected_user_ids=(owner.user_id,),
        device_ids=(device.device_id,), imeis=(device.imei,),
        counts=(("accounts", len(fraud)), ("device_register", len(fraud)),
                ("accounts_on_device_incl_owner", len(fraud) + 1)),
    )  # fmt: skip


def device_burst(p: Planter) -> None:
    rng = p.rng
    (victim,) = p.pick(lambda a: regular_user(a) and a.uses_app)
    t = p.when(10, "19:20:00")
    caller, ev = Caller(victim, p.hosting("RO"), APP_AGENTS[0]).login(t, True, rng)
    events, devices = [ev], []
    for _ in range(12):
        t += timedelta(seconds=rng.randint(180, 270))
        dev = p.device(rng.choice(("GW", "HP", "PV", "WB")), victim.user_id, None, t)
        devices.append(dev)
        events.append(caller.api(t, "device_register", "POST /api/v1/devices", 201, rng.randint(700, 760), device=dev))
    t += timedelta(seconds=rng.randint(20, 60))
    events.append(caller.api(t, "view", "GET /api/v1/devices", 200, 400 + 420 * 14))
    p.hold(victim.user_id, api_ts(events[0]), api_ts(events[-1]))
    p.add_api(
        events, {"source.ip": [caller.ep.ip]},
        id="device_registration_burst", title="One account registers many new devices within an hour",
        description="An intruder logged into one customer's account registers 12 previously unknown devices "
        "(valid IMEIs) within an hour from a foreign hosting address.",
        technique="T1098.005", source_ips=(caller.ep.ip,), countries=(caller.ep.country,), user_ids=(victim.user_id,),
        emails=(victim.login_email,), target_user_ids=(victim.user_id,), affected_user_ids=(victim.user_id,),
        device_ids=tuple(d.device_id for d in devices), imeis=tuple(d.imei for d in devices),
        counts=(("device_register", 12), ("logins", 1), ("views", 1)),
    )  # fmt: skip


def impossible_travel(p: Planter) -> None:
    rng = p.rng

    def home_v4(a: Account) -> Endpoint | None:
        return next((e for e in a.endpoints if e.kind == "home" and ":" not in e.ip), None)

    (victim,) = p.pick(lambda a: regular_user(a) and a.country == "DE" and a.trip is None and home_v4(a) is not None)
    home = home_v4(victim)
    assert home is not None
    legs = [(home, victim.app_agent, "08:02:11"), (p.hosting("NL"), APP_AGENTS[3], "08:09:40"),
            (p.hosting("US"), APP_AGENTS[1], "08:17:05"), (p.hosting("SG"), APP_AGENTS[2], "08:27:52")]  # fmt: skip
    events: list[ApiEvent] = []
    parts: list[AttackPart] = []
    for ep, agent, clock in legs:
        t = p.when(8, clock)
        caller, ev = Caller(victim, ep, agent).login(t, True, rng)
        leg = [ev, *intrude(p, caller, t, 4 if ep.country == "US" else 2)]
        end = floor_to(api_ts(leg[-1]), API_LOG)
        parts.append(
            AttackPart(f"login from {ep.country}", floor_to(t, API_LOG), end, len(leg), ep.ip, ep.country, agent)
        )
        events += leg
    p.hold(victim.user_id, api_ts(events[0]), api_ts(events[-1]))
    p.add_api(
        events, {"user.id": [victim.user_id]},
        id="impossible_travel", title="One account logged in from four countries within 30 minutes",
        description="Successful logins for one German customer from DE (home), NL, US and SG within 26 minutes, "
        "each followed by reads of the account (the US session exports consumption).",
        technique="T1078", source_ips=tuple(e.ip for e, _, _ in legs), countries=tuple(e.country for e, _, _ in legs),
        user_ids=(victim.user_id,), emails=(victim.login_email,), target_user_ids=(victim.user_id,),
        affected_user_ids=(victim.user_id,), parts=tuple(parts), counts=(("logins", 4), ("countries", 4)),
        notes="The first login (DE) comes from the customer's usual home address.",
    )  # fmt: skip


def customer_enumeration(p: Planter) -> None:
    rng = p.rng
    (installer,) = p.pick(lambda a: a.account_type == "installer" and a.active and len(a.customers) >= 10)
    caller = Caller(installer, p.hosting("NL"), "python-requests/2.31.0", "public-api")
    numbers = sorted(int(a.user_id[1:]) for a in p.pop.accounts)
    # start the sweep just below a minor's id, so the exposed set contains a child (a case notices must handle)
    anchor = next(m for m in sorted(int(m[1:]) for m in p.pop.minors) if numbers[0] + 400 < m < numbers[-1] - 400)
    first = anchor - rng.randint(40, 180)
    ids = [f"u{n}" for n in range(first, first + 260)]
    t = p.when(11, "01:12:00")
    events = [caller.api(t, "view", "GET /api/v1/customers", 200, 300 + 180 * len(installer.customers))]
    found: list[str] = []
    for uid in ids:
        t += timedelta(milliseconds=rng.randint(2_600, 3_200))
        acct = p.pop.by_id.get(uid)
        ok = acct is not None and acct.account_type == "end_user"
        found += [uid] if ok else []
        request = f"GET /api/v1/customers/{uid}/consumption?from=2025-03-01&to=2026-03-30"
        size = rng.randint(30_000, 90_000) if ok else 64
        events.append(caller.api(t, "view", request, 200 if ok else 404, size, target=uid))
    p.hold(installer.user_id, api_ts(events[0]), api_ts(events[-1]))
    p.add_api(
        events, {"source.ip": [caller.ep.ip]},
        id="customer_enumeration", title="Installer API token used to enumerate customers' consumption",
        description="An installer's public-API credentials, used from a foreign hosting address, walk 260 "
        "consecutive customer ids on /api/v1/customers/{id}/consumption in about 13 minutes. Object-level "
        "authorisation is missing: every existing end-user id answers 200 (also customers of other installers); "
        "ids that do not exist or are not end users answer 404.",
        technique="T1213", related_techniques=("T1087", "T1078"),
        source_ips=(caller.ep.ip,), countries=(caller.ep.country,), user_ids=(installer.user_id,),
        target_user_ids=tuple(ids), affected_user_ids=tuple(found),
        counts=(("requests", len(events)), ("distinct_targets", len(ids)), ("found_200", len(found)),
                ("not_found_404", len(ids) - len(found)),
                ("own_customers_exposed", len(set(found) & set(installer.customers)))),
        notes="user.target.id is set on every enumeration request, including the 404s; affected_user_ids are the 200s.",
    )  # fmt: skip


def _login_and_read(p: Planter, acct: Account, t: datetime, affected: bool, **kw: Any) -> None:
    caller, ev = Caller(acct, acct.endpoints[0], acct.app_agent).login(t, True, p.rng)
    ep = caller.ep
    p.add_api(
        [ev, *intrude(p, caller, t, 3)], {"user.id": [acct.user_id]},
        source_ips=(ep.ip,), countries=(ep.country,), user_ids=(acct.user_id,), emails=(acct.login_email,),
        target_user_ids=(acct.user_id,), affected_user_ids=(acct.user_id,) if affected else (),
        counts=(("logins", 1), ("views", 3)), **kw,
    )  # fmt: skip


def disabled_and_test_logins(p: Planter) -> None:
    (disabled,) = p.pick(lambda a: a.account_type == "end_user" and a.persona == "regular" and not a.active)
    _login_and_read(
        p, disabled, p.when(3, "12:03:17"), True,
        id="disabled_account_login", title="A disabled account logs in", technique="T1078",
        description="A customer account disabled in the directory logs in successfully from its old home address "
        "and reads profile, devices and device status (the platform does not enforce the status).",
    )  # fmt: skip
    (test,) = p.pick(lambda a: a.account_type == "test" and a.active)
    _login_and_read(
        p, test, p.when(10, "09:10:44"), False,
        id="test_account_login", title="A QA test account logs in to production", technique="T1078.001",
        description="A test account (account_type test) logs in to the production app API and reads data.",
    )  # fmt: skip


def malformed_imei(p: Planter) -> None:
    rng = p.rng
    (installer,) = p.pick(lambda a: a.account_type == "installer" and a.active and len(a.customers) >= 2)
    office = next(e for e in installer.endpoints if e.kind == "office")
    t = p.when(1, "15:30:20")
    caller, ev = Caller(installer, office, installer.app_agent).login(t, True, rng)
    p.logs.api.append(ev)  # ordinary traffic, not part of the attack
    tac = next(m[3] for m in MODELS if m[0] == "HP")
    body = tac + f"{rng.randrange(1_000_000):06d}"
    bad_check, short = body + str((int(luhn_check_digit(body)) + 5) % 10), tac + f"{rng.randrange(1_000_000):06d}"
    assert not is_valid_imei(bad_check) and len(short) == 14
    customers = rng.sample(installer.customers, 2)
    events, devices = [], []
    for cust, imei in zip(customers, (bad_check, short), strict=True):
        t += timedelta(seconds=rng.randint(90, 240))
        dev = p.device("HP", cust, installer.user_id, t, imei)
        devices.append(dev)
        request = f"POST /api/v1/customers/{cust}/devices"
        events.append(caller.api(t, "device_register", request, 201, rng.randint(700, 760), target=cust, device=dev))
    p.add_api(
        events, {"device.imei": [bad_check, short]},
        id="malformed_imei", title="Devices registered with malformed IMEIs",
        description="An installer registers two heat pumps for customers with IMEIs the platform should have "
        "rejected: one 15-digit IMEI with a wrong Luhn check digit, one with only 14 digits. Both are accepted (201).",
        technique="T1036", source_ips=(office.ip,), countries=(office.country,), user_ids=(installer.user_id,),
        target_user_ids=tuple(customers), device_ids=tuple(d.device_id for d in devices), imeis=(bad_check, short),
        counts=(("device_register", 2), ("bad_check_digit", 1), ("wrong_length", 1)),
        notes="The installer's login just before is ordinary traffic and not counted.",
    )  # fmt: skip


def hour_boundary_burst(p: Planter) -> None:
    rng = p.rng
    (victim,) = p.pick(lambda a: regular_user(a) and a.uses_app)
    caller, t0 = Caller(victim, p.hosting("NL"), victim.app_agent), p.when(6, "13:59:30", False)
    events = [caller.login(t0 + timedelta(milliseconds=round(i * 60_000 / 11)), False, rng)[1] for i in range(12)]
    times = [api_ts(e) for e in events]
    boundary = p.when(6, "14:00:00", False)
    p.hold(victim.user_id, times[0], times[-1])
    p.add_api(
        events, {"source.ip": [caller.ep.ip]},
        id="hour_boundary_burst", title="Failed-login burst straddling a clock hour",
        description="12 failed logins for one account from one address between 13:59:30 and 14:00:30 UTC: six "
        "before the full hour, six after. A sliding 2-minute window sees 12; fixed hourly buckets see 6 + 6.",
        technique="T1110.001", source_ips=(caller.ep.ip,), countries=(caller.ep.country,),
        user_ids=(victim.user_id,), emails=(victim.login_email,), target_user_ids=(victim.user_id,),
        counts=(("failed_logins", 12), ("before_hour", sum(t < boundary for t in times)),
                ("after_hour", sum(t >= boundary for t in times))),
    )  # fmt: skip


API_ATTACKS: tuple[Callable[[Planter], None], ...] = (
    malformed_imei,
    brute_force,
    disabled_and_test_logins,
    credential_stuffing,
    password_spraying,
    hour_boundary_burst,
    shared_device,
    impossible_travel,
    device_burst,
    customer_enumeration,
)


def plant_api(p: Planter) -> None:
    for plant in API_ATTACKS:
        plant(p)
