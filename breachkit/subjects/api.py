"""The subjects stage's entry point: incident scope → identifiers (logs, either engine) → people (directory
join) → counts → a new version of the incident's subject list, and exports of it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from breachkit.config import Config
from breachkit.errors import Problem, UsageError
from breachkit.incidents.api import normalize_id
from breachkit.incidents.model import Scope
from breachkit.incidents.store.subjects import SubjectBuildRecord
from breachkit.logs.ingest import ProgressCallback
from breachkit.logs.local import LocalStore
from breachkit.logs.stores import open_event_store, open_search_store
from breachkit.session import Session
from breachkit.subjects import schema
from breachkit.subjects.counts import UNKNOWN, SubjectCounts, subject_counts
from breachkit.subjects.directory import index_products, read_devices, read_directory
from breachkit.subjects.export import ExportFormat, ExportResult, export_subjects
from breachkit.subjects.identifiers import affected_identifiers
from breachkit.subjects.join import at_risk_in_taken_over_accounts, build_subject_table
from breachkit.subjects.roles import RoleSummary, assign_roles
from breachkit.subjects.store import changes, save_build
from breachkit.workspace import Workspace

if TYPE_CHECKING:
    from breachkit.logs.search import SearchStore


@dataclass(frozen=True)
class BuildOutcome:
    record: SubjectBuildRecord
    counts: SubjectCounts
    identifiers: int
    unmatched: pd.DataFrame  # identifiers with no person in the directory
    rejected: list[Problem]  # directory rows left out, with the reason
    changes: dict[str, Any]  # against the previous version
    attempted_only: int = 0  # people reached only by failed accesses (no data exposed, no role): not in the list
    roles: RoleSummary | None = None  # every actor account and why it is (not) compromised


# The directory's account types as the report's categories of data subjects.
ACCOUNT_SUBJECT_CATEGORY = {"end_user": "customers", "customer": "customers", "installer": "installers",
                            "admin": "employees", "employee": "employees"}


def authority_counts(counts: SubjectCounts) -> dict[str, Any]:
    """The numbers the authority report needs (no identities)."""
    return {"people": counts.people, "records": counts.records,
            "people_per_country": {k: v.people for k, v in counts.by_country.items()},
            "people_per_category": {k: v.people for k, v in counts.by_category.items()},
            "people_per_account_type": {k: v.people for k, v in counts.by_account_type.items()},
            "minors": counts.minors, "without_email": counts.without_email,
            "compromised_accounts": counts.compromised_accounts,
            "compromised_requests": counts.compromised_requests, "actors": counts.actors,
            "recipients": counts.recipients}


def found_subject_categories(counts: SubjectCounts) -> list[str]:
    """The categories of data subjects the list shows (from account types; children from minors)."""
    return sorted({ACCOUNT_SUBJECT_CATEGORY[a] for a in counts.by_account_type if a in ACCOUNT_SUBJECT_CATEGORY}
                  | ({"children"} if counts.minors else set()))


@contextlib.contextmanager
def _index_clients(config: Config, workspace: Workspace, source: LocalStore | SearchStore
                   ) -> Iterator[tuple[Any, Any]]:
    """Clients for the directory and the device registry where they are kept in an index (None where not): the
    event store's own when the logs are in that engine, else one opened from the configuration (closed after)."""
    wanted = index_products(config.subjects.directory)
    clients: dict[str, Any] = {}
    with contextlib.ExitStack() as opened:
        for product in {p for p in wanted if p is not None}:
            store = source
            if isinstance(store, LocalStore) or store.engine != product:
                store = opened.enter_context(open_search_store(config, workspace, product))
            clients[product] = store.client
        yield clients.get(wanted[0] or ""), clients.get(wanted[1] or "")


def build_subjects(session: Session, incident_id: str, *, engine: str | None = None,
                   compromised: Sequence[str] = (), progress: ProgressCallback | None = None) -> BuildOutcome:
    """A new version of the incident's subject list: the scope's actors followed through the logs (either
    engine), joined with the user directory, each person given their roles (`subjects.roles`), counted; the
    incident's counts are updated from it. `compromised`: accounts to declare compromised (recorded on the
    incident, with a timeline entry, before the build). The incident's declared data and subject categories
    are left alone: what the list found is kept in the build's summary (`found_categories`,
    `found_subject_categories`) for the report and the pre-filing check to compare."""
    config, workspace, store = session.config, session.workspace, session.store
    actor, now = session.actor, session.now()
    incident = store.get(normalize_id(incident_id))
    if incident.scope.empty:
        raise UsageError(f"{incident.id} has no scope: no actor addresses, accounts or devices to follow",
                         hint=f"link detections (breachkit incident link {incident.id} FILE) or set them: "
                              f"breachkit incident update {incident.id} --set 'scope.source_ips=[\"…\"]' --reason …")
    chosen = engine or config.ingest.default_engine
    existing = {"elasticsearch": config.elasticsearch.indices, "opensearch": config.opensearch.indices}.get(chosen)
    if existing:
        raise UsageError(f"{chosen}.indices is set ({', '.join(existing)}): subject lists are built from breachkit's "
                         f"own index only, and would miss the people in those indices",
                         hint=f"ingest the logs with breachkit (breachkit ingest --to {chosen}), then build with "
                              f"BREACHKIT_{chosen.upper()}__INDICES='[]'")
    declared = sorted({c.strip() for c in compromised if c.strip()} - set(incident.compromised_accounts))
    if declared:
        incident = store.update(incident.id, {"compromised_accounts": incident.compromised_accounts + declared},
                                expected_version=incident.version, actor=actor, now=now,
                                reason="declared compromised (subjects build --compromised)")
    with open_event_store(config, workspace, engine, read_only=True) as source:
        identifiers = affected_identifiers(source, incident.scope, config.subjects.categories, progress=progress)
        used = source.engine
        with _index_clients(config, workspace, source) as (directory_client, devices_client):
            directory = read_directory(config.subjects.directory, config.base_dir, now=now,
                                       search_client=directory_client)
            devices = read_devices(config.subjects.directory, config.base_dir, search_client=devices_client)
    identifiers = with_declared_accounts(identifiers, incident.compromised_accounts, incident.scope)
    built = build_subject_table(identifiers, directory.frame, devices.frame if devices is not None else None)
    assigned = assign_roles(built, compromised=incident.compromised_accounts, actor_accounts=incident.actor_accounts)
    table = at_risk_in_taken_over_accounts(assigned.table, directory.frame)
    counts = subject_counts(table)
    previous = store.subject_lists.get(incident.id)
    diff = changes(previous.table() if previous is not None else None, table)
    rejected = directory.problems() + (devices.problems() if devices is not None else [])
    roles = assigned.summary
    summary = {"counts": authority_counts(counts), "identifiers": len(identifiers), "unmatched": len(built.unmatched),
               "merged": built.merged, "rejected_rows": len(rejected), "directory": directory.source,
               "attempted_only": roles.attempted_only,
               "found_categories": sorted(k for k in counts.by_category if k != UNKNOWN),
               "found_subject_categories": found_subject_categories(counts),
               "accounts": [{"subject_id": a.subject_id, "accounts": list(a.accounts), "requests": a.requests,
                             "used_by_actor": a.used_by_actor, "basis": a.basis.value} for a in roles.accounts],
               "undetermined_accounts": list(roles.undetermined), "declared_missing": list(roles.declared_missing),
               "changes": diff, "scope": incident.scope.model_dump(mode="json"),
               "declared": {"compromised_accounts": incident.compromised_accounts,
                            "actor_accounts": incident.actor_accounts}}
    record = save_build(store, incident.id, table, summary, engine=used, actor=actor, now=now)
    countries = sorted(c for c in counts.by_country if len(c) == 2 and c.isalpha() and c.isupper())
    current = store.get(incident.id)
    store.update(current.id, {"approx_subjects": counts.people, "approx_records": counts.records,
                              "countries": sorted(set(current.countries) | set(countries))},
                 expected_version=current.version, actor=actor, now=now,
                 reason=f"counts from subject list v{record.version}")
    return BuildOutcome(record, counts, len(identifiers), built.unmatched, rejected, diff, roles.attempted_only,
                        roles)


def with_declared_accounts(identifiers: pd.DataFrame, accounts: Sequence[str], scope: Scope) -> pd.DataFrame:
    """Declared compromised accounts that made no request in the scope still belong in the list (their holders are
    told to rotate): each gets an identifier row with no events, seen at the scope's window."""
    present = set(identifiers.loc[identifiers[schema.ID_FIELD] == "user.id", schema.ID_VALUE].astype("str"))
    missing = [a for a in accounts if a not in present]
    if not missing:
        return identifiers
    when = pd.Series([scope.since or scope.until] * len(missing), dtype="object")
    extra = pd.DataFrame({schema.ID_FIELD: "user.id", schema.ID_VALUE: missing, schema.ID_RELATION: "actor",
                          schema.ID_FIRST_SEEN: pd.to_datetime(when, utc=True), schema.ID_LAST_SEEN:
                          pd.to_datetime(when, utc=True), schema.ID_EVENTS: 0, schema.ID_CATEGORIES:
                          [[] for _ in missing], schema.ID_EXPOSING: 0, schema.ID_USED_BY_ACTOR: 0,
                          schema.ID_SUCCEEDED: 0})
    for column in (schema.ID_FIRST_SEEN, schema.ID_LAST_SEEN):
        extra[column] = extra[column].astype(schema.TIME_DTYPE)
    return pd.concat([identifiers, extra[list(schema.IDENTIFIER_COLUMNS)]], ignore_index=True)


def export_build(session: Session, incident_id: str, path: Path, fmt: ExportFormat, *, version: int | None = None,
                 reason: str) -> ExportResult:
    """Export a stored subject list (0600, formula-safe CSV) and record it in the audit log."""
    if not reason.strip():
        raise UsageError("an export of personal data needs a reason (it is recorded)", field="reason")
    store, actor, now = session.store, session.actor, session.now()
    incident_id = normalize_id(incident_id)
    record = store.subject_lists.get(incident_id, version)
    if record is None:
        raise UsageError(f"{incident_id} has no subject list" + (f" version {version}" if version else ""),
                         hint=f"breachkit subjects build {incident_id}")
    result = export_subjects(record.table()[list(schema.SUBJECT_COLUMNS)], path, fmt)
    store.audit("export", str(path), actor=actor, at=now, incident_id=incident_id, sha256=result.sha256,
                reason=reason, detail={"what": "subjects", "version": record.version, "format": fmt,
                                       "rows": result.rows})
    return result


def download_build(session: Session, incident_id: str, fmt: ExportFormat, *, version: int | None = None,
                   reason: str, target: str) -> bytes:
    """A stored subject list as the bytes of an export file (e.g. a browser download), recorded in the audit log
    like `export_build` with `target` naming where it went. Written through a private temporary file (0600) in
    the workspace, removed before returning."""
    import tempfile

    if not reason.strip():
        raise UsageError("an export of personal data needs a reason (it is recorded)", field="reason")
    store, actor, now = session.store, session.actor, session.now()
    incident_id = normalize_id(incident_id)
    record = store.subject_lists.get(store.get(incident_id).id, version)
    if record is None:
        raise UsageError(f"{incident_id} has no subject list" + (f" version {version}" if version else ""),
                         hint=f"breachkit subjects build {incident_id}")
    with tempfile.TemporaryDirectory(dir=session.workspace.tmp) as folder:
        path = Path(folder) / f"subjects.{fmt}"
        result = export_subjects(record.table()[list(schema.SUBJECT_COLUMNS)], path, fmt)
        data = path.read_bytes()
    store.audit("export", target, actor=actor, at=now, incident_id=incident_id, sha256=result.sha256,
                reason=reason, detail={"what": "subjects", "version": record.version, "format": fmt,
                                       "rows": result.rows})
    return data


@dataclass(frozen=True)
class SubjectListView:
    incident_id: str
    versions: list[dict[str, Any]]  # without tables
    record: SubjectBuildRecord | None  # the version asked for (default: the latest)
    people: pd.DataFrame | None  # the people themselves, only when asked for (audited as a view)


def show_subjects(session: Session, incident_id: str, *, version: int | None = None, people: bool = False,
                  reason: str = "subjects show --people") -> SubjectListView:
    """The subject list's versions and counts; with `people`, the identities too — recorded as a view."""
    store = session.store
    incident = store.get(normalize_id(incident_id))
    record = store.subject_lists.get(incident.id, version)
    if version is not None and record is None:
        raise UsageError(f"{incident.id} has no subject list version {version}", field="version")
    table = None
    if people and record is not None:
        table = record.table()
        store.audit("view", "people", actor=session.actor, at=session.now(), incident_id=incident.id,
                    sha256=record.sha256, reason=reason, detail={"version": record.version, "rows": record.rows})
    return SubjectListView(incident.id, store.subject_lists.versions(incident.id), record, table)
