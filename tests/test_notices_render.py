"""Notice templates, contexts and rendering (issue 5).

Golden files: tests/golden/notices/<sample>/subject/<locale>/{email.subject.txt,email.txt,email.html} and
tests/golden/notices/<sample>/authority/report.{md,html,json} — every template × locale × sample incident of
tests/notices_fixtures.py. After a deliberate template change, regenerate them and review the diff:

    BREACHKIT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_notices_render.py -k golden
"""

from __future__ import annotations

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
    authority_pdf,
    content_gaps,
    latin1,
    missing_art33_items,
)
from breachkit.notices.checks import check_templates
from breachkit.notices.context import (
    Communication,
    Narrative,
    Precision,
    authority_context,
    incident_notice_context,
)
from breachkit.notices.formatting import and_list, format_datetime, format_duration, format_number
from breachkit.notices.recipients import Fallback
from breachkit.notices.render import file_key, render_all, render_authority, render_subject, write_authority
from breachkit.notices.templates import AUTHORITY_TEMPLATES, SUBJECT_TEMPLATES, NoticeEnvironment
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
LOCALES = ("en", "de", "fr")
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


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
@pytest.mark.parametrize("key", SAMPLES)
def test_golden_authority_reports(key, fmt):
    ctx = SAMPLES[key].authority_context()
    text = render_authority(ctx, ENV, fmt)
    assert isinstance(text, str)
    golden(GOLDEN / key / "authority" / f"report.{fmt}", text)
    assert missing_art33_items(text, ctx, fmt) == []


def test_golden_files_have_no_strays():
    expected = {GOLDEN / k / "subject" / loc / n for k in SAMPLES for loc in LOCALES for n in SUBJECT_TEMPLATES}
    expected |= {GOLDEN / k / "authority" / f"report.{f}" for k in SAMPLES for f in ("md", "html", "json")}
    expected |= {GOLDEN / "credential_stuffing" / kind / loc / n for kind in COMPROMISE_KINDS for loc in LOCALES
                 for n in SUBJECT_TEMPLATES}
    assert {p for p in GOLDEN.rglob("*") if p.is_file()} == expected


# --- Art. 33(3) ----------------------------------------------------------------------------------------------

BLOCKS = [("art33_a_nature", "a"), ("art33_a_data", "a"), ("art33_a_subjects", "a"), ("art33_b", "b"),
          ("art33_c", "c"), ("art33_d", "d")]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_authority_templates_mark_every_art33_item(fmt):
    source = (BUNDLED_NOTICES / AUTHORITY_TEMPLATES[fmt]).read_text(encoding="utf-8")
    assert sorted(re.findall(r"{%-?\s*block (art33_\w+)", source)) == sorted(b for b, _ in BLOCKS)


@pytest.mark.parametrize("block,item", BLOCKS)
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_a_template_that_stops_rendering_an_art33_item_is_caught(tmp_path, fmt, block, item):
    name = AUTHORITY_TEMPLATES[fmt]
    source = (BUNDLED_NOTICES / name).read_text(encoding="utf-8")
    blanked, count = re.subn(r"({%-?\s*block " + block + r"\s*-?%}).*?({%-?\s*endblock)", r"\1\2", source,
                             flags=re.S)
    assert count == 1
    env = override(tmp_path, {name: blanked})
    for sample in SAMPLES.values():
        ctx = sample.authority_context()
        assert missing_art33_items(str(render_authority(ctx, env, fmt, check_art33=False)), ctx, fmt) == [item]
        with pytest.raises(InputError) as caught:
            render_authority(ctx, env, fmt)
        assert caught.value.location.path == str(tmp_path / name)
        assert [p.message for p in caught.value.problems] == [f"Art. 33(3)({item}) is not rendered"]
    problems = check_templates(env, authority=[CREDENTIAL_STUFFING.authority_context()])
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
    for requested, locale, fallback in [("de-AT", "de", Fallback.BASE), ("it", "en", Fallback.DEFAULT),
                                        ("", "en", Fallback.DEFAULT), ("fr", "fr", Fallback.EXACT)]:
        email = render_subject(replace(CREDENTIAL_STUFFING.recipient, locale=requested), incident, ENV)
        assert (email.locale, email.fallback) == (locale, fallback)
    german_default = NoticeEnvironment([BUNDLED_NOTICES], default_locale="de")
    email = render_subject(replace(CREDENTIAL_STUFFING.recipient, locale="it"), incident, german_default)
    assert (email.locale, email.fallback) == ("de", Fallback.DEFAULT) and email.text.startswith("Guten Tag")


def test_override_folder_comes_first_and_can_add_a_locale(tmp_path):
    env = override(tmp_path, {"subject/en/email.subject.txt": "Notice from {{ controller.name }}\n",
                              "subject/de-AT/email.subject.txt": "Servus {{ name }}\n",
                              "subject/de-AT/email.txt": "{{ categories | map(attribute='label') | and_list }}\n",
                              "subject/de-AT/email.html": "<p>{{ name }}</p>\n"})
    assert env.locales == {"en", "de", "fr", "de-AT"}
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
    plain = CREDENTIAL_STUFFING.incident_context()
    english = render_subject(replace(recipient, locale="en"), plain, ENV)
    assert "180,000 username/password pairs" in english.text and "rate limiting" in english.text
    assert "180,000" not in render_subject(recipient, plain, ENV).text
    translated = incident_notice_context(CREDENTIAL_STUFFING.incident, config=CONFIG, zone=ZONE, narratives={
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
                              "subject/it/email.txt": "Ciao\n",
                              "subject/fr/strings.toml": "[advice]\nbogus = ['x']\n",
                              "authority/extra.md": "{{ broken\n"})
    problems = check_templates(env, authority=[CREDENTIAL_STUFFING.authority_context()],
                               subjects=[(CREDENTIAL_STUFFING.recipient, CREDENTIAL_STUFFING.incident_context())])
    where = {(p.location.path, p.location.line) for p in problems}
    assert (str(tmp_path / "subject/de/email.txt"), 1) in where
    assert (str(tmp_path / "subject/fr/email.html"), 1) in where
    assert (str(tmp_path / "authority/extra.md"), 1) in where
    assert ("subject/it", None) in where
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
    (datetime(2026, 12, 24, 18, 0, tzinfo=UTC), "Europe/Rome", "it", "2026-12-24 19:00 (CET)"),
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


def test_durations_numbers_and_lists():
    value = timedelta(days=4, hours=1, minutes=5)
    assert [format_duration(value, loc) for loc in LOCALES] == ["4 days and 1 hour", "4 Tage und 1 Stunde",
                                                                "4 jours et 1 heure"]
    assert format_duration(-timedelta(hours=2, minutes=1)) == "2 hours and 1 minute"
    assert format_duration(timedelta(seconds=30), "de") == "weniger als eine Minute"
    assert format_duration(timedelta(days=1)) == "1 day"
    assert [format_number(1234567, loc) for loc in LOCALES] == ["1,234,567", "1.234.567", "1\u202f234\u202f567"]
    assert [and_list(["a", "b", "c"], loc) for loc in LOCALES] == ["a, b and c", "a, b und c", "a, b et c"]
    assert and_list(["a"]) == "a" and and_list([]) == ""


# --- PDF and JSON --------------------------------------------------------------------------------------------

def test_pdf_survives_text_outside_latin1_and_is_reproducible():
    hostile = "🔥 漢字 مرحبا Łódź \x00\x1b\u202e " + "x" * 400 + " “quoted” – … €"
    ctx = CREDENTIAL_STUFFING.authority_context(description=hostile, cause=hostile, title=hostile)
    pdf = authority_pdf(ctx)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf == authority_pdf(ctx)
    assert latin1("Łódź – “x” … 5 €\tß\x07") == 'Lódz - "x" ... 5 EUR ß'
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
    assert summary.per_locale == {"en": 5, "de": 4, "fr": 2}
    assert summary.fallbacks == {"exact": 6, "default": 3, "base": 2}
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
                                   "sha256": data["messages"][3]["sha256"]}
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
