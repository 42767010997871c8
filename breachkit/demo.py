"""The end-to-end demo on the embedded engine: the sample platform's logs → ingest → detections.

It writes the seeded sample dataset (the same bytes as the repository's samples/), a config and a
workspace into one folder, ingests the three logs into the embedded store and runs the bundled rules.
Later stages (incident, subjects, notices) join here as they are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from breachkit.config import load_config
from breachkit.detect.api import ruleset_from_config
from breachkit.detect.engines import LocalEngine
from breachkit.detect.run import DetectionRun, run
from breachkit.logs.ingest import IngestOptions, IngestSummary, ingest
from breachkit.logs.local import LocalStore
from breachkit.sample import write_sample
from breachkit.workspace import Workspace, init_workspace


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    ingested: IngestSummary
    detections: DetectionRun
    rules: int


def run_demo(directory: Path, *, now: datetime | None = None) -> DemoResult:
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "breachkit.toml"
    if not config_path.exists():
        init_workspace(directory)
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
    return DemoResult(directory, ingested, detections, len(ruleset.rules) + len(ruleset.correlations))
