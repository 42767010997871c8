"""A small world for the incident board's tests: a workspace over a real store (SQLite or PostgreSQL), one user per
role, and incidents in the states a commander meets at 3 a.m. — one past a legal deadline, one running, one with
its subject list built and a notice sent. Built only through the library's use cases (and the store's repositories
for the subject list and outbox state, which would otherwise need logs, a directory and an SMTP server)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from breachkit.config import load_config
from breachkit.incidents import api as incidents
from breachkit.incidents import decisions_api, tasks_api, users_api
from breachkit.session import Session
from breachkit.subjects.api import authority_counts
from breachkit.subjects.counts import subject_counts
from breachkit.subjects.store import save_build
from tests.notices_fixtures import subject_table

PASSWORD = "correct horse battery staple"
ROLES = {"commander": "ic@example.org", "dpo": "dpo@example.org", "security": "sec@example.org",
         "viewer": "viewer@example.org"}
XSS = "<script>window.__pwned = 1</script>"


@dataclass
class World:
    session: Session
    overdue: str  # an incident past its NIS2 early warning (reasons for the delay owed)
    running: str  # an incident 3 h old
    people: str  # an incident with a subject list and a recorded decision
    users: dict[str, str] = field(default_factory=lambda: dict(ROLES))


def make_world(tmp_path: Path, store_url: str, *, now: datetime | None = None) -> World:
    config_path = tmp_path / "breachkit.toml"
    config_path.write_text(f'[workspace]\npath = "ws"\ntimezone = "Europe/Berlin"\n\n'
                           f'[incidents.store]\nurl = "{store_url}"\n', encoding="utf-8")
    session = Session(load_config(config_path, environ={}), actor="setup@example.org",
                      clock=(lambda: now) if now is not None else None)
    now = now or datetime.now(UTC)
    for role, name in ROLES.items():
        users_api.add_user(session, name, role, PASSWORD)
    overdue = incidents.open_incident(
        session, title=f"Credential stuffing on the portal {XSS}", aware_at=now - timedelta(hours=50),
        justification="confirmed from the API logs", playbook="gdpr-personal-data-breach",
        commander="ic@example.org", regimes=["gdpr-33", "gdpr-34", "nis2"]).incident.id
    tasks_api.assign_task(session, overdue, "contain", "sec@example.org")
    incidents.add_note(session, overdue, f"Blocked 203.0.113.0/24 at the edge {XSS}")
    running = incidents.open_incident(
        session, title="Lost laptop of a support agent", aware_at=now - timedelta(hours=3),
        justification="reported by the agent", playbook="gdpr-personal-data-breach",
        commander="ic@example.org").incident.id
    people = incidents.open_incident(
        session, title="Misdirected invoice emails", aware_at=now - timedelta(hours=20),
        justification="a customer forwarded one back", playbook="gdpr-personal-data-breach",
        commander="dpo@example.org").incident.id
    table = subject_table(12)
    counts = subject_counts(table)
    save_build(session.store, people, table, {"counts": authority_counts(counts)}, engine="local",
               actor="setup@example.org", now=now)
    decisions_api.decide(session, people, authority=True, subjects=True, reason="invoices with bank details")
    incidents.file_report(session, people, regime="gdpr-33", stage="authority", reference="LDA-2026-117",
                          recipient="the lead authority",
                          override_reason="a fixture: the board shows filings whatever the case file lacks")
    return World(session, overdue, running, people)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def version_of(html: str, action: str) -> str:
    """The version a form posting to `action` carries."""
    found = re.search(re.escape(f'action="{action}"') + r'.*?name="version" value="(\d+)"', html, re.S)
    assert found, f"no form for {action}"
    return found.group(1)


def cheap_hashing(monkeypatch) -> None:
    """Argon2id still, with small parameters: the library's defaults cost ~0.7 s a hash on this machine, which is
    right for a server and too slow for a world of four users per test. (One test keeps the defaults.)"""
    from argon2 import PasswordHasher

    fast = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    monkeypatch.setattr(users_api, "hasher", lambda: fast)
    users_api._dummy_hash.cache_clear()
