"""Affected data subjects: identifiers touched in the logs → people in the user directory → counts."""
