"""detect_format (`--format auto`): picks the format that reads most of the first lines."""

from __future__ import annotations

import pytest

from breachkit.config import CsvConfig, IngestConfig, JsonlConfig
from breachkit.errors import InputError
from breachkit.logs.parsers import detect_format
from breachkit.logs.reader import Line

CONFIG = IngestConfig()

COMBINED = [
    '203.0.113.9 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search'
    '.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 '
    '(Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"',
    '2001:db8::1 - alice [17/May/2015:10:05:43 +0200] "POST /login HTTP/1.1" 302 - "-" "curl/8.0"',
    'crawler.example.org - - [17/May/2015:10:05:47 -0700] "GET /robots.txt HTTP/1.0" 404 0 "-" "bot, v1, x"',
]
COMMON = [
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
    '192.0.2.7 - - [10/Oct/2000:13:56:01 -0700] "POST /login HTTP/1.1" 401 17',
    '192.0.2.7 - - [10/Oct/2000:13:56:02 -0700] "\\x16\\x03\\x01" 400 226',
]
JSONL = [
    '{"@timestamp": "2024-05-01T10:00:00Z", "source.ip": "192.0.2.1", "user.id": "u1", "event.action": "login"}',
    '{"@timestamp": 1714557601, "source": {"ip": "192.0.2.2"}, "user": {"id": "u2"}}',
    '{"@timestamp": "2024-05-01T10:00:02+02:00", "user.email": "a@example.com"}',
]
AUTH = [
    "Mar 27 13:06:56 ip-10-77-20-248 sshd[1291]: Server listening on 0.0.0.0 port 22.",
    "Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: Accepted publickey for ubuntu from 85.245.107.41 port 54259 ssh2",
    "Mar 27 13:09:37 ip-10-77-20-248 sudo:   ubuntu : TTY=pts/0 ; PWD=/home/ubuntu ; USER=root ; COMMAND=/bin/ls",
    "2015-04-16T18:02:50.321974+00:00 host sshd[2716]: Failed password for root from 192.0.2.112 port 22 ssh2",
]
CSV = [
    "@timestamp,source.ip,user.id,url.original",
    "2024-05-01T10:00:00Z,192.0.2.1,u1,/a",
    "2024-05-01T10:00:01Z,192.0.2.2,u2,/b",
]


def sample(texts: list[str | None]) -> list[Line]:
    return [Line(i, t) if t is not None else Line(i, None, "binary data (NUL bytes)", "\\x00\\x01")
            for i, t in enumerate(texts, start=1)]


@pytest.mark.parametrize(
    ("path", "texts", "expected"),
    [
        ("access.log", COMBINED, "combined"),
        ("access.log.gz", COMBINED, "combined"),
        ("-", COMBINED, "combined"),
        ("access.log", COMMON, "common"),
        ("events.log", JSONL, "jsonl"),
        ("events.jsonl", JSONL, "jsonl"),
        ("auth.log", AUTH, "auth"),
        ("auth.log.1.gz", AUTH, "auth"),
        ("export.csv", CSV, "csv"),
        ("export.csv.gz", CSV, "csv"),
        ("export.txt", CSV, "csv"),  # no .csv name: the header's delimiters make CSV a candidate
        ("-", CSV, "csv"),
    ],
)
def test_detects_each_format(path: str, texts: list[str], expected: str) -> None:
    assert detect_format(path, sample(texts), CONFIG) == expected


def test_blank_lines_are_ignored() -> None:
    assert detect_format("x.log", sample(["", *COMMON[:1], "  ", *COMMON[1:]]), CONFIG) == "common"


def test_a_minority_of_bad_lines_does_not_prevent_detection() -> None:
    texts = [*COMBINED, "garbage line", *COMBINED]
    assert detect_format("access.log", sample(texts), CONFIG) == "combined"


def test_a_minority_of_unreadable_lines_does_not_prevent_detection() -> None:
    texts: list[str | None] = [*AUTH, None]
    assert detect_format("auth.log", sample(texts), CONFIG) == "auth"


def test_csv_with_configured_delimiter_and_mapping() -> None:
    config = IngestConfig(csv=CsvConfig(delimiter=";", mapping={"@timestamp": "zeit"}))
    texts = ["zeit;ip;konto", "01.05.2024 12:00:00;192.0.2.1;k1"]
    assert detect_format("export.dat", sample(texts), config) == "csv"


def test_jsonl_with_mapping() -> None:
    config = IngestConfig(jsonl=JsonlConfig(mapping={"@timestamp": "ts"}))
    texts = ['{"ts": "2024-05-01T10:00:00Z", "who": "a"}', '{"ts": 1714557600, "who": "b"}']
    assert detect_format("app.log", sample(texts), config) == "jsonl"
    # Without the mapping these lines have no timestamp: no format reads them.
    with pytest.raises(InputError):
        detect_format("app.log", sample(texts), CONFIG)


def test_csv_name_without_timestamp_column_is_not_csv() -> None:
    with pytest.raises(InputError, match="cannot tell the log format") as info:
        detect_format("export.csv", sample(["time,ip,user", "2024-05-01T10:00:00Z,192.0.2.1,u1"]), CONFIG)
    assert info.value.hint is not None
    assert "--format" in info.value.hint


@pytest.mark.parametrize(
    "texts",
    [
        [None, None, None, "GET / HTTP/1.1"],
        [None, None],
        [None, "a", None],
    ],
)
def test_mostly_binary_input_is_rejected(texts: list[str | None]) -> None:
    with pytest.raises(InputError, match=r"not a text log file \(binary data \(NUL bytes\)\)") as info:
        detect_format("dump.bin", sample(texts), CONFIG)
    assert info.value.location.path == "dump.bin"
    assert info.value.location.line == 1
    assert info.value.hint is not None


@pytest.mark.parametrize(
    "texts",
    [
        ["hello world", "this is a plain text file", "with no log format at all"],
        ["# comment", "key = value", "other = 2"],
        [*COMMON[:1], "plain text", "more plain text"],  # only a third readable
    ],
)
def test_unknown_text_is_rejected_with_a_format_hint(texts: list[str]) -> None:
    with pytest.raises(InputError, match="cannot tell the log format") as info:
        detect_format("notes.txt", sample(texts), CONFIG)
    assert info.value.location.path == "notes.txt"
    assert info.value.hint is not None
    assert "--format" in info.value.hint
    assert info.value.exit_code == 1


@pytest.mark.parametrize("texts", [[], ["", "   "], ["\t", ""]])
def test_empty_input_is_no_format_not_an_error(texts: list[str]) -> None:
    # an empty input (nothing but blank lines) is stored as nothing and ingest says so (exit 0)
    assert detect_format("empty.log", sample(texts), CONFIG) is None


def test_mostly_binary_input_hint_names_the_encoding() -> None:
    # --format cannot help with bytes that are not text: the hint says what can.
    with pytest.raises(InputError) as info:
        detect_format("dump.bin", sample([None, None, None]), CONFIG)
    assert info.value.hint is not None
    assert "UTF-8" in info.value.hint
