"""Rendering notices: one subject email, the authority report in any format, and the review folder.

`render_all` writes what would be sent, for review (``breachkit notices render``)::

    <out_dir>/summary.json                  counts per notice kind, locale, country and fallback; rejected and
                                            skipped rows; messages; `languages`: the recipients who would
                                            read another language or miss the incident's own text, counted
                                            per group with the first 100 named (`notices.coverage`)
    <out_dir>/messages/<key>.subject.txt    one file set per recipient, mode 0600, <key> = the subject_id when
    <out_dir>/messages/<key>.txt            it is a safe file name ([A-Za-z0-9][A-Za-z0-9._-]{0,63}), else
    <out_dir>/messages/<key>.html           "_" + a hash of it — never the email address

It is all-or-nothing: everything renders into a temporary folder beside `out_dir`, which replaces `out_dir`
only when every message rendered; a failing template leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from breachkit.errors import InputError, Location, Problem, UsageError
from breachkit.notices.authority import authority_json, missing_art33_items
from breachkit.notices.authority_pdf import authority_pdf
from breachkit.notices.context import AuthorityContext, IncidentNoticeContext, LocaleStrings, subject_context
from breachkit.notices.coverage import LanguageReport, gap
from breachkit.notices.recipient_stream import RecipientSource
from breachkit.notices.recipients import (
    Fallback,
    LocaleChoice,
    Recipient,
    header_value,
    recipients_from_frame,
)
from breachkit.notices.templates import AUTHORITY_TEMPLATES, NoticeEnvironment
from breachkit.workspace import PRIVATE_DIR, PRIVATE_FILE

AuthorityFormat = Literal["md", "html", "json", "pdf"]
AUTHORITY_FORMATS: tuple[AuthorityFormat, ...] = ("md", "html", "json", "pdf")
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class RenderedEmail:
    subject_line: str  # one line, header-safe
    text: str
    html: str
    locale: str  # the template locale used
    fallback: Fallback

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\0".join((self.subject_line, self.text, self.html)).encode()).hexdigest()


def _variables(ctx: Any) -> dict[str, Any]:
    return {f.name: getattr(ctx, f.name) for f in fields(ctx)}


def subject_variables(recipient: Recipient, incident_ctx: IncidentNoticeContext, env: NoticeEnvironment, *,
                      strings: LocaleStrings | None = None) -> dict[str, Any]:
    """The subject templates' variables for one recipient (the fields of `SubjectContext`)."""
    choice = env.choose(recipient.locale)
    return _variables(subject_context(recipient, incident_ctx, choice=choice,
                                      strings=strings if strings is not None else env.strings(choice.locale)))


def render_subject(recipient: Recipient, incident_ctx: IncidentNoticeContext, env: NoticeEnvironment) -> RenderedEmail:
    """The email to one person, in their locale (with fallback). Template problems raise InputError."""
    variables = subject_variables(recipient, incident_ctx, env)
    choice: LocaleChoice = variables["choice"]
    folder = f"subject/{choice.locale}"
    subject_line = header_value(env.render(f"{folder}/email.subject.txt", variables))
    if not subject_line:
        raise InputError("the subject line renders empty", path=str(env.find(f"{folder}/email.subject.txt")))
    return RenderedEmail(subject_line, env.render(f"{folder}/email.txt", variables),
                         env.render(f"{folder}/email.html", variables), choice.locale, choice.fallback)


def render_authority(ctx: AuthorityContext, env: NoticeEnvironment, fmt: AuthorityFormat, *,
                     check_art33: bool = True) -> str | bytes:
    """The authority report: md and html from the templates, json and pdf from the context (bytes for pdf).

    With `check_art33`, a template that does not render every Art. 33(3) item raises InputError."""
    if fmt == "json":
        return authority_json(ctx)
    if fmt == "pdf":
        return authority_pdf(ctx)
    if fmt not in AUTHORITY_TEMPLATES:
        raise UsageError(f"unknown report format {fmt!r} (md, html, json, pdf)")
    name = env.authority_template(fmt, ctx.locale)
    text = env.render(name, _variables(ctx))
    missing = missing_art33_items(text, ctx, fmt) if check_art33 else []
    if missing:
        where = str(env.find(name) or name)
        raise InputError("the authority report template leaves out required content", path=where,
                         problems=[Problem(f"Art. 33(3)({m}) is not rendered", Location(where)) for m in missing])
    return text


# --- writing folders, all or nothing -------------------------------------------------------------------------

def _write(path: Path, content: str | bytes) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def _staged(out_dir: Path, overwrite: bool) -> Iterator[Path]:
    """A fresh 0700 folder beside `out_dir` that replaces it when the block succeeds; removed otherwise."""
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not overwrite)):
        raise UsageError("the output folder exists and is not empty", path=out_dir,
                         hint="choose another folder or allow overwriting (--force)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.rendering-"))
    try:
        stage.chmod(PRIVATE_DIR)
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if out_dir.exists():  # an empty folder, or overwrite: move the old one aside, then swap
        aside = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
        out_dir.rename(aside / "previous")
        try:
            stage.rename(out_dir)
        except BaseException:
            (aside / "previous").rename(out_dir)
            shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    else:
        stage.rename(out_dir)


def file_key(subject_id: str) -> str:
    """The file name stem for a recipient: the subject_id if it is a safe name, else "_" + its hash."""
    if _SAFE_KEY.fullmatch(subject_id) and ".." not in subject_id:
        return subject_id
    return "_" + hashlib.sha256(subject_id.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class RenderSummary:
    out_dir: Path
    incident_id: str
    rendered: int
    per_locale: dict[str, int]
    per_country: dict[str, int]  # "" = unknown
    fallbacks: dict[str, int]  # Fallback value → recipients
    rejected: list[Problem]
    notes: list[Problem]
    # key, row, subject_id, kind, locale, fallback, … (render_all writes them to summary.json and returns none)
    messages: list[dict[str, Any]] = field(default_factory=list)
    per_kind: dict[str, int] = field(default_factory=dict)  # breach | compromise | breach_and_compromise → emails
    skipped: int = 0  # rows nobody writes to (the actor's own accounts)
    languages: LanguageReport | None = None  # who reads another language or misses the incident's own text

    def to_dict(self) -> dict[str, Any]:
        def problem(p: Problem) -> dict[str, Any]:
            return {"row": p.location.line, "field": p.location.field, "message": p.message}

        return {"incident": self.incident_id, "kind": "subject", "rendered": self.rendered,
                "rejected": len({p.location.line for p in self.rejected}), "skipped": self.skipped,
                "per_kind": self.per_kind, "per_locale": self.per_locale,
                "per_country": self.per_country, "fallbacks": self.fallbacks,
                "rejected_rows": [problem(p) for p in self.rejected], "notes": [problem(p) for p in self.notes],
                "languages": self.languages.to_dict() if self.languages else None, "messages": self.messages}


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def render_all(incident: IncidentNoticeContext, recipients: RecipientSource | pd.DataFrame, out_dir: Path,
               env: NoticeEnvironment, *, overwrite: bool = False) -> RenderSummary:
    """Render every accepted recipient's email into `out_dir` (see the module docstring) plus summary.json.

    A DataFrame is validated first (`recipients_from_frame`); its rejected rows go into the summary. Each
    message's entry goes to summary.json through a spool file as it is rendered: the returned summary has the
    counts, not the list (`messages` is empty), so memory does not grow with the number of people."""
    if isinstance(recipients, pd.DataFrame):
        recipients = recipients_from_frame(recipients, locales=env.locales, default_locale=env.default_locale)
    per_locale: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    per_country: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    rendered = 0
    languages = LanguageReport(incident.source_locale)
    with _staged(out_dir, overwrite) as stage:
        folder = stage / "messages"
        folder.mkdir(mode=PRIVATE_DIR)
        spool = stage / ".messages.jsonl"
        with spool.open("w", encoding="utf-8") as entries:
            for recipient in recipients:
                email = render_subject(recipient, incident, env)
                key = file_key(recipient.subject_id)
                _write(folder / f"{key}.subject.txt", email.subject_line + "\n")
                _write(folder / f"{key}.txt", email.text)
                _write(folder / f"{key}.html", email.html)
                per_locale[email.locale] += 1
                per_kind[recipient.notice_kind] += 1
                per_country[recipient.country] += 1
                fallbacks[email.fallback.value] += 1
                found = gap(recipient, env.choose(recipient.locale), incident)
                languages.add(found)
                rendered += 1
                entries.write(json.dumps({"key": key, "row": recipient.row, "subject_id": recipient.subject_id,
                                          "kind": recipient.notice_kind, "locale": email.locale,
                                          "requested_locale": recipient.locale, "fallback": email.fallback.value,
                                          "country": recipient.country,
                                          "missing_text": list(found.missing) if found else [],
                                          "sha256": email.sha256}, ensure_ascii=False) + "\n")
        summary = RenderSummary(out_dir, incident.id, rendered, _sorted_counts(per_locale),
                                _sorted_counts(per_country), _sorted_counts(fallbacks), list(recipients.rejected),
                                list(recipients.notes), [], _sorted_counts(per_kind), len(recipients.skipped),
                                languages)
        _write_summary(stage / "summary.json", summary, spool)
        spool.unlink()
    return summary


def _write_summary(path: Path, summary: RenderSummary, spool: Path) -> None:
    """summary.json (0600) with the spooled message entries as its "messages" list, copied line by line."""
    marker = "\u0000messages\u0000"
    head, tail = json.dumps(summary.to_dict() | {"messages": marker}, ensure_ascii=False,
                            indent=2).split(json.dumps(marker))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as out, spool.open(encoding="utf-8") as entries:
        out.write(head + "[")
        for i, line in enumerate(entries):
            out.write(("," if i else "") + "\n    " + line.rstrip("\n"))
        out.write("\n  ]" + tail + "\n")


def write_authority(ctx: AuthorityContext, env: NoticeEnvironment, out_dir: Path,
                    formats: Sequence[AuthorityFormat] = AUTHORITY_FORMATS, *, overwrite: bool = False) -> list[Path]:
    """Write report.<fmt> for each format into `out_dir` (0600 files), all or nothing."""
    rendered = {fmt: render_authority(ctx, env, fmt) for fmt in formats}
    with _staged(out_dir, overwrite) as stage:
        for fmt, content in rendered.items():
            _write(stage / f"report.{fmt}", content)
    return [out_dir / f"report.{fmt}" for fmt in formats]


def write_rendered(files: dict[str, bytes], out_dir: Path, *, overwrite: bool = False) -> list[Path]:
    """Write already rendered files (name → exact bytes) into `out_dir` (0600), all or nothing."""
    with _staged(out_dir, overwrite) as stage:
        for name, data in files.items():
            _write(stage / name, data)
    return [out_dir / name for name in files]
