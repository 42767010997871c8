"""The decision helper against the EDPB Guidelines 01/2021 examples, its exemptions and the decision record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from breachkit.errors import UsageError
from breachkit.incidents.decide import (
    Advice,
    BreachFacts,
    Encryption,
    Exposure,
    Misuse,
    Risk,
    decision_record,
    departs_from_suggestion,
    departure_note,
    suggest,
    suggest_authority,
    suggest_subjects,
)
from breachkit.incidents.model import DecisionKind, Impact, Incident
from breachkit.incidents.resolve import advise, resolve
from breachkit.incidents.risk import assessment_from_answers

CASES = yaml.safe_load((Path(__file__).parent / "data" / "edpb_cases.yaml").read_text(encoding="utf-8"))
NOW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


def _incident(fields: dict | None = None, **extra) -> Incident:
    data = {"id": "BK-2026-0007", "title": "case", "aware_at": NOW, "aware_justification": "confirmed",
            "created_at": NOW, "updated_at": NOW, **(fields or {}), **extra}
    return Incident.model_validate(data)


def _severity(case: dict):
    return assessment_from_answers(case["severity"]) if "severity" in case else None


def _case_id(case: dict) -> str:
    return f"EDPB {case['edpb']} — {case['id']}"


def _advised(case: dict):
    return advise(_incident(case["incident"]), severity=_severity(case))


def test_case_file_covers_the_guidelines():
    assert len(CASES) >= 17
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        assert {"id", "edpb", "description", "incident", "expect"} <= case.keys(), case["id"]
        assert "case" in case["edpb"] or "Annex" in case["edpb"], case["id"]
    assert {c["expect"]["authority"] for c in CASES} == {True, False}
    assert {c["expect"]["subjects"] for c in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_edpb_case(case):
    advised = _advised(case)
    expect = case["expect"]
    assert (advised.authority.suggested, advised.subjects.suggested) == (expect["authority"], expect["subjects"]), \
        advised.authority.text() + "\n---\n" + advised.subjects.text()
    assert advised.authority.risk.value == advised.subjects.risk.value == expect["risk"]
    assert list(advised.subjects.exemptions) == expect.get("exemptions", [])
    if "assumptions" in expect:
        assert [a.fact for a in advised.resolution.assumptions] == expect["assumptions"]
    for suggestion, words in ((advised.authority, expect["authority_explains"]),
                              (advised.subjects, expect["subjects_explains"])):
        text = suggestion.text().lower()
        missing = [w for w in words if w.lower() not in text]
        assert not missing, f"{suggestion.kind}: {missing} not in\n{suggestion.text()}"
    # every assumption is in the explanation, with the field to set
    for assumption in advised.resolution.assumptions:
        assert f"Assumed: {assumption.text} (set {assumption.fact})." in advised.authority.explanation


def _facts(case: dict) -> BreachFacts:
    return resolve(_incident(case["incident"]), severity=_severity(case)).breach


def test_suggestions_are_deterministic_and_typed():
    facts = _facts(CASES[0])
    assert suggest(facts) == suggest(facts)
    advice = suggest(facts)
    assert isinstance(advice, Advice)
    assert advice.authority.kind is DecisionKind.NOTIFY_AUTHORITY
    assert advice.subjects.kind is DecisionKind.NOTIFY_SUBJECTS
    assert suggest_authority(facts) == advice.authority and suggest_subjects(facts) == advice.subjects


HIGH = BreachFacts(data_categories=frozenset({"identity", "financial"}), confidentiality=Exposure.WIDE, malicious=True)


def test_exemption_b_subsequent_measures():
    plain = suggest(HIGH)
    assert plain.subjects.suggested and plain.subjects.risk is Risk.HIGH
    advice = suggest(HIGH.model_copy(update={"mitigated": True}))
    assert advice.authority.suggested  # Art. 34(3) exemptions leave the Art. 33 duty alone
    assert not advice.subjects.suggested
    assert advice.subjects.exemptions == ("Art. 34(3)(b)",)
    assert "34(4)" in advice.subjects.text()


def test_exemption_c_disproportionate_effort_means_public_communication():
    advice = suggest(HIGH.model_copy(update={"disproportionate_effort": True}))
    assert advice.subjects.suggested
    assert advice.subjects.exemptions == ("Art. 34(3)(c)",)
    assert advice.subjects.alternative is not None and "public communication" in advice.subjects.alternative
    assert "Instead: a public communication" in advice.subjects.text()


def test_exemption_a_only_when_the_encryption_made_the_difference():
    protected = suggest(HIGH.model_copy(update={"encryption": Encryption.KEY_SAFE}))
    assert not protected.authority.suggested and not protected.subjects.suggested
    assert protected.subjects.exemptions == ("Art. 34(3)(a)",)
    # key compromised: no protection at all
    broken = suggest(HIGH.model_copy(update={"encryption": Encryption.KEY_COMPROMISED}))
    assert broken.subjects.suggested and "key was compromised" in broken.subjects.text()
    # encrypted, but the high risk comes from unavailable patient records: no 34(3)(a)
    hospital = BreachFacts(data_categories=frozenset({"special"}), confidentiality=Exposure.WIDE,
                           encryption=Encryption.KEY_SAFE, availability=True)
    advice = suggest(hospital)
    assert advice.subjects.suggested and advice.subjects.exemptions == ()


def test_already_public_lowers_and_scale_raises():
    contact = BreachFacts(data_categories=frozenset({"contact"}), confidentiality=Exposure.WIDE)
    assert suggest(contact).authority.risk is Risk.RISK
    assert suggest(contact.model_copy(update={"already_public": True})).authority.risk is Risk.NONE
    assert suggest(contact.model_copy(update={"subjects": 50_000})).subjects.risk is Risk.HIGH
    assert suggest(contact.model_copy(update={"children": True})).subjects.suggested


def test_trusted_recipient_cannot_clear_special_categories():
    facts = BreachFacts(data_categories=frozenset({"special"}), confidentiality=Exposure.LIMITED,
                        trusted_recipient=True, data_retrieved=True)
    advice = suggest(facts)
    assert advice.authority.suggested and not advice.subjects.suggested
    assert advice.authority.risk is Risk.RISK


def test_enisa_band_raises_but_never_lowers():
    low_facts = BreachFacts(data_categories=frozenset({"contact"}), confidentiality=Exposure.LIMITED, subjects=1,
                            recipients=1, deletion_requested=True)
    assert not suggest(low_facts).authority.suggested
    very_high = assessment_from_answers({"dpc_base": "4", "ei": "1", "cb_confidentiality": "0.5",
                                         "cb_integrity": "0", "cb_availability": "0", "malicious": "yes"})
    raised = suggest(low_facts.model_copy(update={"severity": very_high}))
    assert raised.authority.suggested and raised.subjects.suggested
    assert "raises the grade" in raised.subjects.text()
    low = assessment_from_answers({"dpc_base": "1", "ei": "0.25", "cb_confidentiality": "0",
                                   "cb_integrity": "0", "cb_availability": "0", "malicious": "no"})
    assert suggest(HIGH.model_copy(update={"severity": low})).subjects.suggested


def test_no_cia_impact_is_not_a_breach():
    advice = suggest(BreachFacts(data_categories=frozenset({"identity"})))
    assert not advice.authority.suggested and "Art. 4(12)" in advice.authority.text()


def test_facts_refuse_unknown_categories_and_fields():
    with pytest.raises(ValidationError, match="unknown data category 'passport'"):
        BreachFacts.model_validate({"data_categories": ["passport"]})
    with pytest.raises(ValidationError, match="extra"):
        BreachFacts.model_validate({"encrypted": True})
    with pytest.raises(ValidationError):
        BreachFacts.model_validate({"confidentiality": "some"})


def test_facts_come_from_the_incident_and_unknowns_are_assumed_unfavourably():
    incident = _incident(title="stolen laptop", impact=Impact(confidentiality=True), malicious=True,
                         data_categories=["identity", "contact"], subject_categories=["customers", "children"],
                         approx_subjects=120)
    resolution = resolve(incident)
    facts = resolution.breach
    assert facts.confidentiality is Exposure.WIDE and facts.children and facts.subjects == 120
    assert facts.data_categories == frozenset({"identity", "contact"})
    assert facts.encryption is Encryption.NONE and facts.misuse is Misuse.POSSIBLE
    assert [a.fact for a in resolution.assumptions] == ["facts.confidentiality_reach", "facts.encryption",
                                                        "facts.misuse_observed", "facts.already_public"]
    assert suggest(facts).subjects.suggested
    protected = resolve(incident, overrides={"encryption": "key_safe"})
    assert not suggest(protected.breach).authority.suggested and protected.overrides == {"encryption": "key_safe"}


def test_decision_record_keeps_suggestion_and_refuses_empty_reasons():
    suggestion = suggest(HIGH).authority
    for reasons in ("", "   \n"):
        with pytest.raises(UsageError, match="reasons") as caught:
            decision_record(suggestion, True, reasons, "dpo@example.org", NOW, "BK-2026-0007")
        assert caught.value.location.field == "reasons"
    with pytest.raises(UsageError, match="decided_by"):
        decision_record(suggestion, True, "payment data taken", " ", NOW, "BK-2026-0007")
    record = decision_record(suggestion, True, " payment data taken by an attacker ", "dpo@example.org", NOW,
                             "BK-2026-0007")
    assert record.kind is DecisionKind.NOTIFY_AUTHORITY and record.decision and record.suggested
    assert record.reasons == "payment data taken by an attacker"
    assert "33(1)" in record.suggestion_explanation
    assert not departs_from_suggestion(record) and departure_note(record) is None
    with pytest.raises(ValidationError):
        decision_record(suggestion, True, "x", "dpo@example.org", datetime(2026, 3, 30, 9, 0), "BK-2026-0007")


def test_departure_from_the_suggestion_is_flagged():
    suggestion = suggest(HIGH).subjects
    record = decision_record(suggestion, False, "the bank blocked the cards before any use", "dpo@example.org", NOW,
                             "BK-2026-0007")
    assert departs_from_suggestion(record)
    note = departure_note(record)
    assert note is not None and "not to tell the people" in note and "suggestion to" in note


def test_integrity_loss():
    altered = BreachFacts(data_categories=frozenset({"identity", "special"}), integrity=True)
    advice = suggest(altered)
    assert advice.subjects.risk is Risk.HIGH and "medical care" in advice.subjects.text()
    restored = suggest(altered.model_copy(update={"restored_quickly": True, "backup_available": True}))
    assert restored.authority.risk is Risk.NONE and "integrity risk is minimal" in restored.authority.text()
    plain = suggest(BreachFacts(data_categories=frozenset({"contact"}), integrity=True))
    assert plain.authority.suggested and not plain.subjects.suggested


def test_enisa_never_overrides_encryption_that_kept_the_data_unintelligible():
    very_high = assessment_from_answers({"dpc_base": "4", "ei": "1", "cb_confidentiality": "0.5",
                                         "cb_integrity": "0", "cb_availability": "0", "malicious": "yes"})
    encrypted = HIGH.model_copy(update={"encryption": Encryption.KEY_SAFE, "severity": very_high})
    advice = suggest(encrypted)
    assert advice.authority.risk is Risk.NONE and not advice.authority.suggested
    assert "does not reflect that the data were unintelligible" in advice.authority.text()
    assert advice.subjects.exemptions == ("Art. 34(3)(a)",)


def test_a_few_known_recipients_do_not_make_ordinary_data_riskless():
    """EDPB 01/2021 case 16 against cases 09 and 13: orders, contracts, policies to known recipients."""
    orders = BreachFacts(data_categories=frozenset({"identity", "contact", "orders"}), subjects=300, recipients=1,
                         confidentiality=Exposure.LIMITED, deletion_requested=True)
    assert suggest(orders).authority.risk is Risk.RISK  # 300 customers' orders: not "a few people"
    for contracts in ("contracts", "insurance"):
        one = orders.model_copy(update={"data_categories": frozenset({"identity", contracts}), "subjects": 1})
        assert suggest(one).authority.risk is Risk.RISK, contracts  # case 16: the data reveal more
        trusted = one.model_copy(update={"trusted_recipient": True, "data_retrieved": True})
        assert suggest(trusted).authority.risk is Risk.NONE  # case 09
        doubtful = trusted.model_copy(update={"misuse": Misuse.POSSIBLE})
        assert suggest(doubtful).authority.risk is Risk.RISK and "misuse is not ruled out" in \
            suggest(doubtful).authority.text()
    few = orders.model_copy(update={"subjects": 2, "recipients": 2})
    assert suggest(few).authority.risk is Risk.NONE and "case 13" in suggest(few).authority.text()
    assert suggest(few.model_copy(update={"deletion_requested": False})).authority.risk is Risk.RISK


def test_ransomware_makes_data_unavailable_not_wrong():
    ransom = BreachFacts(data_categories=frozenset({"identity"}), availability=True, integrity=True,
                         backup_available=True)
    text = suggest(ransom).authority.text()
    assert "unusable rather than wrong" in text and "decisions" not in text
    assert "decisions or services based on wrong data" in suggest(
        ransom.model_copy(update={"availability": False})).authority.text()


def test_art_34_3_exemptions_only_where_the_risk_would_otherwise_be_high():
    recorded = {"mitigated": True, "mitigation": "all cards blocked within the hour", "disproportionate_effort": True}
    limited = BreachFacts(data_categories=frozenset({"financial"}), confidentiality=Exposure.LIMITED,
                          **recorded)  # type: ignore[arg-type]
    advice = suggest(limited)
    assert advice.subjects.exemptions == () and "not needed" in advice.subjects.text()
    high = suggest(HIGH.model_copy(update=recorded))
    assert high.subjects.exemptions == ("Art. 34(3)(b)",) and "all cards blocked" in high.subjects.text()
    public = suggest(HIGH.model_copy(update={"disproportionate_effort": True,
                                             "public_communication": "notice on the website, 2 April"}))
    assert public.subjects.exemptions == ("Art. 34(3)(c)",) and "notice on the website" in public.subjects.text()
