"""Data-driven parser cases (tests/data/*_cases.yaml): input lines → the exact events ingest stores.

Each case runs the whole reading path but the store: the bytes of its lines through `LineReader` (so
undecodable bytes and control characters are what a file would give), the format's parser, and
`finish` (escaping, cutting, flags, the fields ingest fills in). This is the reference a faster parsing
path (columnar, later) must reproduce: every field of every event is compared, only `event.id` (a hash,
checked elsewhere) is left out.

Case keys: `name`; `lines` (strings; `\\xHH` in a line stands for the raw byte 0xHH when `bytes: true`);
`format` (file default); `year` (of the first classic syslog line, default 2024); `timezone` (default
UTC); `remote_user_field`; and either `events` (the events of the LAST line, each a mapping with
`@timestamp` as ISO 8601 UTC, e.g. 2024-03-07T18:53:20Z or …20.954Z) or `reject` (a substring of the
reason the last line is rejected with).
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from breachkit.config import IngestConfig
from breachkit.logs.finish import BadLine, Finished, finish
from breachkit.logs.parsers import make_parser
from breachkit.logs.reader import LineReader

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Outcome:
    events: list[dict[str, Any]] | None  # of the last line
    reject: str | None


def load(name: str) -> tuple[str, list[dict[str, Any]]]:
    doc = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return doc["format"], doc["cases"]


def _bytes(case: dict[str, Any]) -> bytes:
    lines: list[str] = case["lines"]
    text = "\n".join(lines) + "\n"
    if case.get("bytes"):
        return codecs.escape_decode(text.encode("utf-8"))[0]  # type: ignore[no-any-return]
    return text.encode("utf-8")


def run(fmt: str, case: dict[str, Any]) -> Outcome:
    fmt = case.get("format", fmt)
    parser = make_parser(fmt, IngestConfig(), year=case.get("year", 2024), timezone=case.get("timezone", "UTC"),
                         remote_user_field=case.get("remote_user_field", "user.name"))
    with LineReader("-", stdin=io.BytesIO(_bytes(case))) as reader:
        records = list(parser.records(iter(reader)))
    last = records[-1]
    out = Finished()
    bad: list[BadLine] = []
    finish([last], "case.log", parser.default_dataset, out, bad, 10)
    if bad:
        return Outcome(None, bad[0].reason)
    return Outcome([render(e) for e in out.events], None)


def render(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the YAML writes it: no event.id, the time as ISO 8601 UTC with Z."""
    shown = {}
    for key, value in event.items():
        if key == "event.id":
            continue
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="milliseconds" if value.microsecond else "seconds")
            value = value.replace("+00:00", "Z")
        shown[key] = value
    return shown
