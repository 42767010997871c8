"""The platform's population: accounts (the user directory), their devices and their source addresses."""

from __future__ import annotations

import csv
import io
import random
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from .data import (
    APP_AGENTS,
    BROWSERS,
    COUNTRY_WEIGHTS,
    DEVICE_COLUMNS,
    DIRECTORY_COLUMNS,
    GLOBAL_DOMAINS,
    INSTALLER_FORMS,
    INTEGRATION_AGENTS,
    LOCALES,
    MAIL_DOMAINS,
    MODELS,
    NAMES,
    PHONE,
    PRO_APP_AGENTS,
)
from .formats import COMPANY_DOMAIN, INTERNAL, RESIDENTIAL, AddressBook, Net, luhn_check_digit, nets


@dataclass(frozen=True)
class Endpoint:
    ip: str
    country: str  # "" for internal addresses
    kind: str  # home | mobile | office | internal | vpn | trip


@dataclass(frozen=True)
class Trip:
    """A few days abroad: the account is seen only from `endpoint` on days first_day..last_day (offsets)."""

    endpoint: Endpoint
    first_day: int
    last_day: int


@dataclass(frozen=True)
class Device:
    device_id: str
    imei: str
    kind: str
    manufacturer: str
    model: str
    owner_id: str
    installer_id: str | None
    registered_at: datetime


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str  # as stored in the directory (may carry mixed case or stray whitespace)
    name: str
    locale: str
    country: str
    account_type: str  # end_user | installer | admin | test
    birth_date: date | None
    status: str  # active | disabled
    phone: str
    created_at: datetime
    persona: str  # regular | new (created in the window) | fraud (planted) — not written to the directory
    endpoints: tuple[Endpoint, ...]
    trip: Trip | None
    browser: str
    app_agent: str
    integration_agent: str | None
    uses_app: bool
    uses_portal: bool
    sessions_per_day: float
    http2: bool
    installer_id: str | None = None
    customers: tuple[str, ...] = ()
    login_name: str = ""  # bastion account (admins only)

    @property
    def login_email(self) -> str:
        """The address as a user types it at login (normalised: stripped, lower-case)."""
        return self.email.strip().lower()

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Population:
    start: datetime
    end: datetime
    accounts: tuple[Account, ...]
    devices: tuple[Device, ...]
    minors: tuple[str, ...]
    duplicate_emails: tuple[tuple[str, str], ...]
    registry: DeviceRegistry = field(repr=False, compare=False)
    by_id: Mapping[str, Account] = field(repr=False, compare=False)
    devices_of: Mapping[str, tuple[Device, ...]] = field(repr=False, compare=False)


def fold_ascii(text: str) -> str:
    """ASCII transliteration for e-mail local parts (German umlauts as ae/oe/ue)."""
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ß", "ss")):
        text = text.replace(a, b)
    text = text.replace("ł", "l").replace("Ł", "L")
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in ".-_"))


def _lang(country: str, locale: str) -> str:
    if country in ("DE", "AT") or (country == "CH" and locale == "de"):
        return "de"
    if country == "FR" or locale == "fr":
        return "fr"
    if country in ("NL", "BE"):
        return "nl"
    if country in ("IT", "CH"):
        return "it"
    return "es" if country == "ES" else "pl"


def _locale(rng: random.Random, country: str) -> str:
    shares = LOCALES[country]
    i = rng.randrange(len(shares) // 2)
    return shares[2 * i : 2 * i + 2]


class _Builder:
    def __init__(self, rng: random.Random, start: datetime, days: int, addresses: AddressBook) -> None:
        self.rng = rng
        self.start = start
        self.end = start + timedelta(days=days)
        self.days = days
        self.addresses = addresses
        self.emails: set[str] = set()
        self.registry = DeviceRegistry()

    # ---- identities
    def person(self, country: str, locale: str) -> tuple[str, str]:
        first, last = NAMES[_lang(country, locale)]
        return self.rng.choice(first), self.rng.choice(last)

    def email_for(self, first: str, last: str, country: str) -> str:
        rng = self.rng
        f, la = fold_ascii(first).lower(), fold_ascii(last.replace(" ", "").replace("'", "")).lower()
        pattern = rng.choice(("{f}.{l}", "{f}.{l}", "{f}{l}", "{i}.{l}", "{f}_{l}", "{l}.{f}", "{f}.{l}{n}"))
        local = pattern.format(f=f, l=la, i=f[:1], n=rng.randint(1, 99))
        domains = MAIL_DOMAINS[country] + GLOBAL_DOMAINS
        domain = rng.choice(domains)
        email, n = f"{local}@{domain}", 2
        while email in self.emails:
            email, n = f"{local}{n}@{domain}", n + 1
        self.emails.add(email)
        return email

    @staticmethod
    def messy(email: str, rng: random.Random) -> str:
        """How a few addresses sit in the directory: mixed case, stray whitespace."""
        r = rng.random()
        if r < 0.03:
            local, domain = email.split("@")
            return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain
        if r < 0.045:
            local, domain = email.split("@")
            return f"{local}@{domain.upper()}"
        if r < 0.06:
            return rng.choice((" ", "  ")) + email if rng.random() < 0.5 else email + " "
        return email

    def phone(self, country: str) -> str:
        if self.rng.random() < 0.25:
            return ""
        cc, prefixes, digits = PHONE[country]
        return f"+{cc} {self.rng.choice(prefixes)} {self.rng.randrange(10**digits):0{digits}d}"

    def birth_date(self) -> date:
        year = min(2007, max(1938, round(self.rng.gauss(1972, 14))))
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(365))

    # ---- addresses
    def endpoint(self, country: str, kind: str, *, v6: bool = False) -> Endpoint:
        role = "mobile" if kind in ("mobile", "trip") else "residential"
        pool: list[Net] = [n for n in nets(country, role, RESIDENTIAL) if (":" in n.cidr) == v6]
        return Endpoint(self.addresses.take_from(pool), country, kind)

    def internal(self, cidr: str, kind: str) -> Endpoint:
        net = next(n for n in INTERNAL if n.cidr == cidr)
        return Endpoint(self.addresses.take(net), "", kind)

    def device(self, kind: str, owner: str, installer: str | None, registered: datetime) -> Device:
        return self.registry.make(self.rng, kind, owner, installer, registered)


class DeviceRegistry:
    """Hands out unique device ids and IMEIs (valid Luhn check digit unless an IMEI is given)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.imeis: set[str] = set()

    def make(self, rng: random.Random, kind: str, owner: str, installer: str | None, registered: datetime,
             imei: str | None = None) -> Device:  # fmt: skip
        _, manufacturer, model, tac = rng.choice([m for m in MODELS if m[0] == kind])
        device_id = f"{kind}-{rng.getrandbits(32):08X}"
        while device_id in self.ids:
            device_id = f"{kind}-{rng.getrandbits(32):08X}"
        while imei is None or imei in self.imeis:
            body = tac + f"{rng.randrange(1_000_000):06d}"
            imei = body + luhn_check_digit(body)
        self.ids.add(device_id)
        self.imeis.add(imei)
        return Device(device_id, imei, kind, manufacturer, model, owner, installer, registered.replace(microsecond=0))


def age_on(born: date, when: date) -> int:
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def _activity(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.28:
        return 0.0
    if r < 0.68:
        return 0.05
    if r < 0.94:
        return 0.3
    return 1.1


@dataclass
class _Draft:
    created_at: datetime
    account_type: str
    persona: str
    country: str
    birth: date | None = None


def build_population(
    rng: random.Random,
    start: datetime,
    days: int,
    addresses: AddressBook,
    *,
    end_users: int = 1922,
    installers: int = 55,
    admins: int = 5,
    tests: int = 6,
    new_in_window: int = 8,
    fraud: int = 9,
    fraud_created: datetime | None = None,
) -> Population:
    """Build the directory. Account ids grow with creation time (`u100001`, …) with gaps (deleted accounts)."""
    b = _Builder(rng, start, days, addresses)
    countries = list(COUNTRY_WEIGHTS)
    weights = list(COUNTRY_WEIGHTS.values())
    first_day = datetime(2019, 1, 7, tzinfo=UTC)
    span = (start - first_day).total_seconds()

    def before_window() -> datetime:
        # more sign-ups in recent years: density grows linearly
        return first_day + timedelta(seconds=int(span * rng.random() ** 0.6))

    drafts: list[_Draft] = []
    for _ in range(end_users):
        drafts.append(_Draft(before_window(), "end_user", "regular", rng.choices(countries, weights)[0]))
    for _ in range(installers):
        drafts.append(_Draft(before_window(), "installer", "regular", rng.choices(countries, weights)[0]))
    for i in range(admins):
        created = first_day + timedelta(days=3 + 200 * i, seconds=rng.randrange(86400))
        drafts.append(_Draft(created, "admin", "regular", "DE"))
    for _ in range(tests):
        drafts.append(_Draft(before_window(), "test", "regular", "DE"))
    for _ in range(new_in_window):
        created = start + timedelta(seconds=rng.randrange(int((days - 1) * 86400)))
        drafts.append(_Draft(created, "end_user", "new", rng.choices(countries, weights)[0]))
    fraud_at = fraud_created or start + timedelta(days=days // 2)
    for _ in range(fraud):
        drafts.append(_Draft(fraud_at + timedelta(seconds=rng.randrange(4 * 3600)), "end_user", "fraud", "DE"))
    drafts.sort(key=lambda d: d.created_at)

    # minors (operators promise to hold none): a few regular end users, birth dates unambiguous for any
    # reference date inside the window (the youngest-looking edge case turns 18 a week after the window
    # ends), plus one adult who turned 18 shortly before the window
    regular = [d for d in drafts if d.account_type == "end_user" and d.persona == "regular"]
    births = [date(2009, 5, 14), date(2010, 11, 2), date(2011, 1, 23), date(2009, 9, 30), date(2010, 2, 8)]
    births.append((start + timedelta(days=days + 7)).date().replace(year=start.year - 18))
    births.append((start - timedelta(days=19)).date().replace(year=start.year - 18))
    for d, born in zip(rng.sample(regular, len(births)), births, strict=True):
        d.birth = born

    accounts: list[Account] = []
    next_id = 100001
    admin_logins = iter(("jmeyer", "akoch", "tbraun", "lschulz", "nwolf", "pvogel"))
    test_no = 0
    for d in drafts:
        uid = f"u{next_id}"
        next_id += 1 + (rng.randint(1, 3) if rng.random() < 0.09 else 0)
        country = d.country
        locale = _locale(rng, country)
        http2 = rng.random() < 0.3
        browser = rng.choice(BROWSERS)
        app_agent = rng.choice(APP_AGENTS)
        trip: Trip | None = None
        login_name = ""
        status = "active"
        integration: str | None = None
        birth: date | None
        endpoints: tuple[Endpoint, ...]
        if d.account_type == "admin":
            first, last = b.person("DE", "de")
            name = f"{first} {last}"
            email = f"{fold_ascii(first).lower()}.{fold_ascii(last).lower()}@{COMPANY_DOMAIN}"
            b.emails.add(email)
            endpoints = (b.internal("10.20.0.0/16", "office"), b.internal("10.8.0.0/24", "vpn"))
            birth, phone, locale = b.birth_date(), b.phone("DE"), rng.choice(("de", "en"))
            login_name = next(admin_logins)
            uses_app, uses_portal, rate = False, True, 0.0
        elif d.account_type == "test":
            test_no += 1
            name = f"QA Test {test_no:02d}"
            email = f"qa+{test_no:02d}@{COMPANY_DOMAIN}"
            b.emails.add(email)
            endpoints = (b.endpoint("DE", "home"),)
            birth, phone, locale = None, "", "en"
            status = "disabled" if test_no % 3 == 0 else "active"
            uses_app, uses_portal, rate = True, True, 0.0
        elif d.account_type == "installer":
            _, last = b.person(country, locale)
            name = rng.choice(INSTALLER_FORMS[country]).format(last)
            slug = fold_ascii(last.replace(" ", "-").replace("'", "")).lower()
            mailbox = rng.choice(("service", "info", "office", "kontakt" if locale == "de" else "contact"))
            email = f"{mailbox}@{slug}-{rng.randint(2, 99)}.example"
            while email in b.emails:
                email = email.replace("@", "1@")
            b.emails.add(email)
            endpoints = (b.endpoint(country, "office"), b.endpoint(country, "mobile"))
            birth, phone = None, b.phone(country)
            uses_app, uses_portal, rate = True, True, 1.2
            app_agent = rng.choice(PRO_APP_AGENTS)
        else:
            first, last = b.person(country, locale)
            if d.persona == "fraud":
                first, last = rng.choice((("Max", "Mustermann"), ("Erika", "Mustermann"), ("John", "Doe")))
                email = f"{rng.getrandbits(40):010x}@tempmail.example"
                b.emails.add(email)
            else:
                email = b.messy(b.email_for(first, last, country), rng)
            name = f"{first} {last}"
            birth = d.birth or (b.birth_date() if rng.random() > 0.06 else None)
            phone = b.phone(country)
            eps = [b.endpoint(country, "home")]
            if rng.random() < 0.5:
                eps.append(b.endpoint(country, "mobile"))
            if rng.random() < 0.2:
                eps.append(b.endpoint(country, "home", v6=True))
            endpoints = tuple(eps)
            if d.persona == "regular" and rng.random() < 0.025:
                abroad = rng.choice([c for c in countries if c != country])
                day0 = rng.randrange(days - 4)
                trip = Trip(b.endpoint(abroad, "trip"), day0, day0 + rng.randint(2, 4))
            rate = _activity(rng) if d.persona == "regular" else (0.5 if d.persona == "new" else 0.0)
            uses_app = rng.random() < 0.75
            uses_portal = (not uses_app) or rng.random() < 0.25
            if d.persona == "regular" and rate > 0 and rng.random() < 0.006:
                integration = rng.choice(INTEGRATION_AGENTS)
            if rng.random() < 0.02 and d.persona == "regular":
                status = "disabled"
        accounts.append(
            Account(uid, email, name, locale, country, d.account_type, birth, status, phone, d.created_at, d.persona,
                    endpoints, trip, browser, app_agent, integration, uses_app, uses_portal, rate, http2,
                    login_name=login_name)
        )  # fmt: skip

    accounts = _plant_duplicate_emails(accounts, rng)
    accounts = _assign_installers(accounts, rng)
    devices = _devices(b, accounts)
    devices_of: dict[str, list[Device]] = {}
    for dev in devices:
        devices_of.setdefault(dev.owner_id, []).append(dev)
    minors = tuple(a.user_id for a in accounts if a.birth_date and age_on(a.birth_date, b.end.date()) < 18)
    first_with: dict[str, str] = {}
    dups: list[tuple[str, str]] = []
    for a in accounts:
        if a.login_email in first_with:
            dups.append((first_with[a.login_email], a.user_id))
        first_with.setdefault(a.login_email, a.user_id)
    return Population(
        start=start,
        end=b.end,
        accounts=tuple(accounts),
        devices=tuple(devices),
        minors=minors,
        duplicate_emails=tuple(dups),
        registry=b.registry,
        by_id={a.user_id: a for a in accounts},
        devices_of={k: tuple(v) for k, v in devices_of.items()},
    )


def _plant_duplicate_emails(accounts: list[Account], rng: random.Random) -> list[Account]:
    """Two people registered twice with the same address in different case (normalisation must merge them)."""
    regular = [
        i
        for i, a in enumerate(accounts)
        if a.account_type == "end_user" and a.persona == "regular" and a.email == a.login_email
    ]
    picks = rng.sample(regular, 4)
    out = list(accounts)
    for first, second in ((picks[0], picks[1]), (picks[2], picks[3])):
        lo, hi = sorted((first, second))
        original = out[lo]
        local, domain = original.email.split("@")
        variant = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
        if variant == original.email:
            variant = local.upper() + "@" + domain
        out[hi] = replace(out[hi], email=variant, name=original.name, country=original.country,
                          locale=original.locale, birth_date=original.birth_date)  # fmt: skip
    return out


def _assign_installers(accounts: list[Account], rng: random.Random) -> list[Account]:
    installers = [a for a in accounts if a.account_type == "installer"]
    by_country: dict[str, list[Account]] = {}
    for inst in installers:
        by_country.setdefault(inst.country, []).append(inst)
    customers: dict[str, list[str]] = {a.user_id: [] for a in installers}
    out: list[Account] = []
    for a in accounts:
        if a.account_type == "end_user" and a.persona != "fraud" and rng.random() < 0.6:
            inst = rng.choice(by_country.get(a.country) or installers)
            customers[inst.user_id].append(a.user_id)
            a = replace(a, installer_id=inst.user_id)
        out.append(a)
    return [replace(a, customers=tuple(customers[a.user_id])) if a.user_id in customers else a for a in out]


def _devices(b: _Builder, accounts: list[Account]) -> list[Device]:
    rng = b.rng
    devices: list[Device] = []
    for a in accounts:
        if a.persona == "fraud":
            continue
        kinds = ["GW" if rng.random() < 0.8 else "SM"]
        if a.account_type == "end_user":
            for kind, p in (("HP", 0.45), ("PV", 0.35), ("WB", 0.1)):
                if len(kinds) < 3 and rng.random() < p:
                    kinds.append(kind)
        for kind in kinds:
            installer = a.installer_id if a.installer_id and (kind != "GW" or rng.random() < 0.5) else None
            if a.persona == "new":
                registered = a.created_at + timedelta(minutes=rng.randint(3, 40))
            else:
                latest = min(b.start, a.created_at + timedelta(days=120))
                gap = max(60, int((latest - a.created_at).total_seconds()))
                registered = a.created_at + timedelta(seconds=rng.randrange(60, gap + 1))
            registered = min(registered, b.start - timedelta(minutes=1)) if a.persona != "new" else registered
            devices.append(b.device(kind, a.user_id, installer, registered))
    return devices


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def directory_csv(accounts: tuple[Account, ...]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DIRECTORY_COLUMNS)
    for a in accounts:
        born = a.birth_date.isoformat() if a.birth_date else ""
        w.writerow((a.user_id, a.email, a.name, a.locale, a.country, a.account_type, born, a.status, a.phone,
                    _stamp(a.created_at)))  # fmt: skip
    return buf.getvalue()


def devices_csv(devices: list[Device]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DEVICE_COLUMNS)
    for d in devices:
        w.writerow((d.device_id, d.imei, d.model, d.manufacturer, d.owner_id, d.installer_id or "",
                    _stamp(d.registered_at)))  # fmt: skip
    return buf.getvalue()
