"""The column contracts between the subject stages (pandas frames and files).

Two tables cross stage boundaries:

* the **identifier table** — what the logs say the incident's actors touched (one row per identifier);
* the **subject table** — one row per person the breach involves, joined with the user directory, each with
  their roles (`subjects.roles`). The subject list builder writes it (CSV / Parquet / JSON lines) and the
  notices stage reads exactly this format as its recipient list (a table without `roles` — an older export —
  is read as data subjects only).

List-valued columns are Python lists in frames, Parquet and JSON lines, and ``;``-joined strings in CSV.
Times are timezone-aware UTC (ISO 8601 with ``Z`` in CSV/JSON lines).
"""

from __future__ import annotations

from typing import Final

TIME_DTYPE: Final = "datetime64[us, UTC]"  # first_seen / last_seen in frames (the event schema's resolution)

# --- identifier table (logs → identifiers) -------------------------------------------------------
ID_FIELD = "field"  # the ECS field the identifier was found in (one of IDENTIFIER_FIELDS)
ID_VALUE = "value"
ID_RELATION = "relation"  # "actor" (the account used), "target" (whose data was touched), "device"
ID_FIRST_SEEN = "first_seen"
ID_LAST_SEEN = "last_seen"
ID_EVENTS = "events"  # events (records) touching the identifier
ID_CATEGORIES = "categories"  # data categories exposed (keys of incidents.model.DATA_CATEGORIES)
ID_EXPOSING = "exposing"  # events that exposed data of the person behind it (not the requester's own identifiers)
ID_USED_BY_ACTOR = "used_by_actor"  # user.id only: successful events made with the account from the scope's
#                                     actor addresses, networks, sessions, devices or IMEIs (someone else used it)
ID_SUCCEEDED = "succeeded"  # user.id only: its events that succeeded (failed logins alone are attempts, not use)
IDENTIFIER_COLUMNS = (ID_FIELD, ID_VALUE, ID_RELATION, ID_FIRST_SEEN, ID_LAST_SEEN, ID_EVENTS, ID_CATEGORIES,
                      ID_EXPOSING, ID_USED_BY_ACTOR, ID_SUCCEEDED)
IDENTIFIER_FIELDS = {"user.id": "actor", "user.target.id": "target", "device.id": "device", "device.imei": "device"}

# --- subject table (people) --------------------------------------------------------------------
SUBJECT_ID = "subject_id"  # the directory's key (user id); required, unique
EMAIL = "email"  # required for email notices
NAME = "name"
PHONE = "phone"
LOCALE = "locale"  # language tag: "de", "fr", "en", "de-AT" (notices fall back to the base language, then en)
COUNTRY = "country"  # ISO 3166-1 alpha-2 of residence
ACCOUNT_TYPE = "account_type"  # end_user, installer, admin, …
MINOR = "minor"  # bool: under 18 at the breach (from birth date or a directory flag)
CATEGORIES = "categories"  # list: data categories affected for this person
IDENTIFIERS = "identifiers"  # list: "user.id:u100001", "device.imei:3584…" through which they were reached
FIRST_SEEN = "first_seen"
LAST_SEEN = "last_seen"
RECORDS = "records"  # records affected: events that exposed this person's data (0 for a compromised account only)
ROLES = "roles"  # list: this person's roles in the breach (subjects.roles: actor, compromised_account, data_subject)
REQUESTS = "requests"  # requests made with this person's account in the scope (actor and compromised accounts)
SUBJECT_COLUMNS = (SUBJECT_ID, EMAIL, NAME, PHONE, LOCALE, COUNTRY, ACCOUNT_TYPE, MINOR, CATEGORIES, IDENTIFIERS,
                   FIRST_SEEN, LAST_SEEN, RECORDS, ROLES, REQUESTS)
REQUIRED_SUBJECT_COLUMNS = (SUBJECT_ID, EMAIL)
LIST_COLUMNS = (CATEGORIES, IDENTIFIERS, ROLES)
INT_COLUMNS = (RECORDS, REQUESTS)
LIST_SEPARATOR = ";"
