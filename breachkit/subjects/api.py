"""The subjects stage's entry point: incident scope → identifiers (logs, either engine) → people (directory
join) → counts → a new version of the incident's subject list, and exports of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from breachkit.config import Config
from breachkit.errors import Problem, UsageError
from breachkit.incidents.store import IncidentStore
from breachkit.logs.ingest import ProgressCallback
from breachkit.logs.local import LocalStore
from breachkit.logs.stores import open_event_store
from breachkit.subjects import schema
from breachkit.subjects.counts import SubjectCounts, subject_counts
from breachkit.subjects.directory import read_devices, read_directory
from breachkit.subjects.export import ExportFormat, ExportResult, export_subjects
from breachkit.subjects.identifiers import affected_identifiers
from breachkit.subjects.join import at_risk_in_taken_over_accounts, build_subject_table
from breachkit.subjects.store import SubjectBuildRecord, changes, get_build, latest_build, save_build
from breachkit.workspace import Workspace


@dataclass(frozen=True)
class BuildOutcome:
    record: SubjectBuildRecord
    counts: SubjectCounts
    identifiers: int
    unmatched: pd.DataFrame  # identifiers with no person in the directory
    rejected: list[Problem]  # directory rows left out, with the reason
    changes: dict[str, Any]  # against the previous version
    attempted_only: int = 0  # people reached only by failed accesses (no data exposed): not in the list


# The directory's account types as the report's categories of data subjects.
ACCOUNT_SUBJECT_CATEGORY = {"end_user": "customers", "customer": "customers", "installer": "installers",
                            "admin": "employees", "employee": "employees"}


def authority_counts(counts: SubjectCounts) -> dict[str, Any]:
    """The numbers the authority report needs (no identities)."""
    return {"people": counts.people, "records": counts.records,
            "people_per_country": {k: v.people for k, v in counts.by_country.items()},
            "people_per_category": {k: v.people for k, v in counts.by_category.items()},
            "people_per_account_type": {k: v.people for k, v in counts.by_account_type.items()},
            "minors": counts.minors, "without_email": counts.without_email}


def build_subjects(config: Config, workspace: Workspace, store: IncidentStore, incident_id: str, *,
                   engine: str | None, actor: str, now: datetime,
                   progress: ProgressCallback | None = None) -> BuildOutcome:
    incident = store.get(incident_id)
    if incident.scope.empty:
        raise UsageError(f"{incident.id} has no scope: no actor addresses, accounts or devices to follow",
                         hint=f"link detections (breachkit incident link {incident.id} FILE) or set them: "
                              f"breachkit incident update {incident.id} --set 'scope.source_ips=[\"…\"]' --reason …")
    es_client = None
    chosen = engine or config.ingest.default_engine
    existing = {"elasticsearch": config.elasticsearch.indices, "opensearch": config.opensearch.indices}.get(chosen)
    if existing:
        raise UsageError(f"{chosen}.indices is set ({', '.join(existing)}): subject lists are built from breachkit's "
                         f"own index only, and would miss the people in those indices",
                         hint=f"ingest the logs with breachkit (breachkit ingest --to {chosen}), then build with "
                              f"BREACHKIT_{chosen.upper()}__INDICES='[]'")
    with open_event_store(config, workspace, engine, read_only=True) as source:
        identifiers = affected_identifiers(source, incident.scope, config.subjects.categories, progress=progress)
        used = source.engine
        if not isinstance(source, LocalStore) and source.engine == "elasticsearch":
            es_client = source.client  # a directory kept in an Elasticsearch index is read with it
        directory = read_directory(config.subjects.directory, config.base_dir, now=now, es_client=es_client)
        devices = read_devices(config.subjects.directory, config.base_dir, es_client=es_client)
    built = build_subject_table(identifiers, directory.frame, devices.frame if devices is not None else None)
    # People reached only by failed accesses (404, 403…) had no data exposed: kept out of the list, counted.
    exposed = built.table[schema.CATEGORIES].map(len) > 0
    table, attempted = built.table[exposed].reset_index(drop=True), built.table[~exposed]
    table = at_risk_in_taken_over_accounts(table, directory.frame)
    counts = subject_counts(table)
    previous = latest_build(store, incident.id)
    diff = changes(previous.table() if previous is not None else None, table)
    rejected = directory.problems() + (devices.problems() if devices is not None else [])
    summary = {"counts": authority_counts(counts), "identifiers": len(identifiers), "unmatched": len(built.unmatched),
               "merged": built.merged, "rejected_rows": len(rejected), "directory": directory.source,
               "attempted_only": len(attempted),
               "changes": diff, "scope": incident.scope.model_dump(mode="json")}
    record = save_build(store, incident.id, table, summary, engine=used, actor=actor, now=now)
    countries = sorted(c for c in counts.by_country if len(c) == 2 and c.isalpha() and c.isupper())
    extra = sorted({ACCOUNT_SUBJECT_CATEGORY[a] for a in counts.by_account_type if a in ACCOUNT_SUBJECT_CATEGORY}
                   | ({"children"} if counts.minors else set()))
    current = store.get(incident.id)
    store.update(current.id, {"approx_subjects": counts.people, "approx_records": counts.records,
                              "countries": sorted(set(current.countries) | set(countries)),
                              "subject_categories": sorted(set(current.subject_categories) | set(extra))},
                 expected_version=current.version, actor=actor, now=now,
                 reason=f"counts from subject list v{record.version}")
    return BuildOutcome(record, counts, len(identifiers), built.unmatched, rejected, diff, len(attempted))


def export_build(store: IncidentStore, incident_id: str, path: Path, fmt: ExportFormat, *, version: int | None,
                 actor: str, now: datetime, reason: str) -> ExportResult:
    """Export a stored subject list (0600, formula-safe CSV) and record it in the audit log."""
    record = get_build(store, incident_id, version)
    if record is None:
        raise UsageError(f"{incident_id} has no subject list" + (f" version {version}" if version else ""),
                         hint=f"breachkit subjects build {incident_id}")
    result = export_subjects(record.table()[list(schema.SUBJECT_COLUMNS)], path, fmt)
    store.audit("export", str(path), actor=actor, at=now, incident_id=incident_id, sha256=result.sha256,
                reason=reason, detail={"what": "subjects", "version": record.version, "format": fmt,
                                       "rows": result.rows})
    return result
