"""Approvals (four eyes): who approved which rendered set of notices or which authority report, and why, with the
SHA-256 of every message or format exactly as it is sent or filed (the manifest). Append-only: the database
refuses to change or delete one; a new approval is a new row, and the latest one of a version counts."""

from __future__ import annotations

import builtins
import gzip
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from breachkit.incidents import tables as t
from breachkit.incidents.model import Approval
from breachkit.incidents.store.staged import drop_approved, stage_approved, staged_manifest
from breachkit.incidents.store.values import approval_of, jsonable

if TYPE_CHECKING:
    from breachkit.incidents.store.core import IncidentStore

_COLUMNS = [c for c in t.approvals.c if c.name != "manifest"]


def _approval(row: Any) -> Approval:
    return approval_of(row._mapping)


class Approvals:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def add(self, incident_id: str, *, kind: str, version: int,
            hashes: Mapping[str, str] | Iterable[tuple[str, str]], summary: Mapping[str, Any],
            actor: str, now: datetime, reason: str) -> Approval:
        """Record an approval with its timeline entry, in one transaction. Refused on a closed incident.
        `hashes`: key → SHA-256, or (key, SHA-256) pairs streamed (sorted into the manifest by the database)."""
        with self.store.transaction() as conn:
            self.store.load(conn, incident_id, lock=True, change="approving notices")
            messages = stage_approved(conn, hashes)
            digest, manifest = staged_manifest(conn)
            drop_approved(conn)
            row_id = conn.execute(insert(t.approvals).values(
                incident_id=incident_id, kind=kind, version=version, approved_at=now, approved_by=actor,
                reason=reason, messages=messages, sha256=digest, summary=jsonable(dict(summary)),
                manifest=manifest)).inserted_primary_key
            assert row_id is not None
            self.store.append_entry(conn, incident_id, now, actor, "approved", reason,
                                    {"kind": kind, "version": version, "messages": messages, "sha256": digest})
        return Approval(id=int(row_id[0]), incident_id=incident_id, kind=kind, version=version, approved_at=now,
                        approved_by=actor, reason=reason, messages=messages, sha256=digest,
                        summary=jsonable(dict(summary)))

    def list(self, incident_id: str, kind: str | None = None) -> list[Approval]:
        """Every approval of an incident, oldest first."""
        query = select(*_COLUMNS).where(t.approvals.c.incident_id == incident_id).order_by(t.approvals.c.id)
        if kind is not None:
            query = query.where(t.approvals.c.kind == kind)
        with self.store.read() as conn:
            return [_approval(r) for r in conn.execute(query)]

    def list_of(self, incident_ids: Sequence[str]) -> dict[str, builtins.list[Approval]]:
        """The approvals of several incidents in one read (the board), each oldest first."""
        out: dict[str, builtins.list[Approval]] = {i: [] for i in incident_ids}
        ids = list(out)
        with self.store.read() as conn:
            for start in range(0, len(ids), 500):
                query = (select(*_COLUMNS).where(t.approvals.c.incident_id.in_(ids[start:start + 500]))
                         .order_by(t.approvals.c.id))
                for row in conn.execute(query):
                    out[row.incident_id].append(_approval(row))
        return out

    def latest(self, incident_id: str, kind: str, version: int) -> Approval | None:
        """The approval that counts for a version: the latest one."""
        found = [a for a in self.list(incident_id, kind) if a.version == version]
        return found[-1] if found else None

    def hashes(self, approval_id: int) -> dict[str, str]:
        """key → SHA-256 of each approved message (or format)."""
        return dict(self.pairs(approval_id))

    def pairs(self, approval_id: int) -> Iterator[tuple[str, str]]:
        """(key, SHA-256) of each approved message, in key order, read line by line (fixed memory)."""
        with self.store.read() as conn:
            data = conn.execute(select(t.approvals.c.manifest).where(t.approvals.c.id == approval_id)).scalar_one()
        with gzip.open(io.BytesIO(bytes(data)), "rt", encoding="utf-8", newline="\n") as lines:
            for line in lines:
                key, _, value = line.rstrip("\n").partition("\t")
                if key:
                    yield key, value

    def find_hash(self, incident_id: str, kind: str, sha256: str) -> Approval | None:
        """The latest approval of `kind` one of whose items has this hash (a filed document that was approved)."""
        for approval in reversed(self.list(incident_id, kind)):
            if sha256 in self.hashes(approval.id).values():
                return approval
        return None
