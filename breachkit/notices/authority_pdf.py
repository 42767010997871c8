"""The authority report as a PDF, straight from the `AuthorityContext`, in the report's language (en, de, fr:
`authority_words`), with its sections numbered as the md and html reports number theirs.

Fonts: any name must print as written, so the PDF embeds (subsets of) free Unicode fonts instead of the Latin-1
core fonts — DejaVu Sans (Latin, Greek, Cyrillic…; the copy matplotlib, a breachkit dependency, ships in its
mpl-data, else Debian's fonts-dejavu-core), and for Chinese, Japanese and Korean characters, which DejaVu lacks,
IPAexGothic as a per-glyph fallback (IPA Font License; the copy the japanize-matplotlib package ships, else
Debian's fonts-ipaexfont-gothic). Nothing is downloaded. The fallback font is embedded only when the report needs
it. A character neither font has is listed at the end of the PDF (the md, html and json versions hold the exact
text) and logged — never dropped silently.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

from breachkit.errors import ConfigError
from breachkit.notices.authority_words import LANGUAGE_NAMES, words
from breachkit.notices.context import AuthorityContext, Count
from breachkit.notices.formatting import format_datetime, format_duration, format_number

log = logging.getLogger(__name__)

_DEBIAN = Path("/usr/share/fonts")


def _package_dir(name: str) -> Path | None:
    """A package's folder without importing it (importing japanize_matplotlib would change matplotlib's settings)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _first(candidates: Iterable[Path | None]) -> Path | None:
    return next((p for p in candidates if p is not None and p.is_file()), None)


@functools.lru_cache(maxsize=1)
def fonts() -> tuple[Path, Path, Path | None]:
    """(regular, bold, CJK fallback or None). Raises ConfigError when no Unicode font is installed."""
    mpl = _package_dir("matplotlib")
    ttf = mpl / "mpl-data" / "fonts" / "ttf" if mpl else None
    regular = _first([ttf / "DejaVuSans.ttf" if ttf else None, _DEBIAN / "truetype/dejavu/DejaVuSans.ttf"])
    bold = _first([ttf / "DejaVuSans-Bold.ttf" if ttf else None, _DEBIAN / "truetype/dejavu/DejaVuSans-Bold.ttf"])
    if regular is None or bold is None:
        raise ConfigError("no Unicode font for the PDF report (DejaVu Sans)",
                          hint="reinstall breachkit (matplotlib ships DejaVu Sans) or apt-get install "
                               "fonts-dejavu-core")
    japanize = _package_dir("japanize_matplotlib")
    cjk = _first([japanize / "fonts" / "ipaexg.ttf" if japanize else None,
                  _DEBIAN / "opentype/ipaexfont-gothic/ipaexg.ttf", _DEBIAN / "truetype/fonts-japanese-gothic.ttf"])
    return regular, bold, cjk


@functools.lru_cache(maxsize=4)
def _coverage(path: Path) -> frozenset[int]:
    font = TTFont(str(path), lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def add_unicode_fonts(pdf: FPDF, texts: Iterable[str]) -> set[int]:
    """Register DejaVu Sans as the family "body" (regular and bold) on `pdf`, with the CJK font as a fallback
    when `texts` need it; return the code points no font has (to be said in the document, never dropped
    silently)."""
    needed = {ord(c) for t in texts for c in clean(t) if not c.isspace()}
    regular, bold, cjk = fonts()
    missing = needed - _coverage(regular)
    pdf.add_font("body", "", str(regular))
    pdf.add_font("body", "B", str(bold))
    if missing and cjk is not None and missing & _coverage(cjk):
        pdf.add_font("cjk", "", str(cjk))
        pdf.set_fallback_fonts(["cjk"], exact_match=False)
        missing -= _coverage(cjk)
    return missing


def clean(text: str) -> str:
    """Control and format characters out (bidirectional overrides among them), tabs as spaces."""
    return "".join(" " if c == "\t" else c for c in text
                   if c == "\n" or unicodedata.category(c)[0] != "C")


class _Report(FPDF):
    def __init__(self, footer: str, page: str) -> None:
        super().__init__(format="A4")
        self.footer_text, self.page_word = footer, page
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("body", size=8)
        self.cell(0, 5, f"{self.footer_text} – {self.page_word} {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("body", "B", 12)
        self.multi_cell(0, 7, clean(text), align="L", new_x="LMARGIN", new_y="NEXT")

    def field(self, label: str, value: str) -> None:
        self.set_font("body", "B", 10)
        self.write(5, clean(label) + ": ")
        self.set_font("body", size=10)
        self.write(5, clean(value) or "–")
        self.ln(6)


def authority_pdf(ctx: AuthorityContext) -> bytes:
    """The report as a PDF in `ctx.locale` (the module docstring says how every character gets printed)."""
    w = words(ctx.locale)
    sections = _sections(ctx, w)
    title = f"{w['title']}: {ctx.report.title}"
    texts = [title, *(t for heading, rows in sections for t in (heading, *(x for row in rows for x in row)))]
    pdf = _Report(f"{ctx.report.incident_id} – {w['footer']}", w["page"])
    missing = add_unicode_fonts(pdf, texts)
    pdf.set_creation_date(ctx.report.generated_at)
    pdf.set_title(clean(f"{w['doc']} {ctx.report.incident_id}"))
    pdf.set_author(clean(ctx.parties.controller.name))
    pdf.set_lang(ctx.locale)
    pdf.add_page()
    pdf.set_font("body", "B", 15)
    pdf.multi_cell(0, 8, clean(title), align="L", new_x="LMARGIN", new_y="NEXT")
    for heading, rows in sections:
        pdf.heading(heading)
        for label, value in rows or [(w["information"], w["none"])]:
            pdf.field(label, value)
    if missing:
        shown = " ".join(f"U+{c:04X}" for c in sorted(missing)[:40]) + (" …" if len(missing) > 40 else "")
        log.warning("the PDF report cannot show %d characters (no font has them): %s", len(missing), shown)
        pdf.heading("!")
        pdf.field("Characters this PDF cannot show (see report.md/.html/.json)", shown)
    return bytes(pdf.output())


def _sections(ctx: AuthorityContext, w: dict[str, str]) -> list[tuple[str, list[tuple[str, str]]]]:
    zone, t, lang = ctx.zone, ctx.timing, ctx.locale

    def when(value: datetime | None) -> str:
        return format_datetime(value, zone, lang) if value else "–"

    def yes(value: bool | None) -> str:
        return w["unknown"] if value is None else w["yes"] if value else w["no"]

    def num(value: int) -> str:
        return format_number(value, lang)

    def count(c: Count) -> str:
        return w["unknown"] if c.value is None else f"{num(c.value)} ({w.get(c.precision.value, c.precision.value)})"

    def found(declared: bool, is_found: bool | None, people: int | None) -> str:
        said = w["declared"] if declared else w["not_declared"]
        if is_found is None:
            return f"{said}; {w['no_list']}"
        if not is_found:
            return f"{said}; {w['not_found']}"
        return f"{said}; " + (w["found_for_one"] if people == 1 else w["found_for"].format(n=num(people or 0)))

    state = {"contained": w["contained"], "ended": w["ended"], "ongoing": w["ongoing_state"]}
    informed = ctx.informed.status.value
    sev = ctx.severity
    r, p = ctx.report, ctx.parties
    header = [(w["type"], w[r.type]), (w["earlier"], r.earlier_reference or "–"), (w["incident"], r.incident_id),
              (w["generated"], when(r.generated_at)), (w["language"], LANGUAGE_NAMES.get(lang, lang))]
    if r.untranslated:
        header.append((w["untranslated"], ", ".join(r.untranslated)))
    numbered: list[tuple[str, list[tuple[str, str]]]] = [
        (w["s_parties"], [
            (w["controller"], p.controller.name), (w["address"], p.controller.address),
            (w["role"], w.get(f"{p.role}_role", p.role)),
            (w["reporter"], f"{p.reporter.name} {p.reporter.email}".strip()),
            (w["dpo"], " | ".join(x for x in (p.dpo.name, p.dpo.email, p.dpo.phone, p.dpo.address) if x))]),
        (w["s_timing"], [
            (w["occurred"], when(t.occurred_at) + (f" {w['until']} {when(t.occurred_until)}"
                                                   if t.occurred_until else "")),
            (w["ongoing"], yes(t.ongoing)), (w["state"], state.get(t.containment, t.containment)),
            (w["detected"], when(t.detected_at)), (w["aware"], when(t.aware_at)),
            (w["why_aware"], t.aware_justification), (w["processor_notified"], when(t.processor_notified_at)),
            (w["how_discovered"], t.how_discovered),
            (w["deadline"], f"{when(t.due_at)}, {w.get(t.deadline_status or '', t.deadline_status or '–')}"),
            (w["elapsed"], format_duration(t.elapsed, lang)),
            *([(w["delay"], t.delay_reasons)] if t.late or t.delay_reasons else [])]),
        (w["s_nature"], [
            (w["description"], ctx.nature.description or w["to_follow"]), (w["cause"], ctx.nature.cause),
            (w["malicious"], yes(ctx.nature.malicious)), (w["confidentiality"], yes(ctx.nature.confidentiality)),
            (w["integrity"], yes(ctx.nature.integrity)), (w["availability"], yes(ctx.nature.availability)),
            (w["systems"], ", ".join(ctx.nature.systems))]),
        (w["s_data"], [
            (w["categories"], "; ".join(x.label for x in ctx.data.categories) or w["to_follow"]),
            (w["special"], "; ".join(x.label for x in ctx.data.special_categories) or w["none"]),
            *[(row.category.label, found(row.declared, row.found, row.people)) for row in ctx.data.rows]]),
        (w["s_subjects"], [
            (w["categories"], "; ".join(x.label for x in ctx.subjects.categories) or w["to_follow"]),
            (w["children"], yes(ctx.subjects.children)), (w["vulnerable"], yes(ctx.subjects.vulnerable)),
            (w["people"], count(ctx.subjects.people)), (w["records"], count(ctx.subjects.records)),
            *([(w["minors"], num(ctx.subjects.minors))] if ctx.subjects.minors is not None else []),
            *([(w["compromised"], f"{num(ctx.subjects.compromised_accounts)} ("
                + w["requests"].format(n=num(ctx.subjects.compromised_requests or 0)) + ")")]
              if ctx.subjects.compromised_accounts else [])]),
        (w["s_consequences"], [(w["consequences"], ctx.consequences or w["to_follow"])]),
        (w["s_severity"], [] if sev is None else [
            (w["method"], sev.method), (w["score"], f"{format_number(sev.score, lang)} ({w.get(sev.band, sev.band)})"),
            (w["inputs"], f"DPC {format_number(sev.dpc, lang)}, EI {format_number(sev.ei, lang)}, CB "
                          + " / ".join(format_number(x, lang) for x in (sev.cb_confidentiality, sev.cb_integrity,
                                                                        sev.cb_availability, sev.cb_malicious))),
            (w["basis"], sev.dpc_basis), (w["notes"], sev.notes),
            (w["assessed"], f"{sev.assessed_by}, {when(sev.assessed_at)}")]),
        (w["s_measures"], [(w["taken"], ctx.measures.taken or w["to_follow"]),
                           (w["proposed"], ctx.measures.proposed or "–")]),
        (w["s_informed"], [
            (w["status"], w.get(informed, informed)), (w["when"], when(ctx.informed.informed_at)),
            (w["how"], ctx.informed.channel), (w["reasons"], ctx.informed.reasons)]),
        (w["s_cross_border"], [
            (w["cross_border"], yes(ctx.cross_border.cross_border)),
            (w["lead_authority"], ctx.cross_border.lead_authority or "–"),
            (w["countries"], ", ".join(ctx.cross_border.countries)),
            *[(w["people_in"].format(country=c.country or w["unknown"]), num(c.people))
              for c in ctx.cross_border.per_country]]),
        (w["s_bodies"], [(b.body, f"{b.regime}/{b.stage}, {when(b.filed_at)}"
                          + (f", {w['reference']} {b.reference}" if b.reference else "")) for b in ctx.other_bodies]),
    ]
    if ctx.other_regimes:  # numbered 12 only when present, as in the md and html reports
        numbered.append((w["s_regimes"], [(x.name, f"{x.authority}; {', '.join(x.countries)}"
                                           + (f"; {w['people_there'].format(n=num(x.people))}"
                                              if x.people is not None else "")) for x in ctx.other_regimes]))
    return [(w["s_report"], header), *((f"{i}. {h}", rows) for i, (h, rows) in enumerate(numbered, 1))]
