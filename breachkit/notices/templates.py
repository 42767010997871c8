"""The notice template environment: where templates come from, how they render, what filters they get.

Search path: the override folder (``notices.templates`` in the config, else ``<workspace>/notices`` when it
exists) before the bundled ``notices/`` folder, same layout::

    subject/<locale>/email.subject.txt | email.txt | email.html | strings.toml
    authority/report.md | report.html

Rendering is sandboxed (`SandboxedEnvironment`), undefined variables are errors (`StrictUndefined`), and only
``.html`` templates autoescape. Every template error (syntax, undefined variable, sandbox violation, a filter
given a wrong value) becomes an `InputError` naming the template file and line.

Filters: ``localtime(zone, part="datetime"|"date"|"time")`` (a UTC datetime shown in `zone`, formatted for the
template's ``locale``), ``duration`` (a timedelta in words), ``number`` (thousands separators), ``and_list``
("a, b and c"), ``paragraphs`` (HTML: escaped text in ``<p>``, line breaks kept), ``plural("one", "other")``
(Polish: ``plural("one", "few", "many")``) and ``with_article`` (Italian dates: "il 24 marzo", "l'8 marzo"). Month
names and words are built in for en, de, fr, nl, it, es and pl (`breachkit.notices.formatting`; babel is not a
dependency); other locales get ISO-style dates.
"""

from __future__ import annotations

import functools
import tomllib
import traceback
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from breachkit import resources
from breachkit.config import Config
from breachkit.errors import ConfigError, InputError, Location, Problem
from breachkit.incidents.model import DATA_CATEGORIES
from breachkit.locales import base_language
from breachkit.notices.context import LocaleStrings
from breachkit.notices.formatting import (
    and_list,
    format_datetime,
    format_duration,
    format_number,
    paragraphs,
    plural,
    with_article,
)
from breachkit.notices.recipients import LocaleChoice, choose_locale

if TYPE_CHECKING:
    pass

# The templates shipped with breachkit (in a checkout or an editable install: <repo>/notices).
SUBJECT_TEMPLATES = ("email.subject.txt", "email.txt", "email.html")
STRINGS_FILE = "strings.toml"
TemplateFormat = Literal["md", "html"]
AUTHORITY_TEMPLATES: dict[TemplateFormat, str] = {"md": "authority/report.md", "html": "authority/report.html"}

class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, with its attribute check remembered per (type, attribute name): the check
    (`is_safe_attribute`: a leading underscore, or an internal attribute of functions, frames, generators, types…)
    depends on nothing else, and repeating it for every attribute read was a sixth of a notice's rendering time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._safe: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        known = self._safe.get(key)
        if known is None:
            known = self._safe[key] = bool(super().is_safe_attribute(obj, attr, value))
        return known

    def getattr(self, obj: Any, attribute: str) -> Any:
        """A data attribute already found safe is returned at once; the sandbox's full path (which wraps
        `str.format` and refuses unsafe callables) handles everything else, exactly as before."""
        if self._safe.get((type(obj), attribute)):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                return super().getattr(obj, attribute)
            if not callable(value):
                return value
        return super().getattr(obj, attribute)


def _locale_of(context: jinja2.runtime.Context) -> str:
    value = context.get("locale", "en")
    return value if isinstance(value, str) else "en"


@jinja2.pass_context
def _localtime_filter(context: jinja2.runtime.Context, value: datetime, zone: str, part: str = "datetime") -> str:
    return format_datetime(value, zone, _locale_of(context), part)


@jinja2.pass_context
def _duration_filter(context: jinja2.runtime.Context, value: timedelta) -> str:
    return format_duration(value, _locale_of(context))


@jinja2.pass_context
def _number_filter(context: jinja2.runtime.Context, value: int | float) -> str:
    return format_number(value, _locale_of(context))


@jinja2.pass_context
def _plural_filter(context: jinja2.runtime.Context, value: int, *forms: str) -> str:
    if not forms:
        raise ValueError("plural needs the word's forms: plural(\"one\", \"other\") (Polish: one, few, many)")
    return plural(value, forms, _locale_of(context))


@jinja2.pass_context
def _with_article_filter(context: jinja2.runtime.Context, value: str) -> str:
    return with_article(value, _locale_of(context))


@jinja2.pass_context
def _and_list_filter(context: jinja2.runtime.Context, items: Iterable[Any]) -> str:
    return and_list(items, _locale_of(context))


# --- strings -------------------------------------------------------------------------------------------------

class _StringsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_categories: dict[str, str] = {}
    consequences: dict[str, str] = {}
    advice: dict[str, list[str]] = {}
    general_advice: list[str] = []
    compromise_advice: list[str] = []

    @field_validator("data_categories", "consequences", "advice")
    @classmethod
    def _known(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in value if k not in DATA_CATEGORIES]
        if unknown:
            raise ValueError(f"unknown data categories: {', '.join(unknown)} (known: {', '.join(DATA_CATEGORIES)})")
        return value


def _load_strings(path: Path) -> _StringsFile:
    try:
        return _StringsFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read the locale strings: {exc}", path=path) from None
    except ValidationError as exc:
        problems = [Problem(e["msg"], Location(str(path), field=".".join(map(str, e["loc"])))) for e in exc.errors()]
        raise InputError("invalid locale strings", path=path, problems=problems) from None


# --- the environment -----------------------------------------------------------------------------------------

class NoticeEnvironment:
    """The sandboxed Jinja environment over a search path, with locale choice and per-locale strings."""

    def __init__(self, search_path: Sequence[Path], *, default_locale: str = "en") -> None:
        self.search_path = tuple(p.resolve() for p in search_path)
        self.default_locale = default_locale
        self.jinja = _Sandbox(
            loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(p) for p in self.search_path]),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), disabled_extensions=(),
                                                default_for_string=False, default=False),
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False)
        self.jinja.filters.update(localtime=_localtime_filter, duration=_duration_filter, number=_number_filter,
                                  and_list=_and_list_filter, paragraphs=paragraphs, plural=_plural_filter,
                                  with_article=_with_article_filter)
        self._strings: dict[str, LocaleStrings] = {}
        self._choices: dict[str, LocaleChoice] = {}

    def template_names(self) -> list[str]:
        """Every template under subject/ and authority/ in the search path."""
        return sorted(n for n in self.jinja.list_templates(extensions=("txt", "html", "md"))
                      if n.startswith(("subject/", "authority/")))

    @functools.cached_property
    def locales(self) -> frozenset[str]:
        """Subject-email locales: folders under subject/ whose three templates exist in the search path."""
        found = {p.name for root in self.search_path if (root / "subject").is_dir()
                 for p in (root / "subject").iterdir() if p.is_dir()}
        return frozenset(loc for loc in found
                         if all(self.find(f"subject/{loc}/{name}") for name in SUBJECT_TEMPLATES))

    @functools.cached_property
    def authority_locales(self) -> frozenset[str]:
        """Languages of the authority report: en (authority/report.md and .html) and every <locale> for which
        authority/report.<locale>.md and .html both exist in the search path."""
        found = {p.name.split(".")[1] for root in self.search_path if (root / "authority").is_dir()
                 for p in (root / "authority").glob("report.*.*") if p.name.count(".") == 2}
        return frozenset({"en"} | {loc for loc in found
                                   if all(self.find(f"authority/report.{loc}.{fmt}") for fmt in ("md", "html"))})

    def authority_template(self, fmt: TemplateFormat, locale: str) -> str:
        """The authority template of `fmt` in `locale` (authority/report.<locale>.<fmt>; English: report.<fmt>)."""
        return AUTHORITY_TEMPLATES[fmt] if locale == "en" else f"authority/report.{locale}.{fmt}"

    def choose_authority(self, wanted: str) -> tuple[str, bool]:
        """The report language for `wanted`: the tag itself, else its base language, else en; and whether that is
        a fallback to another language."""
        tag, base = wanted.strip(), base_language(wanted) or ""
        for candidate in (tag, base):
            if candidate in self.authority_locales:
                return candidate, False
        return "en", base not in ("", "en")

    def find(self, name: str) -> Path | None:
        """The file `name` resolves to (first in the search path), or None."""
        return next((root / name for root in self.search_path if (root / name).is_file()), None)

    def choose(self, requested: str) -> LocaleChoice:
        if requested not in self._choices:  # every message asks: remember the answers
            self._choices[requested] = choose_locale(requested, self.locales, self.default_locale)
        return self._choices[requested]

    def strings(self, locale: str) -> LocaleStrings:
        """The locale's strings.toml (first in the search path); missing entries come from its base language's
        file, then from en's (de-AT → de → en)."""
        if locale not in self._strings:
            chain = list(dict.fromkeys(x for x in ("en", base_language(locale), locale) if x))
            files = [_load_strings(p) for p in (self.find(f"subject/{x}/{STRINGS_FILE}") for x in chain) if p]
            merged = _StringsFile()
            for layer in files:
                merged = _StringsFile(data_categories={**merged.data_categories, **layer.data_categories},
                                      consequences={**merged.consequences, **layer.consequences},
                                      advice={**merged.advice, **layer.advice},
                                      general_advice=layer.general_advice or merged.general_advice,
                                      compromise_advice=layer.compromise_advice or merged.compromise_advice)
            self._strings[locale] = LocaleStrings(
                locale=locale, data_categories=merged.data_categories, consequences=merged.consequences,
                advice={k: tuple(v) for k, v in merged.advice.items()}, general_advice=tuple(merged.general_advice),
                compromise_advice=tuple(merged.compromise_advice))
        return self._strings[locale]

    def render(self, name: str, variables: Mapping[str, Any]) -> str:
        """Render template `name`; any template problem → InputError with the template's file and line."""
        try:
            template = self.jinja.get_template(name)
        except jinja2.TemplateNotFound:
            raise InputError(f"template {name} not found", path=" | ".join(map(str, self.search_path))) from None
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(f"template syntax error: {exc.message}", path=exc.filename or name,
                             line=exc.lineno) from None
        try:
            return template.render(variables)
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError,
                ArithmeticError) as exc:
            raise _runtime_error(exc, template.filename or name) from exc


def _runtime_error(exc: Exception, filename: str) -> InputError:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    kind = ("undefined variable" if isinstance(exc, jinja2.UndefinedError)
            else "not allowed in a sandboxed template" if isinstance(exc, jinja2.exceptions.SecurityError)
            else "template error")
    return InputError(f"{kind}: {exc}", path=filename, line=line)


def search_path(config: Config) -> list[Path]:
    """Override folder (configured, else <workspace>/notices if present) before the bundled templates."""
    paths: list[Path] = []
    if config.notices.templates is not None:
        override = config.resolve(config.notices.templates)
        if not override.is_dir():
            raise ConfigError("the notices template folder does not exist", path=override,
                              field="notices.templates")
        paths.append(override)
    elif (config.workspace_dir / "notices").is_dir():
        paths.append(config.workspace_dir / "notices")
    return [*paths, resources.bundled("notices")]


def environment_from_config(config: Config) -> NoticeEnvironment:
    return NoticeEnvironment(search_path(config), default_locale=config.notices.default_locale)
