"""Reading log input: files, gzip (detected by its magic bytes, not the name) and stdin, line by line.

Lines are read in fixed-size chunks, so a multi-GB file, or a file of binary garbage without a single
newline, is read in bounded memory: a line longer than `max_line_bytes` is reported as an over-long
line (with its start as a sample) and skipped up to the next newline. A truncated or corrupt gzip
stream is a fatal `InputError` for that file, raised after the lines before it were yielded; the ingest
pipeline then discards the whole file.

No byte of a line is lost: bytes that are not UTF-8 are decoded with Python's "surrogateescape" (each
becomes a lone surrogate U+DC80..U+DCFF) and the line is flagged `non_utf8`; ingest writes them as
`\\xHH` (`schema.escape_text`) once the line is parsed, so the parsers see the line's structure as it was.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from breachkit.errors import InputError
from breachkit.logs.schema import FLAG_NON_UTF8, MAX_VALUE_CHARS, escape_text

CHUNK_BYTES = 1 << 20
# A line is read whole up to this size: the longest value kept is MAX_VALUE_CHARS characters of up to 4
# bytes each. Longer values are cut at ingest (flag `truncated`); longer lines are unreadable.
MAX_LINE_BYTES = 4 * MAX_VALUE_CHARS
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Line:
    """One line of input. `text` is None when the line was too long to read; `error` says why.

    `text` may hold lone surrogates for bytes that are not UTF-8 (then `flags` holds "non_utf8")."""

    number: int  # 1-based
    text: str | None
    error: str | None = None
    sample: str | None = None  # for unreadable lines: a printable excerpt
    flags: tuple[str, ...] = ()


def source_name(path: str) -> str:
    """The name events are tagged with (`log.file.path`): the file name without a .gz suffix.

    The name, not the full path, so that re-ingesting the same file from another folder, or gzip'ed,
    gives the same event ids.
    """
    if path == STDIN:
        return "stdin"
    name = Path(path).name
    return name[:-3] if name.endswith(".gz") else name


def _printable(data: bytes, limit: int = 120) -> str:
    return escape_text(data[:limit].decode("utf-8", "surrogateescape"))[0][:limit]


class LineReader:
    """Iterates the lines of one input; `peek(n)` returns the first lines without consuming them."""

    def __init__(self, path: str, *, max_line_bytes: int = MAX_LINE_BYTES, stdin: BinaryIO | None = None):
        self.path = path
        self.max_line_bytes = max_line_bytes
        self._raw = self._open(stdin)
        self._stream = self._maybe_gunzip(self._raw)
        self._lines = self._iter_lines()
        self._peeked: list[Line] = []
        self.bytes_read = 0
        self.compressed = isinstance(self._stream, gzip.GzipFile)

    def _open(self, stdin: BinaryIO | None) -> BinaryIO:
        if self.path == STDIN:
            return stdin if stdin is not None else sys.stdin.buffer
        try:
            return Path(self.path).open("rb")
        except FileNotFoundError:
            raise InputError("no such file", path=self.path) from None
        except IsADirectoryError:
            raise InputError("is a directory, not a log file", path=self.path) from None
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror}", path=self.path) from None

    def _maybe_gunzip(self, raw: BinaryIO) -> BinaryIO:
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
        return buffered

    def close(self) -> None:
        if self.path != STDIN:
            self._raw.close()

    def __enter__(self) -> LineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> bytes:
        try:
            chunk = self._stream.read(CHUNK_BYTES)
        except EOFError:
            raise InputError(
                "gzip stream is truncated (ended before its end marker)",
                path=self.path,
                hint="the file was cut short; nothing from it was stored",
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"corrupt gzip data: {exc}", path=self.path) from None
        except OSError as exc:
            raise InputError(f"read failed: {exc}", path=self.path) from None
        self.bytes_read += len(chunk)
        return chunk

    def _iter_lines(self) -> Iterator[Line]:
        number = 0
        carry = b""
        skipping = False  # inside an over-long line, discarding up to the next newline
        while True:
            chunk = self._read()
            if not chunk:
                break
            parts = chunk.split(b"\n")
            parts[0] = carry + parts[0]
            carry = parts.pop()
            for part in parts:
                if skipping:
                    skipping = False
                    continue
                number += 1
                yield self._decode(number, part)
            if len(carry) > self.max_line_bytes and not skipping:
                number += 1
                yield Line(number, None, self._too_long, _printable(carry))
                carry = b""
                skipping = True
            elif skipping:
                carry = b""
        if carry and not skipping:
            number += 1
            yield self._decode(number, carry)

    @property
    def _too_long(self) -> str:
        return f"line longer than {self.max_line_bytes:,} bytes"

    def _decode(self, number: int, data: bytes) -> Line:
        if data.endswith(b"\r"):
            data = data[:-1]
        if len(data) > self.max_line_bytes:
            return Line(number, None, self._too_long, _printable(data))
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # a UTF-8 byte-order mark (Excel's "CSV UTF-8")
        try:
            return Line(number, data.decode("utf-8"))
        except UnicodeDecodeError:
            return Line(number, data.decode("utf-8", "surrogateescape"), flags=(FLAG_NON_UTF8,))

    def peek(self, count: int) -> list[Line]:
        while len(self._peeked) < count:
            try:
                self._peeked.append(next(self._lines))
            except StopIteration:
                break
        return self._peeked[:count]

    def __iter__(self) -> Iterator[Line]:
        while self._peeked:
            yield self._peeked.pop(0)
        yield from self._lines
