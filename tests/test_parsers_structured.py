"""JSON lines and CSV parsers: field mapping, timestamps, type coercion and error reporting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from breachkit.config import CsvConfig, IngestConfig, JsonlConfig
from breachkit.errors import ConfigError
from breachkit.logs.parsers import ParseError, Record, make_parser
from breachkit.logs.parsers.structured import CsvParser, JsonLinesParser
from breachkit.logs.reader import Line

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def parse_json(obj: object, **kwargs) -> dict:
    events = JsonLinesParser(**kwargs).parse_line(json.dumps(obj))
    assert len(events) == 1
    return events[0]


def lines(*texts: str | None) -> list[Line]:
    return [Line(i, t) if t is not None else Line(i, None, "binary data (NUL bytes)", "\\x00")
            for i, t in enumerate(texts, start=1)]


def csv_records(*texts: str | None, **kwargs) -> list[Record]:
    return list(CsvParser(**kwargs).records(iter(lines(*texts))))


# --- JSON lines: field lookup --------------------------------------------------------------------------


def test_json_flat_dotted_keys_full_event() -> None:
    obj = {
        "@timestamp": "2024-05-01T10:00:00Z",
        "event.action": "login",
        "event.outcome": "failure",
        "source.ip": "2001:DB8::1",
        "user.id": "u-1001",
        "user.email": "ana@example.com",
        "device.imei": "490154203237518",
        "http.response.status_code": 401,
        "http.request.method": "POST",
        "url.original": "/api/v2/login",
        "unrelated": "ignored",
    }
    assert parse_json(obj) == {
        "@timestamp": utc(2024, 5, 1, 10),
        "event.action": "login",
        "event.outcome": "failure",
        "source.ip": "2001:db8::1",
        "user.id": "u-1001",
        "user.email": "ana@example.com",
        "device.imei": "490154203237518",
        "http.request.method": "POST",
        "http.response.status_code": 401,
        "url.original": "/api/v2/login",
    }


def test_json_nested_objects() -> None:
    obj = {
        "@timestamp": "2024-05-01T10:00:00Z",
        "source": {"ip": "::ffff:192.0.2.8", "geo": {"country_iso_code": "DE"}},
        "user": {"name": "ana", "target": {"id": "u-7"}},
        "http": {"response": {"status_code": "200", "body": {"bytes": 1234.0}}},
    }
    assert parse_json(obj) == {
        "@timestamp": utc(2024, 5, 1, 10),
        "source.ip": "192.0.2.8",
        "source.geo.country_iso_code": "DE",
        "user.name": "ana",
        "user.target.id": "u-7",
        "http.response.status_code": 200,
        "http.response.body.bytes": 1234,
    }


def test_json_flat_key_wins_over_nested() -> None:
    obj = {"@timestamp": "2024-05-01T10:00:00Z", "user.name": "flat", "user": {"name": "nested"}}
    assert parse_json(obj)["user.name"] == "flat"


def test_json_null_is_absent_and_empty_string_is_kept() -> None:
    # issue 12: "" is a value (a rule's `field: ''` matches it), null is none
    obj = {"@timestamp": "2024-05-01T10:00:00Z", "user.name": None, "user.id": "", "source.ip": None}
    assert parse_json(obj) == {"@timestamp": utc(2024, 5, 1, 10), "user.id": ""}


def test_json_empty_string_in_typed_fields_is_missing() -> None:
    # numbers, dates and addresses have no empty form: "" there counts as missing
    obj = {"@timestamp": "2024-05-01T10:00:00Z", "source.ip": "", "http.response.status_code": "",
           "user.name": ""}
    assert parse_json(obj) == {"@timestamp": utc(2024, 5, 1, 10), "user.name": ""}


def test_json_user_mapping_with_nested_dotted_source_keys() -> None:
    mapping = {
        "@timestamp": "ts",
        "user.id": "actor.account.id",
        "user.name": "actor.login",
        "source.ip": "client.addr",
        "device.id": "meter",
    }
    obj = {
        "ts": "2024-05-01T12:00:00+02:00",
        "actor": {"account": {"id": 4711}, "login": "ana"},
        "client": {"addr": "198.51.100.3"},
        "meter": "MTR-0001",
        # the unmapped ECS names are still read under their own name
        "event.action": "export",
        # the ECS name of a mapped field is not read any more
        "user": {"name": "not-this-one"},
    }
    assert parse_json(obj, mapping=mapping) == {
        "@timestamp": utc(2024, 5, 1, 10),
        "event.action": "export",
        "source.ip": "198.51.100.3",
        "user.id": "4711",
        "user.name": "ana",
        "device.id": "MTR-0001",
    }


def test_json_mapping_to_a_flat_key_with_dots() -> None:
    obj = {"time": 1714557600, "client.address": "192.0.2.1"}
    event = parse_json(obj, mapping={"@timestamp": "time", "source.ip": "client.address"})
    assert event == {"@timestamp": utc(2024, 5, 1, 10), "source.ip": "192.0.2.1"}


def test_json_mapping_from_config_via_make_parser() -> None:
    config = IngestConfig(jsonl=JsonlConfig(mapping={"@timestamp": "t", "user.name": "who"}))
    parser = make_parser("jsonl", config)
    assert parser.parse_line('{"t": "2024-05-01T10:00:00Z", "who": "ana"}') == [
        {"@timestamp": utc(2024, 5, 1, 10), "user.name": "ana"}
    ]


# --- JSON lines: timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", utc(2024, 5, 1, 10)),
        ("2024-05-01T10:00:00.250Z", datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", utc(2024, 5, 1, 10)),
        ("2024-05-01T03:00:00-07:00", utc(2024, 5, 1, 10)),
        ("2024-05-01 10:00:00+00:00", utc(2024, 5, 1, 10)),
        (1714557600, utc(2024, 5, 1, 10)),  # epoch seconds
        (1714557600.5, datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        (1714557600123, datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)),  # epoch milliseconds
        ("1714557600", utc(2024, 5, 1, 10)),  # epoch seconds as text
        ("1714557600123", datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)),
    ],
)
def test_json_timestamp_forms(value: object, expected: datetime) -> None:
    ts = parse_json({"@timestamp": value})["@timestamp"]
    assert ts == expected
    assert ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15T12:00:00", utc(2024, 1, 15, 11)),  # CET
        ("2024-07-15T12:00:00", utc(2024, 7, 15, 10)),  # CEST
        ("2024-07-15T12:00:00Z", utc(2024, 7, 15, 12)),  # an explicit zone wins over the assumed one
    ],
)
def test_json_naive_timestamp_uses_assumed_zone(value: str, expected: datetime) -> None:
    assert parse_json({"@timestamp": value}, assume_tz=BERLIN)["@timestamp"] == expected


def test_json_naive_timestamp_defaults_to_utc() -> None:
    assert parse_json({"@timestamp": "2024-07-15T12:00:00"})["@timestamp"] == utc(2024, 7, 15, 12)


def test_json_custom_timestamp_format() -> None:
    parser_args = {"timestamp_format": "%d.%m.%Y %H:%M:%S", "assume_tz": BERLIN}
    assert parse_json({"@timestamp": "15.07.2024 12:00:00"}, **parser_args)["@timestamp"] == utc(2024, 7, 15, 10)
    with pytest.raises(ParseError, match="'@timestamp': not a timestamp"):
        JsonLinesParser(**parser_args).parse_line('{"@timestamp": "2024-07-15T12:00:00Z"}')


def test_json_custom_timestamp_format_with_offset() -> None:
    event = parse_json({"@timestamp": "15/07/2024 12:00 +0200"}, timestamp_format="%d/%m/%Y %H:%M %z",
                       assume_tz=ZoneInfo("America/New_York"))
    assert event["@timestamp"] == utc(2024, 7, 15, 10)


def test_json_missing_timestamp_names_the_source_key() -> None:
    with pytest.raises(ParseError, match=r"no timestamp \(field '@timestamp'\)"):
        JsonLinesParser().parse_line('{"user.name": "ana"}')
    with pytest.raises(ParseError, match=r"no timestamp \(field 'event_time'\)"):
        JsonLinesParser({"@timestamp": "event_time"}).parse_line('{"@timestamp": "2024-05-01T10:00:00Z"}')


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", True, "", "1e999", 1e300])
def test_json_bad_timestamp_names_the_key(value: object) -> None:
    text = json.dumps({"ts": value})
    parser = JsonLinesParser({"@timestamp": "ts"})
    message = r"no timestamp \(field 'ts'\)" if value == "" else r"'ts': not a timestamp"
    with pytest.raises(ParseError, match=message):
        parser.parse_line(text)


# --- JSON lines: bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[1, 2]", "list"), ('"just a string"', "str"), ("42", "int"), ("null", "NoneType"), ("true", "bool")],
)
def test_json_non_object_is_rejected(text: str, kind: str) -> None:
    with pytest.raises(ParseError, match=f"expected a JSON object, got {kind}$"):
        JsonLinesParser().parse_line(text)


@pytest.mark.parametrize(
    ("text", "column"),
    [('{"@timestamp": 1', 17), ('{"a": 1,, "b": 2}', 9), ("{'a': 1}", 2), ("not json", 1)],
)
def test_json_invalid_json_reports_column(text: str, column: int) -> None:
    with pytest.raises(ParseError, match=f"^not valid JSON: .* at column {column}$"):
        JsonLinesParser().parse_line(text)


def test_json_non_integer_status_names_the_key() -> None:
    text = '{"@timestamp": "2024-05-01T10:00:00Z", "http.response.status_code": "abc"}'
    with pytest.raises(ParseError, match=r"^'http\.response\.status_code': ") as info:
        JsonLinesParser().parse_line(text)
    assert "abc" in str(info.value)


@pytest.mark.parametrize("value", [True, 200.5, "2xx", [200]])
def test_json_wrong_integer_types_are_rejected(value: object) -> None:
    text = json.dumps({"@timestamp": "2024-05-01T10:00:00Z", "http.response.status_code": value})
    with pytest.raises(ParseError, match=r"^'http\.response\.status_code': "):
        JsonLinesParser().parse_line(text)


def test_json_wrong_type_names_the_mapped_source_key() -> None:
    parser = JsonLinesParser({"http.response.status_code": "resp.code"})
    with pytest.raises(ParseError, match=r"^'resp\.code': "):
        parser.parse_line('{"@timestamp": 1, "resp": {"code": "abc"}}')


@pytest.mark.parametrize("address", ["gateway.local", "not an ip", "10.0.0.300"])
def test_json_source_ip_that_is_not_an_ip_goes_to_source_address(address: str) -> None:
    event = parse_json({"@timestamp": "2024-05-01T10:00:00Z", "source.ip": address})
    assert event == {"@timestamp": utc(2024, 5, 1, 10), "source.address": address}


def test_json_nested_object_where_a_scalar_belongs_is_rejected() -> None:
    text = '{"@timestamp": "2024-05-01T10:00:00Z", "user": {"name": {"first": "Ana", "last": "Silva"}}}'
    with pytest.raises(ParseError, match=r"^'user\.name': expected a single value, got a dict$"):
        JsonLinesParser().parse_line(text)


def test_json_list_where_a_scalar_belongs_is_rejected() -> None:
    text = '{"@timestamp": "2024-05-01T10:00:00Z", "source.ip": ["192.0.2.1", "192.0.2.2"]}'
    with pytest.raises(ParseError, match=r"^'source\.ip': expected a single value, got a list$"):
        JsonLinesParser().parse_line(text)


def test_json_overlong_value_is_kept_for_ingest_to_cut() -> None:
    # never dropped: ingest cuts it to MAX_VALUE_CHARS and flags the event `truncated` (tests/test_keep_lines.py)
    text = json.dumps({"@timestamp": "2024-05-01T10:00:00Z", "user_agent.original": "A" * 9000})
    (event,) = JsonLinesParser().parse_line(text)
    assert event["user_agent.original"] == "A" * 9000


def test_json_unknown_mapping_targets_raise_config_error_listing_each() -> None:
    mapping = {"user.nme": "u", "@timestamp": "ts", "src.ip": "ip", "log.original": "raw"}
    with pytest.raises(ConfigError) as info:
        JsonLinesParser(mapping)
    fields = [p.location.field for p in info.value.problems]
    assert fields == ["ingest.jsonl.mapping.user.nme", "ingest.jsonl.mapping.src.ip",
                      "ingest.jsonl.mapping.log.original"]
    assert [p.message for p in info.value.problems] == [
        "unknown field 'user.nme'", "unknown field 'src.ip'", "unknown field 'log.original'"]
    assert info.value.hint is not None
    assert "user.name" in info.value.hint
    assert info.value.exit_code == 2


def test_csv_unknown_mapping_target_uses_csv_key() -> None:
    with pytest.raises(ConfigError) as info:
        CsvParser({"time": "t"})
    assert [p.location.field for p in info.value.problems] == ["ingest.csv.mapping.time"]


# --- CSV -----------------------------------------------------------------------------------------------


def test_csv_header_with_ecs_names() -> None:
    records = csv_records(
        "@timestamp,source.ip,user.name,http.response.status_code,url.original",
        "2024-05-01T10:00:00Z,192.0.2.1,ana,200,/a",
        "2024-05-01T10:00:01Z,2001:DB8::2,,404,/b?x=1",
    )
    assert records == [
        Record(2, "2024-05-01T10:00:00Z,192.0.2.1,ana,200,/a", [{
            "@timestamp": utc(2024, 5, 1, 10, 0, 0), "source.ip": "192.0.2.1", "user.name": "ana",
            "http.response.status_code": 200, "url.original": "/a"}]),
        Record(3, "2024-05-01T10:00:01Z,2001:DB8::2,,404,/b?x=1", [{
            "@timestamp": utc(2024, 5, 1, 10, 0, 1), "source.ip": "2001:db8::2",
            "http.response.status_code": 404, "url.original": "/b?x=1"}]),
    ]


def test_csv_mapping_custom_delimiter_and_timestamp_format() -> None:
    records = csv_records(
        "zeit;ip;konto;imei;extra",
        "01.05.2024 12:00:00;198.51.100.9;k-1;490154203237518;x",
        mapping={"@timestamp": "zeit", "source.ip": "ip", "user.id": "konto", "device.imei": "imei"},
        delimiter=";",
        timestamp_format="%d.%m.%Y %H:%M:%S",
        assume_tz=BERLIN,
    )
    assert records == [
        Record(2, "01.05.2024 12:00:00;198.51.100.9;k-1;490154203237518;x", [{
            "@timestamp": utc(2024, 5, 1, 10), "source.ip": "198.51.100.9", "user.id": "k-1",
            "device.imei": "490154203237518"}]),
    ]


def test_csv_config_via_make_parser() -> None:
    config = IngestConfig(csv=CsvConfig(delimiter="\t", mapping={"@timestamp": "time"}))
    parser = make_parser("csv", config)
    records = list(parser.records(iter(lines("time\tuser.name", "1714557600\tana"))))
    assert records == [Record(2, "1714557600\tana", [{"@timestamp": utc(2024, 5, 1, 10), "user.name": "ana"}])]


def test_csv_quoted_value_with_embedded_newline_reported_at_its_first_line() -> None:
    records = csv_records(
        "@timestamp,user.name,user_agent.original",
        '2024-05-01T10:00:00Z,ana,"Agent line one',
        'line two, with a comma',
        'line three"',
        "2024-05-01T10:00:01Z,bob,plain",
    )
    assert records == [
        Record(2, '2024-05-01T10:00:00Z,ana,"Agent line one\nline two, with a comma\nline three"', [{
            "@timestamp": utc(2024, 5, 1, 10), "user.name": "ana",
            "user_agent.original": "Agent line one\nline two, with a comma\nline three"}]),
        Record(5, "2024-05-01T10:00:01Z,bob,plain", [{
            "@timestamp": utc(2024, 5, 1, 10, 0, 1), "user.name": "bob", "user_agent.original": "plain"}]),
    ]


def test_csv_escaped_quotes() -> None:
    records = csv_records("@timestamp,url.original", '2024-05-01T10:00:00Z,"/q?x=""a,b"""')
    assert records[0].events == [{"@timestamp": utc(2024, 5, 1, 10), "url.original": '/q?x="a,b"'}]


def test_csv_wrong_column_count_is_an_error_record_and_reading_goes_on() -> None:
    records = csv_records(
        "@timestamp,user.name,url.original",
        "2024-05-01T10:00:00Z,ana",
        "2024-05-01T10:00:01Z,bob,/x,surplus",
        "2024-05-01T10:00:02Z,carl,/ok",
    )
    assert records == [
        Record(2, "2024-05-01T10:00:00Z,ana", error="2 values for 3 columns"),
        Record(3, "2024-05-01T10:00:01Z,bob,/x,surplus", error="4 values for 3 columns"),
        Record(4, "2024-05-01T10:00:02Z,carl,/ok", [{
            "@timestamp": utc(2024, 5, 1, 10, 0, 2), "user.name": "carl", "url.original": "/ok"}]),
    ]


def test_csv_missing_timestamp_column_is_an_error_record_and_stops() -> None:
    records = csv_records("time,user.name", "2024-05-01T10:00:00Z,ana", "2024-05-01T10:00:01Z,bob")
    assert records == [Record(1, "time,user.name", error="header has no '@timestamp' column (the timestamp)")]


def test_csv_missing_mapped_timestamp_column_names_it() -> None:
    records = csv_records("@timestamp,user.name", "2024-05-01T10:00:00Z,ana", mapping={"@timestamp": "when"})
    assert records == [Record(1, "@timestamp,user.name", error="header has no 'when' column (the timestamp)")]


def test_csv_blank_rows_are_skipped() -> None:
    records = csv_records(
        "",
        "@timestamp,user.name",
        "",
        "2024-05-01T10:00:00Z,ana",
        "",
        "   ",
        ",",
        "2024-05-01T10:00:01Z,bob",
    )
    assert [(r.line, r.error) for r in records] == [(4, None), (8, None)]
    assert [r.events[0]["user.name"] for r in records if r.events] == ["ana", "bob"]


def test_csv_header_names_are_stripped() -> None:
    records = csv_records(" @timestamp , user.name ", "2024-05-01T10:00:00Z,ana")
    assert records[0].events == [{"@timestamp": utc(2024, 5, 1, 10), "user.name": "ana"}]


def test_csv_row_errors_name_the_column() -> None:
    records = csv_records(
        "@timestamp,http.response.status_code",
        "2024-05-01T10:00:00Z,abc",
        "not a time,200",
        ",200",
    )
    assert [r.line for r in records] == [2, 3, 4]
    assert all(r.events is None for r in records)
    assert records[0].error is not None
    assert records[0].error.startswith("'http.response.status_code': ")
    assert records[1].error == "'@timestamp': not a timestamp: 'not a time'"
    assert records[2].error == "no timestamp (field '@timestamp')"


def test_csv_malformed_quoting_is_an_error_record() -> None:
    records = csv_records(
        "@timestamp,user.name",
        '2024-05-01T10:00:00Z,"an"a',
        "2024-05-01T10:00:01Z,bob",
    )
    assert records[0].line == 2
    assert records[0].events is None
    assert records[0].error is not None
    assert records[0].error.startswith("CSV: ")
    assert records[1] == Record(3, "2024-05-01T10:00:01Z,bob", [{
        "@timestamp": utc(2024, 5, 1, 10, 0, 1), "user.name": "bob"}])


def test_csv_unterminated_quote_at_end_is_an_error_record() -> None:
    records = csv_records("@timestamp,user.name", '2024-05-01T10:00:00Z,"ana', "and more")
    assert records == [Record(2, '2024-05-01T10:00:00Z,"ana\nand more', error="CSV: unexpected end of data")]


def test_csv_unreadable_lines_are_reported_in_order() -> None:
    records = csv_records("@timestamp,user.name", "2024-05-01T10:00:00Z,ana", None, "2024-05-01T10:00:01Z,bob")
    assert [(r.line, r.error) for r in records] == [(2, None), (3, "binary data (NUL bytes)"), (4, None)]
    assert records[1].raw == "\\x00"


def test_csv_empty_input_yields_nothing() -> None:
    assert csv_records() == []


# --- known bugs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_json_integer_beyond_int64_is_rejected(value: int) -> None:
    text = f'{{"@timestamp": "2024-05-01T10:00:00Z", "http.response.body.bytes": {value}}}'
    with pytest.raises(ParseError, match=r"^'http\.response\.body\.bytes': "):
        JsonLinesParser().parse_line(text)
