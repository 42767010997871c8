"""Approved hashes staged in a temporary table of the caller's transaction, so that a set of a million messages
is compared (`Outbox.enqueue_approved`, `Outbox.check_queued`) or sorted into a manifest (`Approvals.add`) by
the database, in fixed memory. The table belongs to the connection and is dropped at the end of its use (on
PostgreSQL also at commit; a rollback undoes its creation on both)."""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterable, Mapping
from functools import cache

from sqlalchemy import Column, Connection, MetaData, String, Table, Text, insert, select


@cache
def approved_table() -> Table:
    """The table, built on first use: its PostgreSQL option loads SQLAlchemy's PostgreSQL dialect, which a
    command that never stages (`incident clock`) should not pay for at start-up."""
    return Table("bk_approved", MetaData(),
                 Column("recipient", Text, primary_key=True),
                 Column("sha256", String(64), nullable=False),
                 prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def stage_approved(conn: Connection, hashes: Mapping[str, str] | Iterable[tuple[str, str]], batch: int = 5000) -> int:
    """key → sha256, or (key, sha256) pairs, into the temporary table; returns how many."""
    pairs = hashes.items() if isinstance(hashes, Mapping) else hashes
    approved = approved_table()
    approved.drop(conn, checkfirst=True)
    approved.create(conn)
    rows: list[dict[str, str]] = []
    count = 0
    for recipient, sha256 in pairs:
        rows.append({"recipient": recipient, "sha256": sha256})
        if len(rows) == batch:
            conn.execute(insert(approved), rows)
            count += len(rows)
            rows = []
    if rows:
        conn.execute(insert(approved), rows)
        count += len(rows)
    return count


def drop_approved(conn: Connection) -> None:
    approved_table().drop(conn, checkfirst=True)


def staged_manifest(conn: Connection) -> tuple[str, bytes]:
    """The staged pairs as a manifest: the SHA-256 of its text ("<key>\\t<sha256>\\n" lines sorted by key, in
    code point order, as Python sorts strings) and the text gzipped, built row by row."""
    approved = approved_table()
    key = approved.c.recipient
    order = key.collate("C") if conn.dialect.name == "postgresql" else key  # SQLite's BINARY: code point order
    digest = hashlib.sha256()
    blob = io.BytesIO()
    with gzip.GzipFile(fileobj=blob, mode="wb", mtime=0) as out:
        for recipient, sha256 in conn.execute(select(key, approved.c.sha256).order_by(order)):
            line = f"{recipient}\t{sha256}\n".encode()
            digest.update(line)
            out.write(line)
    return digest.hexdigest(), blob.getvalue()
