"""Recipients streamed: a subject table read and validated batch by batch while it is iterated (`RecipientStream`),
so that notices for hundreds of thousands of people are rendered, approved and queued in fixed memory."""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterator
from typing import Any

import pyarrow.parquet as pq

from breachkit.errors import InputError, Problem
from breachkit.notices.recipients import Recipient, Recipients, RowValidator
from breachkit.subjects import schema as S

BATCH_ROWS = 2_000  # rows read and validated at a time by `RecipientStream`


class RecipientStream:
    """Recipients read and validated batch by batch while they are iterated (a Parquet subject table), so that a
    list of hundreds of thousands of people never sits in memory as records or `Recipient`s at once: what grows
    with the count is the duplicate check's keys and the problems found. Each iteration is a complete new pass.
    `rejected`, `notes`, `skipped` and `accepted` are those of the latest complete pass; asking for them before one
    raises RuntimeError (they would silently read as none)."""

    def __init__(self, source: str, batches: Callable[[], Iterator[list[dict[str, Any]]]], *,
                 locales: Collection[str] | None = None, default_locale: str = "en") -> None:
        self.source = source
        self._batches, self._locales, self._default = batches, locales, default_locale
        self._done: tuple[list[Problem], list[Problem], list[Problem], int] | None = None

    def __iter__(self) -> Iterator[Recipient]:
        check = RowValidator(self.source, self._locales, self._default)
        row = accepted = 0
        for batch in self._batches():
            for record in batch:
                row += 1
                recipient = check(row, record)
                if recipient is not None:
                    accepted += 1
                    yield recipient
        self._done = (check.rejected, check.notes, check.skipped, accepted)

    def _pass(self) -> tuple[list[Problem], list[Problem], list[Problem], int]:
        if self._done is None:
            raise RuntimeError("the recipients' problems are known once they have been read: iterate them first")
        return self._done

    @property
    def rejected(self) -> list[Problem]:
        return self._pass()[0]

    @property
    def notes(self) -> list[Problem]:
        return self._pass()[1]

    @property
    def skipped(self) -> list[Problem]:
        return self._pass()[2]

    @property
    def accepted(self) -> int:
        return self._pass()[3]


def recipients_from_parquet(data: bytes, *, source: str, locales: Collection[str] | None = None,
                            default_locale: str = "en", batch_rows: int = BATCH_ROWS) -> RecipientStream:
    """A Parquet subject table (e.g. a stored subject list's bytes) as a `RecipientStream` (rows numbered from
    1). InputError when it lacks a required column."""
    names = pq.ParquetFile(io.BytesIO(data)).schema_arrow.names
    missing = [c for c in S.REQUIRED_SUBJECT_COLUMNS if c not in names]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}", path=source)

    def batches() -> Iterator[list[dict[str, Any]]]:
        for batch in pq.ParquetFile(io.BytesIO(data)).iter_batches(batch_size=batch_rows):
            yield batch.to_pylist()

    return RecipientStream(source, batches, locales=locales, default_locale=default_locale)


RecipientSource = Recipients | RecipientStream  # read whole (a file) or streamed (a stored subject list)
