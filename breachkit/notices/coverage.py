"""Which language each person would read their notice in, and what of the incident's own text they would miss.

Nothing here fails silently: `language_report` lists every recipient who

* would read another language than the one they asked for (no templates in theirs: a Swedish reader gets the
  default language) — ``fallback``;
* has no language in the directory, so gets the default — ``no_locale``;
* reads a language in which the incident's own text (description, consequences, measures taken, advice) is
  missing, although it exists in the source language — ``missing_text``, naming the incident fields to
  translate (`breachkit incident update ID --set 'description.de=…'`). Only the fields their notice shows count:
  a person whose account was used but whose data was not exposed is not shown the consequences.

A reader of a regional variant who gets the base language (de-AT → de) reads their language: no gap. The render
summary, the send result and the pre-send check (`incidents.check`, as `NoticeLanguages`) all take it from here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from breachkit.incidents.check import LanguageGroup, NoticeLanguages
from breachkit.locales import base_language
from breachkit.notices.recipients import Fallback, LocaleChoice, Recipient
from breachkit.notices.subject_context import NARRATIVE_FIELDS, IncidentNoticeContext
from breachkit.notices.templates import NoticeEnvironment
from breachkit.wording import counted


@dataclass(frozen=True)
class LanguageGap:
    row: int
    subject_id: str
    requested: str  # the locale asked for ("" none)
    locale: str  # the template locale used
    fallback: Fallback
    other_language: bool  # reads another language than the one asked for (or asked for none)
    missing: tuple[str, ...]  # incident fields their notice lacks in that language

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "subject_id": self.subject_id, "requested_locale": self.requested,
                "locale": self.locale, "fallback": self.fallback.value, "other_language": self.other_language,
                "missing_text": list(self.missing)}


def shown_fields(recipient: Recipient) -> tuple[str, ...]:
    """The narrative fields a recipient's notice shows (the subject templates' structure, notices/README.md)."""
    if recipient.data_subject:
        return tuple(NARRATIVE_FIELDS)
    return ("what_happened", "measures", "advice")


def gap(recipient: Recipient, choice: LocaleChoice, incident: IncidentNoticeContext) -> LanguageGap | None:
    """The recipient's language gap, or None when they read their own language with all of the incident's text."""
    asked, got = base_language(choice.requested) if choice.requested.strip() else None, base_language(choice.locale)
    other = asked != got
    source = incident.source_narrative
    narrative = incident.narrative(recipient.locale, choice.locale)
    missing = tuple(NARRATIVE_FIELDS[f] for f in shown_fields(recipient)
                    if getattr(source, f).strip() and not (narrative and getattr(narrative, f).strip()))
    if not other and not missing:
        return None
    return LanguageGap(recipient.row, recipient.subject_id, choice.requested, choice.locale, choice.fallback,
                       other, missing)


@dataclass
class LanguageReport:
    """Every recipient's language gap (see the module docstring), counted per group; the first `sample_size`
    recipients with a gap are kept by name (memory stays fixed however many people are written to: the render
    summary lists every recipient's languages in its messages)."""

    source_locale: str
    recipients: int = 0
    sample_size: int = 100
    gaps: list[LanguageGap] = field(default_factory=list)  # the first `sample_size` recipients with a gap
    with_gaps: int = 0  # recipients with a gap, all of them (one gap may count in two groups)
    _groups: Counter[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=Counter, repr=False)

    def add(self, found: LanguageGap | None) -> None:
        self.recipients += 1
        if found is None:
            return
        self.with_gaps += 1
        if len(self.gaps) < self.sample_size:
            self.gaps.append(found)
        if found.other_language and found.requested.strip():
            self._groups["fallback", base_language(found.requested) or found.requested, found.locale, ()] += 1
        if not found.requested.strip():
            self._groups["no_locale", "", found.locale, ()] += 1
        if found.missing:
            self._groups["missing_text", "", found.locale, found.missing] += 1

    def _people(self, kind: str) -> int:
        return sum(n for key, n in self._groups.items() if key[0] == kind)

    @property
    def fallback(self) -> int:
        """People who asked for a language and would read another."""
        return self._people("fallback")

    @property
    def no_locale(self) -> int:
        """People who asked for none."""
        return self._people("no_locale")

    @property
    def missing_text(self) -> int:
        """People whose language lacks some of the incident's text."""
        return self._people("missing_text")

    def groups(self) -> tuple[LanguageGroup, ...]:
        """People counted per (kind, language asked for, language read, fields missing), most people first."""
        order = {"fallback": 0, "missing_text": 1, "no_locale": 2}
        return tuple(LanguageGroup(kind, asked, locale, fields, n) for (kind, asked, locale, fields), n in
                     sorted(self._groups.items(), key=lambda kv: (order[kv[0][0]], -kv[1], kv[0])))

    def for_check(self) -> NoticeLanguages:
        return NoticeLanguages(self.groups(), self.source_locale)

    def lines(self) -> list[str]:
        """One line per group, for the terminal."""
        out = []
        for g in self.groups():
            people = counted(g.people, "person", "people")
            if g.kind == "fallback":
                out.append(f"{people} asked for {g.requested} and get {g.locale} (no templates in their language)")
            elif g.kind == "no_locale":
                out.append(f"{people} have no language in the directory and get {g.locale}")
            else:
                out.append(f"{people} reading {g.locale} miss the incident's own {', '.join(g.fields)} "
                           f"(written in {self.source_locale} only)")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"source_locale": self.source_locale, "recipients": self.recipients,
                "fallback_language": self.fallback, "no_locale": self.no_locale,
                "missing_text": self.missing_text,
                "groups": [{"kind": g.kind, "requested_locale": g.requested, "locale": g.locale,
                            "missing_text": list(g.fields), "people": g.people} for g in self.groups()],
                "recipients_with_gaps_count": self.with_gaps,
                "recipients_with_gaps": [g.to_dict() for g in self.gaps]}  # the first sample_size of them


def language_report(recipients: Iterable[Recipient], incident: IncidentNoticeContext,
                    env: NoticeEnvironment) -> LanguageReport:
    """The language gaps of `recipients` (no rendering: the locale choice and the narratives decide)."""
    report = LanguageReport(incident.source_locale)
    for recipient in recipients:
        report.add(gap(recipient, env.choose(recipient.locale), incident))
    return report
