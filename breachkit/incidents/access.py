"""Who may see and do what on the incident board: the four roles and what each is granted. Pure data and one
check, so the board, a future API and tests read the same table.

- viewer: the clocks and the tasks, but no person's identity (no commander, assignee or actor names, no notes).
- security: sees who owns what, works the tasks and adds notes.
- commander: as security, and records the authority's reference; sees the breach register.
- dpo: everything, and alone sees the people affected (subject lists), the disclosure record, and exports.
"""

from __future__ import annotations

import enum


class UserRole(enum.StrEnum):
    COMMANDER = "commander"
    DPO = "dpo"
    SECURITY = "security"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    SEE_IDENTITIES = "see_identities"  # names of staff: commander, assignees, actors, note texts
    WORK_TASKS = "work_tasks"  # assign, check, complete, reopen
    ADD_NOTES = "add_notes"
    RECORD_REFERENCE = "record_reference"  # the authority's case number
    SEE_REGISTER = "see_register"
    SEE_SUBJECTS = "see_subjects"  # the people affected (identities; every view is audited)
    SEE_DISCLOSURES = "see_disclosures"  # what left breachkit, to whom (recipient ids)
    EXPORT = "export"  # downloads: register CSV, subject lists


_STAFF = frozenset({Permission.SEE_IDENTITIES, Permission.WORK_TASKS, Permission.ADD_NOTES})
GRANTS: dict[UserRole, frozenset[Permission]] = {
    UserRole.VIEWER: frozenset(),
    UserRole.SECURITY: _STAFF,
    UserRole.COMMANDER: _STAFF | {Permission.RECORD_REFERENCE, Permission.SEE_REGISTER},
    UserRole.DPO: frozenset(Permission),
}


def allowed(role: UserRole | str, permission: Permission) -> bool:
    try:
        return permission in GRANTS[UserRole(role)]
    except ValueError:
        return False  # a role this version does not know is granted nothing
