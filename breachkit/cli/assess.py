"""`breachkit incident assess | decide`: the ENISA severity questionnaire and the notification decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from breachkit.cli.common import AppContext, echo_json, err_console, out_console, output_option, pass_app
from breachkit.cli.incident import parse_assignment
from breachkit.errors import InputError, UsageError
from breachkit.incidents.api import actor_name, open_store
from breachkit.incidents.decide import (
    Suggestion,
    decision_record,
    departure_note,
    facts_from_incident,
    suggest,
)
from breachkit.incidents.model import Assessment
from breachkit.incidents.risk import (
    QUESTIONS,
    SeverityInputs,
    SeverityResult,
    assess,
    assessment_from_answers,
    to_assessment,
)


def _answers_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the answers: {exc}", path=path) from None
    if not isinstance(data, dict):
        raise InputError("the answers file is a mapping of question id → answer", path=path)
    return {str(k): v for k, v in data.items()}


def _ask() -> dict[str, Any]:
    """Walk the questionnaire on the terminal (stderr for the explanations, so stdout stays clean)."""
    console = err_console()
    answers: dict[str, Any] = {}
    for question in QUESTIONS:
        console.print(f"\n[bold]{question.prompt}[/]")
        if question.help:
            console.print(question.help, style="dim")
        for choice in question.choices:
            console.print(f"  [cyan]{choice.value}[/] {choice.label}" + (f" — {choice.help}" if choice.help else ""),
                          highlight=False)
        answers[question.id] = click.prompt("answer", default=question.default, err=True,
                                            type=click.Choice([c.value for c in question.choices]))
    return answers


@click.command("assess")
@click.argument("incident_id")
@click.option("--answers", "answers_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Answers as YAML (question id: answer), for scripts; otherwise you are asked.")
@click.option("--answer", "answer_items", multiple=True, help="id=answer (repeatable; overrides the file).")
@click.option("--notes", default="", help="The assessor's notes, kept with the assessment.")
@click.option("--questions", "show_questions", is_flag=True, help="Print the questionnaire and exit.")
@output_option()
@pass_app
def assess_cmd(app: AppContext, incident_id: str, answers_file: Path | None, answer_items: tuple[str, ...],
               notes: str, show_questions: bool, output: str) -> None:
    """The ENISA severity assessment (SE = DPC × EI + CB), guided question by question."""
    if show_questions:
        echo_json([{"id": q.id, "prompt": q.prompt, "default": q.default,
                    "choices": [{"value": c.value, "label": c.label, "help": c.help} for c in q.choices]}
                   for q in QUESTIONS])
        return
    answers = _answers_file(answers_file) if answers_file else {}
    answers |= dict(parse_assignment(a) for a in answer_items)
    if not answers:
        answers = _ask()
    result = assessment_from_answers(answers, path=str(answers_file) if answers_file else None)
    now, actor = datetime.now(UTC), actor_name()
    with open_store(app.config, app.workspace()) as store:
        incident = store.get(incident_id.upper())
        record = to_assessment(result, incident_id=incident.id, assessed_by=actor, assessed_at=now, notes=notes)
        store.add_record(record, actor=actor, now=now, reason=notes or f"ENISA severity {result.severity.value}")
    if output == "json":
        echo_json(record.model_dump(mode="json"))
        return
    out_console().print(result.explanation, highlight=False)
    out_console().print(f"[bold]{incident.id}: severity {result.severity.value} (SE = {result.score:g})[/]")


def result_of(assessment: Assessment) -> SeverityResult:
    """The stored assessment as a result again (its DPC is already adjusted, so no adjustments)."""
    return assess(SeverityInputs(dpc_base=round(assessment.dpc), ei=assessment.ei,
                                 cb_confidentiality=assessment.cb_confidentiality,
                                 cb_integrity=assessment.cb_integrity, cb_availability=assessment.cb_availability,
                                 malicious=assessment.cb_malicious > 0))


def _yes_no(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


def _show(suggestion: Suggestion) -> None:
    verdict = "notify" if suggestion.suggested else "do not notify"
    out_console().print(f"\n[bold]{suggestion.kind.value}: suggested: {verdict}[/] (risk: {suggestion.risk.value})")
    out_console().print(suggestion.text(), highlight=False)


@click.command("decide")
@click.argument("incident_id")
@click.option("--fact", "facts", multiple=True,
              help="A fact the incident does not record: encryption=key_safe, backup_available=true, "
                   "confidentiality=limited, trusted_recipient=true, mitigated=true… (repeatable).")
@click.option("--authority", type=click.Choice(["yes", "no"]), help="Record the decision on notifying the authority.")
@click.option("--subjects", type=click.Choice(["yes", "no"]), help="Record the decision on telling the people.")
@click.option("--reason", help="Why (required when recording a decision; Art. 33(5)).")
@output_option()
@pass_app
def decide_cmd(app: AppContext, incident_id: str, facts: tuple[str, ...], authority: str | None,
               subjects: str | None, reason: str | None, output: str) -> None:
    """Suggest whether to notify the authority (Art. 33) and the people (Art. 34), explained; record the decision."""
    if (authority or subjects) and not (reason or "").strip():
        raise UsageError("a decision needs --reason (documented in the breach register, Art. 33(5))")
    now, actor = datetime.now(UTC), actor_name()
    with open_store(app.config, app.workspace()) as store:
        incident = store.get(incident_id.upper())
        assessments = store.assessments(incident.id)
        overrides = dict(parse_assignment(f) for f in facts)
        if assessments:
            overrides.setdefault("severity", result_of(assessments[-1]))
        try:
            advice = suggest(facts_from_incident(incident, **overrides))
        except ValueError as exc:
            raise UsageError(f"--fact: {exc}") from None
        recorded = []
        for suggestion, choice in ((advice.authority, _yes_no(authority)), (advice.subjects, _yes_no(subjects))):
            if choice is None:
                continue
            decision = decision_record(suggestion, choice, reason or "", actor, now, incident.id)
            store.add_record(decision, actor=actor, now=now, reason=reason or "")
            recorded.append(decision)
    if output == "json":
        echo_json({"authority": {"suggested": advice.authority.suggested, "risk": advice.authority.risk.value,
                                 "explanation": list(advice.authority.explanation)},
                   "subjects": {"suggested": advice.subjects.suggested, "risk": advice.subjects.risk.value,
                                "explanation": list(advice.subjects.explanation),
                                "alternative": advice.subjects.alternative},
                   "recorded": [d.model_dump(mode="json") for d in recorded]})
        return
    _show(advice.authority)
    _show(advice.subjects)
    for decision in recorded:
        out_console().print(f"\nrecorded: {decision.kind.value} = {'yes' if decision.decision else 'no'}")
        note = departure_note(decision)
        if note:
            out_console().print(f"[yellow]{note}[/]")
    if not recorded:
        out_console().print("\n(nothing recorded: give --authority/--subjects yes|no with --reason to decide)")
