"""Notice templates, contexts and rendering (issue 5).

Golden files: tests/golden/notices/<sample>/subject/<locale>/{email.subject.txt,email.txt,email.html},
tests/golden/notices/<sample>/authority/report.{md,html,json} (English) and
tests/golden/notices/<sample>/authority/<locale>/report.{md,html,json} (German, French) — every template × locale ×
sample incident of tests/notices_fixtures.py. After a deliberate template change, regenerate them and review the diff:

    BREACHKIT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_notices_render.py -k golden
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breachkit.errors import InputError, UsageError
from breachkit.incidents.model import Filing
from breachkit.notices.authority import (
    authority_document,
    authority_json,
    content_gaps,
    missing_art33_items,
)
from breachkit.notices.authority_pdf import authority_pdf
from breachkit.notices.checks import check_templates
from breachkit.notices.context import (
    Communication,
    Narrative,
    Precision,
    authority_context,
    incident_notice_context,
)
from breachkit.notices.formatting import (
    and_list,
    format_datetime,
    format_duration,
    format_number,
    plural,
    with_article,
)
from breachkit.notices.recipients import Fallback
from breachkit.notices.render import file_key, render_all, render_authority, render_subject, write_authority
from breachkit.notices.templates import SUBJECT_TEMPLATES, NoticeEnvironment
from breachkit.resources import bundled
from breachkit.subjects import schema as S
from tests.notices_fixtures import (
    COMPROMISE_KINDS,
    CONFIG,
    CREDENTIAL_STUFFING,
    DEVICE_IMEI,
    RANSOMWARE_FOLLOW_UP,
    SAMPLES,
    ZONE,
    at,
    compromised_recipient,
    subject_table,
)

BUNDLED_NOTICES = bundled("notices")


GOLDEN = Path(__file__).parent / "golden" / "notices"
UPDATE = os.environ.get("BREACHKIT_UPDATE_GOLDEN") == "1"
LOCALES = ("en", "de", "fr", "nl", "it", "es", "pl")
AUTHORITY_LANGUAGES = ("en", "de", "fr")
ENV = NoticeEnvironment([BUNDLED_NOTICES])


def golden(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}: run with BREACHKIT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (BREACHKIT_UPDATE_GOLDEN=1 to accept)"


def override(tmp_path: Path, files: dict[str, str]) -> NoticeEnvironment:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return NoticeEnvironment([tmp_path, BUNDLED_NOTICES])


# --- golden files --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", SAMPLES)
def test_golden_subject_emails(key, locale):
    sample = SAMPLES[key]
    email = render_subject(replace(sample.recipient, locale=locale), sample.incident_context(), ENV)
    assert (email.locale, email.fallback) == (locale, Fallback.EXACT)
    folder = GOLDEN / key / "subject" / locale
    for name, text in zip(SUBJECT_TEMPLATES, (email.subject_line + "\n", email.text, email.html), strict=True):
        golden(folder / name, text)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", COMPROMISE_KINDS)
def test_golden_compromise_notices(kind, locale):
    """The holder of a compromised account: what was done with it and what to rotate; never the attacker's
    addresses; with their data exposed too, one message that says both."""
    recipient = replace(compromised_recipient(kind), locale=locale)
    email = render_subject(recipient, CREDENTIAL_STUFFING.incident_context(), ENV)
    folder = GOLDEN / "credential_stuffing" / kind / locale
    for name, text in zip(SUBJECT_TEMPLATES, (email.subject_line + "\n", email.text, email.html), strict=True):
        golden(folder / name, text)
    strings = ENV.strings(locale)
    assert strings.compromise_advice[0] in email.text and "37" in email.text
    assert (strings.general_advice[0] in email.text) == (kind == "breach_and_compromise")
    assert (strings.data_categories["usage"] in email.text) == (kind == "breach_and_compromise")
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", email.text)  # no IP address


def authority_golden(key: str, language: str, fmt: str) -> Path:
    folder = GOLDEN / key / "authority"
    return folder / f"report.{fmt}" if language == "en" else folder / language / f"report.{fmt}"


@pytest.mark.parametrize("language", AUTHORITY_LANGUAGES)
@pytest.mark.parametrize("fmt", ["md", "html", "json"])
@pytest.mark.parametrize("key", SAMPLES)
def test_golden_authority_reports(key, fmt, language):
    ctx = SAMPLES[key].authority_context(locale=language)
    assert ctx.locale == language and ctx.report.language == language
    text = render_authority(ctx, ENV, fmt)
    assert isinstance(text, str)
    golden(authority_golden(key, language, fmt), text)
    assert missing_art33_items(text, ctx, fmt) == []


def test_golden_files_have_no_strays():
    expected = {GOLDEN / k / "subject" / loc / n for k in SAMPLES for loc in LOCALES for n in SUBJECT_TEMPLATES}
    expected |= {authority_golden(k, lang, f) for k in SAMPLES for f in ("md", "html", "json")
                 for lang in AUTHORITY_LANGUAGES}
    expected |= {GOLDEN / "credential_stuffing" / kind / loc / n for kind in COMPROMISE_KINDS for loc in LOCALES
                 for n in SUBJECT_TEMPLATES}
    assert {p for p in GOLDEN.rglob("*") if p.is_file()} == expected


# --- Art. 33(3) ----------------------------------------------------------------------------------------------

BLOCKS = [("art33_a_nature", "a"), ("art33_a_data", "a"), ("art33_a_subjects", "a"), ("art33_b", "b"),
          ("art33_c", "c"), ("art33_d", "d")]


@pytest.mark.parametrize("language", AUTHORITY_LANGUAGES)
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_authority_templates_mark_every_art33_item(fmt, language):
    source = (BUNDLED_NOTICES / ENV.authority_template(fmt, language)).read_text(encoding="utf-8")
    assert sorted(re.findall(r"{%-?\s*block (art33_\w+)", source)) == sorted(b for b, _ in BLOCKS)


@pytest.mark.parametrize("language", AUTHORITY_LANGUAGES)
@pytest.mark.parametrize("block,item", BLOCKS)
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_a_template_that_stops_rendering_an_art33_item_is_caught(tmp_path, fmt, block, item, language):
    name = ENV.authority_template(fmt, language)
    source = (BUNDLED_NOTICES / name).read_text(encoding="utf-8")
    blanked, count = re.subn(r"({%-?\s*block " + block + r"\s*-?%}).*?({%-?\s*endblock)", r"\1\2", source,
                             flags=re.S)
    assert count == 1
    env = override(tmp_path, {name: blanked})
    for sample in SAMPLES.values():
        ctx = sample.authority_context(locale=language)
        assert missing_art33_items(str(render_authority(ctx, env, fmt, check_art33=False)), ctx, fmt) == [item]
        with pytest.raises(InputError) as caught:
            render_authority(ctx, env, fmt)
        assert caught.value.location.path == str(tmp_path / name)
        assert [p.message for p in caught.value.problems] == [f"Art. 33(3)({item}) is not rendered"]
    problems = check_templates(env, authority=[CREDENTIAL_STUFFING.authority_context(locale=language)])
    assert [(p.message, p.location.path) for p in problems] == [(f"Art. 33(3)({item}) is not rendered",
                                                                  str(tmp_path / name))]


@pytest.mark.parametrize("section,item", [("nature", "a"), ("personal_data", "a"), ("data_subjects", "a"),
                                          ("contact_point", "b"), ("consequences", "c"), ("measures", "d")])
def test_the_json_report_is_checked_by_its_values(section, item):
    ctx = CREDENTIAL_STUFFING.authority_context()
    document = authority_document(ctx)
    assert missing_art33_items(authority_json(ctx), ctx, "json") == []
    del document[section]
    assert missing_art33_items(json.dumps(document), ctx, "json") == [item]


# --- contexts ------------------------------------------------------------------------------------------------

def test_an_overdue_report_without_delay_reasons_is_refused():
    with pytest.raises(InputError) as caught:
        CREDENTIAL_STUFFING.authority_context(delay_reasons="  ")
    assert caught.value.location.field == "delay_reasons" and "overdue" in caught.value.message


def test_a_late_filing_without_delay_reasons_is_refused_and_on_time_needs_none():
    late = replace(DEVICE_IMEI, now=at("2026-05-20T10:00:00+00:00"), filings=(Filing(
        incident_id="BK-2026-0012", regime="gdpr-33", stage="authority", filed_at=at("2026-05-18T09:00:00+00:00"),
        filed_by="dpo@example-energy.de"),))
    with pytest.raises(InputError) as caught:
        late.authority_context()
    assert caught.value.location.field == "delay_reasons" and "late" in caught.value.message
    ctx = late.authority_context(delay_reasons="Waited for the researcher's full report.")
    assert ctx.timing.late and ctx.timing.deadline_status == "late"
    on_time = DEVICE_IMEI.authority_context()
    assert not on_time.timing.late and on_time.timing.deadline_status == "running" and not on_time.timing.delay_reasons


def test_a_follow_up_needs_the_earlier_reference():
    ctx = RANSOMWARE_FOLLOW_UP.authority_context()
    assert ctx.report.type == "follow_up" and ctx.report.earlier_reference == "LfDI-BW-2026-0147"
    without = replace(RANSOMWARE_FOLLOW_UP, filings=RANSOMWARE_FOLLOW_UP.filings[1:])
    with pytest.raises(InputError) as caught:
        without.authority_context(delay_reasons="The scope took long to establish.")
    assert caught.value.location.field == "earlier_reference" and not caught.value.problems
    with pytest.raises(InputError) as caught:  # no filing: now also overdue; both problems at once
        without.authority_context()
    assert [p.location.field for p in caught.value.problems] == ["delay_reasons", "earlier_reference"]
    sample = RANSOMWARE_FOLLOW_UP
    explicit = authority_context(sample.incident, config=CONFIG, now=sample.now, deadlines=sample.deadlines(),
                                 numbers=None, filings=sample.filings, decisions=(), assessment=None,
                                 report_type="follow_up", earlier_reference="LfDI-BW-2026-0200")
    assert explicit.report.earlier_reference == "LfDI-BW-2026-0200" and explicit.zone == "UTC"


def test_authority_context_fields_from_filings_decisions_and_numbers():
    ctx = RANSOMWARE_FOLLOW_UP.authority_context()
    assert [(b.body, b.reference) for b in ctx.other_bodies] == [("BSI (CSIRT)", "CERT-2026-311"),
                                                                 ("Landeskriminalamt Baden-Württemberg", None)]
    assert ctx.informed.status is Communication.NOT_INFORMED and "masked" in ctx.informed.reasons
    assert ctx.timing.deadline_status == "met" and not ctx.cross_border.cross_border
    imei = DEVICE_IMEI.authority_context()
    assert imei.subjects.children and imei.subjects.minors == 1290
    assert (imei.subjects.people.value, imei.subjects.people.precision) == (8423, Precision.APPROXIMATE)
    assert imei.cross_border.countries == ("AT", "DE") and imei.cross_border.cross_border
    estimate = replace(DEVICE_IMEI, numbers=None).authority_context()
    assert (estimate.subjects.people.value, estimate.subjects.records.precision) == (8500, Precision.UNKNOWN)
    assert content_gaps(estimate) == []
    empty = replace(DEVICE_IMEI, numbers=None).authority_context(approx_subjects=None, consequences="")
    assert content_gaps(empty) == ["data_subjects.number", "consequences"]
    told = replace(DEVICE_IMEI, filings=(Filing(incident_id="BK-2026-0012", regime="gdpr-34", stage="subjects",
                                                filed_at=at("2026-05-16T08:00:00+00:00"), recipient="email",
                                                filed_by="dpo@example-energy.de"),)).authority_context()
    assert (told.informed.status, told.informed.channel) == (Communication.INFORMED, "email")
    assert told.informed.informed_at == at("2026-05-16T08:00:00+00:00")


# --- subject emails: locale, override, narratives ------------------------------------------------------------

def test_locale_fallback_is_reported():
    incident = CREDENTIAL_STUFFING.incident_context()
    for requested, locale, fallback in [("de-AT", "de", Fallback.BASE), ("sv", "en", Fallback.DEFAULT),
                                        ("", "en", Fallback.DEFAULT), ("fr", "fr", Fallback.EXACT)]:
        email = render_subject(replace(CREDENTIAL_STUFFING.recipient, locale=requested), incident, ENV)
        assert (email.locale, email.fallback) == (locale, fallback)
    german_default = NoticeEnvironment([BUNDLED_NOTICES], default_locale="de")
    email = render_subject(replace(CREDENTIAL_STUFFING.recipient, locale="sv"), incident, german_default)
    assert (email.locale, email.fallback) == ("de", Fallback.DEFAULT) and email.text.startswith("Guten Tag")


def test_override_folder_comes_first_and_can_add_a_locale(tmp_path):
    env = override(tmp_path, {"subject/en/email.subject.txt": "Notice from {{ controller.name }}\n",
                              "subject/de-AT/email.subject.txt": "Servus {{ name }}\n",
                              "subject/de-AT/email.txt": "{{ categories | map(attribute='label') | and_list }}\n",
                              "subject/de-AT/email.html": "<p>{{ name }}</p>\n"})
    assert env.locales == {"en", "de", "fr", "nl", "it", "es", "pl", "de-AT"}
    incident = CREDENTIAL_STUFFING.incident_context()
    email = render_subject(replace(CREDENTIAL_STUFFING.recipient, locale="en"), incident, env)
    assert email.subject_line == "Notice from Example Energy GmbH"
    assert email.text == render_subject(replace(CREDENTIAL_STUFFING.recipient, locale="en"), incident, ENV).text
    austrian = render_subject(CREDENTIAL_STUFFING.recipient, incident, env)
    assert (austrian.locale, austrian.fallback) == ("de-AT", Fallback.EXACT)
    assert austrian.subject_line == "Servus Anna Müller"
    assert austrian.text.startswith("Identitätsdaten") and " und Nutzungs- und Verbrauchsdaten" in austrian.text


def test_incident_prose_goes_to_its_own_language_and_translations_to_theirs():
    recipient = CREDENTIAL_STUFFING.recipient
    untranslated = CREDENTIAL_STUFFING.incident.model_copy(update={"translations": {}})
    plain = incident_notice_context(untranslated, config=CONFIG, zone=ZONE)
    english = render_subject(replace(recipient, locale="en"), plain, ENV)
    assert "180,000 username/password pairs" in english.text and "rate limiting" in english.text
    assert "180,000" not in render_subject(recipient, plain, ENV).text
    translated = incident_notice_context(untranslated, config=CONFIG, zone=ZONE, narratives={
        "de": Narrative(measures="Wir haben alle Sitzungen beendet.")})
    assert "Wir haben alle Sitzungen beendet." in render_subject(recipient, translated, ENV).text


# --- template errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,line,words", [
    ("Hello {{ name }\n", 1, "syntax error"),
    ("line one\n{{ no_such_variable }}\n", 2, "undefined variable"),
    ("a\nb\n{{ name.__class__.__mro__ }}\n", 3, "sandbox"),
    ("{% if true %}\n{{ incident.detected_at | localtime(zone) }}{{ incident.processor_notified_at | localtime }}"
     "\n{% endif %}\n", 2, "localtime"),
])
def test_template_errors_name_the_file_and_line(tmp_path, text, line, words):
    env = override(tmp_path, {"subject/en/email.txt": text})
    with pytest.raises(InputError) as caught:
        render_subject(replace(CREDENTIAL_STUFFING.recipient, locale="en"), CREDENTIAL_STUFFING.incident_context(),
                       env)
    assert caught.value.location.path == str(tmp_path / "subject/en/email.txt")
    assert caught.value.location.line == line
    assert words in caught.value.message


def test_check_templates_collects_every_problem(tmp_path):
    assert check_templates(ENV, authority=[s.authority_context() for s in SAMPLES.values()],
                           subjects=[(s.recipient, s.incident_context()) for s in SAMPLES.values()]) == []
    env = override(tmp_path, {"subject/de/email.txt": "{% for x in advice %}\n",
                              "subject/fr/email.html": "<p>{{ nom }}</p>\n",
                              "subject/sv/email.txt": "Hej\n",
                              "subject/fr/strings.toml": "[advice]\nbogus = ['x']\n",
                              "authority/extra.md": "{{ broken\n"})
    problems = check_templates(env, authority=[CREDENTIAL_STUFFING.authority_context()],
                               subjects=[(CREDENTIAL_STUFFING.recipient, CREDENTIAL_STUFFING.incident_context())])
    where = {(p.location.path, p.location.line) for p in problems}
    assert (str(tmp_path / "subject/de/email.txt"), 1) in where
    assert (str(tmp_path / "subject/fr/email.html"), 1) in where
    assert (str(tmp_path / "authority/extra.md"), 1) in where
    assert ("subject/sv", None) in where
    assert any(p.location.path == str(tmp_path / "subject/fr/strings.toml") for p in problems)


# --- safety --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["{{ 7*7 }}", "{% raw %}", "{{ config.__class__ }}{% for x in [1] %}x{% endfor %}"])
@pytest.mark.parametrize("locale", LOCALES)
def test_template_syntax_in_data_stays_literal(name, locale):
    incident = incident_notice_context(CREDENTIAL_STUFFING.incident.model_copy(update={"description": name}),
                                       config=CONFIG, zone=ZONE)
    email = render_subject(replace(CREDENTIAL_STUFFING.recipient, name=name, locale=locale), incident, ENV)
    assert name in email.text and name in email.html
    assert "49" not in email.text.replace("+49", "")


def test_markup_in_a_name_is_escaped_in_html_only():
    name = '<script>alert("x")</script> & <b>'
    email = render_subject(replace(CREDENTIAL_STUFFING.recipient, name=name, locale="en"),
                           CREDENTIAL_STUFFING.incident_context(), ENV)
    assert "<script>" not in email.html and "<b>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in email.html
    assert name in email.text


def test_line_breaks_in_a_name_never_reach_the_subject_header(tmp_path):
    env = override(tmp_path, {"subject/en/email.subject.txt": "Hello {{ name }}, about {{ reference }}\n\n"})
    name = "Eve\r\nBcc: victim@example.org\nX-Evil: 1"
    email = render_subject(replace(CREDENTIAL_STUFFING.recipient, name=name, locale="en"),
                           CREDENTIAL_STUFFING.incident_context(), env)
    assert email.subject_line == "Hello Eve Bcc: victim@example.org X-Evil: 1, about BK-2026-0007"
    env = override(tmp_path, {"subject/en/email.subject.txt": "{{ '' }}\n"})
    with pytest.raises(InputError, match="subject line renders empty"):
        render_subject(replace(CREDENTIAL_STUFFING.recipient, locale="en"), CREDENTIAL_STUFFING.incident_context(),
                       env)


# --- formatting ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,zone,locale,expected", [
    (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/Berlin", "en", "29 March 2026, 01:30 CET"),
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/Berlin", "en", "29 March 2026, 03:30 CEST"),
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/Berlin", "de-AT", "29. März 2026, 03:30 Uhr (MESZ)"),
    (datetime(2026, 4, 1, 8, 5, tzinfo=UTC), "Europe/Paris", "fr", "1er avril 2026 à 10 h 05 (UTC+2)"),
    (datetime(2026, 12, 24, 18, 0, tzinfo=UTC), "Asia/Kolkata", "fr", "24 décembre 2026 à 23 h 30 (UTC+5:30)"),
    (datetime(2026, 12, 24, 18, 0, tzinfo=UTC), "America/Sao_Paulo", "en", "24 December 2026, 15:00 UTC-3"),
    (datetime(2026, 12, 24, 18, 0, tzinfo=UTC), "UTC", "de", "24. Dezember 2026, 18:00 Uhr (UTC)"),
    (datetime(2026, 12, 24, 18, 0, tzinfo=UTC), "Europe/Rome", "it", "24 dicembre 2026 alle ore 19:00 (CET)"),
    (datetime(2026, 4, 1, 8, 5, tzinfo=UTC), "Europe/Rome", "it", "1° aprile 2026 alle ore 10:05 (CEST)"),
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/Amsterdam", "nl", "29 maart 2026 om 03:30 uur (MEZT)"),
    (datetime(2026, 1, 5, 0, 15, tzinfo=UTC), "Europe/Madrid", "es", "5 de enero de 2026 a la 01:15 (CET)"),
    (datetime(2026, 1, 5, 13, 15, tzinfo=UTC), "Europe/Madrid", "es", "5 de enero de 2026 a las 14:15 (CET)"),
    (datetime(2026, 9, 22, 10, 0, tzinfo=UTC), "Europe/Warsaw", "pl", "22 września 2026 r. o godz. 12:00 (CEST)"),
    (datetime(2026, 12, 24, 18, 0, tzinfo=UTC), "Europe/Stockholm", "sv", "2026-12-24 19:00 (CET)"),
])
def test_localtime(value, zone, locale, expected):
    assert format_datetime(value, zone, locale) == expected


def test_localtime_parts_and_bad_values():
    value = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert format_datetime(value, "Europe/Berlin", "de", "date") == "29. März 2026"
    assert format_datetime(value, "Europe/Berlin", "fr", "time") == "3 h 30 (UTC+2)"
    with pytest.raises(TypeError):
        format_datetime(None, "UTC")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        format_datetime(datetime(2026, 1, 1), "UTC")
    with pytest.raises(ValueError):
        format_datetime(value, "Mars/Olympus")


def test_italian_dates_take_their_article():
    assert [with_article(format_datetime(datetime(2026, 3, day, 12, tzinfo=UTC), "UTC", "it", "date"), "it")
            for day in (1, 8, 11, 18, 24)] == ["il 1° marzo 2026", "l'8 marzo 2026", "l'11 marzo 2026",
                                               "il 18 marzo 2026", "il 24 marzo 2026"]
    assert with_article("8 March 2026", "en") == "8 March 2026"


@pytest.mark.parametrize("n,one_few_many", [(1, 0), (2, 1), (4, 1), (5, 2), (11, 2), (12, 2), (14, 2), (21, 2),
                                            (22, 1), (24, 1), (25, 2), (102, 1), (112, 2), (0, 2)])
def test_polish_takes_three_plural_forms(n, one_few_many):
    forms = ("żądanie", "żądania", "żądań")
    assert plural(n, forms, "pl") == forms[one_few_many]
    assert format_duration(timedelta(days=n), "pl") == f"{n} {('dzień', 'dni', 'dni')[one_few_many]}" or n == 0


def test_durations_numbers_and_lists():
    value = timedelta(days=4, hours=1, minutes=5)
    assert [format_duration(value, loc) for loc in LOCALES] == [
        "4 days and 1 hour", "4 Tage und 1 Stunde", "4 jours et 1 heure", "4 dagen en 1 uur", "4 giorni e 1 ora",
        "4 días y 1 hora", "4 dni i 1 godzina"]
    assert [format_duration(timedelta(hours=5, minutes=22), loc) for loc in ("nl", "pl")] == [
        "5 uur en 22 minuten", "5 godzin i 22 minuty"]
    assert [format_duration(timedelta(hours=2, minutes=1), loc) for loc in ("fr", "es", "pl")] == [
        "2 heures et 1 minute", "2 horas y 1 minuto", "2 godziny i 1 minuta"]
    assert format_duration(-timedelta(hours=2, minutes=1)) == "2 hours and 1 minute"
    assert format_duration(timedelta(seconds=30), "de") == "weniger als eine Minute"
    assert format_duration(timedelta(days=1)) == "1 day"
    assert [format_number(1234567, loc) for loc in LOCALES] == [
        "1,234,567", "1.234.567", "1\u202f234\u202f567", "1.234.567", "1.234.567", "1.234.567", "1\u00a0234\u00a0567"]
    assert [format_number(1234, loc) for loc in LOCALES] == ["1,234", "1.234", "1\u202f234", "1.234", "1.234",
                                                             "1234", "1234"]
    assert [format_number(2.5, loc) for loc in ("en", "de", "pl")] == ["2.5", "2,5", "2,5"]
    assert [and_list(["a", "b", "c"], loc) for loc in LOCALES] == ["a, b and c", "a, b und c", "a, b et c",
                                                                   "a, b en c", "a, b e c", "a, b y c", "a, b i c"]
    assert and_list(["Francia", "Italia"], "es") == "Francia e Italia"  # "y" before an i sound
    assert and_list(["a"]) == "a" and and_list([]) == ""


# --- PDF and JSON --------------------------------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize("language", AUTHORITY_LANGUAGES)
def test_pdf_prints_greek_polish_and_japanese_names_as_written(language):
    names = {"dpo_name": "Ελένη Παπαδοπούλου", "controller_name": "Przedsiębiorstwo Łódzkie Żółć sp. z o.o.",
             "reporter_name": "山田 太郎"}
    ctx = CREDENTIAL_STUFFING.authority_context(locale=language, cause="Ключ API — “stolen” … 5 €")
    ctx = replace(ctx, parties=replace(ctx.parties, dpo=replace(ctx.parties.dpo, name=names["dpo_name"]),
                                       controller=replace(ctx.parties.controller, name=names["controller_name"]),
                                       reporter=replace(ctx.parties.reporter, name=names["reporter_name"])))
    pdf = authority_pdf(ctx)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and pdf == authority_pdf(ctx)
    text = pdf_text(pdf)
    for name in (*names.values(), "Ключ API — “stolen” … 5 €"):
        assert name in text, name
    assert {"en": "1. Controller, reporter", "de": "1. Verantwortlicher, meldende Person",
            "fr": "1. Responsable du traitement"}[language] in text
    assert "12. " not in text and "11. " in text  # numbered as the md and html (no other regimes here)
    assert b"IPAexGothic" in pdf and b"DejaVuSans" in pdf


def test_pdf_embeds_the_cjk_font_only_when_needed_and_lists_what_no_font_has():
    plain = authority_pdf(CREDENTIAL_STUFFING.authority_context())
    assert b"IPAexGothic" not in plain
    hostile = "\x00\x1b\u202e Linear B 𐀀 " + "x" * 300
    ctx = CREDENTIAL_STUFFING.authority_context(description=hostile, title=hostile)
    text = pdf_text(authority_pdf(ctx))
    assert "Characters this PDF cannot show" in text and "U+10000" in text
    for sample in SAMPLES.values():
        assert render_authority(sample.authority_context(), ENV, "pdf")[:5] == b"%PDF-"


def test_json_report_keys_are_stable():
    document = json.loads(authority_json(DEVICE_IMEI.authority_context()))
    assert list(document) == ["schema", "report", "controller", "reporter", "contact_point", "timing", "nature",
                              "personal_data", "data_subjects", "consequences", "severity", "measures",
                              "communication_to_subjects", "cross_border", "other_bodies", "other_regimes"]
    assert document["data_subjects"]["number"] == {"value": 8423, "precision": "approximate"}
    assert document["timing"]["deadline"] == {"regime": "gdpr-33", "due_at": "2026-05-17T16:30:00Z",
                                              "status": "running"}


# --- the review folder ---------------------------------------------------------------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_render_all_writes_private_files_and_a_summary(tmp_path):
    frame = subject_table(12)
    frame.loc[11, S.EMAIL] = "broken@"
    out = tmp_path / "review"
    summary = render_all(CREDENTIAL_STUFFING.incident_context(), frame, out, ENV)
    assert summary.rendered == 11
    assert summary.per_locale == {"de": 4, "en": 3, "fr": 2, "it": 2}
    assert summary.fallbacks == {"exact": 8, "base": 2, "default": 1}
    assert summary.per_country == {"AT": 2, "DE": 2, "FR": 2, "IE": 2, "IT": 2, "DK": 1}
    assert [(p.location.line, p.location.field) for p in summary.rejected] == [(12, "email")]
    files = sorted(p.name for p in (out / "messages").iterdir())
    assert len(files) == 33 and "u100000.subject.txt" in files and not any("@" in f for f in files)
    assert mode(out) == 0o700 and mode(out / "messages") == 0o700
    assert all(mode(p) == 0o600 for p in out.rglob("*") if p.is_file())
    text = (out / "summary.json").read_text(encoding="utf-8")
    assert "example.org" not in text
    data = json.loads(text)
    assert data["rendered"] == 11 and data["rejected"] == 1 and data["rejected_rows"][0]["row"] == 12
    assert data["per_kind"] == {"breach": 11} and data["skipped"] == 0
    assert data["messages"][3] == {"key": "u100003", "row": 4, "subject_id": "u100003", "kind": "breach",
                                   "locale": "de", "requested_locale": "de-AT", "fallback": "base", "country": "AT",
                                   "missing_text": [], "sha256": data["messages"][3]["sha256"]}
    assert (out / "messages" / "u100001.txt").read_text(encoding="utf-8").startswith("Bonjour Jean Martin,")


def test_render_all_is_all_or_nothing(tmp_path):
    env = override(tmp_path / "templates", {
        "subject/en/email.txt": "{% if name == 'Olivia Smith' %}{{ missing }}{% endif %}ok\n"})
    out = tmp_path / "out" / "review"
    with pytest.raises(InputError, match="undefined"):
        render_all(CREDENTIAL_STUFFING.incident_context(), subject_table(6), out, env)
    assert list((tmp_path / "out").iterdir()) == []
    render_all(CREDENTIAL_STUFFING.incident_context(), subject_table(2), out, ENV)
    with pytest.raises(UsageError):
        render_all(CREDENTIAL_STUFFING.incident_context(), subject_table(2), out, ENV)
    with pytest.raises(InputError):
        render_all(CREDENTIAL_STUFFING.incident_context(), subject_table(6), out, env, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["review"]
    assert len(list((out / "messages").iterdir())) == 6  # the earlier render, untouched
    summary = render_all(CREDENTIAL_STUFFING.incident_context(), subject_table(4), out, ENV, overwrite=True)
    assert summary.rendered == 4 and len(list((out / "messages").iterdir())) == 12
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["review"]


def test_file_keys_never_leak_unsafe_ids():
    assert file_key("u100001") == "u100001"
    for unsafe in ("../etc/passwd", "anna@example.org", ".hidden", "a/b", "x" * 65, "a..b"):
        key = file_key(unsafe)
        assert key.startswith("_") and re.fullmatch(r"_[0-9a-f]{24}", key)


def test_write_authority_writes_every_format(tmp_path):
    paths = write_authority(RANSOMWARE_FOLLOW_UP.authority_context(), ENV, tmp_path / "authority")
    assert [p.name for p in paths] == ["report.md", "report.html", "report.json", "report.pdf"]
    assert all(mode(p) == 0o600 for p in paths)
    assert "LfDI-BW-2026-0147" in paths[0].read_text(encoding="utf-8")


def test_an_incident_stored_before_translations_still_loads_and_its_text_is_the_source_language():
    stored = CREDENTIAL_STUFFING.incident.model_dump(mode="json")
    del stored["translations"], stored["advice"]
    incident = type(CREDENTIAL_STUFFING.incident).model_validate(stored)
    assert incident.translations == {} and incident.text_in("en", "en").description == incident.description
    assert incident.text_in("de", "en").description == ""
    with pytest.raises(ValueError, match="not a language tag"):
        type(incident).model_validate({**stored, "translations": {"x-klingon!": {"description": "x"}}})


def test_a_compromised_account_holder_needs_no_consequences_text():
    from breachkit.notices.coverage import gap

    model = type(CREDENTIAL_STUFFING.incident)
    german = {"de": {"description": "Beschreibung", "measures_taken": "Maßnahmen"}}
    incident = incident_notice_context(model.model_validate({**CREDENTIAL_STUFFING.incident.model_dump(),
                                                             "translations": german}), config=CONFIG, zone=ZONE)
    holder = replace(compromised_recipient("compromise"), locale="de")
    assert gap(holder, ENV.choose("de"), incident) is None
    subject = replace(CREDENTIAL_STUFFING.recipient, locale="de")
    assert gap(subject, ENV.choose("de"), incident).missing == ("consequences",)
    swede = gap(replace(subject, locale="sv"), ENV.choose("sv"), incident)
    assert swede.other_language and swede.locale == "en" and swede.missing == ()
