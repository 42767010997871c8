"""Decision facts on the incident: an unknown fact is never read as the safe value (property), names and values are
checked with the valid ones listed, impossible combinations are refused with the field named, and the facts are
part of the case — a second `decide` gives the same suggestion, `incident show` displays them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from breachkit.config import load_config
from breachkit.errors import UsageError
from breachkit.incidents import api as incidents
from breachkit.incidents import decisions_api
from breachkit.incidents.decide import suggest
from breachkit.incidents.facts import FACT_VALUES, CaseFacts, parse_fact_changes
from breachkit.incidents.model import DATA_CATEGORIES, Impact, Incident
from breachkit.incidents.resolve import resolve
from breachkit.session import Session

NOW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
NUMBERS = {"unintended_recipients": st.sampled_from([None, 0, 1, 2, 11, 500]),
           "restore_hours": st.sampled_from([None, 0.5, 4.0, 24.0, 48.0, 200.0])}


def _fact_values() -> dict[str, Any]:
    return {name: NUMBERS[name] if name in NUMBERS else st.sampled_from(values) for name, values in FACT_VALUES.items()}


@st.composite
def cases(draw: st.DrawFn) -> tuple[Incident, dict[str, Any]]:
    facts = draw(st.fixed_dictionaries(_fact_values()))
    facts |= {"high_risk_removed_by": draw(st.sampled_from(["", "cards blocked"])),
              "disproportionate_effort": draw(st.sampled_from(["", "no addresses"]))}
    try:
        CaseFacts.model_validate(facts)
    except ValidationError:
        assume(False)
    incident = Incident(
        id="BK-2026-0001", title="t", aware_at=NOW, aware_justification="j", created_at=NOW, updated_at=NOW,
        impact=Impact(confidentiality=draw(st.booleans()), integrity=draw(st.booleans()),
                      availability=draw(st.booleans())),
        malicious=draw(st.sampled_from([None, True, False])),
        data_categories=draw(st.lists(st.sampled_from(list(DATA_CATEGORIES)), max_size=3)),
        subject_categories=draw(st.lists(st.sampled_from(["customers", "children", "vulnerable"]), max_size=2)),
        approx_subjects=draw(st.sampled_from([None, 1, 2, 40, 20_000])))
    return incident, facts


def _outcome(incident: Incident, facts: dict[str, Any]) -> tuple[int, bool]:
    advice = suggest(resolve(incident.model_copy(update={"facts": CaseFacts.model_validate(facts)})).breach)
    return advice.authority.risk.rank, advice.subjects.suggested


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(cases(), st.sampled_from(sorted(FACT_VALUES)))
def test_an_unknown_fact_never_lowers_the_risk(case, name):
    """For every fact: replacing a known value by unknown never lowers the risk nor drops the advice to tell the
    people (unknown is read as the less favourable value, never the safe one)."""
    incident, facts = case
    assume(facts[name] not in (None, "unknown"))
    unknown = {**facts, name: None if name in NUMBERS else "unknown"}
    try:
        CaseFacts.model_validate(unknown)
    except ValidationError:  # e.g. a deletion needs a known recipient: unknown reach is refused, not graded
        assume(False)
    known_risk, known_tell = _outcome(incident, facts)
    unknown_risk, unknown_tell = _outcome(incident, unknown)
    assert unknown_risk >= known_risk, f"{name}={facts[name]} → unknown lowered the risk"
    assert unknown_tell or not known_tell, f"{name}={facts[name]} → unknown dropped the advice to tell the people"


def test_unknown_fact_names_and_values_list_the_valid_ones():
    with pytest.raises(UsageError) as caught:
        parse_fact_changes({"exfil": "no"})
    assert caught.value.location.field == "facts.exfil"
    assert "known: confidentiality_reach, recipient_deletion" in caught.value.message
    with pytest.raises(UsageError) as caught:
        parse_fact_changes({"encryption": "aes", "restore_hours": "soon", "misuse_observed": True})
    fields = [p.location.field for p in caught.value.problems]
    assert fields == ["facts.encryption", "facts.restore_hours"]
    assert "'aes' is not one of: unknown, none, key_safe, key_compromised" in str(caught.value)
    assert parse_fact_changes({"misuse_observed": True, "restore_hours": "4", "unintended_recipients": "unknown"}) == {
        "misuse_observed": "yes", "restore_hours": 4.0, "unintended_recipients": None}


@pytest.fixture
def session(tmp_path):
    (tmp_path / "breachkit.toml").write_text('[workspace]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    with Session(load_config(tmp_path / "breachkit.toml", environ={}), actor="dpo@example.org",
                 clock=lambda: NOW) as s:
        yield s


def _open(session: Session) -> str:
    return incidents.open_incident(
        session, title="Orders sent to the wrong address", aware_at="2026-03-30T08:00",
        justification="the recipient called us",
        fields={"impact": {"confidentiality": True}, "malicious": False,
                "data_categories": ["identity", "contact", "orders"], "approx_subjects": 300}).incident.id


def test_an_impossible_combination_is_refused_with_the_field_named(session):
    iid = _open(session)
    with pytest.raises(UsageError) as caught:
        incidents.update_incident(session, iid, {"facts.recipient_deletion": "confirmed"}, reason="deleted")
    assert caught.value.location.field == "facts.recipient_deletion" and "needs a recipient" in caught.value.message
    with pytest.raises(UsageError) as caught:
        incidents.update_incident(session, iid, {"facts.confidentiality_reach": "limited",
                                                 "facts.unintended_recipients": 0,
                                                 "facts.recipient_deletion": "requested"}, reason="x")
    assert caught.value.location.field == "facts.recipient_deletion"
    other = incidents.open_incident(session, title="outage", aware_at="2026-03-30T08:00", justification="j",
                                    fields={"impact": {"availability": True}}).incident.id
    with pytest.raises(UsageError, match="no disclosure is recorded"):
        incidents.update_incident(session, other, {"facts.confidentiality_reach": "limited",
                                                   "facts.recipient_deletion": "confirmed"}, reason="x")
    assert incidents.get_incident(session, iid).version == 1  # nothing written


def test_facts_are_part_of_the_case_and_survive_a_second_decide(session, invoke_cli, tmp_path, monkeypatch):
    iid = _open(session)
    first = decisions_api.decide(session, iid)
    assert first.authority.suggested and [a.fact for a in first.assumptions] == [
        "facts.confidentiality_reach", "facts.encryption", "facts.misuse_observed", "facts.already_public"]
    updated = incidents.update_incident(session, iid, {"facts.confidentiality_reach": "limited",
                                                       "facts.unintended_recipients": 1,
                                                       "facts.recipient_deletion": "requested",
                                                       "facts.encryption": "none"}, reason="the recipient called")
    assert updated.facts.recipient_deletion == "requested" and updated.version == 2
    entry = session.store.timeline(iid)[-1]
    assert entry.action == "updated" and entry.changes["facts"][1]["recipient_deletion"] == "requested"
    second = decisions_api.decide(session, iid)
    third = decisions_api.decide(session, iid)
    assert second.model_dump(exclude={"at"}) == third.model_dump(exclude={"at"})  # the facts are kept, not typed
    assert second.case_facts["recipient_deletion"] == "requested"
    assert [a.fact for a in second.assumptions] == ["facts.misuse_observed", "facts.already_public"]
    assert second.categories is not None and second.categories.used == ["identity", "contact", "orders"]
    # a one-off override is used once and kept with the decision recorded in the same run
    once = decisions_api.decide(session, iid, facts={"misuse_observed": "no"}, authority=True, reason="orders of 300")
    assert once.overrides == {"misuse_observed": "no"} and once.recorded[0]["overrides"] == {"misuse_observed": "no"}
    assert once.recorded[0]["facts"]["misuse_observed"] == "no"
    assert "One-off facts given with this run" in once.authority.explanation[1]
    assert decisions_api.decide(session, iid).case_facts["misuse_observed"] == "unknown"
    with pytest.raises(UsageError, match="unknown fact 'mitigated'"):
        decisions_api.decide(session, iid, facts={"mitigated": "true"})
    # incident show: the facts in the table and the JSON document
    config = tmp_path / "breachkit.toml"
    shown = json.loads(invoke_cli("--config", str(config), "incident", "show", iid, "-o", "json").output)
    assert shown["incident"]["facts"]["recipient_deletion"] == "requested"
    table = invoke_cli("--config", str(config), "incident", "show", iid, "--no-timeline").output
    assert "facts.recipient_deletion" in table and "requested" in table
    listed = json.loads(invoke_cli("incident", "facts", "-o", "json").output)
    assert {f["name"] for f in listed} >= {"exfiltration", "password_hashing", "device_protection"}


def test_bad_facts_on_the_command_line_list_the_valid_values(session, invoke_cli, tmp_path):
    iid = _open(session)
    config = str(tmp_path / "breachkit.toml")
    bad = invoke_cli("--config", config, "incident", "update", iid, "--set", "facts.encryption=aes256",
                     "--reason", "x", code=2)
    assert "facts.encryption" in bad.output and "unknown, none, key_safe, key_compromised" in bad.output
    assert "pydantic" not in bad.output.lower() and "Input should be" not in bad.output
    unknown = invoke_cli("--config", config, "incident", "decide", iid, "--fact", "encrypted=yes", code=2)
    assert "unknown fact 'encrypted'" in unknown.output and "exfiltration" in unknown.output
