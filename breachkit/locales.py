"""BCP 47 language tags: syntax, canonical case and base language. A leaf module: the incident's translations
(incidents), the recipients' locales and the notice templates (notices) share it."""

from __future__ import annotations

import re

# RFC 5646 language tag syntax (grandfathered irregular tags aside), matched on the lower-cased tag.
_BCP47 = re.compile(
    r"""^(?:
      (?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})
      (?:-(?P<script>[a-z]{4}))?
      (?:-(?P<region>[a-z]{2}|[0-9]{3}))?
      (?P<rest>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*
               (?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*
               (?:-x(?:-[a-z0-9]{1,8})+)?)
    | x(?:-[a-z0-9]{1,8})+
    )$""",
    re.VERBOSE,
)


def canonical_locale(tag: str) -> str | None:
    """The tag in canonical case (``de-at`` → ``de-AT``, ``zh-hant-tw`` → ``zh-Hant-TW``); None if not BCP 47."""
    match = _BCP47.match(tag.strip().lower())
    if match is None:
        return None
    if match["language"] is None:  # private use only ("x-…")
        return match.group(0)
    parts = [match["language"]]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts) + (match["rest"] or "")


def base_language(tag: str) -> str | None:
    match = _BCP47.match(tag.strip().lower())
    return None if match is None or match["language"] is None else match["language"].split("-")[0]
