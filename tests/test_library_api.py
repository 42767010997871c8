"""The library API: the demo's flow through use cases alone (no CLI), use cases on two threads at once, and the
result documents (golden files, their JSON Schemas, reading them back)."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from breachkit.config import load_config
from breachkit.detect.document import DetectionItem, DetectionsDocument
from breachkit.errors import ConflictError, InputError, NotFoundError, UsageError
from breachkit.incidents import api as incidents
from breachkit.incidents import decisions_api, tasks_api
from breachkit.session import Session

GOLDEN = Path(__file__).resolve().parent / "golden" / "documents"
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(tmp_path):
    (tmp_path / "breachkit.toml").write_text('[workspace]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    config = load_config(tmp_path / "breachkit.toml", environ={})
    with Session(config, actor="dpo@example.org", clock=lambda: NOW) as s:
        yield s


def _open(session: Session, **extra):
    return incidents.open_incident(session, title="API enumeration", aware_at="2026-03-31T07:30",
                                   justification="confirmed from the API logs",
                                   playbook="gdpr-personal-data-breach", commander="ic@example.org", **extra)


def test_use_cases_open_update_decide_and_file(session):
    opened = _open(session)
    iid = opened.incident.id
    assert iid == "BK-2026-0001" and len(opened.tasks) == 16
    # a time without an offset is read in the display zone (Berlin, summer time on 31 March)
    assert opened.incident.aware_at == datetime(2026, 3, 31, 5, 30, tzinfo=UTC)
    assert incidents.get_incident(session, iid.lower()).id == iid  # ids in any case
    updated = incidents.update_incident(session, iid, {"impact.confidentiality": True, "cause": "stolen token"},
                                        reason="triage")
    assert updated.impact.confidentiality and updated.version == 2
    with pytest.raises(ConflictError):
        incidents.update_incident(session, iid, {"cause": "x"}, reason="stale", if_version=1)
    task = tasks_api.assign_task(session.as_actor("ic@example.org"), iid, "contain", "sec@example.org")
    assert task.assignee == "sec@example.org"
    doc = decisions_api.decide(session, iid, authority=True, subjects=False, reason="risk, not high")
    assert [d["kind"] for d in doc.recorded] == ["notify_authority", "notify_subjects"]
    with pytest.raises(UsageError):
        decisions_api.decide(session, iid, authority=True)  # no reason
    with pytest.raises(InputError) as refused:  # the pre-filing check: a stub case file is not fit to file
        incidents.file_report(session, iid, regime="gdpr-33", stage="authority", reference="LDA-1")
    assert {"notices.dpo_phone", "notices.dpo_address"} <= {p.location.field for p in refused.value.problems}
    filing = incidents.file_report(session, iid, regime="gdpr-33", stage="authority", reference="LDA-1",
                                   override_reason="filed by phone; details follow")
    assert filing.filed_by == "dpo@example.org"
    clock = incidents.clock(session, iid)
    assert next(d for d in clock.deadlines if d.regime == "gdpr-33").status == "met"
    shown = incidents.show_incident(session, iid)
    actors = {e["actor"] for e in shown.timeline}
    assert actors == {"dpo@example.org", "ic@example.org"}
    audit = session.store.audit_log(iid)
    assert [a["action"] for a in audit] == ["override", "filing"]  # each recorded in its transaction
    assert audit[0]["reason"] == "filed by phone; details follow" and "contact_blank" in audit[0]["detail"]["errors"]
    override = next(e for e in shown.timeline if e["action"] == "override")
    assert override["changes"]["action"] == "filing gdpr-33.authority"
    with pytest.raises(NotFoundError):
        incidents.show_incident(session, "BK-2026-0099")


def test_opening_links_detections_in_the_same_transaction(session):
    seen = datetime(2026, 3, 31, 4, 0, tzinfo=UTC)
    detection = incidents.linked(DetectionItem(rule_id="r1", title="t", key={"source.ip": "203.0.113.7"}, count=2,
                                               event_ids=["a", "b"], first_seen=seen, last_seen=seen))
    opened = _open(session, detections=[detection])
    assert opened.detections == 1 and opened.incident.scope.source_ips == ["203.0.113.7"]
    assert [e.action for e in session.store.timeline(opened.incident.id)] == ["opened", "detection"]


@pytest.mark.slow
def test_the_demo_flow_runs_through_the_library_alone(tmp_path):
    """breachkit.demo.run_demo calls the use cases (no CLI): the same incident, people and review copy."""
    from breachkit.demo import run_demo
    from breachkit.notices.api import notice_status
    from breachkit.subjects.api import show_subjects

    result = run_demo(tmp_path / "demo")
    # 215 customers whose records were read; the installer's token counted apart (it is on the list, to be told)
    assert result.incident_id == "BK-2026-0001" and (result.people, result.compromised) == (215, 1)
    assert result.check_passed
    with Session.open(tmp_path / "demo" / "breachkit.toml", environ={}) as session:
        shown = incidents.show_incident(session, result.incident_id)
        assert shown.incident["approx_subjects"] == 215 and len(shown.tasks) == 16
        assert sum(notice_status(session, result.incident_id).counts.values()) == 0
        assert show_subjects(session, result.incident_id).record.rows == 216  # type: ignore[union-attr]
    assert (result.review / "subjects" / "summary.json").exists()  # type: ignore[operator]


@pytest.mark.slow
def test_two_threads_running_use_cases_agree_with_running_them_in_turn(tmp_path):
    """One thread detects over the embedded store while another updates an incident on the same session: the
    same detections and the same incident as when each runs alone."""
    from breachkit.demo import run_demo
    from breachkit.detect.api import run_detection

    run_demo(tmp_path / "demo")
    with Session.open(tmp_path / "demo" / "breachkit.toml", environ={}) as session:
        alone = DetectionsDocument.of(run_detection(session, level="medium")).detections
        errors: list[BaseException] = []
        found: list[list[DetectionItem]] = []

        def detect() -> None:
            try:
                for _ in range(3):
                    found.append(DetectionsDocument.of(run_detection(session, level="medium")).detections)
            except BaseException as exc:
                errors.append(exc)

        def update() -> None:
            try:
                worker = session.as_actor("worker@example.org")
                for n in range(20):
                    incidents.update_incident(worker, "BK-2026-0001", {"cause": f"cause {n}"}, reason=f"#{n}")
                    incidents.add_note(worker, "BK-2026-0001", f"note {n}")
            except BaseException as exc:
                errors.append(exc)

        before = incidents.get_incident(session, "BK-2026-0001").version
        threads = [threading.Thread(target=detect), threading.Thread(target=update)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert all(run == alone for run in found) and len(found) == 3
        after = incidents.get_incident(session, "BK-2026-0001")
        assert after.version == before + 20 and after.cause == "cause 19"
        notes = [e for e in session.store.timeline("BK-2026-0001") if e.action == "note"]
        assert [e.reason for e in notes][-20:] == [f"note {n}" for n in range(20)]


# --- result documents --------------------------------------------------------------------------------------


def _documents(session: Session) -> dict[str, object]:
    seen = datetime(2026, 3, 31, 4, 0, tzinfo=UTC)
    item = DetectionItem(rule_id="r1", title="Brute force", level="high", tags=["attack.t1110"], kind="event_count",
                         key={"source.ip": "203.0.113.7"}, count=2, event_ids=["a", "b"], first_seen=seen,
                         last_seen=seen + timedelta(minutes=1))
    detections = DetectionsDocument.create(engine="local", since=seen, until=NOW, detections=[item])
    opened = _open(session, detections=[incidents.linked(item)])
    iid = opened.incident.id
    incidents.update_incident(session, iid, {"impact.confidentiality": True, "malicious": True, "approx_subjects": 40,
                                             "data_categories": ["identity", "contact"]}, reason="triage")
    decision = decisions_api.decide(session, iid, facts={"confidentiality_reach": "wide", "encryption": "none"})
    from breachkit.incidents.check_api import check_case
    from breachkit.notices.api import notice_status

    return {"detections": detections, "incident": incidents.show_incident(session, iid),
            "clock": incidents.clock(session, iid), "decision": decision,
            "notices": notice_status(session, iid), "check": check_case(session, iid)}


def test_result_documents_match_their_golden_files_and_schemas(session):
    from breachkit.schemas import DOCUMENTS

    schemas = {d.SCHEMA: d.json_schema() for d in DOCUMENTS}
    for name, doc in _documents(session).items():
        data = json.loads(doc.to_json())  # type: ignore[attr-defined]
        jsonschema.validate(data, schemas[data["schema"]])
        path = GOLDEN / f"{name}.json"
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        if os.environ.get("BREACHKIT_UPDATE_GOLDEN"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: BREACHKIT_UPDATE_GOLDEN=1 rewrites it"


def test_documents_read_back_and_refuse_what_they_cannot_read(tmp_path):
    seen = "2026-03-31T04:00:00Z"
    data = {"engine": "local", "detections": [{"rule_id": "r", "title": "t", "key": [["user.id", "u1"]],
                                               "event_ids": ["e1", "e2"], "first_seen": seen, "last_seen": seen}]}
    old = DetectionsDocument.read(data)  # written before documents had a schema: read as version 1
    assert old.detections[0].count == 2 and old.detections[0].key == {"user.id": "u1"}
    with pytest.raises(InputError, match="cannot be read by this breachkit"):
        DetectionsDocument.read({**data, "schema": "breachkit.detections/2"})
    with pytest.raises(InputError, match=r"not a breachkit\.detections document"):
        DetectionsDocument.read({**data, "schema": "breachkit.clock/1"})
    path = tmp_path / "d.json"
    path.write_text(DetectionsDocument.read(data).to_json(), encoding="utf-8")
    assert incidents.read_detections(path)[0].event_count == 2
    lines = tmp_path / "d.ndjson"
    lines.write_text("\n".join(d.model_dump_json() for d in old.detections) + "\n{\"rule_id\": 1}\n")
    with pytest.raises(InputError) as err:
        incidents.read_detections(lines)
    assert any(p.location.line == 2 for p in err.value.problems)
