"""Reading an input in blocks of lines, with exactly the line semantics of `reader.LineReader`.

`LineReader` yields one `Line` object per line; making a Python object per line costs more than parsing it
in bulk. `BlockReader` reads the same 1 MiB chunks from the same stream (it reuses LineReader's opening,
gzip detection and error handling), splits them with `bytes.split`, and hands out raw blocks (the lines
joined, cheap to send to a worker process); `decode` turns one into the lines' bytes, their text as one
Arrow array, and the `Line` objects LineReader would have made for the few lines that need one — lines
that are not UTF-8, and lines too long to read. Line numbers, the handling of over-long lines (which depends on
where the 1 MiB chunks end, so the chunks are the same), `\\r` before the newline, the byte-order mark of
the first line and a last line without a newline are LineReader's, line for line.

A block ends after the chunk in which it reached `max_lines` lines or `max_bytes` bytes, so a block holds
at most `max_bytes` + 1 MiB + one line of input: memory is bounded by the block size, not by the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from breachkit.logs.reader import Line, LineReader, _printable

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawBlock:
    """Consecutive lines as read: `count` lines numbered from `first`, in `parts` or joined by newlines in
    `data` (each still with its `\\r`, the input's first line with its byte-order mark); `special` holds the
    `Line`s of the lines too long to read (their place is empty). `packed()` is cheap to send to a worker."""

    first: int
    data: bytes
    count: int
    special: dict[int, Line]
    crlf: bool  # some line may end in \\r
    parts: list[bytes] | None = None  # the lines themselves, when the block stays in this process (no `data`)

    def packed(self) -> RawBlock:
        """This block as one bytes object (to send to a worker: one object pickles much faster than a list)."""
        if self.parts is None:
            return self
        return RawBlock(self.first, b"\n".join(self.parts), self.count, self.special, self.crlf)


@dataclass
class Block:
    """A raw block decoded: line `first + i` is `raws[i]` (without its `\\r` or byte-order mark), or, when `i`
    is in `special`, the `Line` LineReader gives for it (not UTF-8, too long). `text` holds every line as
    UTF-8 text; special lines are "" there."""

    first: int
    raws: list[bytes]
    special: dict[int, Line]
    text: pa.StringArray

    def __len__(self) -> int:
        return len(self.raws)

    def line(self, i: int) -> Line:
        """The `Line` LineReader gives for line `first + i`."""
        found = self.special.get(i)
        return found if found is not None else Line(self.first + i, self.raws[i].decode("utf-8"))


class BlockReader(LineReader):
    """The lines of one input in blocks (see the module docstring); `bytes_read` and `compressed` as LineReader."""

    def __init__(self, path: str, *, max_lines: int = 100_000, max_bytes: int = 16 << 20) -> None:
        super().__init__(path)
        self.max_lines = max_lines
        self.max_bytes = max_bytes

    def raw_blocks(self) -> Iterator[RawBlock]:
        number = 0  # the last line number given out
        carry = b""
        skipping = False  # inside an over-long line, discarding up to the next newline
        parts: list[bytes] = []
        special: dict[int, Line] = {}
        size = 0
        first = 1
        crlf = False
        while True:
            chunk = self._read()
            if not chunk:
                break
            crlf = crlf or b"\r" in chunk
            pieces = chunk.split(b"\n")
            pieces[0] = carry + pieces[0]
            carry = pieces.pop()
            if skipping and pieces:
                pieces = pieces[1:]  # the end of the over-long line
                skipping = False
            parts.extend(pieces)
            number += len(pieces)
            size += len(chunk)
            if len(carry) > self.max_line_bytes and not skipping:
                number += 1
                special[len(parts)] = Line(number, None, self._too_long, _printable(carry))
                parts.append(b"")
                carry = b""
                skipping = True
            elif skipping:
                carry = b""
            if len(parts) >= self.max_lines or size >= self.max_bytes:
                yield RawBlock(first, b"", len(parts), special, crlf, parts)
                first, parts, special, size, crlf = number + 1, [], {}, 0, False
        if carry and not skipping:
            crlf = crlf or carry.endswith(b"\r")
            parts.append(carry)
        if parts:
            yield RawBlock(first, b"", len(parts), special, crlf, parts)

    def blocks(self) -> Iterator[Block]:
        for raw in self.raw_blocks():
            yield decode(raw, self)


def decode(raw: RawBlock, reader: LineReader) -> Block:
    """Strip what LineReader strips, and find the lines that need their own `Line` (`reader._decode`: any
    LineReader, for its line length limit)."""
    originals = raw.parts if raw.parts is not None else raw.data.split(b"\n") if raw.count else []
    parts = originals
    special = dict(raw.special)
    first = raw.first
    if raw.crlf:
        parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
    odd = set(special)
    limit = reader.max_line_bytes
    if parts and max(map(len, parts)) > limit:  # LineReader checks the length before the mark goes
        odd.update(i for i, p in enumerate(parts) if len(p) > limit)
    if first == 1 and parts and parts[0].startswith(BOM) and 0 not in odd:
        parts[0] = parts[0][3:]
    binary = _binary(parts)
    text: pa.StringArray | None
    try:
        text = binary.cast(pa.string())
    except pa.ArrowInvalid:  # some line is not UTF-8: find which (this block only)
        odd.update(i for i, p in enumerate(parts) if not _utf8(p))
        text = None
    for i in odd:
        if i not in special:
            special[i] = reader._decode(first + i, originals[i])
    if text is None:
        text = pa.array(["" if i in special else p.decode("utf-8") for i, p in enumerate(parts)], pa.string())
    elif special:
        keep = pa.array([i not in special for i in range(len(parts))])
        text = pc.if_else(keep, text, "")
    return Block(first, parts, special, text)


def _binary(parts: list[bytes]) -> pa.BinaryArray:
    """The parts as one Arrow array, built from their lengths (much faster than converting the list)."""
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), len(parts), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(parts))])


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
