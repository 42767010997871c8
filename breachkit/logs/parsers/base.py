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
    raw: str
    events: list[Event] | None = None
    error: str | None = None


class Parser:
    """Turns the lines of one input into records. Subclasses implement `parse_line` (one line at a time)
    or override `records` (formats where a record can span lines, such as CSV)."""

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
                yield Record(line.number, line.text, parse(line.text))
            except ParseError as exc:
                yield Record(line.number, line.text, error=str(exc))

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
