"""The numbers an authority asks for (Art. 33(3)(a)): people and records, per data category, country, account
type and locale; minors (operators promise to hold no data of people under 18 — surface them) and people
without an email address (they need another channel).

`people` and `records` and the breakdowns count the *data subjects* (`roles.Role.DATA_SUBJECT`: whose data was
exposed); compromised accounts (told to rotate their credentials) and the actor's own accounts are counted apart,
never as people affected or records. Records are approximate: a person's `records` are the events that exposed
their data, and a person counts fully in each of their data categories.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from breachkit.subjects import schema
from breachkit.subjects.roles import Role, has_role

_OPTIONAL = (schema.ROLES, schema.REQUESTS)  # older tables: everyone a data subject, no requests

UNKNOWN: Final = "unknown"  # the key for people without a value (no country, no category…)


@dataclass(frozen=True)
class Breakdown:
    people: int
    records: int


@dataclass(frozen=True)
class SubjectCounts:
    people: int
    records: int  # approximate
    by_category: Mapping[str, Breakdown] = field(default_factory=dict)  # DATA_CATEGORIES keys (+ UNKNOWN)
    by_country: Mapping[str, Breakdown] = field(default_factory=dict)  # ISO 3166-1 alpha-2 (+ UNKNOWN)
    by_account_type: Mapping[str, Breakdown] = field(default_factory=dict)
    by_locale: Mapping[str, Breakdown] = field(default_factory=dict)
    minors: int = 0
    minor_ids: tuple[str, ...] = ()
    without_email: int = 0
    without_email_ids: tuple[str, ...] = ()
    compromised_accounts: int = 0  # accounts used by someone else (a person may also be a data subject)
    compromised_ids: tuple[str, ...] = ()
    compromised_requests: int = 0  # requests made with them (not records affected)
    actors: int = 0  # the actor's own accounts (neither compromised nor data subjects)
    actor_ids: tuple[str, ...] = ()
    recipients: int = 0  # people to write to: data subjects and compromised accounts
    by_role: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; each breakdown ordered by people (most first), then key."""

        def plain(breakdown: Mapping[str, Breakdown]) -> dict[str, dict[str, int]]:
            return {k: {"people": v.people, "records": v.records} for k, v in breakdown.items()}

        return {
            "people": self.people,
            "records": self.records,
            "records_approximate": True,
            "by_category": plain(self.by_category),
            "by_country": plain(self.by_country),
            "by_account_type": plain(self.by_account_type),
            "by_locale": plain(self.by_locale),
            "minors": self.minors,
            "minor_ids": list(self.minor_ids),
            "without_email": self.without_email,
            "without_email_ids": list(self.without_email_ids),
            "compromised_accounts": self.compromised_accounts,
            "compromised_ids": list(self.compromised_ids),
            "compromised_requests": self.compromised_requests,
            "actors": self.actors,
            "actor_ids": list(self.actor_ids),
            "recipients": self.recipients,
            "by_role": dict(self.by_role),
        }


def subject_counts(everyone: pd.DataFrame) -> SubjectCounts:
    """Counts over a subject table (schema.SUBJECT_COLUMNS; without `roles`, everyone is a data subject)."""
    missing = [c for c in schema.SUBJECT_COLUMNS if c not in everyone.columns and c not in _OPTIONAL]
    if missing:
        raise ValueError(f"the subject table lacks {', '.join(missing)}")
    role_cells = everyone[schema.ROLES] if schema.ROLES in everyone.columns else pd.Series(None, index=everyone.index)
    is_subject = role_cells.map(lambda r: has_role(r, Role.DATA_SUBJECT)).astype(bool)
    is_compromised = role_cells.map(lambda r: has_role(r, Role.COMPROMISED)).astype(bool)
    is_actor = role_cells.map(lambda r: has_role(r, Role.ACTOR)).astype(bool)
    requests = (everyone[schema.REQUESTS].fillna(0).astype("int64") if schema.REQUESTS in everyone.columns
                else pd.Series(0, index=everyone.index))
    ids = everyone[schema.SUBJECT_ID].astype("str")
    table = everyone[is_subject]
    notified = everyone[is_subject | is_compromised]
    by_role = {r.value: int(m.sum()) for r, m in ((Role.DATA_SUBJECT, is_subject), (Role.COMPROMISED, is_compromised),
                                                  (Role.ACTOR, is_actor))}
    records = table[schema.RECORDS].fillna(0).astype("int64")
    minor = table[schema.MINOR].astype("boolean").fillna(False).astype(bool)
    no_email = notified[schema.EMAIL].isna() | (notified[schema.EMAIL].astype("str").str.strip() == "")
    categories = pd.DataFrame({"key": table[schema.CATEGORIES], "records": records}).explode("key")  # [] → NaN
    return SubjectCounts(
        people=len(table),
        records=int(records.sum()),
        by_category=_breakdown(categories["key"], categories["records"]),
        by_country=_breakdown(table[schema.COUNTRY], records),
        by_account_type=_breakdown(table[schema.ACCOUNT_TYPE], records),
        by_locale=_breakdown(table[schema.LOCALE], records),
        minors=int(minor.sum()),
        minor_ids=tuple(sorted(table.loc[minor, schema.SUBJECT_ID].astype("str"))),
        without_email=int(no_email.sum()),
        without_email_ids=tuple(sorted(notified.loc[no_email, schema.SUBJECT_ID].astype("str"))),
        compromised_accounts=int(is_compromised.sum()), compromised_ids=tuple(sorted(ids[is_compromised])),
        compromised_requests=int(requests[is_compromised].sum()),
        actors=int((is_actor & ~is_compromised).sum()), actor_ids=tuple(sorted(ids[is_actor & ~is_compromised])),
        recipients=len(notified), by_role=by_role,
    )


def _breakdown(keys: pd.Series, records: pd.Series) -> dict[str, Breakdown]:
    frame = pd.DataFrame({"key": keys.astype("str").fillna(UNKNOWN).to_numpy(), "records": records.to_numpy()})
    sums = frame.groupby("key").agg(people=("records", "size"), records=("records", "sum")).reset_index()
    sums = sums.sort_values(["people", "key"], ascending=[False, True])
    return {str(k): Breakdown(int(p), int(r)) for k, p, r in sums.itertuples(index=False)}
