"""CSV that is safe to open in a spreadsheet (OWASP "CSV injection"): a cell starting with `=`, `+`, `-`,
`@`, a tab or a carriage return is prefixed with an apostrophe so it is shown as text, never evaluated.
Cells that already start with apostrophes before such a character get one more, so the escaping can be
undone exactly (one apostrophe removed)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Cells a spreadsheet may evaluate, and already escaped ones (so the escaping stays reversible).
FORMULA_PATTERN = r"^('*[=+\-@\t\r])"
_FORMULA = re.compile(FORMULA_PATTERN)


def neutralise(value: Any) -> Any:
    """A string cell that a spreadsheet would run as a formula gets a leading apostrophe; others unchanged."""
    if isinstance(value, str):
        return _FORMULA.sub(r"'\1", value)
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
