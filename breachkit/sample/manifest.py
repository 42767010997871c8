"""The manifest records: what `write_sample` wrote and the ground truth of the planted attacks."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from .formats import iso_ms

ACCESS_LOG = "portal-access.log"
API_LOG = "app-api.jsonl"
AUTH_LOG = "auth.log"


@dataclass(frozen=True)
class AttackPart:
    """One leg of an attack (a scanner run, a login from one country, an SSH session)."""

    label: str
    start: datetime
    end: datetime
    events: int
    source_ip: str | None = None
    country: str | None = None
    user_agent: str | None = None
    host: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "start": iso_ms(self.start), "end": iso_ms(self.end)}
        out["events"] = self.events
        out.update({k: getattr(self, k) for k in ("source_ip", "country", "user_agent", "host") if getattr(self, k)})
        return out


@dataclass(frozen=True)
class PlantedAttack:
    id: str
    title: str
    description: str
    technique: str  # MITRE ATT&CK technique id
    log: str  # file name in the sample directory (before any compression)
    start: datetime  # first event (UTC, truncated to the log's precision)
    end: datetime  # last event
    events: int  # lines of `log` inside [start, end] that satisfy `match`
    match: tuple[tuple[str, tuple[str, ...]], ...]
    related_techniques: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()  # every user.id (%u; sshd user for auth.log) on the attack's events
    emails: tuple[str, ...] = ()  # login identifiers as logged
    target_user_ids: tuple[str, ...] = ()  # accounts the attacker aimed at
    affected_user_ids: tuple[str, ...] = ()  # data subjects whose data was reached
    device_ids: tuple[str, ...] = ()
    imeis: tuple[str, ...] = ()
    counts: tuple[tuple[str, int], ...] = ()
    parts: tuple[AttackPart, ...] = ()
    indicators: tuple[str, ...] = ()
    notes: str = ""

    def count(self, name: str) -> int:
        return dict(self.counts)[name]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = iso_ms(value)
            elif f.name in ("match", "counts"):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value}
            elif f.name == "parts":
                value = [p.to_json() for p in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class SampleFile:
    name: str  # as written (`app-api.jsonl.gz` when compressed)
    lines: int  # text lines of the (uncompressed) content
    sha256: str  # of the uncompressed content
    size: int  # bytes on disk


@dataclass(frozen=True)
class SampleManifest:
    out_dir: Path
    seed: int
    start: datetime
    end: datetime
    accounts: int
    devices: int
    files: tuple[SampleFile, ...]
    attacks: tuple[PlantedAttack, ...]

    def file(self, name: str) -> SampleFile:
        return next(f for f in self.files if f.name in (name, name + ".gz"))

    def attack(self, attack_id: str) -> PlantedAttack:
        return next(a for a in self.attacks if a.id == attack_id)
