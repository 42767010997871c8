"""The pre-filing check, finding by finding: a complete case file passes, and each change that a DPO would not
file produces exactly its finding, with the field to fix (pure: `incidents.check.check` over a `CaseFile`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from breachkit.config import NoticesConfig
from breachkit.incidents.check import CaseFile, LanguageGroup, NoticeLanguages, Severity, SubjectList, check
from breachkit.incidents.clock import deadlines
from breachkit.incidents.facts import CaseFacts
from breachkit.incidents.model import Decision, DecisionKind, Impact, Incident, Scope, Status
from breachkit.incidents.regimes import builtin_regimes

AWARE = datetime(2026, 3, 31, 5, 0, tzinfo=UTC)
NOW = AWARE + timedelta(hours=20)
REGIMES = builtin_regimes()
NOTICES = NoticesConfig(controller_name="HeimWatt Energie GmbH", controller_address="Königstraße 10, Stuttgart",
                        dpo_name="Dr. Miriam Vogt", dpo_email="dpo@heimwatt.example", dpo_phone="+49 711 555 0190",
                        dpo_address="Datenschutz, Königstraße 10, Stuttgart")
SCOPE = Scope(user_ids=["u101459"], source_ips=["203.0.113.90"])
INCIDENT = Incident(
    id="BK-2026-0001", title="Enumeration", description="An API token was used to read customers' consumption.",
    cause="stolen token", status=Status.CONTAINED, aware_at=AWARE, aware_justification="confirmed from the logs",
    created_at=AWARE, updated_at=AWARE, impact=Impact(confidentiality=True), malicious=True,
    regimes=["gdpr-33", "gdpr-34", "ch-fadp"], lead_authority="LfDI Baden-Württemberg", countries=["CH", "DE", "FR"],
    data_categories=["usage"], subject_categories=["children", "customers"], approx_subjects=215, approx_records=215,
    consequences="Routines at home can be read from the consumption.", measures_taken="Token revoked.",
    compromised_accounts=["u101459"], scope=SCOPE,
    facts=CaseFacts(confidentiality_reach="wide", encryption="none", misuse_observed="no", already_public="no"))
SUMMARY: dict[str, Any] = {
    "counts": {"people": 215, "records": 215, "people_per_country": {"DE": 100, "FR": 24, "CH": 22},
               "people_per_category": {"usage": 215}, "minors": 1, "without_email": 0, "compromised_accounts": 1,
               "recipients": 216},
    "found_categories": ["usage"], "found_subject_categories": ["children", "customers"],
    "undetermined_accounts": [], "declared_missing": [], "scope": SCOPE.model_dump(mode="json"),
    "declared": {"compromised_accounts": ["u101459"], "actor_accounts": []}}
DECIDED = (Decision(incident_id="BK-2026-0001", kind=DecisionKind.NOTIFY_AUTHORITY, decision=True, reasons="risk",
                    decided_by="dpo", decided_at=NOW),)


def case(incident: Incident = INCIDENT, **changes: Any) -> CaseFile:
    summary = changes.pop("summary", SUMMARY)
    now = changes.pop("now", NOW)
    filed = changes.pop("filed", {})
    base = CaseFile(incident=incident, notices=NOTICES, regimes=REGIMES,
                    deadlines=[d for r in incident.regimes for d in deadlines(REGIMES[r], incident.aware_at, now,
                                                                               filed.get(r, {}))],
                    decisions=DECIDED, subject_list=SubjectList(1, summary), outbox_recipients=0)
    return replace(base, **changes)


def edit(**fields: Any) -> Incident:
    return INCIDENT.model_copy(update=fields)


def facts(**values: Any) -> CaseFacts:
    return CaseFacts.model_validate({**INCIDENT.facts.model_dump(), **values})


def with_summary(**values: Any) -> dict[str, Any]:
    counts = {**SUMMARY["counts"], **values.pop("counts", {})}
    return {**SUMMARY, **values, "counts": counts}


def test_a_complete_case_file_passes():
    result = check(case())
    assert result.passed and result.findings == ()


CASES: list[tuple[str, Callable[[], CaseFile], str, Severity]] = [
    ("cross_border_lead", lambda: case(edit(lead_authority=None)), "lead_authority", Severity.ERROR),
    ("ongoing_contained", lambda: case(edit(ongoing=True)), "ongoing", Severity.ERROR),
    ("ongoing_ended", lambda: case(edit(ongoing=True, status=Status.INVESTIGATING, occurred_until=AWARE)),
     "occurred_until", Severity.ERROR),
    ("ended_not_contained", lambda: case(edit(status=Status.INVESTIGATING)), "status", Severity.WARNING),
    ("exfiltration_reach", lambda: case(edit(facts=facts(confidentiality_reach="limited", exfiltration="confirmed",
                                                         unintended_recipients=1, recipient_deletion="no"))),
     "facts.confidentiality_reach", Severity.WARNING),
    ("reach_without_disclosure", lambda: case(edit(impact=Impact(availability=True), facts=facts(
        exfiltration="ruled_out", backup="available", restore_hours=2, outage_affected_people="no"))),
     "impact.confidentiality", Severity.WARNING),
    ("contact_blank", lambda: case(notices=NOTICES.model_copy(update={"dpo_phone": ""})), "notices.dpo_phone",
     Severity.ERROR),
    ("consequences_blank", lambda: case(edit(consequences="")), "consequences", Severity.WARNING),
    ("measures_blank", lambda: case(edit(measures_taken="")), "measures_taken", Severity.WARNING),
    ("description_blank", lambda: case(edit(description="", cause="")), "description", Severity.WARNING),
    ("data_categories_blank", lambda: case(edit(data_categories=[]), summary=with_summary(found_categories=[])),
     "data_categories", Severity.WARNING),
    ("subject_categories_blank", lambda: case(edit(subject_categories=[]), summary=with_summary(
        counts={"minors": 0}, found_subject_categories=[])), "subject_categories", Severity.WARNING),
    ("people_unknown", lambda: case(edit(approx_subjects=None, approx_records=None), subject_list=None),
     "approx_subjects", Severity.WARNING),
    ("delay_reasons", lambda: case(now=AWARE + timedelta(hours=80)), "delay_reasons", Severity.ERROR),
    ("earlier_reference", lambda: case(report_type="follow_up"), "authority_reference", Severity.ERROR),
    ("categories_not_declared", lambda: case(summary=with_summary(found_categories=["usage", "location"])),
     "data_categories", Severity.ERROR),
    ("categories_not_found", lambda: case(edit(data_categories=["usage", "contact"])), "data_categories",
     Severity.WARNING),
    ("children_not_declared", lambda: case(edit(subject_categories=["customers"])), "subject_categories",
     Severity.ERROR),
    ("subject_categories_not_declared", lambda: case(summary=with_summary(
        found_subject_categories=["children", "customers", "installers"])), "subject_categories", Severity.WARNING),
    ("no_subject_list", lambda: case(subject_list=None), "approx_subjects", Severity.WARNING),
    ("people_mismatch", lambda: case(edit(approx_subjects=216)), "approx_subjects", Severity.ERROR),
    ("records_mismatch", lambda: case(edit(approx_records=475)), "approx_records", Severity.ERROR),
    ("list_stale_scope", lambda: case(edit(scope=SCOPE.model_copy(update={"source_ips": ["203.0.113.0/24"]}))),
     "scope", Severity.WARNING),
    ("list_stale_roles", lambda: case(edit(compromised_accounts=[], actor_accounts=["u101459"])),
     "compromised_accounts", Severity.ERROR),
    ("undetermined_accounts", lambda: case(summary=with_summary(undetermined_accounts=["u100222"])),
     "compromised_accounts", Severity.WARNING),
    ("declared_not_found", lambda: case(summary=with_summary(declared_missing=["u999"])), "compromised_accounts",
     Severity.WARNING),
    ("without_email", lambda: case(summary=with_summary(counts={"without_email": 3})), "subjects", Severity.WARNING),
    ("emails_mismatch", lambda: case(outbox_recipients=215), "subjects", Severity.ERROR),
    ("regime_missing", lambda: case(edit(regimes=["gdpr-33", "gdpr-34"])), "regimes", Severity.ERROR),
    ("no_regime", lambda: case(summary=with_summary(counts={"people_per_country": {
        "DE": 100, "FR": 24, "CH": 22, "US": 3}})), "regimes", Severity.WARNING),
    ("no_authority_decision", lambda: case(decisions=()), "decisions", Severity.WARNING),
    ("fact_assumed", lambda: case(edit(facts=facts(misuse_observed="unknown"))),
     "facts.misuse_observed", Severity.WARNING),
    ("language_fallback", lambda: case(languages=NoticeLanguages((LanguageGroup("fallback", "sv", "en", (), 2),))),
     "notices.templates", Severity.ERROR),
    ("notice_text_missing", lambda: case(languages=NoticeLanguages((LanguageGroup(
        "missing_text", "", "de", ("description", "consequences"), 168),))), "translations", Severity.ERROR),
    ("no_locale", lambda: case(languages=NoticeLanguages((LanguageGroup("no_locale", "", "en", (), 4),))),
     "subjects", Severity.WARNING),
]


def test_language_findings_say_who_reads_what_and_how_to_fix_it():
    result = check(case(languages=NoticeLanguages((
        LanguageGroup("fallback", "sv", "en", (), 2),
        LanguageGroup("missing_text", "", "de", ("description", "consequences"), 168)), source_locale="en")))
    fallback, missing = result.errors
    assert fallback.message == "2 people asked for sv but would get the notice in en: there are no templates in " \
                               "their language"
    assert "notices/subject/sv/" in fallback.hint and "--accept-fallback" in fallback.hint
    assert missing.message.startswith("168 people reading de would not get the incident's own description, "
                                      "consequences: it is written in en only")
    assert "--set 'description.de=…'" in missing.hint
    assert check(case(languages=NoticeLanguages())).passed  # everyone reads their language, with the text


@pytest.mark.parametrize(("code", "make", "field", "severity"), CASES, ids=[c[0] for c in CASES])
def test_each_finding_names_the_field_to_fix(code, make, field, severity):
    result = check(make())
    found = [f for f in result.findings if f.code == code]
    assert found, [f.code for f in result.findings]
    assert {(f.field, f.severity) for f in found} == {(field, severity)}
    assert result.passed is (severity is Severity.WARNING or not [f for f in result.errors if f.code == code])
    others = {f.code for f in result.findings} - {code}
    # a change shows its own finding (a few bring a related one: the numbers a blank leaves unknown, the facts an
    # impact change asks for, the regime a new country needs)
    assert others <= {"people_unknown", "fact_assumed", "subject_categories_not_declared", "no_subject_list",
                      "categories_not_found"}, others


def test_every_finding_kind_is_tested():
    import inspect

    from breachkit.incidents import check as module

    source = inspect.getsource(module)
    import re

    codes = set(re.findall(r'(?:error|warning|blank)\("([a-z_]+)"', source))
    assert codes == {c[0] for c in CASES}


def test_blanks_may_follow_in_an_initial_report_only():
    initial = check(case(edit(consequences="", measures_taken="")))
    assert initial.passed and {f.code for f in initial.warnings} == {"consequences_blank", "measures_blank"}
    follow_up = check(case(edit(consequences="", authority_reference="LfDI-1"), report_type="follow_up"))
    assert [(f.code, f.severity) for f in follow_up.findings] == [("consequences_blank", Severity.ERROR)]


def test_a_regime_finding_names_the_regime_and_how_to_add_it():
    result = check(case(edit(regimes=["gdpr-33", "gdpr-34"])))
    finding = next(f for f in result.errors if f.code == "regime_missing")
    assert "22 people affected live in CH" in finding.message and "FDPIC" in finding.message
    assert "'regimes=[\"ch-fadp\", \"gdpr-33\", \"gdpr-34\"]'" in finding.hint
    uk = check(case(summary=with_summary(counts={"people_per_country": {"DE": 100, "FR": 24, "CH": 22, "GB": 5}})))
    assert "uk-gdpr" in next(f for f in uk.errors if f.code == "regime_missing").hint
