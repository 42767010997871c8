"""The incident store's tables (SQLAlchemy Core). The Alembic migrations in `migrations/` create them;
a test compares the migrated schema with this metadata so the two never drift.

Values that the domain model owns as a whole (an incident's fields, a task's checklist) are JSON
columns validated by the pydantic model on the way in and out; the columns that are queried, locked
or kept unique are real columns.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

UTC_TIME = DateTime(timezone=True)

incidents = Table(
    "incidents", metadata,
    Column("id", String(32), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("aware_at", UTC_TIME, nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
    Column("updated_at", UTC_TIME, nullable=False),
    Column("version", Integer, nullable=False),  # optimistic locking: every update checks and bumps it
    Column("data", JSON, nullable=False),  # the whole Incident model
    UniqueConstraint("year", "number", name="uq_incidents_year_number"),
)

timeline = Table(
    "timeline", metadata,
    Column("incident_id", String(32), ForeignKey("incidents.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", UTC_TIME, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changes", JSON, nullable=False),
)

detections = Table(
    "detections", metadata,
    Column("incident_id", String(32), ForeignKey("incidents.id"), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),  # sha256 of rule id + key + first seen
    Column("linked_at", UTC_TIME, nullable=False),
    Column("data", JSON, nullable=False),  # LinkedDetection
)

tasks = Table(
    "tasks", metadata,
    Column("incident_id", String(32), ForeignKey("incidents.id"), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("due_at", UTC_TIME),
    Column("version", Integer, nullable=False),
    Column("data", JSON, nullable=False),  # Task
)

records = Table(
    # Append-only records of an incident: assessments, decisions, filings (kind tells which model).
    "records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("at", UTC_TIME, nullable=False),
    Column("data", JSON, nullable=False),
)

audit = Table(
    # Every export, render, send and filing: what left (content hash), when, why, to whom.
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTC_TIME, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(32), nullable=False),
    Column("incident_id", String(32), index=True),
    Column("target", Text, nullable=False),  # a file path, a recipient id, an authority
    Column("sha256", String(64)),
    Column("reason", Text, nullable=False),
    Column("detail", JSON, nullable=False),
)

subject_builds = Table(
    "subject_builds", metadata,
    Column("incident_id", String(32), ForeignKey("incidents.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("built_at", UTC_TIME, nullable=False),
    Column("built_by", Text, nullable=False),
    Column("engine", String(32), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("summary", JSON, nullable=False),  # counts, unmatched and rejected numbers
    Column("table_parquet", LargeBinary, nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False),
    Column("recipient", Text, nullable=False),  # subject id (or the authority's id)
    Column("kind", String(16), nullable=False),  # subject | authority
    Column("version", Integer, nullable=False),  # the notice version (a corrected re-send is a new version)
    Column("address", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),  # queued sending sent failed unknown cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTC_TIME),
    Column("last_error", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("sha256", String(64), nullable=False),  # of the exact bytes sent (the disclosure record)
    Column("content_sha256", String(64), nullable=False),  # of what was said (tells a changed re-render)
    Column("reason", Text, nullable=False),
    Column("queued_at", UTC_TIME, nullable=False),
    Column("updated_at", UTC_TIME, nullable=False),
    Column("sent_at", UTC_TIME),
    UniqueConstraint("incident_id", "recipient", "kind", "version", name="uq_outbox_message"),
)

outbox_messages = Table(
    # The exact RFC 5322 bytes of each outbox message, written once when queued. Kept apart from the outbox row,
    # whose state changes twice per message: rewriting ~10 kB of message with every change was most of the
    # store's write volume while sending.
    "outbox_messages", metadata,
    Column("outbox_id", Integer, ForeignKey("outbox.id"), primary_key=True),
    Column("message", LargeBinary, nullable=False),
)

reminders = Table(
    "reminders", metadata,
    Column("incident_id", String(32), ForeignKey("incidents.id"), primary_key=True),
    Column("subject", String(128), primary_key=True),  # "task:<key>" or "deadline:<regime>.<stage>"
    Column("threshold", String(16), primary_key=True),  # "24h", "6h", "overdue"
    Column("recipient", String(320), primary_key=True),
    Column("sent_at", UTC_TIME, nullable=False),
)

scan_state = Table(
    # Where the scheduled scan (`breachkit scan`) got to, per engine.
    "scan_state", metadata,
    Column("engine", String(32), primary_key=True),
    Column("until", UTC_TIME, nullable=False),  # events before this were scanned
    Column("run_at", UTC_TIME, nullable=False),
    # The rules of the last run: which ran and which did not, with reasons (breachkit.detect.health, JSON), so
    # a rule that stops running is alerted about once.
    Column("rules", JSON, nullable=True),
)

scan_seen = Table(
    # Detections the scan has reported or linked: ongoing activity of the same actor for the same rule is not
    # alerted again.
    "scan_seen", metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("key", Text, primary_key=True),  # the detection key as JSON
    Column("last_seen", UTC_TIME, nullable=False),
    Column("reported_at", UTC_TIME, nullable=False),
)

scan_alerts = Table(
    # The scan's alert outbox: one row per on-call address and alert, so a refused address is retried on its own
    # (the others are not alerted again) and the checkpoint moves once every row is sent or given up.
    "scan_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("engine", String(32), nullable=False, index=True),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # pending | sent | given_up
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),  # the last refusal or failure
    Column("created_at", UTC_TIME, nullable=False),
    Column("updated_at", UTC_TIME, nullable=False),
)

users = Table(
    # People who sign in to the board (`breachkit users …`): a role and an argon2 password hash, never the password.
    "users", metadata,
    Column("name", String(320), primary_key=True),
    Column("role", String(16), nullable=False),  # commander | dpo | security | viewer
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),  # consecutive failures since the last good sign-in
    Column("locked_until", UTC_TIME),  # set after too many failures
    Column("created_at", UTC_TIME, nullable=False),
    Column("updated_at", UTC_TIME, nullable=False),
    Column("version", Integer, nullable=False),
)

web_sessions = Table(
    # Signed-in browsers: the cookie holds a random token, the store only its SHA-256 (a stolen database gives
    # no usable session). Deleted at sign-out, when the user is disabled or their password changes.
    "web_sessions", metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("username", String(320), ForeignKey("users.name"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
    Column("seen_at", UTC_TIME, nullable=False),
    Column("expires_at", UTC_TIME, nullable=False),
)

approvals = Table(
    # Four eyes: who approved which rendered set, and the hash of every message (or report format) in it.
    # Append-only (the database refuses UPDATE and DELETE): a new approval is a new row.
    "approvals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # subject | authority
    Column("version", Integer, nullable=False),
    Column("approved_at", UTC_TIME, nullable=False),  # also the Date header of the approved messages
    Column("approved_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),  # of the manifest
    Column("summary", JSON, nullable=False),  # per locale, rejected rows, report type and formats…
    Column("manifest", LargeBinary, nullable=False),  # gzip of "<key>\t<sha256>\n" lines, sorted by key
)

filed_documents = Table(
    # The exact bytes of what was filed with an authority (or published), kept with the filing record.
    # Append-only.
    "filed_documents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("record_id", Integer, ForeignKey("records.id"), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("stored_at", UTC_TIME, nullable=False),
)
