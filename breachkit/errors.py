"""One error hierarchy for the whole of breachkit.

Every error carries where it happened (file, line, field) and may carry a hint that the CLI prints
under the message. Validation code collects every problem it finds and raises one error holding
all of them (`problems`), so a user fixes a file in one pass instead of one error per run.

Exit codes: each error class carries its code and what it means (`meaning`); `exit_codes()` is the table the
CLI's epilog, the README and docs/cli.md are generated from (a test keeps them current)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# What a terminal interprets (C0 and C1 controls, DEL) and what cannot be printed as UTF-8 (lone surrogates,
# e.g. undecodable bytes of a file name). Tab and newline are kept only where a text is several lines.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNPRINTABLE_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # an undecodable byte (surrogateescape)
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def printable(text: str, *, lines: bool = False) -> str:
    """`text` safe to show on a terminal: control characters written as `\\xHH` (`\\x1b`, not ESC).
    `lines`: keep newlines and tabs (a message of several lines)."""
    return (_UNPRINTABLE_BUT_LINES if lines else _UNPRINTABLE).sub(_escaped, text)


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file (or "-" for stdin), optionally a 1-based line and a field/key."""

    path: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.path is not None:
            path = printable(self.path)  # file names come from the user and may hold anything
            parts.append(path if self.line is None else f"{path}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field is not None:
            parts.append(printable(self.field))
        return ": ".join(parts)


@dataclass(frozen=True)
class Problem:
    """One located problem inside a larger validation error."""

    message: str
    location: Location = Location()

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message


class BreachkitError(Exception):
    """Base of every error breachkit raises on purpose."""

    exit_code = 1
    meaning = "an error"

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = Location(str(path) if path is not None else None, line, field)
        self.hint = hint
        self.problems: list[Problem] = list(problems or [])

    def __str__(self) -> str:
        where = str(self.location)
        head = f"{where}: {self.message}" if where else self.message
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class InputError(BreachkitError):
    """A file the user gave us (log, rule, template, directory…) cannot be used."""

    exit_code = 1
    meaning = ("bad input: a log file, rule, template, directory or other file that cannot be used (each problem "
               "with its file, line and field)")


class ConfigError(BreachkitError):
    """The configuration (file, environment, options) is invalid."""

    exit_code = 2
    meaning = "usage or configuration error"


class UsageError(BreachkitError):
    """The command was called in a way that cannot work (conflicting options, missing workspace…)."""

    exit_code = 2
    meaning = "usage or configuration error"


class ServiceError(BreachkitError):
    """A service (Elasticsearch, OpenSearch, SMTP, database) is unreachable, refused credentials or failed."""

    exit_code = 3
    meaning = "a service is unreachable or refused us (Elasticsearch, OpenSearch, SMTP, the incident database)"


class PartialFailure(BreachkitError):
    """Some inputs were processed and committed, others failed; `problems` lists the failures."""

    exit_code = 4
    meaning = "partial: some inputs were processed and kept, others failed (each failure is listed)"


class ConflictError(BreachkitError):
    """An optimistic-locking conflict: the record changed since it was read. Nothing was written."""

    exit_code = 5
    meaning = ("conflict: the incident was changed by someone else since it was read (nothing was written; read it "
               "again and retry)")


class NotFoundError(UsageError):
    """An incident, task or record that does not exist."""


SUCCESS_MEANING = ("success (an ingest that skipped unreadable lines still succeeds; its summary counts them and "
                   "says where the samples are)")


def exit_codes() -> list[tuple[int, str]]:
    """The documented exit codes, in order: (code, meaning)."""
    table = {0: SUCCESS_MEANING}
    for cls in (InputError, UsageError, ServiceError, PartialFailure, ConflictError):
        table.setdefault(cls.exit_code, cls.meaning)
    return sorted(table.items())


def exit_code_lines() -> list[str]:
    return [f"{code} {meaning}" for code, meaning in exit_codes()]
