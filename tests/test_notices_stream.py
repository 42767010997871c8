"""Notices at the size of a mass breach: a stored subject list read and validated batch by batch (`RecipientStream`),
the review folder's summary written through a spool, and the approved set queued in batches inside one
transaction — each the same as the whole-list way, across batch boundaries."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from breachkit.errors import ConflictError, InputError
from breachkit.incidents.store import IncidentStore
from breachkit.notices.outbox import Outbox
from breachkit.notices.recipient_stream import recipients_from_parquet
from breachkit.notices.recipients import recipients_from_frame
from breachkit.notices.render import render_all
from breachkit.notices.templates import NoticeEnvironment
from breachkit.resources import bundled
from tests.notices_fixtures import CREDENTIAL_STUFFING
from tests.test_notices_delivery import messages

NOW = datetime(2026, 3, 21, 9, 0, tzinfo=UTC)
ENV = NoticeEnvironment([bundled("notices")])


def table() -> pd.DataFrame:
    """Seven rows whose problems straddle every batch boundary: a duplicate id (rows 1 and 4), a duplicate address
    in another case (rows 2 and 6), a bad address, a locale without a template, the actor's own account."""
    return pd.DataFrame({
        "subject_id": ["u1", "u2", "u3", "u1", "u5", "u6", "u7"],
        "email": ["a@example.org", "b@example.org", "not-an-address", "d@example.org", "e@example.org",
                  "B@EXAMPLE.ORG", "g@example.org"],
        "name": ["A", "B", "C", "D", "E", "F", "G"],
        "locale": ["de", "fr", "en", "en", "sv", "en", "de"],
        "country": ["DE", "FR", "IE", "IE", "SE", "IE", "XX1"],
        "categories": [["contact"], ["contact", "credentials"], [], ["contact"], ["usage"], ["contact"], ["contact"]],
        "roles": [["data_subject"], ["data_subject", "compromised_account"], ["data_subject"], ["data_subject"],
                  ["data_subject"], ["data_subject"], ["actor"]],
        "first_seen": pd.to_datetime(["2026-03-02T10:00:00Z"] * 7, utc=True),
        "records": [1, 2, 3, 4, 5, 6, 7],
    })


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def problems(found: list) -> list[tuple[str, int | None, str | None]]:
    return [(p.message, p.location.line, p.location.field) for p in found]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1000])
def test_a_streamed_list_gives_the_same_recipients_and_problems_as_the_whole_list(batch_rows):
    data = parquet(table())
    whole = recipients_from_frame(pd.read_parquet(io.BytesIO(data)), source="list", locales=ENV.locales)
    stream = recipients_from_parquet(data, source="list", locales=ENV.locales, batch_rows=batch_rows)
    assert list(stream) == list(whole.recipients)
    assert [r.subject_id for r in whole.recipients] == ["u1", "u2", "u5"]
    assert problems(stream.rejected) == problems(whole.rejected)
    assert {(line, field) for _, line, field in problems(stream.rejected)} == {(3, "email"), (4, "subject_id"),
                                                                               (6, "email")}
    assert problems(stream.notes) == problems(whole.notes) and problems(stream.notes)
    assert problems(stream.skipped) == problems(whole.skipped) == [
        ("the actor's own account (neither a data subject nor compromised): not written to", 7, "roles")]
    assert stream.accepted == 3


def test_each_pass_starts_afresh_and_the_problems_are_not_read_before_one():
    stream = recipients_from_parquet(parquet(table()), source="list", batch_rows=2)
    with pytest.raises(RuntimeError, match="iterate them first"):
        _ = stream.rejected
    first, second = list(stream), list(stream)
    assert first == second and len(first) == 3  # a second pass does not see its own rows as duplicates
    assert len(stream.rejected) == 3


def test_a_list_without_the_required_columns_is_refused_by_name():
    with pytest.raises(InputError, match="email"):
        recipients_from_parquet(parquet(table().drop(columns="email")), source="list")


def test_the_review_folder_written_from_a_stream_lists_every_message_in_its_summary(tmp_path):
    stream = recipients_from_parquet(parquet(table()), source="list", locales=ENV.locales, batch_rows=2)
    summary = render_all(CREDENTIAL_STUFFING.incident_context(), stream, tmp_path / "out", ENV)
    written = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary.rendered == written["rendered"] == 3 and summary.messages == []  # not kept in memory
    assert [m["subject_id"] for m in written["messages"]] == ["u1", "u2", "u5"]
    assert written["rejected"] == 3 and written["skipped"] == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["messages", "summary.json"]  # no spool left


@pytest.fixture
def store(tmp_path):
    with IncidentStore(f"sqlite:///{tmp_path}/incidents.db") as s:
        s.open_incident({"title": "Enumeration", "aware_at": NOW, "aware_justification": "confirmed"},
                        actor="a", now=NOW)
        yield s


def test_an_approved_set_queued_in_small_batches_is_queued_whole(store):
    outbox = Outbox(store)
    sent = messages(7)
    added = outbox.enqueue_approved("BK-2026-0001", "subject", 1, iter(sent), {m.recipient: m.sha256 for m in sent},
                                    actor="dpo", now=NOW, batch=2)
    assert added == 7 and outbox.counts("BK-2026-0001")["queued"] == 7
    assert outbox.version_hashes("BK-2026-0001", "subject", 1) == {m.recipient: m.sha256 for m in sent}
    assert outbox.version_states("BK-2026-0001", "subject", 1) == {"queued": 7}


def test_a_difference_after_whole_batches_were_written_queues_nothing(store):
    outbox = Outbox(store)
    sent = messages(7)
    approved = {m.recipient: m.sha256 for m in sent} | {sent[-1].recipient: "0" * 64}  # the last one differs
    with pytest.raises(ConflictError, match="1 message differs"):
        outbox.enqueue_approved("BK-2026-0001", "subject", 1, iter(sent), approved, actor="dpo", now=NOW, batch=2)
    assert sum(outbox.counts("BK-2026-0001").values()) == 0
    assert outbox.version_states("BK-2026-0001", "subject", 1) == {}


@pytest.fixture
def any_store(store_url):
    """The incident store on SQLite, then on PostgreSQL (the staged comparison and sort run in the database)."""
    with IncidentStore(store_url) as s:
        s.open_incident({"title": "Enumeration", "aware_at": NOW, "aware_justification": "confirmed"},
                        actor="a", now=NOW)
        yield s


def test_an_approval_manifest_sorted_by_the_database_is_the_one_python_sorts(any_store):
    """The manifest's order (and so its SHA-256) is code point order on both databases, whatever their
    collation: accents, case and digits among the keys."""
    import hashlib

    keys = ["zoë", "Zoe", "émile", "b", "B", "a10", "a9", "_x", "ß", "Ω", "zoe"]
    hashes = {k: hashlib.sha256(k.encode()).hexdigest() for k in keys}
    text = "".join(f"{k}\t{hashes[k]}\n" for k in sorted(hashes)).encode()
    approval = any_store.approvals.add("BK-2026-0001", kind="subject", version=1, hashes=iter(hashes.items()),
                                       summary={}, actor="dpo", now=NOW, reason="r")
    assert approval.sha256 == hashlib.sha256(text).hexdigest() and approval.messages == len(keys)
    assert [k for k, _ in any_store.approvals.pairs(approval.id)] == sorted(keys)
    assert any_store.approvals.hashes(approval.id) == hashes


def test_a_queued_version_is_checked_against_its_approval_in_the_database(any_store):
    outbox = Outbox(any_store)
    sent = messages(5)
    approved = {m.recipient: m.sha256 for m in sent}
    assert outbox.check_queued("BK-2026-0001", "subject", 1, approved) == 0  # nothing queued yet
    outbox.enqueue_approved("BK-2026-0001", "subject", 1, iter(sent), approved, actor="dpo", now=NOW, batch=2)
    assert outbox.check_queued("BK-2026-0001", "subject", 1, iter(approved.items())) == 5
    other = {k: v for k, v in approved.items() if k != sent[0].recipient} | {sent[1].recipient: "0" * 64,
                                                                            "u-new": "1" * 64}
    with pytest.raises(ConflictError) as refused:
        outbox.check_queued("BK-2026-0001", "subject", 1, other)
    message = str(refused.value)
    assert "1 message differs" in message and "1 recipient was not in the approved set" in message
    assert "1 approved recipient is no longer in the recipient list" in message
    shown = {p.message for p in refused.value.problems}
    assert {f"changed: {sent[1].recipient}", f"not approved: {sent[0].recipient}", "missing: u-new"} == shown


def test_unapproved_and_missing_recipients_queue_nothing(any_store):
    outbox = Outbox(any_store)
    sent = messages(6)
    approved = {m.recipient: m.sha256 for m in sent[1:]} | {"gone": "2" * 64}
    with pytest.raises(ConflictError) as refused:
        outbox.enqueue_approved("BK-2026-0001", "subject", 1, iter(sent), approved, actor="dpo", now=NOW, batch=2)
    assert "1 recipient was not in the approved set" in str(refused.value)
    assert "1 approved recipient is no longer" in str(refused.value)
    assert sum(outbox.counts("BK-2026-0001").values()) == 0
    # the staged table went with the rolled-back transaction: the same store queues the right set afterwards
    good = {m.recipient: m.sha256 for m in sent}
    assert outbox.enqueue_approved("BK-2026-0001", "subject", 1, iter(sent), good, actor="dpo", now=NOW) == 6


def test_duplicates_are_found_across_the_compact_keys_merges(monkeypatch):
    """The duplicate check keeps digests in sorted arrays merged every FLUSH keys: a duplicate of a row long
    merged, of one still in the recent keys, and of a key whose digest ends in any byte are all found."""
    from breachkit.notices import recipients as R

    monkeypatch.setattr(R._FirstRows, "FLUSH", 3)
    first = R._FirstRows()
    keys = [f"user-{i}" for i in range(50)] + ["", "ünïcödé", "\udcff-lone-surrogate"]
    for row, key in enumerate(keys, start=1):
        assert first.get(key) is None
        first.add(key, row)
    assert [first.get(k) for k in keys] == list(range(1, len(keys) + 1))
    assert first.get("user-50") is None and first.get("User-1") is None
    frame = pd.DataFrame({"subject_id": [f"u{i}" for i in range(10)] + ["u2", "u9"],
                          "email": [f"p{i}@example.org" for i in range(10)] + ["x@example.org", "P3@EXAMPLE.ORG"],
                          "locale": ["en"] * 12})
    got = recipients_from_frame(frame, locales=ENV.locales, default_locale="en")
    assert len(got.recipients) == 10
    assert [p.message for p in got.rejected] == ["duplicate subject_id (first in row 3)",
                                                 "duplicate subject_id (first in row 10)",
                                                 "duplicate email address (same as row 4)"]


def test_per_person_notes_are_kept_up_to_a_cap_and_counted_beyond(monkeypatch):
    from breachkit.notices import recipients as R

    monkeypatch.setattr(R, "NOTES_KEPT", 5)
    frame = pd.DataFrame({"subject_id": [f"u{i}" for i in range(12)],
                          "email": [f"p{i}@example.org" for i in range(12)], "locale": ["sv"] * 12})
    got = recipients_from_frame(frame, locales=ENV.locales, default_locale="en")
    assert len(got.recipients) == 12 and len(got.notes) == 6
    assert all("no sv template" in p.message for p in got.notes[:5])
    assert got.notes[-1].message.startswith("… and 7 more notes")


def test_a_stored_subject_list_is_written_in_row_groups_of_bounded_size(tmp_path):
    """The notices stream a stored list back batch by batch; a reader decodes a whole row group at once, so the
    list is stored in groups of ROW_GROUP people, not one group of everyone."""
    import pyarrow.parquet as pq

    from breachkit.subjects import store as subjects_store

    people = 2 * subjects_store.ROW_GROUP + 5
    frame = pd.DataFrame({"subject_id": [f"u{i}" for i in range(people)],
                          "email": [f"p{i}@example.org" for i in range(people)]})
    with IncidentStore(f"sqlite:///{tmp_path}/incidents.db") as s:
        s.open_incident({"title": "Enumeration", "aware_at": NOW, "aware_justification": "confirmed"},
                        actor="a", now=NOW)
        subjects_store.save_build(s, "BK-2026-0001", frame, {}, engine="local", actor="a", now=NOW)
        stored = s.subject_lists.get("BK-2026-0001")
    assert stored is not None
    groups = pq.ParquetFile(io.BytesIO(stored.table_parquet)).metadata
    assert groups.num_rows == people and groups.num_row_groups == 3
