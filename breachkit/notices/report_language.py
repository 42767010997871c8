"""Which language an authority report is written in, and why (the report says so; nothing is chosen silently)."""

from __future__ import annotations

from dataclasses import dataclass

from breachkit.config import NoticesConfig
from breachkit.errors import UsageError
from breachkit.incidents.model import Incident
from breachkit.locales import canonical_locale
from breachkit.notices.authority_words import authority_language
from breachkit.notices.templates import NoticeEnvironment


@dataclass(frozen=True)
class ReportLanguage:
    locale: str  # the language the report is rendered in
    wanted: str  # the language asked for
    reason: str  # where `wanted` came from: --locale, notices.authority_locale, the lead authority, the default
    fallback: bool  # no report templates in `wanted`: English instead

    def describe(self) -> str:
        said = f"report in {self.locale} ({self.reason})"
        return said if not self.fallback else f"{said}: no report templates in {self.wanted}, so {self.locale}"


def report_language(incident: Incident, config: NoticesConfig, env: NoticeEnvironment,
                    override: str | None = None) -> ReportLanguage:
    """`override` (--locale), else ``notices.authority_locale``, else the lead authority's language
    (`authority_words.authority_language`), else English; then the templates there are (`choose_authority`)."""
    if override:
        wanted, reason = override, "--locale"
    elif config.authority_locale:
        wanted, reason = config.authority_locale, "notices.authority_locale"
    elif found := authority_language(incident.lead_authority, config.authority_languages):
        wanted, reason = found, f"the language of the lead authority {incident.lead_authority}"
    else:
        wanted, reason = "en", "the default"
    canonical = canonical_locale(wanted)
    if canonical is None:
        raise UsageError(f"{wanted!r} is not a language tag (e.g. de, fr)", field="locale")
    locale, fallback = env.choose_authority(canonical)
    return ReportLanguage(locale, canonical, reason, fallback)
