"""What every log parser shares: the record it yields and the line-oriented base class."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from breachkit.logs.reader import Line
from breachkit.logs.schema import Event


class ParseError(ValueError):
    """A line does not match the format; the message says why (it ends up in the bad-line samples)."""


@dataclass(frozen=True, slots=True)
class Record:
    """The outcome for one input line: its events (usually one), or the reason it could not be read."""

    line: int
    raw: str  # as read: may hold lone surrogates for bytes that are not UTF-8 (ingest escapes them)
    events: list[Event] | None = None
    error: str | None = None
    flags: tuple[str, ...] = ()  # the line's flags from the reader (non_utf8)


class Parser:
    """Turns the lines of one input into records. Subclasses implement `parse_line` (one line at a time)
    or override `records` (formats where a record can span lines, such as CSV).

    A parser may add `log.flags` to an event as a list of flag names (schema.FLAGS); ingest merges them
    with the line's own flags."""

    name: ClassVar[str]
    default_dataset: ClassVar[str]

    def parse_line(self, text: str) -> list[Event]:
        raise NotImplementedError

    def records(self, lines: Iterator[Line]) -> Iterator[Record]:
        parse = self.parse_line
        for line in lines:
            if line.text is None:
                yield Record(line.number, line.sample or "", error=line.error)
                continue
            if not line.text.strip():
                continue  # blank lines are neither events nor errors
            try:
                yield Record(line.number, line.text, parse(line.text), flags=line.flags)
            except ParseError as exc:
                yield Record(line.number, line.text, error=str(exc), flags=line.flags)

    def sniff(self, lines: list[str]) -> float:
        """Share (0..1) of the given sample lines this parser reads; used by `--format auto`."""
        if not lines:
            return 0.0
        ok = 0
        for text in lines:
            try:
                self.parse_line(text)
                ok += 1
            except ParseError:
                pass
        return ok / len(lines)
