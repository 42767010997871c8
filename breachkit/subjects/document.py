"""`breachkit.subjects/1`: a subject-list build as numbers — people (data subjects), records, breakdowns per
category, country, account type and locale, the accounts compromised and the actor's own ones counted apart, and
what changed since the previous version. No identities (but the account ids whose role a human must decide):
the people themselves leave only through `subjects show --people` or an export, both audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from breachkit.document import Document

if TYPE_CHECKING:
    from breachkit.subjects.api import BuildOutcome

Breakdown = dict[str, dict[str, int]]


class SubjectsDocument(Document):
    SCHEMA = "breachkit.subjects/1"

    incident: str
    version: int
    engine: str
    people: int
    records: int  # approximate: events that exposed a person's data
    identifiers: int
    unmatched: int  # identifiers with no person in the directory
    rejected_rows: int  # directory rows left out
    attempted_only: int  # people reached only by failed accesses (not listed)
    minors: int
    without_email: int
    by_category: Breakdown
    by_country: Breakdown
    by_account_type: Breakdown
    by_locale: Breakdown
    changes: dict[str, Any]  # added / removed / changed against the previous version
    compromised_accounts: int = 0  # accounts used by someone else (counted apart from the people affected)
    compromised_requests: int = 0  # requests made with them (not records affected)
    actors: int = 0  # the actor's own accounts (never told)
    recipients: int = 0  # people to write to: data subjects and compromised accounts
    by_role: dict[str, int] = Field(default_factory=dict)
    accounts: list[dict[str, Any]] = Field(default_factory=list)  # each actor account: requests, basis of its role
    undetermined_accounts: list[str] = Field(default_factory=list)  # actor accounts nobody declared either way

    @classmethod
    def of(cls, outcome: BuildOutcome) -> SubjectsDocument:
        counts = outcome.counts.to_dict()
        return cls.create(incident=outcome.record.incident_id, version=outcome.record.version,
                          engine=outcome.record.engine, people=outcome.counts.people,
                          records=outcome.counts.records, identifiers=outcome.identifiers,
                          unmatched=len(outcome.unmatched), rejected_rows=len(outcome.rejected),
                          attempted_only=outcome.attempted_only, minors=outcome.counts.minors,
                          without_email=outcome.counts.without_email, by_category=counts["by_category"],
                          by_country=counts["by_country"], by_account_type=counts["by_account_type"],
                          by_locale=counts["by_locale"],
                          changes={k: v for k, v in outcome.changes.items() if not k.endswith("_ids")},
                          compromised_accounts=outcome.counts.compromised_accounts,
                          compromised_requests=outcome.counts.compromised_requests, actors=outcome.counts.actors,
                          recipients=outcome.counts.recipients, by_role=dict(outcome.counts.by_role),
                          accounts=list(outcome.record.summary.get("accounts", [])),
                          undetermined_accounts=list(outcome.record.summary.get("undetermined_accounts", [])))
