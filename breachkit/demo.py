"""The end-to-end demo on the embedded engine, no server: the sample platform's logs → ingest → detections
→ an incident (GDPR playbook, clock) → the affected people → notices and the authority report for review.

It writes the seeded sample dataset (the same bytes as the repository's samples/), a config and a
workspace into one folder, ingests the three logs into the embedded store, runs the bundled rules, opens
an incident for the customer-record enumeration they find, builds its subject list from the logs and the
sample user directory, renders (never sends) the emails and the authority report into `review/`, has the DPO approve
the report and files the approved copy (`review/filed/report.pdf`, kept with the filing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from breachkit.config import Config, load_config
from breachkit.detect.api import ruleset_from_config
from breachkit.detect.engines import LocalEngine
from breachkit.detect.run import Detection, DetectionRun, run
from breachkit.logs.ingest import IngestOptions, IngestSummary, ingest
from breachkit.logs.local import LocalStore
from breachkit.sample import write_sample
from breachkit.workspace import Workspace, init_workspace

ENUMERATION_RULE = "7812597d-689d-4c98-9368-df332764cd05"  # rules/api/customer_record_enumeration.yml


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    ingested: IngestSummary
    detections: DetectionRun
    rules: int
    incident_id: str | None = None
    people: int = 0
    review: Path | None = None


def run_demo(directory: Path, *, now: datetime | None = None) -> DemoResult:
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "breachkit.toml"
    if not config_path.exists():
        init_workspace(directory)
        text = config_path.read_text(encoding="utf-8")
        for old, new in (('# source = "directory.csv"', 'source = "samples/directory.csv"'),
                         ('# devices = "devices.csv"', 'devices = "samples/devices.csv"'),
                         ('timezone = "UTC"', 'timezone = "Europe/Berlin"'),
                         ('controller_name = "Example Energy GmbH"', 'controller_name = "HeimWatt Energie GmbH"'),
                         ('dpo_email = "dpo@example.org"', 'dpo_email = "datenschutz@heimwatt.example"'),
                         ('# sender = "privacy@your-domain.example"', 'sender = "datenschutz@heimwatt.example"')):
            text = text.replace(old, new, 1)
        config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path, environ={})
    workspace = Workspace(config.workspace_dir).ensure()
    samples = directory / "samples"
    write_sample(samples)
    now = now or datetime.now(UTC)
    summaries = []
    with LocalStore(workspace.events_db) as store:
        for name, options in (
            ("portal-access.log", IngestOptions(format="combined", remote_user_field="user.id")),
            ("app-api.jsonl.gz", IngestOptions(format="jsonl")),
            ("auth.log", IngestOptions(format="auth", year=2026)),
        ):
            summaries.append(ingest([str(samples / name)], store, config, workspace, options=options, now=now))
        ruleset = ruleset_from_config(config)
        detections = run(ruleset, LocalEngine(store))
    ingested = IngestSummary("local", tuple(f for s in summaries for f in s.files))
    rules = len(ruleset.rules) + len(ruleset.correlations)
    found = [d for d in detections.detections if d.rule_id == ENUMERATION_RULE]
    if not found:
        return DemoResult(directory, ingested, detections, rules)
    incident_id, people, review = _incident(config, workspace, directory, found, now)
    return DemoResult(directory, ingested, detections, rules, incident_id, people, review)


def _incident(config: Config, workspace: Workspace, directory: Path, found: list[Detection],
              now: datetime) -> tuple[str, int, Path]:
    """Open the incident, build its subject list, render the notices and the report for review — through the
    library's use cases, as a Python user would."""
    from breachkit.incidents import api as incidents
    from breachkit.notices import api as notices
    from breachkit.notices.approvals import approve_notices
    from breachkit.scan import _linked
    from breachkit.session import Session
    from breachkit.subjects.api import build_subjects

    aware_at = max(d.last_seen for d in found) + timedelta(hours=2)
    day_after = aware_at + timedelta(hours=20)  # the demo's incident work happens on the day after awareness
    review = directory / "review"
    with Session(config, actor="demo@heimwatt.example", clock=lambda: day_after) as session:
        opened = incidents.open_incident(
            session, title="Customer records enumerated through the public API",
            description="An installer account read the records of many customers it does not serve, one "
                        "customer id after the other, through the public API.",
            aware_at=aware_at, detected_at=min(d.last_seen for d in found),
            occurred_at=min(d.first_seen for d in found),
            justification="The security team confirmed from the API logs that the responses contained "
                          "other customers' records.",
            playbook="gdpr-personal-data-breach", commander="ic@heimwatt.example",
            detections=[_linked(d) for d in found], detections_source="demo",
            fields={"impact": {"confidentiality": True}, "malicious": True,
                    "cause": "abuse of an installer API token",
                    "data_categories": ["identity", "contact", "usage", "device_identifiers"]})
        incident_id = opened.incident.id
        outcome = build_subjects(session, incident_id, engine="local")
        notices.render_subject_notices(session, incident_id, review / "subjects", overwrite=True)
        notices.render_authority_reports(session, incident_id, review / "authority", formats=("md", "html", "json"),
                                         overwrite=True)
        # four eyes on the report, then the approved PDF is what is filed (and kept with the filing)
        approved = approve_notices(session.as_actor("dpo@heimwatt.example"), incident_id, version=1,
                                   kind="authority", formats=("pdf",), out=review / "filed", overwrite=True,
                                   reason="demo: facts, numbers and contact point checked against the incident")
        incidents.file_report(session, incident_id, regime="gdpr-33", stage="authority", reference="DEMO-LDA-0001",
                              recipient="the lead supervisory authority", note="demo: initial report filed",
                              document=Path(approved.files[0]))
    return incident_id, outcome.counts.people, review
