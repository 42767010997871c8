"""`breachkit incident assess | decide`: the ENISA severity questionnaire and the notification decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from breachkit.cli.common import (
    AppContext,
    echo_json,
    err_console,
    out_console,
    output_option,
    parse_assignments,
    pass_app,
    safe,
)


def _answers_file(path: Path) -> dict[str, Any]:
    import yaml

    from breachkit.errors import InputError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the answers: {exc}", path=path) from None
    if not isinstance(data, dict):
        raise InputError("the answers file is a mapping of question id → answer", path=path)
    return {str(k): v for k, v in data.items()}


def _ask() -> dict[str, Any]:
    """Walk the questionnaire on the terminal (stderr for the explanations, so stdout stays clean)."""
    from breachkit.incidents.risk import QUESTIONS

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
    from breachkit.incidents.decisions_api import assess_incident
    from breachkit.incidents.risk import QUESTIONS

    if show_questions:
        echo_json([{"id": q.id, "prompt": q.prompt, "default": q.default,
                    "choices": [{"value": c.value, "label": c.label, "help": c.help} for c in q.choices]}
                   for q in QUESTIONS])
        return
    answers = _answers_file(answers_file) if answers_file else {}
    answers |= parse_assignments(answer_items, "--answer")
    assessed = assess_incident(app.session, incident_id, answers or _ask(), notes=notes,
                               source=str(answers_file) if answers_file else None)
    if output == "json":
        echo_json(assessed.record.model_dump(mode="json"))
        return
    out_console().print(assessed.result.explanation, highlight=False)
    out_console().print(f"[bold]{assessed.record.incident_id}: severity {assessed.result.severity.value} "
                        f"(SE = {assessed.result.score:g})[/]")


def _yes_no(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


@click.command("decide")
@click.argument("incident_id")
@click.option("--fact", "facts", multiple=True,
              help="A one-off decision fact for this run, e.g. exfiltration=ruled_out (repeatable; kept with a "
                   "decision recorded in the same run). Facts of the case belong on the incident: "
                   "`incident update --set facts.<name>=<value>`; `incident facts` lists them.")
@click.option("--authority", type=click.Choice(["yes", "no"]), help="Record the decision on notifying the authority.")
@click.option("--subjects", type=click.Choice(["yes", "no"]), help="Record the decision on telling the people.")
@click.option("--reason", help="Why (required when recording a decision; Art. 33(5)).")
@output_option()
@pass_app
def decide_cmd(app: AppContext, incident_id: str, facts: tuple[str, ...], authority: str | None,
               subjects: str | None, reason: str | None, output: str) -> None:
    """Suggest whether to notify the authority (Art. 33) and the people (Art. 34), explained; record the decision."""
    from breachkit.incidents.decide import departure_note
    from breachkit.incidents.decisions_api import decide
    from breachkit.incidents.model import Decision

    doc = decide(app.session, incident_id, facts=parse_assignments(facts, "--fact"), authority=_yes_no(authority),
                 subjects=_yes_no(subjects), reason=reason or "")
    if output == "json":
        echo_json(doc)
        return
    console = out_console()
    for s in (doc.authority, doc.subjects):
        verdict = "notify" if s.suggested else "do not notify"
        console.print(f"\n[bold]{s.kind}: suggested: {verdict}[/] (risk: {s.risk})")
        lines = list(s.explanation)
        if s.exemptions:
            lines.append("Exemptions applied: " + ", ".join(s.exemptions) + ".")
        if s.alternative:
            lines.append("Instead: " + s.alternative + ".")
        console.print("\n".join(lines), highlight=False)
    for data in doc.recorded:
        decision = Decision.model_validate(data)
        console.print(f"\nrecorded: {decision.kind.value} = {'yes' if decision.decision else 'no'}")
        note = departure_note(decision)
        if note:
            console.print(f"[yellow]{safe(note)}[/]")
    if not doc.recorded:
        console.print("\n(nothing recorded: give --authority/--subjects yes|no with --reason to decide)")
