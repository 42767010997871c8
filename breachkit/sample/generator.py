"""`write_sample`: the committed sample dataset (logs, directory, devices, ground truth) from one seed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from .attacks import Planter, plant_api
from .bastion import Bastions
from .formats import ADMIN_ALLOW_LIST, ALL_NETS, AddressBook, api_line, api_ts, iso_ms
from .manifest import ACCESS_LOG, API_LOG, AUTH_LOG, PlantedAttack, SampleFile, SampleManifest
from .population import Device, Population, build_population, devices_csv, directory_csv
from .traffic import Benign, Logs
from .webattacks import plant_web

DEFAULT_START: Final = datetime(2026, 3, 20, tzinfo=UTC)  # 14 days incl. the spring-forward night (29 March)
DAYS: Final = 14
GZIP_OVER: Final = 4 * 1024 * 1024  # the API log is gzipped only above this size
DIRECTORY = "directory.csv"
DEVICES = "devices.csv"
GEO = "ip-geo.csv"
ATTACKS = "attacks.json"


def rng_for(seed: int, stream: str) -> random.Random:
    """An independent, reproducible random stream per component (str seeds hash with SHA-512)."""
    return random.Random(f"breachkit.sample:{seed}:{stream}")  # noqa: S311 (test data, not secrets)


@dataclass(frozen=True)
class Generated:
    population: Population
    logs: Logs
    attacks: tuple[PlantedAttack, ...]


def make_population(seed: int, start: datetime, addresses: AddressBook | None = None) -> Population:
    addresses = addresses or AddressBook(rng_for(seed, "addresses"))
    fraud_created = start + timedelta(days=6, hours=19)  # the evening before shared_device_identity
    return build_population(rng_for(seed, "population"), start, DAYS, addresses, fraud_created=fraud_created)


def generate(seed: int = 7, start: datetime = DEFAULT_START) -> Generated:
    """Build everything in memory (no I/O): population, planted attacks, then benign traffic around them."""
    addresses = AddressBook(rng_for(seed, "addresses"))
    pop = make_population(seed, start, addresses)
    logs = Logs()
    planter = Planter(pop, rng_for(seed, "attacks"), addresses, logs)
    plant_api(planter)
    plant_web(planter)
    Benign(pop, rng_for(seed, "benign"), addresses, logs, planter.quiet).run()
    Bastions(pop, rng_for(seed, "bastions"), addresses, logs.auth).run()
    return Generated(pop, logs, tuple(planter.attacks))


def _lines(lines: Iterable[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no file name, mtime 0, fixed level."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def render(gen: Generated) -> dict[str, bytes]:
    """File name → uncompressed content, in write order (attacks.json last: it lists the others' digests)."""
    logs = gen.logs
    access = sorted(logs.access, key=lambda r: r.ts)
    api = sorted(logs.api, key=api_ts)
    auth = sorted(logs.auth, key=lambda r: r.ts)
    new_devices = sorted(logs.new_devices, key=lambda d: (d.registered_at, d.device_id))
    all_devices: list[Device] = [*gen.population.devices, *new_devices]
    geo = "network,country_iso_code,role\n" + "".join(f"{n.cidr},{n.country},{n.role}\n" for n in ALL_NETS)
    return {
        ACCESS_LOG: _lines(r.line() for r in access),
        API_LOG: _lines(api_line(e) for e in api),
        AUTH_LOG: _lines(r.line() for r in auth),
        DIRECTORY: directory_csv(gen.population.accounts).encode("utf-8"),
        DEVICES: devices_csv(all_devices).encode("utf-8"),
        GEO: geo.encode("utf-8"),
    }


def ground_truth(gen: Generated, seed: int, contents: dict[str, bytes]) -> dict[str, Any]:
    pop = gen.population
    reference: date = pop.end.date()
    return {
        "generator": "breachkit.sample",
        "regenerate": "python -m breachkit.sample samples/",
        "seed": seed,
        "start": iso_ms(pop.start),
        "end": iso_ms(pop.end),
        "clocks": {
            ACCESS_LOG: "Europe/Berlin local time with its offset (+0100 until 2026-03-29T01:00Z, then +0200)",
            API_LOG: "UTC, ISO 8601 with milliseconds and Z",
            AUTH_LOG: f"UTC, RFC 3164 without a year (the year is {pop.start.year})",
        },
        "files": {
            name: {"lines": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in contents.items()
        },
        "directory": {
            "accounts": len(pop.accounts),
            "by_type": {
                t: sum(a.account_type == t for a in pop.accounts) for t in ("end_user", "installer", "admin", "test")
            },
            "disabled": sum(not a.active for a in pop.accounts),
            "reference_date": reference.isoformat(),
            "minors": list(pop.minors),
            "duplicate_emails_after_normalisation": [list(p) for p in pop.duplicate_emails],
            "emails_needing_normalisation": [a.user_id for a in pop.accounts if a.email != a.login_email],
            "test_accounts": [a.user_id for a in pop.accounts if a.account_type == "test"],
            "admin_allow_list": ADMIN_ALLOW_LIST,
        },
        "attacks": [a.to_json() for a in gen.attacks],
    }


def write_sample(out_dir: Path, *, seed: int = 7, start: datetime = DEFAULT_START) -> SampleManifest:
    """Generate the sample dataset into `out_dir`; the same seed and start always give the same bytes."""
    gen = generate(seed, start)
    contents = render(gen)
    truth = ground_truth(gen, seed, contents)
    contents[ATTACKS] = (json.dumps(truth, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[SampleFile] = []
    for name, data in contents.items():
        target, payload = out_dir / name, data
        stale = out_dir / (name + ".gz")
        if name == API_LOG and len(data) > GZIP_OVER:
            target, payload, stale = out_dir / (name + ".gz"), gzip_bytes(data), out_dir / name
        stale.unlink(missing_ok=True)
        target.write_bytes(payload)
        files.append(SampleFile(target.name, data.count(b"\n"), hashlib.sha256(data).hexdigest(), len(payload)))
    return SampleManifest(
        out_dir=out_dir,
        seed=seed,
        start=gen.population.start,
        end=gen.population.end,
        accounts=len(gen.population.accounts),
        devices=len(gen.population.devices) + len(gen.logs.new_devices),
        files=tuple(files),
        attacks=gen.attacks,
    )
