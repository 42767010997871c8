"""CSV that is safe to open in a spreadsheet (OWASP "CSV injection"): a cell starting with `=`, `+`, `-`,
`@`, a tab or a carriage return is prefixed with an apostrophe so it is shown as text, never evaluated."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A string cell that a spreadsheet would run as a formula gets a leading apostrophe; others unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text (header first); lists are `;`-joined; every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, list | tuple):
                value = ";".join(str(v) for v in value)
            cells.append("" if value is None else neutralise(value))
        writer.writerow(cells)
    return buffer.getvalue()
