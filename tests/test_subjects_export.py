"""Subject table exports: round trips, 0600 atomic files, CSV formula neutralisation."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from breachkit.errors import InputError
from breachkit.subjects import schema
from breachkit.subjects.export import (
    EXPORT_FORMATS,
    export_subjects,
    neutralise_formulas,
    read_subject_table,
    restore_formulas,
)
from breachkit.subjects.join import conform_subject_table

DANGEROUS = ["=HYPERLINK(\"http://x\")", "+49 151 2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "'=already", "''+x"]


def table() -> pd.DataFrame:
    rows = [
        {"subject_id": "u1", "email": "ann@example.org", "name": "Ann, \"The\" Smith", "phone": "+44 20 7946 0000",
         "locale": "en-GB", "country": "GB", "account_type": "end_user", "minor": False,
         "categories": ["contact", "usage"], "identifiers": ["user.id:u1", "device.imei:358472111961156"],
         "first_seen": "2026-03-21T10:00:00.123Z", "last_seen": "2026-03-22T11:00:00.000456Z", "records": 12},
        {"subject_id": "u2", "email": "=cmd|' /C calc'!A0@example.org", "name": "Line\nbreak 'quoted' Jürgen",
         "phone": None, "locale": None, "country": None, "account_type": None, "minor": True, "categories": [],
         "identifiers": ["user.target.id:u2"], "first_seen": None, "last_seen": None, "records": 0},
        {"subject_id": "-u3", "email": None, "name": "'t Hart", "phone": "@home", "locale": "nl", "country": "NL",
         "account_type": "installer", "minor": False, "categories": ["usage"], "identifiers": ["@x", "=y"],
         "first_seen": "2026-03-21T00:00:00Z", "last_seen": "2026-03-21T00:00:00Z", "records": 3},
    ]
    rows += [{**rows[0], "subject_id": f"d{i}", "name": value} for i, value in enumerate(DANGEROUS)]
    return conform_subject_table(pd.DataFrame(rows))


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_round_trip_gives_the_same_frame(tmp_path: Path, fmt: str):
    original = table()
    result = export_subjects(original, tmp_path / f"subjects.{fmt}", fmt)  # type: ignore[arg-type]
    assert result.rows == len(original) and result.format == fmt and result.path == tmp_path / f"subjects.{fmt}"
    data = result.path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.bytes == len(data)
    back = read_subject_table(result.path)
    pd.testing.assert_frame_equal(back, original)
    assert back.iloc[1][schema.CATEGORIES] == [] and back.iloc[0][schema.FIRST_SEEN] == pd.Timestamp(
        "2026-03-21T10:00:00.123Z")


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_empty_and_all_missing_columns_round_trip(tmp_path: Path, fmt: str):
    for name, frame in [("empty", conform_subject_table(pd.DataFrame(columns=["subject_id", "email"]))),
                        ("blank", conform_subject_table(pd.DataFrame({"subject_id": ["u1", "u2"],
                                                                      "email": [None, None]})))]:
        result = export_subjects(frame, tmp_path / f"{name}.{fmt}", fmt)  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(read_subject_table(result.path), frame)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_files_are_0600_whatever_the_umask_and_replaced_atomically(tmp_path: Path, fmt: str):
    path = tmp_path / "out" / f"s.{fmt}"
    old = os.umask(0)
    try:
        export_subjects(table(), path, fmt)  # type: ignore[arg-type]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)  # an existing file is replaced, not rewritten in place
        before = path.stat().st_ino
        second = export_subjects(table().iloc[:2], path, fmt)  # type: ignore[arg-type]
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_ino != before
    assert second.rows == 2 and len(read_subject_table(path)) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


def test_a_failed_replace_leaves_no_temporary_file(tmp_path: Path):
    target = tmp_path / "s.csv"
    target.mkdir()
    (target / "keep").write_text("x", encoding="utf-8")
    with pytest.raises(OSError):
        export_subjects(table(), target, "csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"] and (target / "keep").exists()


def test_list_columns_must_hold_lists_of_text(tmp_path: Path):
    odd = table()
    odd.at[0, schema.IDENTIFIERS] = ["user.id:u1", 7]
    with pytest.raises(TypeError, match="lists of text"):
        export_subjects(odd, tmp_path / "s.csv", "csv")
    odd.at[0, schema.IDENTIFIERS] = "user.id:u1"  # not split into characters
    with pytest.raises(TypeError, match="not lists"):
        export_subjects(odd, tmp_path / "s.csv", "csv")
    odd.at[0, schema.IDENTIFIERS] = ("user.id:u1",)  # any sequence of text will do
    path = export_subjects(odd, tmp_path / "s.csv", "csv").path
    assert read_subject_table(path).iloc[0][schema.IDENTIFIERS] == ["user.id:u1"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_csv_cells_that_a_spreadsheet_would_run_get_an_apostrophe(tmp_path: Path):
    path = export_subjects(table(), tmp_path / "s.csv", "csv").path
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = {r["subject_id"]: r["name"] for r in rows}
    assert [names[f"d{i}"] for i in range(len(DANGEROUS))] == [f"'{v}" for v in DANGEROUS]
    assert names["u1"] == 'Ann, "The" Smith' and names["'-u3"] == "'t Hart"  # ids are cells too
    by_id = {r["subject_id"]: r for r in rows}
    assert by_id["u1"]["phone"] == "'+44 20 7946 0000" and by_id["u2"]["email"].startswith("'=cmd")
    assert by_id["'-u3"]["phone"] == "'@home" and by_id["'-u3"]["identifiers"] == "'@x;=y"
    assert by_id["u1"]["identifiers"] == "user.id:u1;device.imei:358472111961156"
    assert by_id["u2"]["categories"] == "" and by_id["u2"]["minor"] == "true" and by_id["u2"]["first_seen"] == ""
    assert by_id["u1"]["first_seen"] == "2026-03-21T10:00:00.123Z"
    assert by_id["u1"]["last_seen"] == "2026-03-22T11:00:00.000456Z"
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r"


def test_neutralise_and_restore_are_inverse():
    values = pd.Series(["", "a", "=1", "'=1", "''=1", "'t Hart", "'", "-", "x=1", "\t", " =1"], dtype="str")
    escaped = neutralise_formulas(values)
    assert list(escaped) == ["", "a", "'=1", "''=1", "'''=1", "'t Hart", "'", "'-", "x=1", "'\t", " =1"]
    pd.testing.assert_series_equal(restore_formulas(escaped), values)


def test_jsonl_and_parquet_keep_lists_and_types(tmp_path: Path):
    jsonl = export_subjects(table(), tmp_path / "s.jsonl", "jsonl").path
    first = json.loads(jsonl.read_text(encoding="utf-8").splitlines()[0])
    assert first["categories"] == ["contact", "usage"] and first["minor"] is False and first["records"] == 12
    assert first["first_seen"] == "2026-03-21T10:00:00.123Z" and first["name"] == 'Ann, "The" Smith'
    second = json.loads(jsonl.read_text(encoding="utf-8").splitlines()[1])
    assert second["phone"] is None and second["first_seen"] is None and "Jürgen" in second["name"]
    parquet = export_subjects(table(), tmp_path / "s.parquet", "parquet").path
    schema_ = pq.read_schema(parquet)
    assert schema_.names == list(schema.SUBJECT_COLUMNS)
    assert schema_.field("identifiers").type.value_type == pa.string()
    assert str(schema_.field("first_seen").type) == "timestamp[us, tz=UTC]"


def test_reading_bad_files_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="does not exist"):
        read_subject_table(tmp_path / "absent.csv")
    (tmp_path / "s.xlsx").write_bytes(b"")
    with pytest.raises(InputError, match="format"):
        read_subject_table(tmp_path / "s.xlsx")
    (tmp_path / "other.csv").write_text("id,mail\n1,a@example.org\n", encoding="utf-8")
    with pytest.raises(InputError, match="no column subject_id, email") as err:
        read_subject_table(tmp_path / "other.csv")
    assert "other.csv" in str(err.value)
    (tmp_path / "bad.csv").write_text("subject_id,email,minor\nu1,a@example.org,perhaps\n", encoding="utf-8")
    with pytest.raises(InputError, match="minor must be true or false"):
        read_subject_table(tmp_path / "bad.csv")
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    with pytest.raises(InputError, match="cannot read"):
        read_subject_table(tmp_path / "bad.parquet")


def test_a_minimal_file_gets_the_missing_columns_empty(tmp_path: Path):
    (tmp_path / "m.csv").write_text("subject_id,email\nu1,a@example.org\n", encoding="utf-8")
    frame = read_subject_table(tmp_path / "m.csv")
    assert list(frame.columns) == list(schema.SUBJECT_COLUMNS)
    assert frame.iloc[0][schema.IDENTIFIERS] == [] and frame.iloc[0][schema.RECORDS] == 0
    assert bool(frame.iloc[0][schema.MINOR]) is False


def test_unknown_format_and_missing_columns_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown export format"):
        export_subjects(table(), tmp_path / "s.xml", "xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lacks email"):
        export_subjects(table().drop(columns=schema.EMAIL), tmp_path / "s.csv", "csv")
    assert not list(tmp_path.iterdir())
