"""LineReader: plain, gzip and stdin input, line splitting, unreadable and over-long lines, errors."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from breachkit.errors import InputError
from breachkit.logs.reader import MAX_LINE_BYTES, Line, LineReader, source_name

TOO_LONG = f"line longer than {MAX_LINE_BYTES:,} bytes"


def read_all(path: Path | str, **kwargs) -> list[Line]:
    with LineReader(str(path), **kwargs) as reader:
        return list(reader)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    target = tmp_path / name
    target.write_bytes(data)
    return target


PLAIN = b"first line\nsecond line\nthird line\n"
EXPECTED_PLAIN = [Line(1, "first line"), Line(2, "second line"), Line(3, "third line")]


# --- plain, gzip, stdin ---------------------------------------------------------------------------------


def test_plain_file(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", PLAIN)
    with LineReader(str(path)) as reader:
        lines = list(reader)
        assert reader.compressed is False
        assert reader.bytes_read == len(PLAIN)
    assert lines == EXPECTED_PLAIN


def test_gzip_file_with_gz_name(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log.gz", gzip.compress(PLAIN))
    with LineReader(str(path)) as reader:
        assert reader.compressed is True
        assert list(reader) == EXPECTED_PLAIN


def test_gzip_detected_by_magic_bytes_without_gz_name(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", gzip.compress(PLAIN))
    with LineReader(str(path)) as reader:
        assert reader.compressed is True
        assert list(reader) == EXPECTED_PLAIN


def test_gz_name_without_gzip_content_is_read_as_plain_text(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log.gz", PLAIN)
    with LineReader(str(path)) as reader:
        assert reader.compressed is False
        assert list(reader) == EXPECTED_PLAIN


def test_stdin_plain() -> None:
    with LineReader("-", stdin=io.BytesIO(PLAIN)) as reader:
        assert list(reader) == EXPECTED_PLAIN
        assert reader.bytes_read == len(PLAIN)


def test_stdin_buffered_plain_is_not_compressed() -> None:
    # sys.stdin.buffer is a BufferedReader, as here.
    with LineReader("-", stdin=io.BufferedReader(io.BytesIO(PLAIN))) as reader:
        assert reader.compressed is False
        assert list(reader) == EXPECTED_PLAIN


def test_stdin_gzip() -> None:
    stream = io.BytesIO(gzip.compress(PLAIN))
    with LineReader("-", stdin=stream) as reader:
        assert reader.compressed is True
        assert list(reader) == EXPECTED_PLAIN


def test_empty_input_yields_no_lines(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, "empty.log", b"")) == []
    assert read_all("-", stdin=io.BytesIO(b"")) == []


# --- line splitting ------------------------------------------------------------------------------------


def test_crlf_line_endings_are_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "win.log", b"one\r\ntwo\r\nthree\r\n")
    assert read_all(path) == [Line(1, "one"), Line(2, "two"), Line(3, "three")]


def test_lone_carriage_return_inside_a_line_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "cr.log", b"a\rb\r\n")
    assert read_all(path) == [Line(1, "a\rb")]


def test_final_line_without_newline(tmp_path: Path) -> None:
    path = write(tmp_path, "x.log", b"one\ntwo")
    assert read_all(path) == [Line(1, "one"), Line(2, "two")]


def test_trailing_newline_does_not_add_an_empty_line(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, "x.log", b"one\n")) == [Line(1, "one")]


def test_blank_lines_are_yielded_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "x.log", b"one\n\n   \ntwo\n")
    assert read_all(path) == [Line(1, "one"), Line(2, ""), Line(3, "   "), Line(4, "two")]


def test_utf8_text_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path, "x.log", "Zoë → ünïcode\n".encode())
    assert read_all(path) == [Line(1, "Zoë → ünïcode")]


# --- lines that are not plain UTF-8 text: kept, never unreadable ----------------------------------------


def test_nul_byte_line_is_text_for_ingest_to_escape(tmp_path: Path) -> None:
    path = write(tmp_path, "x.log", b"before\nabc\x00def\nafter\n")
    assert read_all(path) == [Line(1, "before"), Line(2, "abc\x00def"), Line(3, "after")]


def test_invalid_utf8_line_is_kept_losslessly_and_flagged(tmp_path: Path) -> None:
    raw = b"SEARCH /\x90\x02\xb1\x02 caf\xe9"
    path = write(tmp_path, "x.log", b"before\n" + raw + b"\nafter\n")
    lines = read_all(path)
    assert [ln.number for ln in lines] == [1, 2, 3]
    assert lines[0] == Line(1, "before") and lines[2] == Line(3, "after")
    bad = lines[1]
    assert bad.flags == ("non_utf8",)
    assert bad.error is None
    assert bad.text is not None and bad.text.encode("utf-8", "surrogateescape") == raw  # no byte lost


def test_valid_utf8_is_not_flagged(tmp_path: Path) -> None:
    (line,) = read_all(write(tmp_path, "x.log", "café ✓\n".encode()))
    assert line == Line(1, "café ✓")


def test_sample_of_unreadable_line_is_bounded_and_printable(tmp_path: Path) -> None:
    path = write(tmp_path, "x.log", b"\x1b\x00\xff" * MAX_LINE_BYTES + b"\n")
    (line,) = read_all(path)
    assert line.text is None
    assert line.sample is not None
    assert line.sample.isprintable()
    assert line.sample.startswith("\\x1b\\x00\\xff")
    assert len(line.sample) <= 120


# --- over-long lines -----------------------------------------------------------------------------------


def test_one_megabyte_line_is_one_overlong_line_and_following_lines_are_read(tmp_path: Path) -> None:
    data = b"x" * 1_000_000 + b"\nnext line\nlast line\n"
    lines = read_all(write(tmp_path, "big.log", data))
    assert lines == [
        Line(1, None, TOO_LONG, "x" * 120),
        Line(2, "next line"),
        Line(3, "last line"),
    ]


def test_overlong_line_spanning_several_read_chunks(tmp_path: Path) -> None:
    # 3.5 MiB without a newline: longer than the reader's 1 MiB chunks, so it is skipped across chunks.
    data = b"first\n" + b"y" * (3 * 1024 * 1024 + 512 * 1024) + b"\nsecond\nthird"
    lines = read_all(write(tmp_path, "big.log", data))
    assert lines == [
        Line(1, "first"),
        Line(2, None, TOO_LONG, "y" * 120),
        Line(3, "second"),
        Line(4, "third"),
    ]


def test_overlong_final_line_without_newline_is_one_line(tmp_path: Path) -> None:
    data = b"first\n" + b"z" * 1_000_000
    lines = read_all(write(tmp_path, "big.log", data))
    assert lines == [
        Line(1, "first"),
        Line(2, None, TOO_LONG, "z" * 120),
    ]


def test_overlong_line_via_stdin_gzip() -> None:
    data = gzip.compress(b"a\n" + b"q" * 2_000_000 + b"\nb\n")
    lines = read_all("-", stdin=io.BytesIO(data))
    assert [(ln.number, ln.text) for ln in lines] == [(1, "a"), (2, None), (3, "b")]
    assert lines[1].error == TOO_LONG


def test_line_length_limit_counts_bytes(tmp_path: Path) -> None:
    # The limit is in bytes (4 per character at most): values beyond MAX_VALUE_CHARS characters are cut at
    # ingest, flagged `truncated`; only lines beyond the byte limit are unreadable.
    at_limit = "é" * (MAX_LINE_BYTES // 2)  # 2 bytes per character
    over = "a" * (MAX_LINE_BYTES + 1)
    data = (at_limit + "\n" + over + "\nok\n").encode()
    lines = read_all(write(tmp_path, "x.log", data))
    assert lines[0] == Line(1, at_limit)
    assert lines[1] == Line(2, None, TOO_LONG, "a" * 120)
    assert lines[2] == Line(3, "ok")


def test_custom_max_line_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "x.log", b"12345\n123456\n")
    lines = read_all(path, max_line_bytes=5)
    assert lines == [Line(1, "12345"), Line(2, None, "line longer than 5 bytes", "123456")]


# --- errors --------------------------------------------------------------------------------------------


def test_truncated_gzip_raises_input_error_after_the_lines_before_it(tmp_path: Path) -> None:
    text = b"".join(b"line %07d of a gzip file that will be cut short\n" % i for i in range(120_000))
    packed = gzip.compress(text)
    path = write(tmp_path, "cut.log.gz", packed[: len(packed) * 3 // 4])
    got: list[Line] = []
    with pytest.raises(InputError) as info, LineReader(str(path)) as reader:
        got.extend(reader)
    assert "truncated" in info.value.message
    assert info.value.location.path == str(path)
    # The lines read before the cut were yielded, numbered from 1 without gaps.
    assert len(got) > 1000
    assert [ln.number for ln in got] == list(range(1, len(got) + 1))
    assert got[0] == Line(1, "line 0000000 of a gzip file that will be cut short")


def test_truncated_small_gzip_raises_input_error(tmp_path: Path) -> None:
    packed = gzip.compress(PLAIN)
    path = write(tmp_path, "small.log", packed[:-6])  # the trailer (CRC, size) is cut
    with pytest.raises(InputError, match="truncated") as info:
        read_all(path)
    assert str(path) in str(info.value)


def test_missing_file_raises_input_error_with_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.log"
    with pytest.raises(InputError) as info:
        LineReader(str(path))
    assert info.value.location.path == str(path)
    assert str(path) in str(info.value)
    assert "no such file" in info.value.message


def test_directory_raises_input_error_with_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        LineReader(str(tmp_path))
    assert info.value.location.path == str(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "directory" in info.value.message


# --- peek ----------------------------------------------------------------------------------------------


def test_peek_does_not_consume_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "x.log", PLAIN)
    with LineReader(str(path)) as reader:
        assert reader.peek(2) == EXPECTED_PLAIN[:2]
        assert reader.peek(2) == EXPECTED_PLAIN[:2]  # repeatable
        assert reader.peek(1) == EXPECTED_PLAIN[:1]
        assert reader.peek(10) == EXPECTED_PLAIN  # fewer lines than asked
        assert list(reader) == EXPECTED_PLAIN


def test_peek_on_stdin_then_iterate() -> None:
    with LineReader("-", stdin=io.BytesIO(gzip.compress(PLAIN))) as reader:
        assert reader.peek(1) == [Line(1, "first line")]
        assert list(reader) == EXPECTED_PLAIN


def test_peek_on_empty_input() -> None:
    with LineReader("-", stdin=io.BytesIO(b"")) as reader:
        assert reader.peek(5) == []
        assert list(reader) == []


# --- source_name ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("access.log", "access.log"),
        ("access.log.gz", "access.log"),
        ("/var/log/nginx/access.log.1.gz", "access.log.1"),
        ("logs/auth.log", "auth.log"),
        ("events.jsonl", "events.jsonl"),
        ("-", "stdin"),
    ],
)
def test_source_name(path: str, expected: str) -> None:
    assert source_name(path) == expected


def test_source_name_is_the_same_for_plain_and_gzip_copies(tmp_path: Path) -> None:
    assert source_name(str(tmp_path / "a" / "app.log")) == source_name(str(tmp_path / "b" / "app.log.gz"))


# --- known bugs ----------------------------------------------------------------------------------------


def test_utf8_bom_at_start_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", b"\xef\xbb\xbf@timestamp,user.name\n2024-01-01T00:00:00Z,alice\n")
    assert read_all(path) == [Line(1, "@timestamp,user.name"), Line(2, "2024-01-01T00:00:00Z,alice")]


def test_stdin_unbuffered_plain_is_not_compressed() -> None:
    with LineReader("-", stdin=io.BytesIO(PLAIN)) as reader:
        assert reader.compressed is False
