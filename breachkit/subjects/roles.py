"""Roles of the people a breach involves: who acted, whose account was used by someone else, whose data was
exposed. One person may hold two roles; the counts keep them apart.

The rules (pure, over `join.SubjectBuild` and the incident's declarations):

1. **Actor account** — a person whose account (``user.id``) made requests that succeeded in the incident's scope
   (failed logins against an account are attempts on it, not its use).
2. **Compromised account** — an actor account used by someone other than its holder:
   a. declared: listed in the incident's ``compromised_accounts`` (`incident update --set` or
      `subjects build --compromised ID`);
   b. inferred: not declared the actor's own (``actor_accounts``) and at least one of its *successful* requests
      in the window came from the scope's actor addresses or networks, sessions, devices or IMEIs — someone
      acting from the attacker's means used it (credential stuffing, a stolen API token used from a hosting
      address). Failed attempts alone (a wrong password) compromise nothing.
   An actor account that is neither stays an *actor* (the attacker's own account, a rogue insider); when it was
   declared neither way, it is *undetermined* and listed so a human can decide (`RoleSummary.undetermined`).
3. **Data subject** — a person whose data the actor's successful requests exposed: as the target of a request
   (``user.target.id``), through their device (device id, IMEI), or — for a compromised account — through the
   account itself (its profile, its consumption read in a session of the compromised account). An actor account
   that is not compromised is never a data subject through its own requests: those were its own data, read by
   itself.
4. The requester's own identifiers (its IP addresses, session: `categories.ACTOR_CATEGORIES`) are the actor's
   data, never reported as a person's data exposed.
5. Records affected are the events that exposed a data subject's data; a compromised account's own requests are
   counted apart (`requests`), never as records.

People with none of the roles (reached only by failed requests) are left out of the list and counted.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breachkit.subjects import schema
from breachkit.subjects.categories import ACTOR_CATEGORIES
from breachkit.subjects.join import (
    ACCOUNTS,
    OTHER_CATEGORIES,
    OTHER_RECORDS,
    OWN_CATEGORIES,
    OWN_RECORDS,
    REQUESTS,
    SUCCEEDED,
    USED_BY_ACTOR,
    SubjectBuild,
)


class Role(enum.StrEnum):
    ACTOR = "actor"  # made the requests (its own account: never notified)
    COMPROMISED = "compromised_account"  # an account or token used by someone else (told to rotate)
    DATA_SUBJECT = "data_subject"  # whose data was exposed (told about the breach)


NOTIFIED_ROLES = frozenset({Role.COMPROMISED, Role.DATA_SUBJECT})


class Basis(enum.StrEnum):
    """Why an actor account is compromised or not."""

    DECLARED_COMPROMISED = "declared_compromised"
    DECLARED_ACTOR = "declared_actor"
    ACTOR_MEANS = "used_from_actor_means"  # inferred (rule 2b)
    UNDETERMINED = "undetermined"


@dataclass(frozen=True)
class AccountRole:
    subject_id: str
    accounts: tuple[str, ...]  # the user ids that made requests
    requests: int
    used_by_actor: int
    basis: Basis


@dataclass(frozen=True)
class RoleSummary:
    accounts: tuple[AccountRole, ...]  # every actor account with why it is (not) compromised
    attempted_only: int  # people reached only by failed requests (no role: left out)
    declared_missing: tuple[str, ...]  # declared accounts that made no request in the scope

    @property
    def undetermined(self) -> tuple[str, ...]:
        return tuple(a.subject_id for a in self.accounts if a.basis is Basis.UNDETERMINED)


@dataclass(frozen=True)
class RoleAssignment:
    table: pd.DataFrame  # schema.SUBJECT_COLUMNS: the people with a role, sorted by subject_id
    summary: RoleSummary


def assign_roles(build: SubjectBuild, *, compromised: Collection[str] = (),
                 actor_accounts: Collection[str] = ()) -> RoleAssignment:
    """Roles, data-subject categories and records for every person of `build` (the rules of this module).

    `compromised` / `actor_accounts`: account ids (directory keys) declared compromised / the actor's own; a
    declaration names an account, so a person with several accounts follows any of theirs that is declared."""
    table, evidence = build.table.reset_index(drop=True), build.evidence
    if evidence is None:  # a table without evidence: every category reached the person through others
        evidence = _evidence_from_table(table)
    declared_c = {a.strip() for a in compromised if a.strip()}
    declared_a = {a.strip() for a in actor_accounts if a.strip()} - declared_c
    accounts = evidence[ACCOUNTS].map(lambda a: tuple(a or ()))
    person_ids = table[schema.SUBJECT_ID].astype("str")
    names = [set(a) | {p} for a, p in zip(accounts, person_ids, strict=True)]
    acted = (evidence[SUCCEEDED] > 0).to_numpy()
    is_declared_c = np.array([bool(n & declared_c) for n in names], dtype=bool)
    is_declared_a = np.array([bool(n & declared_a) for n in names], dtype=bool)
    inferred = (evidence[USED_BY_ACTOR] > 0).to_numpy() & ~is_declared_a
    compromised_mask = (acted | is_declared_c) & (is_declared_c | inferred)
    actor_mask = acted & ~compromised_mask

    def person_categories(values: object) -> list[str]:
        return sorted(c for c in (values or ()) if c not in ACTOR_CATEGORIES)  # type: ignore[attr-defined]

    other = evidence[OTHER_CATEGORIES].map(person_categories)
    own = evidence[OWN_CATEGORIES].map(person_categories)
    categories = [sorted(set(o) | (set(w) if c else set())) for o, w, c in zip(other, own, compromised_mask,
                                                                                strict=True)]
    records = evidence[OTHER_RECORDS].to_numpy() + np.where(compromised_mask, evidence[OWN_RECORDS].to_numpy(), 0)
    subject_mask = np.array([bool(c) for c in categories], dtype=bool)

    roles = [[r.value for r, on in ((Role.ACTOR, a), (Role.COMPROMISED, c), (Role.DATA_SUBJECT, s)) if on]
             for a, c, s in zip(actor_mask, compromised_mask, subject_mask, strict=True)]
    out = table.copy()
    out[schema.CATEGORIES] = pd.Series(categories, index=out.index, dtype=object)
    out[schema.RECORDS] = pd.Series(records, index=out.index).astype("int64")
    out[schema.REQUESTS] = evidence[REQUESTS].astype("int64").to_numpy()
    out[schema.ROLES] = pd.Series(roles, index=out.index, dtype=object)
    keep = np.array([bool(r) for r in roles], dtype=bool)

    basis = []
    for i in np.flatnonzero(acted | is_declared_c):
        why = (Basis.DECLARED_COMPROMISED if is_declared_c[i] else Basis.DECLARED_ACTOR if is_declared_a[i]
               else Basis.ACTOR_MEANS if inferred[i] else Basis.UNDETERMINED)
        basis.append(AccountRole(str(person_ids[i]), tuple(accounts[i]) or (str(person_ids[i]),),
                                 int(evidence[REQUESTS][i]), int(evidence[USED_BY_ACTOR][i]), why))
    seen = set().union(*names) if names else set()
    missing = tuple(sorted((declared_c | declared_a) - seen))
    summary = RoleSummary(tuple(basis), int((~keep).sum()), missing)
    return RoleAssignment(out[keep].reset_index(drop=True), summary)


def _evidence_from_table(table: pd.DataFrame) -> pd.DataFrame:
    n = len(table)
    return pd.DataFrame({OWN_CATEGORIES: [[] for _ in range(n)], OTHER_CATEGORIES: list(table[schema.CATEGORIES]),
                         OWN_RECORDS: np.zeros(n, dtype=np.int64),
                         OTHER_RECORDS: table[schema.RECORDS].fillna(0).astype("int64").to_numpy(),
                         REQUESTS: np.zeros(n, dtype=np.int64), USED_BY_ACTOR: np.zeros(n, dtype=np.int64),
                         SUCCEEDED: np.zeros(n, dtype=np.int64), ACCOUNTS: [[] for _ in range(n)]})


def has_role(roles: object, role: Role) -> bool:
    """Whether a `roles` cell (a list, an array, or missing: an older table, read as a data subject) holds `role`."""
    if roles is None or (isinstance(roles, float) and roles != roles):
        return role is Role.DATA_SUBJECT
    items = [str(r) for r in roles]  # type: ignore[attr-defined]
    return role.value in items if items else role is Role.DATA_SUBJECT
