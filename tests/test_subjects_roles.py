"""Roles of the people in a subject list (subjects.roles): the rules one by one over hand-made identifier tables,
and the roles carried through the export and into the recipient list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from breachkit.incidents.model import Scope
from breachkit.notices.recipients import read_recipients, recipients_from_frame
from breachkit.subjects import schema
from breachkit.subjects.api import with_declared_accounts
from breachkit.subjects.counts import subject_counts
from breachkit.subjects.export import export_subjects, read_subject_table
from breachkit.subjects.join import TIME_DTYPE, build_subject_table
from breachkit.subjects.roles import Basis, assign_roles
from tests.test_subjects_join import directory

PEOPLE = directory(
    "subject_id,email,name,locale,country,account_type\n"
    "inst,service@installer.example,Installer GmbH,de,DE,installer\n"
    "c1,c1@example.org,Customer One,de,DE,end_user\n"
    "c2,c2@example.org,Customer Two,fr,FR,end_user\n"
    "c3,c3@example.org,Customer Three,en,IE,end_user\n"
    "rogue,rogue@example.org,Rogue Admin,de,DE,admin\n")
T0 = pd.Timestamp("2026-03-31T01:12:00Z")


def ids(*rows: tuple[str, str, int, list[str], int, int]) -> pd.DataFrame:
    """(field, value, events, categories, exposing, used_by_actor) → an identifier frame (an account's events
    succeeded when they exposed something)."""
    frame = pd.DataFrame([{schema.ID_FIELD: f, schema.ID_VALUE: v, schema.ID_RELATION: schema.IDENTIFIER_FIELDS[f],
                           schema.ID_FIRST_SEEN: T0, schema.ID_LAST_SEEN: T0 + pd.Timedelta(minutes=12),
                           schema.ID_EVENTS: n, schema.ID_CATEGORIES: c, schema.ID_EXPOSING: e,
                           schema.ID_USED_BY_ACTOR: u, schema.ID_SUCCEEDED: n if c else 0}
                          for f, v, n, c, e, u in rows],
                         columns=list(schema.IDENTIFIER_COLUMNS))
    for column in (schema.ID_FIRST_SEEN, schema.ID_LAST_SEEN):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(TIME_DTYPE)
    return frame


# an installer token reading two customers' consumption (one 404), all from the attacker's address
ENUMERATION = ids(("user.id", "inst", 3, ["online_identifiers"], 0, 2),
                  ("user.target.id", "c1", 1, ["usage"], 1, 0),
                  ("user.target.id", "c2", 1, ["usage"], 1, 0),
                  ("user.target.id", "c3", 1, [], 0, 0))


def roles(frame: pd.DataFrame, **declared) -> tuple[dict[str, list[str]], pd.DataFrame, object]:
    assigned = assign_roles(build_subject_table(frame, PEOPLE), **declared)
    table = assigned.table.set_index(schema.SUBJECT_ID)
    return {k: list(v) for k, v in table[schema.ROLES].items()}, table, assigned.summary


def test_a_token_used_from_the_actors_address_is_compromised_and_its_requests_are_not_records():
    found, table, summary = roles(ENUMERATION)
    assert found == {"c1": ["data_subject"], "c2": ["data_subject"], "inst": ["compromised_account"]}
    assert list(table.loc["inst", schema.CATEGORIES]) == []  # the attacker's address is nobody's data
    assert (table.loc["inst", schema.RECORDS], table.loc["inst", schema.REQUESTS]) == (0, 3)
    assert list(table.loc["c1", schema.CATEGORIES]) == ["usage"] and table.loc["c1", schema.RECORDS] == 1
    assert summary.attempted_only == 1 and summary.accounts[0].basis is Basis.ACTOR_MEANS
    counts = subject_counts(table.reset_index())
    assert (counts.people, counts.records, counts.compromised_accounts, counts.compromised_requests,
            counts.recipients) == (2, 2, 1, 3, 3)
    assert set(counts.by_category) == {"usage"} and set(counts.by_country) == {"DE", "FR"}


def test_without_evidence_an_account_is_an_undetermined_actor_until_declared():
    quiet = ENUMERATION.assign(**{schema.ID_USED_BY_ACTOR: 0})  # the scope named only the account
    found, _, summary = roles(quiet)
    assert found["inst"] == ["actor"] and summary.undetermined == ("inst",)
    declared, _, summary = roles(quiet, compromised=["inst"])
    assert declared["inst"] == ["compromised_account"] and summary.accounts[0].basis is Basis.DECLARED_COMPROMISED
    # the actor's own account (a rogue insider) is never told, even with the actor's address as evidence
    own, table, summary = roles(ENUMERATION, actor_accounts=["inst"])
    assert own["inst"] == ["actor"] and summary.accounts[0].basis is Basis.DECLARED_ACTOR
    assert subject_counts(table.reset_index()).actors == 1


def test_an_actor_reading_its_own_profile_is_not_a_data_subject_but_a_taken_over_account_is():
    # a credential-stuffing victim: login, then profile and consumption read in its own session
    takeover = ids(("user.id", "c1", 3, ["contact", "credentials", "identity", "online_identifiers", "usage"], 3, 3))
    found, table, _ = roles(takeover)
    assert found == {"c1": ["compromised_account", "data_subject"]}
    assert list(table.loc["c1", schema.CATEGORIES]) == ["contact", "credentials", "identity", "usage"]
    assert table.loc["c1", schema.RECORDS] == 3
    # the same requests by a rogue admin on its own account: nobody's data was breached
    rogue = ids(("user.id", "rogue", 3, ["contact", "identity", "online_identifiers"], 3, 0))
    found, _, summary = roles(rogue)
    assert found == {"rogue": ["actor"]} and summary.undetermined == ("rogue",)


def test_failed_attempts_alone_compromise_nothing():
    stuffing = ids(("user.id", "c1", 2, [], 0, 0), ("user.id", "c2", 5, ["identity", "online_identifiers"], 4, 4))
    found, _, summary = roles(stuffing)
    assert found == {"c2": ["compromised_account", "data_subject"]}
    # c1 only saw failed logins: an attempt on the account, not its use — no role, left out and counted
    assert summary.attempted_only == 1 and {a.subject_id: a.basis for a in summary.accounts} == {
        "c2": Basis.ACTOR_MEANS}


def test_a_person_both_compromised_and_a_target_gets_both_roles():
    frame = ids(("user.id", "inst", 3, ["online_identifiers"], 0, 3), ("user.target.id", "inst", 1, ["contact"], 1, 0))
    found, table, _ = roles(frame)
    assert found == {"inst": ["compromised_account", "data_subject"]} and table.loc["inst", schema.RECORDS] == 1


def test_a_declared_compromised_account_without_requests_is_still_told():
    frame = with_declared_accounts(ENUMERATION, ["c3"], Scope(since=T0.to_pydatetime(), user_ids=["inst"]))
    found, table, _ = roles(frame, compromised=["c3"])
    assert found["c3"] == ["compromised_account"] and table.loc["c3", schema.REQUESTS] == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_roles_go_through_the_export_into_the_recipient_list(tmp_path: Path, fmt):
    _, table, _ = roles(ENUMERATION)
    path = tmp_path / f"subjects.{fmt}"
    export_subjects(table.reset_index(), path, fmt)  # type: ignore[arg-type]
    back = read_subject_table(path)
    assert dict(zip(back[schema.SUBJECT_ID], back[schema.ROLES].map(list), strict=True))["inst"] == [
        "compromised_account"]
    people = read_recipients(path)
    kinds = {r.subject_id: r.notice_kind for r in people}
    assert kinds == {"c1": "breach", "c2": "breach", "inst": "compromise"}
    assert next(r for r in people if r.subject_id == "inst").requests == 3


def test_actor_rows_are_skipped_and_a_table_without_roles_is_read_as_data_subjects():
    _, table, _ = roles(ENUMERATION, actor_accounts=["inst"])
    everyone = table.reset_index()
    people = recipients_from_frame(everyone)
    assert [r.subject_id for r in people] == ["c1", "c2"] and len(people.skipped) == 1 and not people.rejected
    legacy = recipients_from_frame(everyone.drop(columns=[schema.ROLES, schema.REQUESTS]))
    assert {r.notice_kind for r in legacy} == {"breach"} and len(legacy) == 3
