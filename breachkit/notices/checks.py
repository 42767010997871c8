"""Checking a template set before anything is rendered for real: syntax, complete locales, strings files, and
every template rendered for sample cases (the authority report with each Art. 33(3) item present). Sits above
rendering (it renders), below the use cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import jinja2

from breachkit.errors import InputError, Location, Problem
from breachkit.notices.authority import missing_art33_items
from breachkit.notices.context import AuthorityContext, IncidentNoticeContext, LocaleStrings
from breachkit.notices.recipients import Recipient
from breachkit.notices.render import render_authority, subject_variables
from breachkit.notices.templates import AUTHORITY_TEMPLATES, SUBJECT_TEMPLATES, NoticeEnvironment


def check_templates(env: NoticeEnvironment, *, authority: Sequence[AuthorityContext] = (),
                    subjects: Sequence[tuple[Recipient, IncidentNoticeContext]] = ()) -> list[Problem]:
    """Every problem of the templates in `env`, collected: syntax errors in any template, incomplete locales,
    invalid strings files, and errors rendering each subject template of every locale for each (recipient,
    incident) case and each authority template for each context (including Art. 33(3) items not rendered)."""
    problems: list[Problem] = []

    def attempt(what: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return what(*args, **kwargs)
        except InputError as exc:
            problems.extend(exc.problems or [Problem(exc.message, exc.location)])
            return None

    for name in env.template_names():
        attempt(_compile, env, name)
    found = {p.name for root in env.search_path if (root / "subject").is_dir()
             for p in (root / "subject").iterdir() if p.is_dir()}
    for locale in sorted(found - env.locales):
        problems.append(Problem(f"locale {locale} lacks {', '.join(SUBJECT_TEMPLATES)} (one or more)",
                                Location(f"subject/{locale}")))
    empty = LocaleStrings("", {}, {}, {}, ())
    for locale in sorted(env.locales):
        strings = attempt(env.strings, locale) or empty
        for recipient, incident in subjects:
            variables = subject_variables(replace(recipient, locale=locale), incident, env, strings=strings)
            for name in SUBJECT_TEMPLATES:
                attempt(env.render, f"subject/{locale}/{name}", variables)
    for ctx in authority:
        for fmt in AUTHORITY_TEMPLATES:
            name = env.authority_template(fmt, ctx.locale)
            text = attempt(render_authority, ctx, env, fmt, check_art33=False)
            if text is not None:
                problems += [Problem(f"Art. 33(3)({item}) is not rendered", Location(str(env.find(name) or name)))
                             for item in missing_art33_items(text, ctx, fmt)]
    return list(dict.fromkeys(problems))


def _compile(env: NoticeEnvironment, name: str) -> None:
    try:
        env.jinja.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"template syntax error: {exc.message}", path=exc.filename or name,
                         line=exc.lineno) from None
