"""ENISA severity (SE = DPC × EI + CB): bands at their edges, DPC clamping, the questionnaire's validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from breachkit.errors import InputError
from breachkit.incidents.model import Assessment, Severity
from breachkit.incidents.risk import (
    CB_AVAILABILITY,
    CB_CONFIDENTIALITY,
    CB_INTEGRITY,
    DPC_ADJUSTMENTS,
    DPC_BASE,
    EI_LEVELS,
    QUESTIONS,
    SeverityInputs,
    answers_from_inputs,
    assess,
    assessment_from_answers,
    band,
    to_assessment,
)


@pytest.mark.parametrize("score,expected", [
    (0.0, Severity.LOW), (1.99, Severity.LOW), (2.0, Severity.MEDIUM), (2.99, Severity.MEDIUM),
    (3.0, Severity.HIGH), (3.99, Severity.HIGH), (4.0, Severity.VERY_HIGH), (5.5, Severity.VERY_HIGH),
])
def test_bands_at_their_edges(score, expected):
    assert band(score) is expected


@pytest.mark.parametrize("inputs,score,severity", [
    # 1 × 1 + 0.25 = 1.25: a packing slip sent to one wrong customer
    (SeverityInputs(dpc_base=1, ei=1, cb_confidentiality=0.25), 1.25, Severity.LOW),
    # 2 × 0.75 + 0.25 = 1.75 → still low
    (SeverityInputs(dpc_base=2, ei=0.75, cb_confidentiality=0.25), 1.75, Severity.LOW),
    # exactly 2.0 → medium: 1 × 1 + 0.5 + 0.5
    (SeverityInputs(dpc_base=1, ei=1, cb_confidentiality=0.5, malicious=True), 2.0, Severity.MEDIUM),
    # exactly 3.0 → high: 3 × 1 + 0
    (SeverityInputs(dpc_base=3, ei=1), 3.0, Severity.HIGH),
    # 3 × 0.75 + 0.5 = 2.75 → medium
    (SeverityInputs(dpc_base=3, ei=0.75, cb_availability=0.5), 2.75, Severity.MEDIUM),
    # exactly 4.0 → very high: 4 × 0.75 + 0.5 + 0.5
    (SeverityInputs(dpc_base=4, ei=0.75, cb_confidentiality=0.5, malicious=True), 4.0, Severity.VERY_HIGH),
    # every CB term at its maximum: 4 × 1 + 0.5 + 0.5 + 0.5 + 0.5 = 6
    (SeverityInputs(dpc_base=4, ei=1, cb_confidentiality=0.5, cb_integrity=0.5, cb_availability=0.5,
                    malicious=True), 6.0, Severity.VERY_HIGH),
])
def test_assess_scores_and_bands(inputs, score, severity):
    result = assess(inputs)
    assert result.score == score
    assert result.severity is severity


def test_dpc_adjustments_move_by_one_and_are_clamped_to_1_4():
    up = assess(SeverityInputs(dpc_base=3, ei=1, adjustments=("volume", "vulnerable", "controller")))
    assert (up.dpc_unclamped, up.dpc, up.score) == (6, 4.0, 4.0)
    assert "kept within 1–4 from 6" in up.explanation
    down = assess(SeverityInputs(dpc_base=1, ei=1, adjustments=("public", "invalid")))
    assert (down.dpc_unclamped, down.dpc, down.score) == (-1, 1.0, 1.0)
    mixed = assess(SeverityInputs(dpc_base=2, ei=0.5, adjustments=("vulnerable", "public")))
    assert (mixed.dpc, mixed.score) == (2.0, 1.0)
    assert mixed.dpc_basis == "2 behavioural, +1 vulnerable, -1 public"


def test_explanation_lists_every_term():
    result = assess(SeverityInputs(dpc_base=3, ei=0.75, cb_confidentiality=0.5, cb_availability=0.25,
                                   malicious=True, adjustments=("vulnerable",)))
    text = result.explanation
    assert text.splitlines()[0].startswith("SE = DPC × EI + CB = 4 × 0.75 + 1.25 = 4.25 → very_high")
    for term in ("DPC 4", "financial", "vulnerable people", "EI 0.75 significant", "confidentiality 0.5",
                 "integrity 0", "availability 0.25", "malicious intent +0.5", "unknown number of recipients"):
        assert term in text, term


@pytest.mark.parametrize("kwargs,message", [
    ({"dpc_base": 5, "ei": 1}, "dpc_base must be one of 1, 2, 3, 4"),
    ({"dpc_base": 2, "ei": 0.6}, "ei must be one of 0.25, 0.5, 0.75, 1"),
    ({"dpc_base": 2, "ei": 1, "cb_integrity": 0.75}, "cb_integrity must be one of 0, 0.25, 0.5"),
    ({"dpc_base": 2, "ei": True}, "ei must be one of"),
    ({"dpc_base": 2, "ei": 1, "adjustments": ("famous",)}, "unknown DPC adjustment(s) 'famous'"),
    ({"dpc_base": 2, "ei": 1, "adjustments": ("public", "public")}, "listed twice"),
])
def test_inputs_refuse_values_off_the_scales(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SeverityInputs(**kwargs)


def test_scales_carry_enisa_wording():
    assert [lv.name for lv in DPC_BASE] == ["simple", "behavioural", "financial", "sensitive"]
    assert [(lv.value, lv.name) for lv in EI_LEVELS] == [
        (0.25, "negligible"), (0.5, "limited"), (0.75, "significant"), (1, "maximum")]
    assert [lv.value for lv in CB_CONFIDENTIALITY] == [lv.value for lv in CB_INTEGRITY] == \
        [lv.value for lv in CB_AVAILABILITY] == [0, 0.25, 0.5]
    assert "known, limited number" in CB_CONFIDENTIALITY[1].description
    assert "unknown number" in CB_CONFIDENTIALITY[2].description
    assert "can be recovered" in CB_INTEGRITY[1].description and "cannot be recovered" in CB_INTEGRITY[2].description
    assert "for a time" in CB_AVAILABILITY[1].description and "lost" in CB_AVAILABILITY[2].description
    assert {a.id for a in DPC_ADJUSTMENTS if a.delta > 0} == {"volume", "vulnerable", "controller"}
    assert {a.id for a in DPC_ADJUSTMENTS if a.delta < 0} == {"public", "invalid"}


def test_questionnaire_is_ordered_and_complete():
    ids = [q.id for q in QUESTIONS]
    assert ids[0] == "dpc_base" and ids[-1] == "malicious"
    assert len(ids) == len(set(ids))
    assert {f"adjust_{a.id}" for a in DPC_ADJUSTMENTS} <= set(ids)
    for question in QUESTIONS:
        assert question.prompt and question.choices
        assert question.default is None or question.default in {c.value for c in question.choices}
        for choice in question.choices:
            assert choice.value and choice.label


def test_answers_by_value_label_name_number_and_bool():
    answers = {"dpc_base": "financial", "adjust_vulnerable": True, "adjust_public": "n", "ei": 0.75,
               "cb_confidentiality": "0.50", "cb_integrity": "0", "cb_availability": "Temporarily unavailable",
               "malicious": "yes"}
    result = assessment_from_answers(answers)
    assert result.inputs == SeverityInputs(dpc_base=3, ei=0.75, cb_confidentiality=0.5, cb_availability=0.25,
                                           malicious=True, adjustments=("vulnerable",))
    assert (result.score, result.severity) == (4.25, Severity.VERY_HIGH)
    # round trip: the answers a result came from give the same result
    assert assessment_from_answers(answers_from_inputs(result.inputs)) == result


def test_questionnaire_reports_every_bad_answer_by_question_id():
    answers = {"dpc_base": "7", "ei": "very", "cb_confidentiality": True, "cb_integrity": 0.3,
               "adjust_volume": "perhaps", "colour": "blue"}  # malicious missing; cb_availability has a default
    with pytest.raises(InputError) as caught:
        assessment_from_answers(answers, path="answers.yaml")
    error = caught.value
    by_field = {p.location.field: p.message for p in error.problems}
    assert set(by_field) == {"dpc_base", "ei", "cb_confidentiality", "cb_integrity", "adjust_volume", "colour",
                             "malicious"}
    assert by_field["dpc_base"] == "'7' is not one of: 1 (simple), 2 (behavioural), 3 (financial), 4 (sensitive)"
    assert "'very' is not one of" in by_field["ei"] and "0.75 (significant)" in by_field["ei"]
    assert by_field["adjust_volume"] == "'perhaps' is not one of: yes, no"
    assert by_field["malicious"] == "no answer given"
    assert "unknown question" in by_field["colour"]
    assert all(p.location.path == "answers.yaml" for p in error.problems)
    assert "dpc_base" in str(error) and error.exit_code == 1


def test_adjustments_default_to_no_and_circumstances_to_zero():
    result = assessment_from_answers({"dpc_base": "1", "ei": "1", "malicious": False})
    assert result.inputs == SeverityInputs(dpc_base=1, ei=1)
    assert result.score == 1.0
    with pytest.raises(InputError, match="dpc_base, ei, malicious"):
        assessment_from_answers({})


def test_to_assessment_keeps_every_input():
    result = assess(SeverityInputs(dpc_base=4, ei=1, cb_availability=0.25, malicious=True,
                                   adjustments=("vulnerable",)))
    at = datetime(2026, 3, 28, 15, 5, tzinfo=timezone(timedelta(hours=1)))
    stored = to_assessment(result, incident_id="BK-2026-0007", assessed_by="dpo@example.org", assessed_at=at,
                           notes="patients' care delayed")
    assert isinstance(stored, Assessment)
    assert (stored.dpc, stored.ei, stored.cb_availability, stored.cb_malicious) == (4.0, 1, 0.25, 0.5)
    assert (stored.score, stored.severity) == (4.75, Severity.VERY_HIGH)
    assert stored.dpc_basis == "4 sensitive, +1 vulnerable"
    assert stored.assessed_at == datetime(2026, 3, 28, 14, 5, tzinfo=UTC)
