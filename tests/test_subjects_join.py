"""Identifiers ⋈ directory ⋈ devices → the subject table, and the counts for the authority report."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from breachkit.config import DirectoryConfig
from breachkit.subjects import join, schema
from breachkit.subjects.counts import UNKNOWN, Breakdown, subject_counts
from breachkit.subjects.directory import normalise_devices, normalise_directory, read_devices, read_directory
from breachkit.subjects.join import SubjectBuild, build_subject_table

SAMPLES = Path(__file__).parent.parent / "samples"
ATTACKS = json.loads((SAMPLES / "attacks.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 4, 3, tzinfo=UTC)
T0 = pd.Timestamp("2026-03-21T10:00:00.123Z")


def identifiers(*rows: tuple[str, str, int, list[str]] | tuple[str, str, int, list[str], int, int]) -> pd.DataFrame:
    """(field, value, events, categories[, first offset s, last offset s]) → an identifier frame."""
    records = []
    for row in rows:
        field, value, events, categories = row[:4]
        first, last = (row[4], row[5]) if len(row) == 6 else (0, 60)  # type: ignore[misc]
        records.append({schema.ID_FIELD: field, schema.ID_VALUE: value,
                        schema.ID_RELATION: schema.IDENTIFIER_FIELDS.get(field, "other"),
                        schema.ID_FIRST_SEEN: T0 + pd.Timedelta(seconds=first),
                        schema.ID_LAST_SEEN: T0 + pd.Timedelta(seconds=last),
                        schema.ID_EVENTS: events, schema.ID_CATEGORIES: categories})
    frame = pd.DataFrame(records, columns=list(schema.IDENTIFIER_COLUMNS))
    for column in (schema.ID_FIRST_SEEN, schema.ID_LAST_SEEN):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(join.TIME_DTYPE)
    return frame


def _arrow(csv: str) -> pa.Table:
    return pcsv.read_csv(io.BytesIO(csv.encode()), convert_options=pcsv.ConvertOptions(
        column_types=dict.fromkeys(csv.splitlines()[0].split(","), pa.string())))


def directory(csv: str) -> pd.DataFrame:
    table = _arrow(csv)
    frame, problems = normalise_directory(table, {c: c for c in table.column_names}, now=NOW)
    assert problems == ()
    return frame


def devices(csv: str) -> pd.DataFrame:
    return normalise_devices(_arrow(csv))[0]


PEOPLE = directory(
    "subject_id,email,name,phone,locale,country,account_type,birth_date\n"
    "u1,Ann@Example.org,Ann Smith,,en,GB,end_user,1980-01-01\n"
    "u2,bo@example.org,Bo,+46 1,sv,SE,end_user,2012-06-01\n"
    "u3,  ANN@example.ORG ,ann  smith,+44 20,,GB,end_user,\n"  # same person as u1 (case, spacing)
    "u4,ann@example.org,Annika Other,,de,DE,installer,\n"  # same address, another name: another person
    "u5,,No Mail,,fr,FR,end_user,1990-02-02\n"
    "u6,kid@example.org,Kid,,en,IE,end_user,\n"
    "u7,Kid@example.org,Kid,,en,IE,end_user,2013-01-01\n"  # u6's other account knows the birth date
)
REGISTRY = devices("device_id,imei,owner_user_id\nGW-1,358472111961156,u2\nGW-2,35962 3097-506048,u5\n"
                   "GW-9,867531031322387,u404\n")


def test_one_row_per_person_with_identifiers_categories_times_and_records():
    ids = identifiers(("user.id", "u2", 3, ["credentials"], 10, 20),
                      ("user.target.id", " u2 ", 5, ["contact", "usage"], 0, 90),
                      ("device.id", "GW-1", 2, ["device_identifiers"], 30, 40),
                      ("device.imei", "3584 7211-1961156", 1, [], 5, 5),
                      ("user.target.id", "u5", 4, ["usage"]))
    build = build_subject_table(ids, PEOPLE, REGISTRY)
    table = build.table
    assert list(table.columns) == list(schema.SUBJECT_COLUMNS)
    assert list(table[schema.SUBJECT_ID]) == ["u2", "u5"]
    bo = table.iloc[0]
    assert bo[schema.IDENTIFIERS] == ["device.id:GW-1", "device.imei:358472111961156", "user.id:u2",
                                      "user.target.id:u2"]
    assert bo[schema.CATEGORIES] == ["contact", "credentials", "device_identifiers", "usage"]
    assert bo[schema.FIRST_SEEN] == T0 and bo[schema.LAST_SEEN] == T0 + pd.Timedelta(seconds=90)
    assert bo[schema.RECORDS] == 11 and bool(bo[schema.MINOR]) is True
    assert (bo[schema.EMAIL], bo[schema.PHONE], bo[schema.COUNTRY], bo[schema.LOCALE]) == (
        "bo@example.org", "+46 1", "SE", "sv")
    assert pd.isna(table.iloc[1][schema.EMAIL])
    assert build.merged == 1 and build.unmatched.empty
    assert table.dtypes.astype(str).to_dict() == {
        "subject_id": "str", "email": "str", "name": "str", "phone": "str", "locale": "str", "country": "str",
        "account_type": "str", "minor": "bool", "categories": "object", "identifiers": "object",
        "first_seen": "datetime64[us, UTC]", "last_seen": "datetime64[us, UTC]", "records": "int64",
        "roles": "object", "requests": "int64"}


def test_accounts_with_the_same_email_and_name_are_one_person_under_the_smallest_id():
    build = build_subject_table(identifiers(("user.target.id", "u3", 2, ["usage"]), ("user.id", "u4", 1, [])),
                                PEOPLE)
    table = build.table.set_index(schema.SUBJECT_ID)
    assert list(table.index) == ["u1", "u4"]  # u3 is u1 (reached through u3 only); u4 has another name
    assert table.loc["u1", schema.IDENTIFIERS] == ["user.target.id:u3"]
    assert table.loc["u1", schema.NAME] == "Ann Smith" and table.loc["u1", schema.PHONE] == "+44 20"  # filled
    assert table.loc["u1", schema.EMAIL] == table.loc["u4", schema.EMAIL] == "ann@example.org"
    both = build_subject_table(identifiers(("user.target.id", "u3", 2, ["usage"]), ("user.id", "u1", 1, [])),
                               PEOPLE)
    assert list(both.table[schema.SUBJECT_ID]) == ["u1"] and both.merged == 1
    assert both.table.iloc[0][schema.IDENTIFIERS] == ["user.id:u1", "user.target.id:u3"]
    assert both.table.iloc[0][schema.RECORDS] == 3
    kid = build_subject_table(identifiers(("user.id", "u6", 1, [])), PEOPLE).table
    assert list(kid[schema.SUBJECT_ID]) == ["u6"] and bool(kid.iloc[0][schema.MINOR]) is True


def test_unmatched_identifiers_say_why():
    ids = identifiers(("user.target.id", "u999", 7, ["usage"]), ("device.id", "GW-404", 1, []),
                      ("device.imei", "867531031322387", 2, []), ("user.name", "mallory", 1, []),
                      ("device.imei", "358472111961156", 1, []))
    build = build_subject_table(ids, PEOPLE, REGISTRY)
    assert list(build.table[schema.SUBJECT_ID]) == ["u2"]
    unmatched = build.unmatched
    assert list(unmatched.columns) == list(join.UNMATCHED_COLUMNS)
    assert unmatched[[schema.ID_FIELD, schema.ID_VALUE, schema.ID_EVENTS, join.REASON]].values.tolist() == [
        ["user.target.id", "u999", 7, join.NOT_IN_DIRECTORY],
        ["device.id", "GW-404", 1, join.DEVICE_NOT_IN_REGISTRY],
        ["device.imei", "867531031322387", 2, join.OWNER_NOT_IN_DIRECTORY],
        ["user.name", "mallory", 1, join.UNSUPPORTED_FIELD]]
    assert unmatched[join.OWNER].iloc[2] == "u404" and unmatched[join.OWNER].isna().sum() == 3
    without = build_subject_table(ids, PEOPLE)
    assert list(without.unmatched[join.REASON]) == [join.NOT_IN_DIRECTORY, join.NO_DEVICE_REGISTRY,
                                                   join.NO_DEVICE_REGISTRY, join.UNSUPPORTED_FIELD,
                                                   join.NO_DEVICE_REGISTRY]
    assert without.table.empty


def test_empty_identifiers_give_an_empty_table_with_the_contract():
    build = build_subject_table(identifiers(), PEOPLE, REGISTRY)
    assert list(build.table.columns) == list(schema.SUBJECT_COLUMNS) and build.table.empty
    assert build.merged == 0 and build.unmatched.empty
    assert str(build.table[schema.FIRST_SEEN].dtype) == join.TIME_DTYPE


def test_missing_columns_are_rejected():
    with pytest.raises(ValueError, match="identifier frame lacks categories"):
        build_subject_table(identifiers().drop(columns=schema.ID_CATEGORIES), PEOPLE)
    with pytest.raises(ValueError, match="directory frame lacks email"):
        build_subject_table(identifiers(), PEOPLE.drop(columns=schema.EMAIL))


# ------------------------------------------------------------------------------------------- counts


def test_counts_per_category_country_type_locale_minors_and_missing_email():
    ids = identifiers(("user.id", "u1", 3, ["contact", "usage"]), ("user.id", "u2", 5, ["usage"]),
                      ("user.id", "u4", 1, []), ("user.id", "u5", 2, ["contact"]))
    counts = subject_counts(build_subject_table(ids, PEOPLE).table)
    assert (counts.people, counts.records) == (4, 11)
    assert counts.by_category == {"usage": Breakdown(2, 8), "contact": Breakdown(2, 5), UNKNOWN: Breakdown(1, 1)}
    assert counts.by_country == {"GB": Breakdown(1, 3), "DE": Breakdown(1, 1), "FR": Breakdown(1, 2),
                                 "SE": Breakdown(1, 5)}
    assert list(counts.by_country) == ["DE", "FR", "GB", "SE"]  # ties by key
    assert counts.by_account_type == {"end_user": Breakdown(3, 10), "installer": Breakdown(1, 1)}
    assert counts.by_locale == {"de": Breakdown(1, 1), "en": Breakdown(1, 3), "fr": Breakdown(1, 2),
                                "sv": Breakdown(1, 5)}
    assert (counts.minors, counts.minor_ids) == (1, ("u2",))
    assert (counts.without_email, counts.without_email_ids) == (1, ("u5",))
    plain = counts.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert plain["by_category"]["usage"] == {"people": 2, "records": 8} and plain["records_approximate"] is True
    assert plain["minor_ids"] == ["u2"]
    empty = subject_counts(build_subject_table(identifiers(), PEOPLE).table)
    assert (empty.people, empty.records, dict(empty.by_country), empty.minors) == (0, 0, {}, 0)


# ------------------------------------------------------------------------------------------ sample


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    config = DirectoryConfig(source="directory.csv", devices="devices.csv")
    registry = read_devices(config, SAMPLES)
    assert registry is not None
    return read_directory(config, SAMPLES, now=NOW).frame, registry.frame


def attack_identifiers(attack: dict[str, object], *, targets: bool = True) -> pd.DataFrame:
    start, end = pd.Timestamp(str(attack["start"])), pd.Timestamp(str(attack["end"]))
    rows = []
    fields = [("device.id", "device_ids"), ("device.imei", "imeis")]
    for field, key in ([("user.target.id", "target_user_ids")] if targets else []) + fields:
        for value in attack[key]:  # type: ignore[attr-defined]
            rows.append((field, value, 1, ["usage"]))
    frame = identifiers(*rows)
    frame[schema.ID_FIRST_SEEN] = pd.Series([start] * len(frame), dtype=join.TIME_DTYPE)
    frame[schema.ID_LAST_SEEN] = pd.Series([end] * len(frame), dtype=join.TIME_DTYPE)
    return frame


ATTACKS_WITH_SUBJECTS = [a for a in ATTACKS["attacks"] if a["affected_user_ids"]]


@pytest.mark.parametrize("attack", ATTACKS_WITH_SUBJECTS, ids=[a["id"] for a in ATTACKS_WITH_SUBJECTS])
def test_sample_people_are_the_ground_truth(attack: dict[str, object], sample: tuple[pd.DataFrame, pd.DataFrame]):
    people, registry = sample
    facts = people.set_index(schema.SUBJECT_ID)
    canonical = {b: a for a, b in ATTACKS["directory"]["duplicate_emails_after_normalisation"]}
    affected = {canonical.get(u, u) for u in attack["affected_user_ids"]}  # type: ignore[attr-defined]
    build: SubjectBuild = build_subject_table(attack_identifiers(attack), people, registry)
    got = set(build.table[schema.SUBJECT_ID])
    targets = set(attack["target_user_ids"])  # type: ignore[arg-type]
    existing = targets & set(facts.index)
    if attack["id"] == "customer_enumeration":  # 404s: ids that do not exist or are not end users
        assert got - affected == {u for u in existing if facts.loc[u, schema.ACCOUNT_TYPE] != "end_user"}
        assert set(build.unmatched[schema.ID_VALUE]) == targets - existing
        assert set(build.unmatched[join.REASON]) == {join.NOT_IN_DIRECTORY}
        minors = set(facts.index[facts[schema.MINOR].fillna(False).astype(bool)])
        assert len(set(build.table.loc[build.table[schema.MINOR], schema.SUBJECT_ID])) == len(affected & minors) == 1
    elif attack["id"] == "credential_stuffing":  # every account tried is a target; 7 logins succeeded
        assert affected < got and got == existing
    else:
        assert got == affected
        assert build.unmatched.empty
    assert build.table[schema.RECORDS].sum() == len(attack_identifiers(attack)) - build.unmatched[
        schema.ID_EVENTS].sum()


@pytest.mark.parametrize("attack_id", ["shared_device_identity", "device_registration_burst"])
def test_sample_devices_alone_reach_their_owner(attack_id: str, sample: tuple[pd.DataFrame, pd.DataFrame]):
    attack = next(a for a in ATTACKS["attacks"] if a["id"] == attack_id)
    build = build_subject_table(attack_identifiers(attack, targets=False), *sample)
    assert list(build.table[schema.SUBJECT_ID]) == attack["affected_user_ids"]
    assert len(build.table.iloc[0][schema.IDENTIFIERS]) == len(attack["device_ids"]) + len(attack["imeis"])
    assert build.merged == 1 and build.unmatched.empty


def test_sample_duplicate_registrations_are_one_person(sample: tuple[pd.DataFrame, pd.DataFrame]):
    pairs = ATTACKS["directory"]["duplicate_emails_after_normalisation"]
    ids = identifiers(*[("user.target.id", u, 1, ["contact"]) for pair in pairs for u in pair])
    build = build_subject_table(ids, *sample)
    assert sorted(build.table[schema.SUBJECT_ID]) == sorted(a for a, _ in pairs)
    assert build.merged == len(pairs)
    assert all(len(v) == 2 for v in build.table[schema.IDENTIFIERS])


def test_a_taken_over_account_puts_everything_it_holds_at_risk():
    from breachkit.subjects.join import at_risk_in_taken_over_accounts

    table = pd.DataFrame({"subject_id": ["u1", "u2", "u3"],
                          "categories": [["credentials", "online_identifiers"], ["usage"], ["credentials"]]})
    directory = pd.DataFrame({"subject_id": ["u1", "u2", "u3"],
                              "categories_held": ["contact;financial", "contact;financial", None]})
    out = at_risk_in_taken_over_accounts(table, directory)
    assert out["categories"].tolist() == [["contact", "credentials", "financial", "online_identifiers"], ["usage"],
                                          ["credentials"]]
    assert table["categories"][0] == ["credentials", "online_identifiers"]  # the input is not changed
