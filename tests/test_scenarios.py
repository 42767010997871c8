"""Golden case files (tests/data/scenarios.yaml): five breaches run through the use cases — incident, subject list
from the sample platform's logs where the breach is in them, the Art. 33/34 suggestion, the pre-filing check — with
roles, counts, categories, the suggestion and the assumptions it listed pinned in the YAML and, in full, in
tests/golden/scenarios/<id>.json (BREACHKIT_UPDATE_GOLDEN=1 rewrites them; read the diff)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from breachkit.config import load_config
from breachkit.incidents import api as incidents
from breachkit.incidents.check_api import check_case
from breachkit.incidents.decisions_api import decide
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.session import Session
from breachkit.subjects.api import build_subjects
from breachkit.workspace import Workspace

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "samples"
SCENARIOS = yaml.safe_load((HERE / "data" / "scenarios.yaml").read_text(encoding="utf-8"))
ATTACKS = {a["id"]: a for a in json.loads((SAMPLES / "attacks.json").read_text(encoding="utf-8"))["attacks"]}
GOLDEN = HERE / "golden" / "scenarios"
CONFIG = """
[workspace]
path = "ws"
timezone = "Europe/Berlin"
[incidents.store]
url = "sqlite:///{store}"
[subjects.directory]
source = "directory.csv"
devices = "devices.csv"
[notices]
controller_name = "HeimWatt Energie GmbH"
controller_address = "Königstraße 10, 70173 Stuttgart, Germany"
dpo_name = "Dr. Miriam Vogt"
dpo_email = "datenschutz@heimwatt.example"
dpo_phone = "+49 711 555 0190"
dpo_address = "Datenschutz, Königstraße 10, 70173 Stuttgart, Germany"
"""
AWARE = datetime.fromisoformat("2026-04-01T08:00:00+00:00")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Iterator[Path]:
    """A workspace holding the sample platform's app-API log, and its user directory."""
    root = tmp_path_factory.mktemp("scenarios")
    for name in ("directory.csv", "devices.csv"):
        shutil.copy(SAMPLES / name, root / name)
    (root / "breachkit.toml").write_text(CONFIG.format(store=root / "unused.db"), encoding="utf-8")
    config = load_config(root / "breachkit.toml", environ={})
    workspace = Workspace(config.workspace_dir).ensure()
    with LocalStore(workspace.events_db) as store:
        ingest_file(str(SAMPLES / "app-api.jsonl.gz"), store, config, workspace, options=IngestOptions(format="jsonl"))
    yield root


def _session(folder: Path, scenario: dict[str, Any]) -> Session:
    path = folder / f"{scenario['id']}.toml"
    path.write_text(CONFIG.format(store=folder / f"{scenario['id']}.db"), encoding="utf-8")
    attack = ATTACKS.get(scenario.get("attack", ""))
    aware = datetime.fromisoformat(attack["end"]) + timedelta(hours=2) if attack else AWARE
    return Session(load_config(path, environ={}), actor="dpo@heimwatt.example",
                   clock=lambda: aware + timedelta(hours=20))


def run(folder: Path, scenario: dict[str, Any]) -> dict[str, Any]:
    fields = dict(scenario["incident"])
    attack = ATTACKS.get(scenario.get("attack", ""))
    with _session(folder, scenario) as session:
        aware = session.now() - timedelta(hours=20)
        if attack:
            by = scenario.get("scope_from", "both")
            fields["scope"] = {"since": attack["start"], "until": attack["end"],
                               "source_ips": attack["source_ips"] if by in ("source_ips", "both") else [],
                               "user_ids": attack["user_ids"] if by in ("user_ids", "both") else []}
            fields["occurred_at"], fields["occurred_until"] = attack["start"], attack["end"]
        regimes = fields.pop("regimes", ())
        iid = incidents.open_incident(session, title=scenario["id"], aware_at=aware, regimes=regimes,
                                      justification="established by the responders", fields=fields).incident.id
        incidents.set_status(session, iid, "contained", reason="stopped")
        built = None
        if attack:
            built = build_subjects(session, iid, engine="local", **scenario.get("build", {}))
        decision = decide(session, iid)
        checked = check_case(session, iid)
    summary = built.record.summary if built else None
    return {
        "roles": {k: v for k, v in built.counts.by_role.items() if v} if built else None,
        "counts": None if built is None else {k: summary["counts"][k] for k in (  # type: ignore[index]
            "people", "records", "compromised_accounts", "compromised_requests", "actors", "recipients")},
        "accounts": None if summary is None else [{k: a[k] for k in ("subject_id", "requests", "basis")}
                                                  for a in summary["accounts"]],
        "found_subject_categories": None if summary is None else summary["found_subject_categories"],
        "categories": decision.categories.model_dump() if decision.categories else None,
        "authority": {"suggested": decision.authority.suggested, "risk": decision.authority.risk,
                      "explanation": decision.authority.explanation},
        "subjects": {"suggested": decision.subjects.suggested, "exemptions": decision.subjects.exemptions,
                     "alternative": decision.subjects.alternative},
        "assumptions": [a.model_dump() for a in decision.assumptions],
        "missing": [m.model_dump() for m in decision.missing],
        "check": [{"severity": f.severity, "code": f.code, "field": f.field} for f in checked.findings],
    }


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_scenario(folder, scenario):
    got = run(folder, scenario)
    expect = scenario["expect"]
    if "roles" in expect:
        assert got["roles"] == expect["roles"]
        assert got["counts"]["people"] == expect["people"]
        assert got["counts"]["compromised_accounts"] == expect["compromised"]
        if "records" in expect:
            assert got["counts"]["records"] == expect["records"]
        assert got["categories"]["found"] == expect["found_categories"]
    assert (got["authority"]["suggested"], got["subjects"]["suggested"], got["authority"]["risk"]) == (
        expect["authority"], expect["subjects"], expect["risk"])
    assert [a["fact"] for a in got["assumptions"]] == expect["assumptions"]
    assert all(f"Assumed: {a['text']}" in " ".join(got["authority"]["explanation"]) for a in got["assumptions"])
    assert [c["code"] for c in got["check"] if c["severity"] == "error"] == expect["check_errors"]
    path = GOLDEN / f"{scenario['id']}.json"
    text = json.dumps(got, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("BREACHKIT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{path.name}: BREACHKIT_UPDATE_GOLDEN=1 rewrites it"


def test_every_scenario_has_its_golden_file_and_no_stray_ones():
    assert {p.stem for p in GOLDEN.glob("*.json")} == {s["id"] for s in SCENARIOS}
    assert len(SCENARIOS) >= 5
