"""The user directory and device registry readers: formats, normalisation and row-level rejections."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from email_validator import EmailNotValidError, validate_email

from breachkit.config import DirectoryConfig
from breachkit.errors import ConfigError, InputError, ServiceError, UsageError
from breachkit.subjects import directory as d
from breachkit.subjects.directory import DIRECTORY_COLUMNS, index_products, read_devices, read_directory

DATA = Path(__file__).parent / "data" / "directory"
SAMPLES = Path(__file__).parent.parent / "samples"
NOW = datetime(2026, 4, 9, 12, tzinfo=UTC)
ATTACKS = json.loads((SAMPLES / "attacks.json").read_text(encoding="utf-8"))


def read(source: str | Path, base: Path = DATA, **config: object) -> d.DirectoryRead:
    return read_directory(DirectoryConfig(source=str(source), **config), base, now=NOW)  # type: ignore[arg-type]


def by_reason(result: d.DirectoryRead) -> dict[str, list[tuple[int | None, str | None]]]:
    out: dict[str, list[tuple[int | None, str | None]]] = {}
    for p in result.rejected:
        out.setdefault(p.reason, []).append((p.line, p.key))
    return out


# ------------------------------------------------------------------------------------- bad rows


def test_each_bad_row_is_reported_with_its_line_and_the_rest_is_kept():
    result = read("bad_rows.csv")
    assert by_reason(result) == {
        d.MISSING_KEY: [(3, None)],
        d.INVALID_EMAIL: [(4, "u2"), (14, "u10"), (15, "u11")],
        d.CONFLICTING_DUPLICATE: [(8, "u4")],
        d.INVALID_BIRTH_DATE: [(9, "u5"), (12, "u8")],  # 31.12.1980; 2030 is after `now`
        d.INVALID_COUNTRY: [(10, "u6")],
        d.INVALID_LOCALE: [(11, "u7")],
    }
    assert [p.dropped for p in result.rejected if p.dropped] == [True, True]  # missing key, conflict
    assert result.dropped == 2 and result.rows_read == 14
    frame = result.frame.set_index("subject_id")
    assert list(result.frame.columns) == list(DIRECTORY_COLUMNS)
    assert sorted(frame.index) == sorted(["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "u11"])
    assert list(result.frame["subject_id"]) == sorted(result.frame["subject_id"])
    # cleared values, row kept
    assert pd.isna(frame.loc["u2", "email"]) and frame.loc["u2", "name"] == "Bad Email"
    assert pd.isna(frame.loc["u5", "birth_date"]) and pd.isna(frame.loc["u6", "country"])
    assert pd.isna(frame.loc["u7", "locale"]) and frame.loc["u7", "country"] == "DE"  # "de" upper-cased
    assert frame.loc["u8", "locale"] == "en-GB" and frame.loc["u8", "country"] == "GB"
    # the conflicting duplicate: first row kept, the message names the columns that differ, no values
    conflict = next(p for p in result.rejected if p.reason == d.CONFLICTING_DUPLICATE)
    assert frame.loc["u4", "country"] == "AT"
    assert "line 7" in conflict.message and "phone" in conflict.message and "country" in conflict.message
    assert "CH" not in conflict.message and "+41" not in conflict.message
    # normalised keys: " u9 " stripped; email stripped and lower-cased
    assert frame.loc["u1", "email"] == "anna.schmidt@example.org"
    assert bool(frame.loc["u9", "minor"]) is True


def test_identical_duplicates_collapse_silently_conflicting_ones_do_not():
    result = read("bad_rows.csv")
    assert list(result.frame["subject_id"]).count("u3") == 1  # same data once normalised ("DUP@example.org ")
    assert not [p for p in result.rejected if p.key == "u3"]
    assert [p.reason for p in result.rejected if p.key == "u4"] == [d.CONFLICTING_DUPLICATE]


def test_problems_carry_the_source_and_line():
    result = read("bad_rows.csv")
    problems = result.problems()
    assert len(problems) == len(result.rejected)
    assert problems[0].location.path == result.source and problems[0].location.line == 3
    assert "missing_key" in problems[0].message and problems[0].message.endswith("row left out")
    assert problems[1].message.endswith("value cleared, row kept") and problems[1].location.field == "email"
    assert str(result.rejected[1]).startswith("line 4, key u2, email:")


def test_latin1_rows_are_reported_with_byte_offset_and_line_not_guessed():
    raw = (DATA / "latin1.csv").read_bytes()
    result = read("latin1.csv")
    assert list(result.frame["subject_id"]) == ["u1", "u3", "u5"]
    problems = [(p.reason, p.line, p.key) for p in result.rejected]
    assert problems == [(d.ENCODING, 3, "u2"), (d.ENCODING, 5, "u4")]
    first = result.rejected[0]
    offset = raw.index(b"\xfc")
    assert f"offset {offset}" in first.message and "0xfc" in first.message and "UTF-8" in first.message
    assert not any("ü" in v or "�" in v for v in result.frame["name"])


def test_utf8_bom_is_accepted():
    result = read("utf8_bom.csv")
    assert result.rejected == ()
    assert list(result.frame["subject_id"]) == ["u1"] and result.frame["name"][0] == "Jürgen"


def test_malformed_rows_blank_lines_and_multiline_values_keep_true_line_numbers():
    result = read("malformed.csv")
    assert list(result.frame["subject_id"]) == ["u1", "u2", "u4", "u6"]
    assert [(p.reason, p.line) for p in result.rejected] == [(d.MALFORMED, 7), (d.MALFORMED, 9)]
    assert result.frame.set_index("subject_id").loc["u2", "name"] == "Line\none\nand two"


def test_latin1_and_multiline_together_place_the_bad_record(tmp_path: Path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b'user_id,email,name\n\nu1,a@example.org,"two\nlines"\nu2,b@example.org,M\xfcller\n'
                     b"u3,c@example.org,Cy\n")
    result = read(path, tmp_path)
    assert list(result.frame["subject_id"]) == ["u1", "u3"]
    assert [(p.reason, p.line, p.key) for p in result.rejected] == [(d.ENCODING, 5, "u2")]


def test_jsonl_lines_that_do_not_parse_are_reported_and_values_are_text():
    result = read("bad.jsonl")
    assert [(p.reason, p.line) for p in result.rejected] == [
        (d.INVALID_MINOR, 4), (d.MALFORMED, 5), (d.MALFORMED, 6)]
    frame = result.frame.set_index("subject_id")
    assert sorted(frame.index) == ["3", "u1", "u2", "u5"]  # a number key becomes its text
    assert frame.loc["u1", "email"] == "a@example.org"
    assert [frame.loc[k, "minor"] for k in ("u1", "u2", "u5")] == [False, True, True]
    assert pd.isna(frame.loc["3", "minor"])  # "maybe" is cleared, nothing else says


def test_jsonl_fast_path_gives_the_same_frame_as_line_by_line(tmp_path: Path):
    rows = [{"user_id": f"u{i}", "email": f"P{i}@Example.org", "name": f"N {i}", "birth_date": "2000-01-01"}
            for i in range(50)]
    path = tmp_path / "dir.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    fast = read(path, tmp_path)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")  # a blank line: by line
    slow = read(path, tmp_path)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert fast.rejected == slow.rejected == ()
    gz = tmp_path / "dir.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    pd.testing.assert_frame_equal(read(gz, tmp_path).frame, fast.frame)


# ------------------------------------------------------------------------------ normalisation


def test_minors_from_birth_dates_at_the_injected_now(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("user_id,email,birth_date\nu1,a@example.org,2008-04-10\nu2,b@example.org,2008-04-09\n"
                    "u3,c@example.org,\nu4,d@example.org,2008-02-29\n", encoding="utf-8")

    def minors(now: datetime) -> dict[str, object]:
        frame = read_directory(DirectoryConfig(source=str(path)), tmp_path, now=now).frame
        return {k: (None if pd.isna(v) else bool(v)) for k, v in zip(frame["subject_id"], frame["minor"], strict=True)}

    assert minors(datetime(2026, 4, 9, 23, 59, tzinfo=UTC)) == {"u1": True, "u2": False, "u3": None, "u4": False}
    assert minors(datetime(2026, 4, 10, tzinfo=UTC)) == {"u1": False, "u2": False, "u3": None, "u4": False}
    # 18th birthday on 29 February 2026 does not exist: adult from 1 March
    assert minors(datetime(2026, 2, 28, 12, tzinfo=UTC))["u4"] is True
    assert minors(datetime(2026, 3, 1, tzinfo=UTC))["u4"] is False
    # the zone of `now` counts: 9 April 23:30 in UTC-2 is already 10 April in UTC
    from datetime import timedelta, timezone

    assert minors(datetime(2026, 4, 9, 23, 30, tzinfo=timezone(timedelta(hours=-2))))["u1"] is False
    with pytest.raises(ValueError, match="timezone-aware"):
        read_directory(DirectoryConfig(source=str(path)), tmp_path, now=datetime(2026, 4, 9))


def test_a_minor_flag_column_or_the_birth_date_suffices(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("id,mail,born,under18\nu1,a@example.org,1990-01-01,yes\nu2,b@example.org,2015-01-01,no\n"
                    "u3,c@example.org,,0\nu4,d@example.org,,\n", encoding="utf-8")
    config = DirectoryConfig(source=str(path), key="id", mapping={"email": "mail", "birth_date": "born",
                                                                   "minor": "under18"})
    frame = read_directory(config, tmp_path, now=NOW).frame.set_index("subject_id")
    assert [frame.loc[k, "minor"] for k in ("u1", "u2", "u3")] == [True, True, False]
    assert pd.isna(frame.loc["u4", "minor"])
    assert frame.loc["u1", "email"] == "a@example.org"


def test_email_case_whitespace_and_unicode_normalisation(tmp_path: Path):
    path = tmp_path / "d.csv"
    decomposed = "Jo\u0301se@Example.org"  # o + combining acute → NFC ó
    path.write_text(f"user_id,email\nu1,\t  MiXeD@Example.ORG  \nu2,{decomposed}\nu3,   \n", encoding="utf-8")
    frame = read(path, tmp_path).frame.set_index("subject_id")
    assert frame.loc["u1", "email"] == "mixed@example.org"
    assert frame.loc["u2", "email"] == "jóse@example.org" and len(frame.loc["u2", "email"]) == 16
    assert pd.isna(frame.loc["u3", "email"])  # blank is missing, not invalid


ADDRESSES = [
    "a@example.org", "a.b-c+d@sub.example.com", "a..b@example.org", ".a@example.org", "a.@example.org",
    "a@b", "a@localhost", "a@b.test", "a@b.invalid", "a@-b.example", "a@b-.example", "a@b..example",
    "a@b.c1", "a@123.example", "a@b.example.", "x" * 64 + "@example.org", "x" * 65 + "@example.org",
    "a@" + "b" * 63 + ".example", "a@" + "b" * 64 + ".example", "a@" + ".".join(["b" * 60] * 4) + ".org",
    "a b@example.org", "a@b@example.org", '"a b"@example.org', "a@[1.2.3.4]", "über@example.org",
    "a@müller.example", "!#$%&'*+/=?^_`{|}~-@example.org", "a@b_c.example", "@example.org", "a@", "a@.example",
    "a@xn--mller-kva.example", "q@a.onion", "a@arpa", "a@sub.local", "very.common@example.com",
    "user%example.com@example.org", "user-@example.org", "a@example.museum", "1234567890@example.com",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_fast_email_check_agrees_with_email_validator(address: str):
    try:
        validate_email(address, check_deliverability=False)
        expected = None
    except EmailNotValidError as exc:
        expected = str(exc)
    assert d._email_errors(pa.array([address])).to_pylist() == [expected]


def test_mapping_and_key_rename_columns_and_unknown_mapping_is_a_config_error(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("uid;mail;lang\n  x1 ;X@Example.org;de_at\n", encoding="utf-8")  # ; delimited
    result = read_directory(DirectoryConfig(source=str(path), key="uid", mapping={"email": "mail", "locale": "lang"}),
                            tmp_path, now=NOW)
    assert result.frame[["subject_id", "email", "locale"]].values.tolist() == [["x1", "x@example.org", "de-AT"]]
    assert "country" in result.absent
    with pytest.raises(ConfigError, match="cannot map"):
        read_directory(DirectoryConfig(source=str(path), mapping={"shoe_size": "x"}), tmp_path, now=NOW)
    with pytest.raises(InputError, match="no column") as err:
        read_directory(DirectoryConfig(source=str(path), key="uid", mapping={"email": "nope"}), tmp_path, now=NOW)
    assert "uid, mail, lang" in (err.value.hint or "")


# ------------------------------------------------------------------------------------ unreadable


def test_a_source_that_cannot_be_read_is_an_input_error_naming_it(tmp_path: Path):
    with pytest.raises(InputError) as err:
        read(tmp_path / "missing.csv", tmp_path)
    assert "missing.csv" in str(err.value)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read(tmp_path / "empty.csv", tmp_path)
    (tmp_path / "nokey.csv").write_text("name,email\nA,a@example.org\n", encoding="utf-8")
    with pytest.raises(InputError, match="no column user_id") as err:
        read(tmp_path / "nokey.csv", tmp_path)
    assert "nokey.csv" in str(err.value)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"broken\.parquet"):
        read(tmp_path / "broken.parquet", tmp_path)
    (tmp_path / "broken.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(InputError, match=r"broken\.csv\.gz"):
        read(tmp_path / "broken.csv.gz", tmp_path)
    with pytest.raises(ConfigError, match="format"):
        read(tmp_path / "directory.xlsx", tmp_path)
    with pytest.raises(ConfigError, match="no user directory"):
        read_directory(DirectoryConfig(), tmp_path, now=NOW)


# ------------------------------------------------------------------------------ other formats


def test_parquet_with_typed_columns(tmp_path: Path):
    table = pa.table({
        "user_id": pa.array([101, 102, 103], pa.int64()),
        "email": [" A@Example.org", "b@example.org", None],
        "birth_date": pa.array([date(2010, 1, 1), date(1980, 1, 1), None], pa.date32()),
        "minor": pa.array([None, None, True]),
        "country": pa.array(["de", "fr", "xx1"]).dictionary_encode(),
    })
    pq.write_table(table, tmp_path / "d.parquet")
    result = read(tmp_path / "d.parquet", tmp_path)
    frame = result.frame.set_index("subject_id")
    assert list(frame.index) == ["101", "102", "103"]
    assert [frame.loc[k, "minor"] for k in ("101", "102", "103")] == [True, False, True]
    assert frame.loc["101", "email"] == "a@example.org" and frame.loc["102", "country"] == "FR"
    assert [(p.reason, p.row, p.key) for p in result.rejected] == [(d.INVALID_COUNTRY, 3, "103")]


def test_csv_gzip_and_parquet_of_the_sample_equal_the_csv(tmp_path: Path):
    plain = read(SAMPLES / "directory.csv", SAMPLES)
    gz = tmp_path / "directory.csv.gz"
    gz.write_bytes(gzip.compress((SAMPLES / "directory.csv").read_bytes()))
    pd.testing.assert_frame_equal(read(gz, tmp_path).frame, plain.frame)
    pq.write_table(pa.Table.from_pandas(pd.read_csv(SAMPLES / "directory.csv", dtype=str)), tmp_path / "d.parquet")
    pd.testing.assert_frame_equal(read(tmp_path / "d.parquet", tmp_path).frame, plain.frame)


def test_sql_table_from_a_sqlite_file(tmp_path: Path):
    shutil.copy(SAMPLES / "directory.csv", tmp_path / "directory.csv")
    db = tmp_path / "dir.db"
    with sqlite3.connect(db) as connection:
        pd.read_csv(SAMPLES / "directory.csv", dtype=str).to_sql("people", connection, index=False)
        connection.execute("CREATE TABLE odd (user_id INTEGER, email TEXT, birth_date DATE)")
        connection.execute("INSERT INTO odd VALUES (7, 'Seven@Example.org', '2010-05-05'), (NULL, 'x@example.org', '')")
    csv_result = read(tmp_path / "directory.csv", tmp_path)
    sql_result = read("sqlite:///dir.db", tmp_path, format="sql", table="people")  # relative to base_dir
    pd.testing.assert_frame_equal(sql_result.frame, csv_result.frame)
    assert sql_result.source.startswith("SQL table people at sqlite:///")
    odd = read(f"sqlite:///{db}", tmp_path, table="odd")  # format auto: a URL is SQL
    assert odd.frame[["subject_id", "email"]].values.tolist() == [["7", "seven@example.org"]]
    assert bool(odd.frame["minor"][0]) is True
    assert [(p.reason, p.row) for p in odd.rejected] == [(d.MISSING_KEY, 2)]
    with pytest.raises(InputError, match="no table 'nope'"):
        read(f"sqlite:///{db}", tmp_path, format="sql", table="nope")
    with pytest.raises(InputError, match="does not exist"):
        read("sqlite:///absent.db", tmp_path, format="sql", table="people")
    assert not (tmp_path / "absent.db").exists()  # never created by looking
    with pytest.raises(ConfigError, match="table"):
        read(f"sqlite:///{db}", tmp_path, format="sql")
    with pytest.raises(ServiceError):
        read("postgresql+psycopg://u:secret@127.0.0.1:1/db", tmp_path, table="people")


def _index_cases(client, index: str, product: str, name: str, add) -> None:
    """The directory read from an index: dotted names for nested objects, bad rows reported, a missing index
    named, no client refused."""
    docs = [{"user_id": "u1", "email": " A@Example.org", "name": "Ada", "birth_date": "2012-03-04"},
            {"user_id": "u2", "contact": {"email": "b@example.org"}, "name": "Bob"},
            {"user_id": "u3", "email": "not-an-email", "country": "Deutschland"},
            {"email": "nokey@example.org"}]
    for i, doc in enumerate(docs):
        add(str(i), doc)
    client.indices.refresh(index=index)
    config = DirectoryConfig(source=product, format=product, index=index)
    result = read_directory(config, Path("."), now=NOW, search_client=client)
    assert result.source == f"{name} index {index}"
    frame = result.frame.set_index("subject_id")
    assert sorted(frame.index) == ["u1", "u2", "u3"]
    assert frame.loc["u1", "email"] == "a@example.org" and bool(frame.loc["u1", "minor"]) is True
    assert pd.isna(frame.loc["u2", "email"])
    assert sorted((p.reason, p.key) for p in result.rejected) == [
        (d.INVALID_COUNTRY, "u3"), (d.INVALID_EMAIL, "u3"), (d.MISSING_KEY, None)]
    nested = DirectoryConfig(source=product, index=index, mapping={"email": "contact.email"})
    assert read_directory(nested, Path("."), now=NOW, search_client=client).frame.set_index(
        "subject_id").loc["u2", "email"] == "b@example.org"
    with pytest.raises(InputError, match=f"no {name} index"):
        read_directory(DirectoryConfig(source=product, index=f"{index}-absent"), Path("."), now=NOW,
                       search_client=client)
    with pytest.raises(UsageError, match=f"from {name} needs a client"):
        read_directory(config, Path("."), now=NOW)
    with pytest.raises(ConfigError, match=f"in {name} needs an index"):
        read_directory(DirectoryConfig(source=product), Path("."), now=NOW, search_client=client)
    assert index_products(DirectoryConfig(source=product, index=index, devices=f"{product}:devices")) == (
        product, product)


@pytest.mark.es
def test_elasticsearch_index(es_client, es_prefix):
    index = f"{es_prefix}directory"
    _index_cases(es_client, index, "elasticsearch", "Elasticsearch",
                 lambda i, doc: es_client.index(index=index, id=i, document=doc))


@pytest.mark.opensearch
def test_opensearch_index(os_client, os_prefix):
    index = f"{os_prefix}directory"
    _index_cases(os_client, index, "opensearch", "OpenSearch",
                 lambda i, doc: os_client.index(index=index, id=i, body=doc))


def test_which_search_engine_holds_the_directory_and_the_devices():
    assert index_products(DirectoryConfig(source="people.csv", devices="sqlite:///d.db#devices")) == (None, None)
    assert index_products(DirectoryConfig(source="elasticsearch", index="people", devices="devices.csv")) == (
        "elasticsearch", None)
    assert index_products(DirectoryConfig(source="x", format="opensearch", index="p",
                                          devices="elasticsearch:devices")) == ("opensearch", "elasticsearch")


# --------------------------------------------------------------------------------- the sample


@pytest.mark.parametrize("now", [datetime(2026, 4, 3, tzinfo=UTC), datetime(2026, 3, 20, tzinfo=UTC)])
def test_sample_directory(now: datetime):
    result = read_directory(DirectoryConfig(source="directory.csv"), SAMPLES, now=now)
    facts = ATTACKS["directory"]
    assert result.rejected == () and len(result.frame) == facts["accounts"] == result.rows_read
    assert sorted(result.frame.loc[result.frame["minor"].fillna(False).astype(bool), "subject_id"]) == facts["minors"]
    assert result.frame["account_type"].value_counts().to_dict() == facts["by_type"]
    assert (result.frame["email"] == result.frame["email"].str.strip().str.lower()).all()
    frame = result.frame.set_index("subject_id")
    for a, b in facts["duplicate_emails_after_normalisation"]:
        assert frame.loc[a, "email"] == frame.loc[b, "email"]


def test_devices_registry_sample_and_bad_rows():
    registry = read_devices(DirectoryConfig(source="directory.csv", devices="devices.csv"), SAMPLES)
    assert registry is not None and registry.rejected == ()
    assert list(registry.frame.columns) == list(d.DEVICE_COLUMNS) and len(registry.frame) == 3714
    assert read_devices(DirectoryConfig(source="directory.csv"), SAMPLES) is None
    bad = read_devices(DirectoryConfig(source="x.csv", devices="devices_bad.csv"), DATA)
    assert bad is not None
    assert [(p.reason, p.line, p.key) for p in bad.rejected] == [
        (d.MISSING_OWNER, 4, "GW-3"), (d.MISSING_KEY, 5, None), (d.CONFLICTING_DUPLICATE, 8, "GW-4"),
        (d.CONFLICTING_DUPLICATE, 9, "GW-5")]
    assert bad.frame.values.tolist() == [["GW-1", "358472111961156", "u1"], ["GW-2", "358472116662783", "u2"],
                                         ["GW-4", "359623097506048", "u4"]]


def test_devices_from_sql_with_a_table_fragment(tmp_path: Path):
    with sqlite3.connect(tmp_path / "reg.db") as connection:
        pd.read_csv(SAMPLES / "devices.csv", dtype=str).to_sql("inventory", connection, index=False)
    registry = read_devices(DirectoryConfig(source="x.csv", devices="sqlite:///reg.db#inventory"), tmp_path)
    assert registry is not None and len(registry.frame) == 3714


# ------------------------------------------------------------------------------------------ speed


def _million(tmp_path: Path) -> pd.DataFrame:
    sample = pd.read_csv(SAMPLES / "directory.csv", dtype=str, keep_default_na=False)
    big = pd.concat([sample] * (1_000_000 // len(sample) + 1), ignore_index=True).iloc[:1_000_000].copy()
    number = pd.Series(range(len(big))).astype(str)
    big["user_id"] = "u" + number.str.zfill(7)
    local, _, domain = big["email"].str.strip().str.partition("@").values.T
    big["email"] = local + "." + number + "@" + domain
    return big


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_million_rows_read_completely(tmp_path: Path, fmt: str):
    """Correctness at scale (speed is measured by bench/subjects.py, never asserted in a test)."""
    big = _million(tmp_path)
    path = tmp_path / f"big.{fmt}"
    big.to_csv(path, index=False) if fmt == "csv" else big.to_parquet(path, index=False)
    result = read(path, tmp_path)
    assert len(result.frame) == 1_000_000 and result.rejected == ()
    assert result.frame["subject_id"].is_unique


def test_categories_held_are_canonical_and_unknown_ones_reported(tmp_path: Path):
    path = tmp_path / "held.csv"
    path.write_text("user_id,email,categories_held\n"
                    "u1,a@example.org,Financial; contact\n"
                    "u2,b@example.org,\"usage,location\"\n"
                    "u3,c@example.org,bank details;contact\n"
                    "u4,d@example.org,\n", encoding="utf-8")
    result = read(path, tmp_path)
    held = dict(zip(result.frame["subject_id"], result.frame[d.CATEGORIES_HELD], strict=True))
    assert held["u1"] == "contact;financial" and held["u2"] == "location;usage"
    assert pd.isna(held["u3"]) and pd.isna(held["u4"])
    assert by_reason(result) == {d.INVALID_CATEGORIES: [(4, "u3")]}
    assert len(result.frame) == 4  # the value is cleared, the row kept
