"""Log parsers by format name, and format detection for `--format auto`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from breachkit.config import IngestConfig
from breachkit.errors import InputError
from breachkit.logs.names import FORMATS
from breachkit.logs.parsers.authlog import AuthLogParser
from breachkit.logs.parsers.base import ParseError, Parser, Record
from breachkit.logs.parsers.structured import CsvParser, JsonLinesParser
from breachkit.logs.parsers.web import CombinedParser, CommonParser
from breachkit.logs.reader import Line

__all__ = ["FORMATS", "SNIFF_LINES", "ParseError", "Parser", "Record", "detect_format", "make_parser"]

SNIFF_LINES: Final = 50
_BY_SUFFIX: Final = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


def make_parser(
    fmt: str,
    config: IngestConfig,
    *,
    year: int | None = None,
    remote_user_field: str = "user.name",
    timezone: str | None = None,
) -> Parser:
    """A fresh parser for `fmt` (parsers keep per-file state, such as the syslog year).

    `year`: the year of the first classic syslog line; `timezone`: the zone of times without an offset
    (default `ingest.assume_timezone`)."""
    assume = ZoneInfo(timezone or config.assume_timezone)
    factories: dict[str, Callable[[], Parser]] = {
        "combined": lambda: CombinedParser(config.actions, remote_user_field, config.targets),
        "common": lambda: CommonParser(config.actions, remote_user_field, config.targets),
        "jsonl": lambda: JsonLinesParser(config.jsonl.mapping, config.jsonl.timestamp_format, assume),
        "csv": lambda: CsvParser(config.csv.mapping, config.csv.delimiter, config.csv.timestamp_format, assume),
        "auth": lambda: AuthLogParser(year=year if year is not None else datetime.now(UTC).year, assume_tz=assume),
    }
    try:
        return factories[fmt]()
    except KeyError:
        raise InputError(f"unknown format {fmt!r}; choose one of: auto, {', '.join(FORMATS)}") from None


def _binary(line: Line) -> bool:
    """Looks like binary data rather than text: unreadable, or a quarter of it undecodable or control bytes."""
    if line.text is None:
        return True
    if not line.flags and _CONTROL_RE.search(line.text) is None:
        return False
    odd = len(_CONTROL_RE.findall(line.text))
    return odd * 4 > len(line.text)


_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def detect_format(path: str, sample: list[Line], config: IngestConfig) -> str | None:
    """Pick the format that reads most of the first lines; the file suffix breaks ties and helps CSV.

    None for an empty input (no line but blank ones): an empty input is not an error."""
    name = path[:-3] if path.endswith(".gz") else path
    hinted = _BY_SUFFIX.get(Path(name).suffix.lower())
    lines = [ln.text for ln in sample if ln.text is not None and ln.text.strip()][:SNIFF_LINES]
    if not lines and not any(ln.text is None for ln in sample):
        return None
    scores = {fmt: make_parser(fmt, config, year=2000).sniff(lines) for fmt in FORMATS if fmt != "csv"}
    if lines and (hinted == "csv" or (hinted is None and lines[0].count(config.csv.delimiter) >= 2)):
        scores["csv"] = make_parser("csv", config).sniff(lines)
    best = max(scores, key=lambda f: (scores[f], f == hinted))
    binary = [line for line in sample if _binary(line)]
    if scores[best] < 0.5 and sample and len(binary) * 2 > len(sample):
        first = binary[0]
        raise InputError(f"not a text log file ({first.error or 'binary data'})",
                         path=path, line=first.number,
                         hint="binary data, or an encoding other than UTF-8; nothing was stored")
    if scores[best] < 0.5:
        raise InputError(
            "cannot tell the log format: fewer than half of the first lines match any known format "
            f"(best: {best}, {scores[best]:.0%})",
            path=path,
            hint=f"pass --format ({', '.join(FORMATS)}); for JSON or CSV with other field names set a "
            "mapping in breachkit.toml",
        )
    return best
