"""The derived fields (`logs.derive`) of the lines read in bulk, computed by derive's own functions.

`finish` sets them on every event through `derive.add_derived`; here the same functions run once per
distinct value of a column:

- the once-decoded URLs (`url.*_decoded`): `derive.decoded_url` of each distinct `url.original`, `url.path`,
  `url.query` holding a `%` (without one it decodes nothing: derive says so and returns None). A decoded
  value that `finish` would have to escape (`%1b` decodes to ESC) sends its line to the line parser;
- the keyword text (`log.decoded`) is never set on a line read in bulk: derive only sets it where JSON
  escapes or CSV quoting change the text, and these lines hold no backslash and are not CSV.

A derived field added to `logs.derive` without being computed here stops this module at import (and the
differential test would show the difference): compute it here too.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from breachkit.logs.columnar import vectors as v
from breachkit.logs.derive import DERIVED_FIELDS, KEYWORD_TEXT, URL_FIELDS, decoded_url
from breachkit.logs.schema import needs_escape

if {KEYWORD_TEXT, *URL_FIELDS.values()} != DERIVED_FIELDS:  # pragma: no cover - guards a future change
    raise ImportError("logs.derive has derived fields logs.columnar does not compute: "
                      f"{sorted(DERIVED_FIELDS - {KEYWORD_TEXT, *URL_FIELDS.values()})}")


def add_derived(columns: dict[str, pa.Array], rows: int) -> pa.BooleanArray:
    """Put the derived columns into `columns` (`rows` rows, the input's own values for derived fields
    dropped: derive never takes them from the input); returns the rows that may stay on the bulk path."""
    for name in DERIVED_FIELDS:
        columns.pop(name, None)
    keep = v.mask(rows, range(rows))
    for name, derived in URL_FIELDS.items():
        column = columns.get(name)
        if column is None or column.null_count == rows:
            continue
        escaped = v.fill(pc.match_substring(column, "%"))
        if not pc.any(escaped).as_py():
            continue
        decoded = v.per_value(v.none_if(column, pc.invert(escaped)), decoded_url, pa.string())
        columns[derived] = decoded
        odd = v.fill(v.per_value(decoded, needs_escape, pa.bool_()))
        keep = pc.and_(keep, pc.invert(odd))
    return keep
