"""The ENISA severity method for personal data breaches (ENISA, "Recommendations for a methodology of the
assessment of severity of personal data breaches", 2013): SE = DPC × EI + CB.

- DPC, the data processing context: a base category (1 simple, 2 behavioural, 3 financial, 4 sensitive),
  moved up or down by context factors and kept within 1–4. ENISA gives factor-specific increments; here
  each factor that applies moves the DPC by one step, which keeps the questionnaire short and explainable.
- EI, the ease of identification: 0.25 negligible, 0.5 limited, 0.75 significant, 1 maximum.
- CB, the circumstances of the breach: loss of confidentiality, of integrity and of availability
  (0 / 0.25 / 0.5 each) plus 0.5 for malicious intent.
- Bands: low < 2 ≤ medium < 3 ≤ high < 4 ≤ very high. The number of people affected is judged
  separately (the decision helper in `decide.py` does).

Pure: scales are data (a CLI shows their wording), `assess` is a function of a frozen input, and the
guided questionnaire (`QUESTIONS`) turns answers into that input with every bad answer reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from breachkit.errors import InputError, Location, Problem
from breachkit.incidents.model import Assessment, Severity


@dataclass(frozen=True)
class Level:
    """One step of an ENISA scale: its value, a short name, a label and what it means."""

    value: float
    name: str
    label: str
    description: str


@dataclass(frozen=True)
class Adjustment:
    """A context factor that moves the DPC up (delta > 0) or down (delta < 0)."""

    id: str
    delta: int
    label: str
    description: str


DPC_BASE: tuple[Level, ...] = (
    Level(1, "simple", "Simple data",
          "Contact and biographical data, full name, education, family life, professional experience: data "
          "that in themselves reveal little about the person."),
    Level(2, "behavioural", "Behavioural data",
          "Location, traffic and usage data, personal preferences and habits: data that show what a person "
          "does and where."),
    Level(3, "financial", "Financial data",
          "Income, transactions, bank statements, investments, payment cards, invoices, social-welfare "
          "data about a person's financial situation."),
    Level(4, "sensitive", "Sensitive data",
          "Special categories (Art. 9: health, political opinions, religion, sex life…) and criminal data "
          "(Art. 10), or any data whose disclosure may seriously affect the person's life."),
)

DPC_ADJUSTMENTS: tuple[Adjustment, ...] = (
    Adjustment("volume", +1, "Volume or profiling",
               "The amount of data about each person, or their nature, allows profiling or conclusions about "
               "the person's social or financial situation."),
    Adjustment("vulnerable", +1, "Vulnerable people",
               "The people are vulnerable (children, patients, people in a dependent position) or the context "
               "makes them so."),
    Adjustment("controller", +1, "Kind of controller",
               "The kind of controller or processing reveals more than the data alone (e.g. the client list of "
               "a clinic or of a debt collector)."),
    Adjustment("public", -1, "Already public",
               "The data were already publicly available before the breach (e.g. a public register)."),
    Adjustment("invalid", -1, "Invalid or inaccurate",
               "The data are invalid or inaccurate, so little can be learned or done with them."),
)

EI_LEVELS: tuple[Level, ...] = (
    Level(0.25, "negligible", "Negligible",
          "Identifying the people from the data is extremely difficult, though possible in certain conditions."),
    Level(0.5, "limited", "Limited",
          "Identifying the people is possible only with substantial additional information."),
    Level(0.75, "significant", "Significant",
          "The people can be identified with some effort, e.g. by combining the data with public information."),
    Level(1, "maximum", "Maximum",
          "The data identify the people directly (e.g. full name with address or an account number)."),
)

CB_CONFIDENTIALITY: tuple[Level, ...] = (
    Level(0, "none", "No loss", "No evidence that the data were disclosed or accessed by anyone unauthorised."),
    Level(0.25, "known_recipients", "Known recipients",
          "The data were exposed to a known, limited number of recipients."),
    Level(0.5, "unknown_recipients", "Unknown recipients",
          "The data were exposed to an unknown number of recipients (an attacker, the internet, a thief)."),
)
CB_INTEGRITY: tuple[Level, ...] = (
    Level(0, "none", "No loss", "The data were not altered, or altered without any incorrect use."),
    Level(0.25, "recoverable", "Altered, recoverable",
          "The data were altered and possibly used incorrectly, but the correct data can be recovered."),
    Level(0.5, "unrecoverable", "Altered, not recoverable",
          "The data were altered and possibly used incorrectly, and the correct data cannot be recovered."),
)
CB_AVAILABILITY: tuple[Level, ...] = (
    Level(0, "none", "No loss", "The data can be recovered without any difficulty."),
    Level(0.25, "temporary", "Temporarily unavailable", "The data were unavailable for a time."),
    Level(0.5, "permanent", "Permanently unavailable",
          "The data are lost: they cannot be recovered by the controller nor obtained from the people."),
)
MALICIOUS_INTENT = 0.5
MALICIOUS_DESCRIPTION = "The breach was caused on purpose to harm (an attacker, a thief, a dishonest insider)."

BANDS: tuple[tuple[Severity, float, str], ...] = (
    # (band, lower bound, what it means for the people)
    (Severity.LOW, float("-inf"),
     "People will not be affected, or may meet a few inconveniences they will overcome without problems."),
    (Severity.MEDIUM, 2.0,
     "People may meet significant inconveniences, which they will overcome despite a few difficulties."),
    (Severity.HIGH, 3.0,
     "People may meet significant consequences, which they should overcome albeit with serious difficulties."),
    (Severity.VERY_HIGH, 4.0,
     "People may meet significant or even irreversible consequences, which they may not overcome."),
)


def band(score: float) -> Severity:
    """The ENISA band of a score: low < 2 ≤ medium < 3 ≤ high < 4 ≤ very high."""
    found = Severity.LOW
    for severity, lower, _ in BANDS:
        if score >= lower:
            found = severity
    return found


def band_description(severity: Severity) -> str:
    return next(text for s, _, text in BANDS if s is severity)


def _level(scale: tuple[Level, ...], value: float) -> Level | None:
    return next((level for level in scale if level.value == value), None)


_ADJUSTMENTS = {a.id: a for a in DPC_ADJUSTMENTS}


@dataclass(frozen=True)
class SeverityInputs:
    """Every input of one ENISA assessment. Invalid values raise ValueError listing every problem."""

    dpc_base: int
    ei: float
    cb_confidentiality: float = 0
    cb_integrity: float = 0
    cb_availability: float = 0
    malicious: bool = False
    adjustments: tuple[str, ...] = ()  # ids from DPC_ADJUSTMENTS

    def __post_init__(self) -> None:
        problems: list[str] = []
        checks: tuple[tuple[str, float, tuple[Level, ...]], ...] = (
            ("dpc_base", self.dpc_base, DPC_BASE), ("ei", self.ei, EI_LEVELS),
            ("cb_confidentiality", self.cb_confidentiality, CB_CONFIDENTIALITY),
            ("cb_integrity", self.cb_integrity, CB_INTEGRITY),
            ("cb_availability", self.cb_availability, CB_AVAILABILITY))
        for name, value, scale in checks:
            if isinstance(value, bool) or _level(scale, value) is None:
                allowed = ", ".join(f"{lv.value:g}" for lv in scale)
                problems.append(f"{name} must be one of {allowed}, not {value!r}")
        unknown = [a for a in self.adjustments if a not in _ADJUSTMENTS]
        if unknown:
            known = ", ".join(_ADJUSTMENTS)
            problems.append(f"unknown DPC adjustment(s) {', '.join(map(repr, unknown))} (known: {known})")
        if len(set(self.adjustments)) != len(self.adjustments):
            problems.append("a DPC adjustment is listed twice")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class SeverityResult:
    inputs: SeverityInputs
    dpc_unclamped: int  # base + adjustments, before keeping it within 1–4
    dpc: float  # within 1–4
    dpc_basis: str  # e.g. "3 financial, +1 vulnerable"
    cb: float
    score: float  # rounded to 2 decimals
    severity: Severity
    explanation: str  # one line per term


def assess(inputs: SeverityInputs) -> SeverityResult:
    """SE = DPC × EI + CB, with the band and an explanation listing every term."""
    base = _level(DPC_BASE, inputs.dpc_base)
    ei = _level(EI_LEVELS, inputs.ei)
    conf = _level(CB_CONFIDENTIALITY, inputs.cb_confidentiality)
    integ = _level(CB_INTEGRITY, inputs.cb_integrity)
    avail = _level(CB_AVAILABILITY, inputs.cb_availability)
    assert base is not None and ei is not None and conf is not None and integ is not None and avail is not None
    adjustments = [_ADJUSTMENTS[a] for a in inputs.adjustments]
    raw = int(base.value) + sum(a.delta for a in adjustments)
    dpc = float(min(4, max(1, raw)))
    malicious = MALICIOUS_INTENT if inputs.malicious else 0.0
    cb = conf.value + integ.value + avail.value + malicious
    score = round(dpc * ei.value + cb, 2)
    severity = band(score)

    basis = ", ".join([f"{base.value:g} {base.name}", *(f"{a.delta:+d} {a.id}" for a in adjustments)])
    clamp = f" (kept within 1–4 from {raw})" if raw != dpc else ""
    lines = [
        f"SE = DPC × EI + CB = {dpc:g} × {ei.value:g} + {cb:g} = {score:.2f} → {severity.value}: "
        f"{band_description(severity)}",
        f"DPC {dpc:g}{clamp}: base {base.value:g} {base.label.lower()} ({base.description})",
        *(f"  {a.delta:+d} {a.label.lower()}: {a.description}" for a in adjustments),
        f"EI {ei.value:g} {ei.name}: {ei.description}",
        f"CB {cb:g} = confidentiality {conf.value:g} + integrity {integ.value:g} + availability {avail.value:g}"
        f" + malicious intent {malicious:g}",
        f"  confidentiality {conf.value:g} ({conf.label.lower()}): {conf.description}",
        f"  integrity {integ.value:g} ({integ.label.lower()}): {integ.description}",
        f"  availability {avail.value:g} ({avail.label.lower()}): {avail.description}",
    ]
    if inputs.malicious:
        lines.append(f"  malicious intent +{MALICIOUS_INTENT:g}: {MALICIOUS_DESCRIPTION}")
    return SeverityResult(inputs=inputs, dpc_unclamped=raw, dpc=dpc, dpc_basis=basis, cb=cb, score=score,
                          severity=severity, explanation="\n".join(lines))


def to_assessment(result: SeverityResult, *, incident_id: str, assessed_by: str, assessed_at: datetime,
                  notes: str = "") -> Assessment:
    """The stored form of a result (`assessed_at` must be timezone-aware; the model converts it to UTC)."""
    return Assessment(
        incident_id=incident_id, dpc=result.dpc, dpc_basis=result.dpc_basis, ei=result.inputs.ei,
        cb_confidentiality=result.inputs.cb_confidentiality, cb_integrity=result.inputs.cb_integrity,
        cb_availability=result.inputs.cb_availability, cb_malicious=MALICIOUS_INTENT if result.inputs.malicious else 0,
        score=result.score, severity=result.severity, notes=notes, assessed_by=assessed_by, assessed_at=assessed_at)


# --- the guided questionnaire ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    value: str  # what an answer gives (also accepted: the label, and the level's name)
    label: str
    help: str = ""
    name: str = ""  # the level's short name, e.g. "significant"


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    choices: tuple[Choice, ...]
    help: str = ""
    default: str | None = None  # a choice value; None: an answer is required

    @property
    def yes_no(self) -> bool:
        return {c.value for c in self.choices} == {"yes", "no"}


def _choices(scale: tuple[Level, ...]) -> tuple[Choice, ...]:
    return tuple(Choice(f"{lv.value:g}", f"{lv.value:g} {lv.label}", lv.description, lv.name) for lv in scale)


_YES_NO = (Choice("yes", "Yes", name="yes"), Choice("no", "No", name="no"))

QUESTIONS: tuple[Question, ...] = (
    Question("dpc_base", "Which kind of personal data does the breach concern (the most sensitive one)?",
             _choices(DPC_BASE), "Data processing context (DPC): the starting point of the score."),
    *(Question(f"adjust_{a.id}", f"{a.label}: {a.description} Does this apply?", _YES_NO,
               f"Moves the DPC {'up' if a.delta > 0 else 'down'} by {abs(a.delta)} (kept within 1–4).", default="no")
      for a in DPC_ADJUSTMENTS),
    Question("ei", "How easily can the people be identified from the breached data?", _choices(EI_LEVELS),
             "Ease of identification (EI): multiplies the DPC."),
    Question("cb_confidentiality", "Loss of confidentiality: who may have seen the data?",
             _choices(CB_CONFIDENTIALITY), "Circumstances of the breach (CB): added to DPC × EI.", default="0"),
    Question("cb_integrity", "Loss of integrity: were the data altered?", _choices(CB_INTEGRITY),
             "Circumstances of the breach (CB): added to DPC × EI.", default="0"),
    Question("cb_availability", "Loss of availability: can the data still be used?", _choices(CB_AVAILABILITY),
             "Circumstances of the breach (CB): added to DPC × EI.", default="0"),
    Question("malicious", f"Malicious intent: {MALICIOUS_DESCRIPTION} Was it?", _YES_NO,
             f"Adds {MALICIOUS_INTENT:g} to CB."),
)
_QUESTIONS = {q.id: q for q in QUESTIONS}
_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0"}


def _match(question: Question, raw: str | float | bool) -> Choice | None:
    if isinstance(raw, bool):
        return next(c for c in question.choices if c.value == ("yes" if raw else "no")) if question.yes_no else None
    if isinstance(raw, int | float):
        return next((c for c in question.choices if not question.yes_no and float(c.value) == raw), None)
    text = raw.strip().lower()
    if question.yes_no:
        text = "yes" if text in _TRUE else "no" if text in _FALSE else text
    for choice in question.choices:
        label = choice.label.lower()
        if text in (choice.value, label, label.removeprefix(choice.value + " "), choice.name):
            return choice
    if not question.yes_no:
        try:
            number = float(text)
        except ValueError:
            return None
        return _match(question, number)
    return None


def assessment_from_answers(answers: Mapping[str, str | float | bool], *, path: str | None = None) -> SeverityResult:
    """Validate the questionnaire's answers (by question id) and assess them.

    An answer is a choice value ("0.75"), its label or name ("significant"), a number, or for yes/no
    questions a bool or yes/no/y/n/true/false. Every bad, missing or unknown answer is reported at once
    in one InputError whose problems name the question id (`path`: where the answers came from, if a file).
    """
    problems: list[Problem] = []
    chosen: dict[str, str] = {}
    for key in answers:
        if key not in _QUESTIONS:
            problems.append(Problem(f"unknown question (known: {', '.join(_QUESTIONS)})", Location(path, None, key)))
    for question in QUESTIONS:
        if question.id not in answers:
            if question.default is None:
                problems.append(Problem("no answer given", Location(path, None, question.id)))
            else:
                chosen[question.id] = question.default
            continue
        choice = _match(question, answers[question.id])
        if choice is None:
            allowed = ", ".join(c.value if c.name == c.value else f"{c.value} ({c.name})" for c in question.choices)
            problems.append(Problem(f"{answers[question.id]!r} is not one of: {allowed}",
                                    Location(path, None, question.id)))
        else:
            chosen[question.id] = choice.value
    if problems:
        fields = ", ".join(sorted({p.location.field or "" for p in problems}))
        raise InputError(f"invalid severity answers ({fields})", path=path, problems=problems,
                         hint="answer each question with one of its listed values")
    inputs = SeverityInputs(
        dpc_base=int(chosen["dpc_base"]), ei=float(chosen["ei"]),
        cb_confidentiality=float(chosen["cb_confidentiality"]), cb_integrity=float(chosen["cb_integrity"]),
        cb_availability=float(chosen["cb_availability"]), malicious=chosen["malicious"] == "yes",
        adjustments=tuple(a.id for a in DPC_ADJUSTMENTS if chosen[f"adjust_{a.id}"] == "yes"))
    return assess(inputs)


def answers_from_inputs(inputs: SeverityInputs) -> dict[str, str]:
    """The questionnaire answers that give `inputs` (e.g. to offer a previous assessment as defaults)."""
    answers = {"dpc_base": f"{inputs.dpc_base:g}", "ei": f"{inputs.ei:g}",
               "cb_confidentiality": f"{inputs.cb_confidentiality:g}", "cb_integrity": f"{inputs.cb_integrity:g}",
               "cb_availability": f"{inputs.cb_availability:g}", "malicious": "yes" if inputs.malicious else "no"}
    answers.update({f"adjust_{a.id}": "yes" if a.id in inputs.adjustments else "no" for a in DPC_ADJUSTMENTS})
    return answers
