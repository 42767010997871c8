"""subjects build/show/export end to end on the sample platform, and the same subject table from
Elasticsearch and from the embedded engine."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from breachkit.config import DirectoryConfig, SubjectsConfig
from breachkit.incidents.store import IncidentStore
from breachkit.logs.ingest import IngestOptions, ingest
from breachkit.logs.local import LocalStore
from breachkit.session import Session
from breachkit.subjects.api import build_subjects
from breachkit.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
ATTACKS = {a["id"]: a for a in json.loads((SAMPLES / "attacks.json").read_text())["attacks"]}
NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)


def _scope(attack: dict) -> list[str]:
    return ["--set", f"scope.since={attack['start']}", "--set", f"scope.until={attack['end']}",
            "--set", f"scope.source_ips={json.dumps(attack['source_ips'])}"]


@pytest.fixture
def run(tmp_path, monkeypatch, invoke_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREACHKIT_ACTOR", "dpo@heimwatt.example")
    for name in ("app-api.jsonl.gz", "directory.csv", "devices.csv"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    monkeypatch.setenv("BREACHKIT_SUBJECTS__DIRECTORY__SOURCE", "directory.csv")
    monkeypatch.setenv("BREACHKIT_SUBJECTS__DIRECTORY__DEVICES", "devices.csv")
    invoke = invoke_cli

    invoke("init", ".")
    invoke("ingest", "app-api.jsonl.gz", "--format", "jsonl")
    return invoke


def test_build_show_export_and_rebuild(run, tmp_path):
    attack = ATTACKS["customer_enumeration"]
    run("incident", "open", "--title", "Enumeration", "--aware-at", "2026-03-31T06:00:00Z", "--justification", "j",
        *_scope(attack))
    iid = "BK-2026-0001"
    built = json.loads(run("subjects", "build", iid, "-o", "json").output)
    # the people whose records were read (the 200s); the installer's token, used from the attacker's address,
    # is a compromised account counted apart — its own requests are not records, its address nobody's data
    people = set(attack["affected_user_ids"]) | set(attack["user_ids"])
    assert built["people"] == len(attack["affected_user_ids"]) and built["version"] == 1
    assert built["records"] == attack["counts"]["found_200"]
    assert (built["compromised_accounts"], built["actors"], built["recipients"]) == (1, 0, len(people))
    assert built["by_category"] == {"usage": {"people": 215, "records": 215}}
    assert built["accounts"] == [{"subject_id": "u101459", "accounts": ["u101459"], "requests": 261,
                                  "used_by_actor": 216, "basis": "used_from_actor_means"}]
    incident = json.loads(run("incident", "show", iid, "-o", "json").output)["incident"]
    assert incident["approx_subjects"] == len(attack["affected_user_ids"]) and "DE" in incident["countries"]
    assert incident["subject_categories"] == []  # declared by people; the build keeps what it found apart
    # export: 0600, formula-safe CSV, recorded in the audit log
    run("subjects", "export", iid, "--out", "subjects.csv", "--reason", "review by the DPO")
    path = tmp_path / "subjects.csv"
    assert path.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert {r["subject_id"] for r in rows} == people
    installer = next(r for r in rows if r["subject_id"] == "u101459")
    assert (installer["roles"], installer["categories"], installer["records"], installer["requests"]) == (
        "compromised_account", "", "0", "261")
    assert all(not r["phone"] or r["phone"].startswith("'+") for r in rows)
    run("subjects", "export", iid, "--out", "subjects.parquet", "--reason", "notices")
    assert set(pd.read_parquet(tmp_path / "subjects.parquet")["subject_id"]) == people
    with IncidentStore(f"sqlite:///{tmp_path}/.breachkit/incidents.db") as store:
        exports = [a for a in store.audit_log(iid) if a["action"] == "export"]
    assert [e["reason"] for e in exports] == ["review by the DPO", "notices"] and all(e["sha256"] for e in exports)
    # a rebuild is a new version that says what changed
    again = json.loads(run("subjects", "build", iid, "-o", "json").output)
    assert again["version"] == 2 and again["changes"] == {"added": 0, "removed": 0, "changed": 0}
    shown = json.loads(run("subjects", "show", iid, "-o", "json").output)
    assert [v["version"] for v in shown["versions"]] == [1, 2] and shown["people"] is None
    # the stored list is the recipient table of the notices
    run("notices", "render", iid, "--kind", "subject", "--out", "review")
    assert json.loads((tmp_path / "review" / "summary.json").read_text())["rendered"] == len(people)


def test_bad_directory_rows_are_reported_and_the_build_completes(run, tmp_path):
    text = (tmp_path / "directory.csv").read_text(encoding="utf-8").splitlines()
    attack = ATTACKS["credential_stuffing"]
    victim = attack["affected_user_ids"][0]
    broken = [line.replace("@", " at ", 1) if line.startswith(victim + ",") else line for line in text]
    keyless = ",nobody@example.org,No Key,en,DE,end_user,1990-01-01,active,,2020-01-01T00:00:00Z"
    (tmp_path / "directory.csv").write_text("\n".join([*broken, keyless]) + "\n")
    run("incident", "open", "--title", "Stuffing", "--aware-at", "2026-03-25T06:00:00Z", "--justification", "j",
        *_scope(attack))
    result = run("subjects", "build", "BK-2026-0001")
    assert "directory rows left out" in result.output and "invalid_email" in result.output
    assert "missing_key" in result.output
    built = json.loads(run("subjects", "build", "BK-2026-0001", "-o", "json").output)
    assert built["rejected_rows"] == 2 and built["people"] == len(attack["affected_user_ids"])


def test_an_incident_without_scope_is_refused(run):
    run("incident", "open", "--title", "t", "--aware-at", "2026-03-25T06:00:00Z", "--justification", "j")
    assert "has no scope" in run("subjects", "build", "BK-2026-0001", code=2).output


@pytest.mark.parametrize("attack_id", ["customer_enumeration", "credential_stuffing", "shared_device_identity"])
def test_same_subject_table_on_search_engines_and_embedded(attack_id, tmp_path, search_setup):
    s = search_setup
    subjects = SubjectsConfig(directory=DirectoryConfig(source=str(SAMPLES / "directory.csv"),
                                                        devices=str(SAMPLES / "devices.csv")))
    config = s.config.model_copy(update={"subjects": subjects})
    workspace = Workspace(config.workspace_dir).ensure()  # the session's (the embedded store is read there)
    options = IngestOptions(format="jsonl")
    with LocalStore(workspace.events_db) as local:
        ingest([str(SAMPLES / "app-api.jsonl.gz")], local, config, workspace, options=options, now=NOW)
    ingest([str(SAMPLES / "app-api.jsonl.gz")], s.store, config, workspace, options=options, now=NOW)
    attack = ATTACKS[attack_id]
    tables = {}
    with Session(config, actor="t", clock=lambda: NOW) as session:
        for engine in ("local", s.engine):
            incident = session.store.open_incident({
                "title": attack_id, "aware_at": NOW, "aware_justification": "j",
                "scope": {"since": attack["start"], "until": attack["end"], "source_ips": attack["source_ips"]}},
                actor="t", now=NOW)
            outcome = build_subjects(session, incident.id, engine=engine)
            assert outcome.record.engine == engine
            tables[engine] = outcome.record.table()
    assert len(tables["local"]) > 0
    pd.testing.assert_frame_equal(tables["local"], tables[s.engine])


def _index_csv(setup, path: Path, index: str) -> None:
    """The rows of a CSV file as documents of `index` (empty cells left out, as a directory export would),
    through the store's engine-neutral bulk."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    actions = ((json.dumps({"index": {"_index": index, "_id": str(i)}}).encode(),
                json.dumps({k: v for k, v in row.items() if v}).encode()) for i, row in enumerate(rows))
    for ok, item in setup.store.conn.bulk(actions, 1, 500):
        assert ok, item
    setup.store.conn.refresh(index)


def test_a_directory_and_device_registry_kept_in_an_index_give_the_same_subject_table(tmp_path, search_setup):
    """The directory and the device registry in an Elasticsearch / OpenSearch index: read with the event store's
    client when the logs are there too, with a client made from the configuration when they are embedded; the
    subject table is the one the CSV files give."""
    s = search_setup
    prefix = s.config.model_dump()[s.engine]["index"].removesuffix("events")
    _index_csv(s, SAMPLES / "directory.csv", f"{prefix}directory")
    _index_csv(s, SAMPLES / "devices.csv", f"{prefix}devices")
    in_files = SubjectsConfig(directory=DirectoryConfig(source=str(SAMPLES / "directory.csv"),
                                                        devices=str(SAMPLES / "devices.csv")))
    in_index = SubjectsConfig(directory=DirectoryConfig(source=s.engine, index=f"{prefix}directory",
                                                        devices=f"{s.engine}:{prefix}devices"))
    workspace = Workspace(s.config.workspace_dir).ensure()
    options = IngestOptions(format="jsonl")
    with LocalStore(workspace.events_db) as local:
        ingest([str(SAMPLES / "app-api.jsonl.gz")], local, s.config, workspace, options=options, now=NOW)
    ingest([str(SAMPLES / "app-api.jsonl.gz")], s.store, s.config, workspace, options=options, now=NOW)
    attack = ATTACKS["shared_device_identity"]
    tables, rejected = {}, {}
    for name, subjects in (("files", in_files), ("index", in_index)):
        config = s.config.model_copy(update={"subjects": subjects})
        with Session(config, actor="t", clock=lambda: NOW) as session:
            for engine in ("local", s.engine):
                incident = session.store.open_incident({
                    "title": name, "aware_at": NOW, "aware_justification": "j",
                    "scope": {"since": attack["start"], "until": attack["end"],
                              "source_ips": attack["source_ips"]}}, actor="t", now=NOW)
                outcome = build_subjects(session, incident.id, engine=engine)
                tables[name, engine] = outcome.record.table()
                rejected[name, engine] = len(outcome.rejected)
    assert len(tables["files", "local"]) > 0
    for key, table in tables.items():
        pd.testing.assert_frame_equal(table, tables["files", "local"], obj=str(key))
    assert len(set(rejected.values())) == 1, rejected


@pytest.mark.parametrize("attack_id", ["admin_from_outside", "bulk_export"])
def test_portal_attacks_reach_people_through_paths_and_query_parameters(run, tmp_path, attack_id):
    """The access log has no user.target.id: ingest derives it from /admin/users/<id> and ?customer=<id>."""
    shutil.copy(SAMPLES / "portal-access.log", tmp_path / "portal-access.log")
    run("ingest", "portal-access.log", "--format", "combined", "--remote-user-field", "user.id")
    attack = ATTACKS[attack_id]
    run("incident", "open", "--title", attack_id, "--aware-at", "2026-04-02T09:00:00Z", "--justification", "j",
        *_scope(attack))
    built = json.loads(run("subjects", "build", "BK-2026-0001", "-o", "json").output)
    people = set(attack["affected_user_ids"]) | set(attack["user_ids"])
    assert built["people"] == len(people)
    shown = json.loads(run("subjects", "show", "BK-2026-0001", "--people", "-o", "json").output)
    assert {p["subject_id"] for p in shown["people"]} == people


def test_taken_over_accounts_put_what_the_directory_holds_at_risk(run, tmp_path):
    attack = ATTACKS["credential_stuffing"]
    directory = pd.read_csv(tmp_path / "directory.csv", dtype=str, keep_default_na=False)
    directory["categories_held"] = "contact;identity;financial"
    directory.to_csv(tmp_path / "directory.csv", index=False)
    run("incident", "open", "--title", "Stuffing", "--aware-at", "2026-03-25T06:00:00Z", "--justification", "j",
        *_scope(attack))
    built = json.loads(run("subjects", "build", "BK-2026-0001", "-o", "json").output)
    assert built["people"] == len(attack["affected_user_ids"])
    assert built["by_category"]["financial"]["people"] == len(attack["affected_user_ids"])
