"""The recipient table of subject notices: reading, row-level validation, locale choice and header safety."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from breachkit.errors import InputError
from breachkit.notices.recipients import (
    Fallback,
    canonical_locale,
    choose_locale,
    header_value,
    read_recipients,
    recipients_from_frame,
)
from breachkit.subjects import schema as S
from tests.notices_fixtures import subject_table

DATA = Path(__file__).parent / "data" / "notices"
LOCALES = {"en", "de", "fr"}


def by_line(problems):
    out: dict[int, list[tuple[str | None, str]]] = {}
    for p in problems:
        out.setdefault(p.location.line, []).append((p.location.field, p.message))
    return out


def test_csv_rows_are_accepted_or_rejected_with_their_line_and_reason():
    result = read_recipients(DATA / "recipients.csv", locales=LOCALES)
    assert [r.subject_id for r in result] == ["u1", "u3", "u9"]
    assert [r.row for r in result] == [2, 4, 11]  # u3's quoted name spans lines 4-5
    rejected = by_line(result.rejected)
    assert result.rejected_rows == [3, 6, 7, 8, 9, 10]
    assert rejected[3] == [("email", rejected[3][0][1])] and "not a valid email address" in rejected[3][0][1]
    assert rejected[6] == [("subject_id", "duplicate subject_id (first in row 2)")]
    assert rejected[7] == [("email", "duplicate email address (same as row 2)")]  # ANNA@Example.org
    assert rejected[8] == [("locale", "not a BCP 47 language tag (e.g. de, de-AT, fr)")]  # zh_CN
    assert rejected[9] == [("email", "missing email address")]
    assert rejected[10] == [("subject_id", "missing subject_id")]
    for problem in result.rejected:  # addresses never appear in messages (they reach the terminal and summaries)
        assert not any(address in problem.message for address in ("not-an-address", "example.org"))
        assert problem.location.path == str(DATA / "recipients.csv")


def test_csv_values_are_normalised_and_cosmetic_problems_are_notes():
    result = read_recipients(DATA / "recipients.csv", locales=LOCALES)
    anna, jean, olivia = result
    assert anna.categories == ("contact", "credentials") and anna.records == 3 and anna.minor is False
    assert anna.name == "Anna Müller" and anna.locale == "de"
    assert jean.name == "Jean\nMartin" and jean.country == "CH" and jean.locale == "fr-CH"
    assert jean.categories == ("contact",) and jean.records is None
    assert olivia.locale == "" and olivia.minor is False
    notes = by_line(result.notes)
    assert {f for f, _ in notes[4]} == {"locale", "categories", "records"}
    assert "fr-CH → fr (base language)" in dict(notes[4])["locale"]
    assert "(no locale) → en (default locale)" in dict(notes[11])["locale"]
    assert "minor" in dict(notes[11])


def test_missing_required_column_names_the_file(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("subject_id,name\nu1,Anna\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_recipients(path)
    assert caught.value.location.path == str(path)
    assert "email" in caught.value.message


def test_unknown_format_and_unreadable_file(tmp_path):
    with pytest.raises(InputError, match="unknown recipient table format"):
        read_recipients(tmp_path / "people.xlsx")
    with pytest.raises(InputError, match="cannot read"):
        read_recipients(tmp_path / "absent.csv")


def test_parquet_and_json_lines_give_the_same_recipients(tmp_path):
    frame = subject_table(6)
    frame.to_parquet(tmp_path / "s.parquet")
    with (tmp_path / "s.jsonl").open("w", encoding="utf-8") as handle:
        for record in frame.to_dict("records"):
            record[S.FIRST_SEEN] = record[S.FIRST_SEEN].isoformat().replace("+00:00", "Z")
            record[S.LAST_SEEN] = record[S.LAST_SEEN].isoformat()
            handle.write(json.dumps(record) + "\n")
    from_parquet = read_recipients(tmp_path / "s.parquet", locales=LOCALES)
    from_jsonl = read_recipients(tmp_path / "s.jsonl", locales=LOCALES)
    assert not from_parquet.rejected and not from_jsonl.rejected
    assert [r.row for r in from_parquet] == [1, 2, 3, 4, 5, 6]
    strip = [r.__class__(**{**r.__dict__, "row": 0}) for r in from_parquet]
    assert strip == [r.__class__(**{**r.__dict__, "row": 0}) for r in from_jsonl]
    first = from_parquet.recipients[0]
    assert first.categories == ("contact", "credentials") and first.identifiers == ("user.id:u0",)
    assert first.first_seen is not None and first.first_seen.utcoffset().total_seconds() == 0
    assert from_parquet.recipients[3].minor is True


def test_json_lines_bad_lines_are_rejected_with_their_number(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"subject_id": "u1", "email": "a@example.org"}\n\nnot json\n[1, 2]\n'
                    '{"subject_id": "u2", "email": "b@example.org"}\n', encoding="utf-8")
    result = read_recipients(path)
    assert [r.row for r in result] == [1, 5]
    rejected = by_line(result.rejected)
    assert list(rejected) == [3, 4] and rejected[4] == [(None, "not a JSON object")]
    assert rejected[3][0][1].startswith("not valid JSON")


def test_frames_are_validated_like_files():
    frame = subject_table(4)
    frame.loc[2, S.EMAIL] = frame.loc[0, S.EMAIL].upper()
    result = recipients_from_frame(frame, locales=LOCALES)
    assert [r.row for r in result] == [1, 2, 4] and result.rejected_rows == [3]
    out = result.frame
    assert list(out.columns) == ["row", *S.SUBJECT_COLUMNS] and len(out) == 3
    assert out.iloc[0][S.CATEGORIES] == ["contact", "credentials"]
    with pytest.raises(InputError):
        recipients_from_frame(pd.DataFrame({"name": ["x"]}))


@pytest.mark.parametrize("tag,canonical", [
    ("de", "de"), ("DE-at", "de-AT"), ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419"),
    ("sl-rozaj-biske", "sl-rozaj-biske"), ("en-US-x-twain", "en-US-x-twain"), ("x-whatever", "x-whatever"),
    ("de_DE", None), ("english!", None), ("d", None), ("de-", None), ("", None), ("toolonglanguage", None),
])
def test_bcp47_syntax(tag, canonical):
    assert canonical_locale(tag) == canonical


@pytest.mark.parametrize("requested,default,locale,fallback", [
    ("de", "en", "de", Fallback.EXACT),
    ("DE", "en", "de", Fallback.EXACT),
    ("de-AT", "en", "de", Fallback.BASE),
    ("fr-CA", "de", "fr", Fallback.BASE),
    ("it", "en", "en", Fallback.DEFAULT),
    ("it", "fr", "fr", Fallback.DEFAULT),
    ("", "de", "de", Fallback.DEFAULT),
    ("it", "de-CH", "de", Fallback.DEFAULT),  # the default's base language
    ("it", "pt", "en", Fallback.ENGLISH),
    ("x-private", "en", "en", Fallback.DEFAULT),
])
def test_locale_choice_and_its_fallback(requested, default, locale, fallback):
    choice = choose_locale(requested, LOCALES, default)
    assert (choice.locale, choice.fallback) == (locale, fallback)


def test_locale_choice_prefers_an_exact_regional_template_and_rejects_bad_tags():
    assert choose_locale("de-at", {"en", "de", "de-AT"}).locale == "de-AT"
    with pytest.raises(ValueError):
        choose_locale("de_AT", LOCALES)
    with pytest.raises(LookupError):
        choose_locale("de", {"fr"}, "it")


@pytest.mark.parametrize("raw,clean", [
    ("Anna Müller", "Anna Müller"),
    ("Bob\r\nBcc: victim@example.org", "Bob Bcc: victim@example.org"),
    ("Bob\nSubject: x", "Bob Subject: x"),
    ("a\rb", "a b"),
    ("tab\there", "tab here"),
    ("nul\x00byte\x7f\x85", "nul byte"),
    ("line\u2028separator\u2029", "line separator"),
    ("bidi\u202eevil\u2066", "bidi evil"),
    ("  many   spaces  ", "many spaces"),
    ("\r\n", ""),
])
def test_header_value_strips_line_breaks_and_control_characters(raw, clean):
    assert header_value(raw) == clean
    assert not any(c in header_value(raw) for c in "\r\n\x00\t")
