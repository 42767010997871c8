"""Combined and common access-log parsers: ECS fields, timestamps, actions and rejected lines."""

from __future__ import annotations

import locale
from datetime import UTC, datetime, timedelta

import pytest

from breachkit.config import ActionRule, IngestConfig
from breachkit.logs.parsers import ParseError, Record, make_parser
from breachkit.logs.parsers.web import CombinedParser, CommonParser
from breachkit.logs.reader import Line

CONFIG = IngestConfig()


def combined(remote_user_field: str = "user.name") -> CombinedParser:
    parser = make_parser("combined", CONFIG, remote_user_field=remote_user_field)
    assert isinstance(parser, CombinedParser)
    return parser


def common(remote_user_field: str = "user.name") -> CommonParser:
    parser = make_parser("common", CONFIG, remote_user_field=remote_user_field)
    assert isinstance(parser, CommonParser)
    return parser


def one(parser: CombinedParser | CommonParser, line: str) -> dict:
    events = parser.parse_line(line)
    assert len(events) == 1
    return events[0]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- full events ---------------------------------------------------------------------------------------


def test_combined_login_line_full_event() -> None:
    line = (
        '203.0.113.9 - alice [10/Oct/2000:13:55:36 -0700] "POST /login HTTP/1.1" 302 512 '
        '"https://shop.example.com/start" "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"'
    )
    assert one(combined(), line) == {
        "@timestamp": utc(2000, 10, 10, 20, 55, 36),
        "source.ip": "203.0.113.9",
        "user.name": "alice",
        "http.request.method": "POST",
        "url.original": "/login",
        "url.path": "/login",
        "http.version": "1.1",
        "http.response.status_code": 302,
        "event.outcome": "success",
        "http.response.body.bytes": 512,
        "event.action": "login",
        "http.request.referrer": "https://shop.example.com/start",
        "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0",
    }


def test_combined_ipv6_query_no_user_no_bytes_failure() -> None:
    line = (
        '2001:DB8:0:0::1 - - [17/May/2015:10:05:03 +0200] "GET /account?tab=profile&x=1 HTTP/2.0" 403 - '
        '"-" "curl/8.5.0"'
    )
    assert one(combined(), line) == {
        "@timestamp": utc(2015, 5, 17, 8, 5, 3),
        "source.ip": "2001:db8::1",
        "http.request.method": "GET",
        "url.original": "/account?tab=profile&x=1",
        "url.path": "/account",
        "url.query": "tab=profile&x=1",
        "http.version": "2.0",
        "http.response.status_code": 403,
        "event.outcome": "failure",
        "event.action": "view",
        "user_agent.original": "curl/8.5.0",
    }


def test_common_line_full_event() -> None:
    line = '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'
    assert one(common(), line) == {
        "@timestamp": utc(2000, 10, 10, 20, 55, 36),
        "source.ip": "127.0.0.1",
        "user.name": "frank",
        "http.request.method": "GET",
        "url.original": "/apache_pb.gif",
        "url.path": "/apache_pb.gif",
        "http.version": "1.0",
        "http.response.status_code": 200,
        "event.outcome": "success",
        "http.response.body.bytes": 2326,
        "event.action": "view",
    }


def test_combined_hostname_goes_to_source_address() -> None:
    line = 'client-7.example.org - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 10 "-" "-"'
    event = one(combined(), line)
    assert event["source.address"] == "client-7.example.org"
    assert "source.ip" not in event
    # "-" referrer and agent are absent, not "-".
    assert "http.request.referrer" not in event
    assert "user_agent.original" not in event


def test_dash_host_gives_no_source_field() -> None:
    event = one(common(), '- - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 10')
    assert "source.ip" not in event
    assert "source.address" not in event
    assert "user.name" not in event


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("::1", "::1"),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
        ("::ffff:198.51.100.7", "198.51.100.7"),  # IPv4-mapped IPv6 becomes IPv4
        ("[2001:db8::5]", "2001:db8::5"),
    ],
)
def test_source_ip_is_canonical(host: str, expected: str) -> None:
    event = one(common(), f'{host} - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 10')
    assert event["source.ip"] == expected
    assert "source.address" not in event


@pytest.mark.parametrize("field", ["user.name", "user.id", "user.email"])
def test_remote_user_goes_to_configured_field(field: str) -> None:
    line = '192.0.2.1 - bob@example.com [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" 200 1 "-" "-"'
    event = one(combined(remote_user_field=field), line)
    assert event[field] == "bob@example.com"
    assert {"user.name", "user.id", "user.email"} & set(event) == {field}


def test_dash_user_is_absent() -> None:
    line = '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" 200 1 "-" "-"'
    event = one(combined(remote_user_field="user.id"), line)
    assert "user.id" not in event
    assert "user.name" not in event


# --- request line, status, bytes, quoting ---------------------------------------------------------------


def test_escaped_quotes_in_request_and_user_agent() -> None:
    line = (
        r'192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /search?q=\"drop\"&x=\\ HTTP/1.1" 200 5 '
        r'"https://ref.example/?a=\"b\"" "Mozilla/5.0 \"quoted\" agent"'
    )
    event = one(combined(), line)
    assert event["url.original"] == '/search?q="drop"&x=\\'
    assert event["url.path"] == "/search"
    assert event["url.query"] == 'q="drop"&x=\\'
    assert event["http.request.method"] == "GET"
    assert event["http.version"] == "1.1"
    assert event["http.request.referrer"] == 'https://ref.example/?a="b"'
    assert event["user_agent.original"] == 'Mozilla/5.0 "quoted" agent'


def test_malformed_tls_request_line_kept_without_method() -> None:
    line = r'198.51.100.20 - - [10/Oct/2000:13:55:36 +0000] "\x16\x03\x01" 400 226 "-" "-"'
    assert one(combined(), line) == {
        "@timestamp": utc(2000, 10, 10, 13, 55, 36),
        "source.ip": "198.51.100.20",
        "url.original": r"\x16\x03\x01",
        "http.response.status_code": 400,
        "event.outcome": "failure",
        "http.response.body.bytes": 226,
    }


def test_request_with_space_in_target_kept_whole() -> None:
    line = '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a b c HTTP/1.1" 400 0 "-" "-"'
    event = one(combined(), line)
    assert event["url.original"] == "GET /a b c HTTP/1.1"
    assert "http.request.method" not in event
    assert "url.path" not in event
    assert "event.action" not in event


def test_empty_request_line() -> None:
    event = one(common(), '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "-" 408 0')
    assert "url.original" not in event
    assert "http.request.method" not in event
    assert event["http.response.status_code"] == 408
    assert event["event.outcome"] == "failure"
    assert event["http.response.body.bytes"] == 0


def test_request_without_protocol_version() -> None:
    event = one(common(), '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /old" 200 3')
    assert event["http.request.method"] == "GET"
    assert event["url.original"] == "/old"
    assert "http.version" not in event


def test_lowercase_method_is_upper_cased() -> None:
    event = one(common(), '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "get /x HTTP/1.1" 200 3')
    assert event["http.request.method"] == "GET"
    assert event["event.action"] == "view"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("200", "success"), ("204", "success"), ("301", "success"), ("399", "success"),
     ("400", "failure"), ("401", "failure"), ("404", "failure"), ("500", "failure"), ("503", "failure")],
)
def test_status_to_outcome(status: str, outcome: str) -> None:
    event = one(common(), f'192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" {status} 3')
    assert event["http.response.status_code"] == int(status)
    assert event["event.outcome"] == outcome


def test_dash_status_gives_unknown_outcome() -> None:
    event = one(common(), '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" - -')
    assert "http.response.status_code" not in event
    assert "http.response.body.bytes" not in event
    assert event["event.outcome"] == "unknown"


def test_combined_allows_extra_trailing_fields() -> None:
    line = '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" 200 3 "-" "agent" 0.123 "extra"'
    event = one(combined(), line)
    assert event["user_agent.original"] == "agent"


# --- timestamps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("10/Oct/2000:13:55:36 +0000", utc(2000, 10, 10, 13, 55, 36)),
        ("10/Oct/2000:13:55:36 +0200", utc(2000, 10, 10, 11, 55, 36)),
        ("10/Oct/2000:13:55:36 -0700", utc(2000, 10, 10, 20, 55, 36)),
        ("01/Jan/2024:01:30:00 +0530", utc(2023, 12, 31, 20, 0, 0)),  # crosses the year backwards
        ("31/Dec/2023:20:00:00 -0800", utc(2024, 1, 1, 4, 0, 0)),  # crosses the year forwards
        ("29/Feb/2024:12:00:00 +0000", utc(2024, 2, 29, 12, 0, 0)),
    ],
)
def test_timestamp_converted_to_utc(stamp: str, expected: datetime) -> None:
    event = one(common(), f'192.0.2.1 - - [{stamp}] "GET / HTTP/1.1" 200 1')
    ts = event["@timestamp"]
    assert ts == expected
    assert ts.tzinfo is not None
    assert ts.utcoffset() == timedelta(0)


def test_all_month_names() -> None:
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    parser = common()
    for number, name in enumerate(months, start=1):
        event = one(parser, f'192.0.2.1 - - [05/{name}/2021:00:00:00 +0000] "GET / HTTP/1.1" 200 1')
        assert event["@timestamp"] == utc(2021, number, 5)


def test_timestamps_do_not_depend_on_the_process_locale() -> None:
    saved = locale.setlocale(locale.LC_TIME)
    try:
        try:
            locale.setlocale(locale.LC_TIME, "de_DE.UTF-8")
        except locale.Error:
            pytest.skip("de_DE.UTF-8 locale not installed")
        # German abbreviations are "Mai", "Okt", "Dez": strptime("%b") would reject these.
        parser = combined()
        for stamp, expected in [
            ("17/May/2015:10:05:03 +0000", utc(2015, 5, 17, 10, 5, 3)),
            ("10/Oct/2000:13:55:36 -0700", utc(2000, 10, 10, 20, 55, 36)),
            ("24/Dec/2020:18:00:00 +0100", utc(2020, 12, 24, 17, 0, 0)),
        ]:
            event = one(parser, f'192.0.2.1 - - [{stamp}] "GET / HTTP/1.1" 200 1 "-" "-"')
            assert event["@timestamp"] == expected
    finally:
        locale.setlocale(locale.LC_TIME, saved)


# --- event.action --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "action"),
    [
        ("POST", "/login", "login"),
        ("POST", "/user/sign-in?next=/", "login"),
        ("POST", "/auth/login", "login"),
        ("GET", "/login", "view"),  # the login rule is for POST only; a GET of the form is a view
        ("GET", "/account", "view"),
        ("HEAD", "/account", "view"),
        ("GET", "/api/v1/users/42", "api_call"),
        ("POST", "/api/v1/users", "api_call"),
        ("GET", "/export", "export"),
        ("GET", "/reports/export?format=csv", "export"),
        ("POST", "/export", "export"),
        ("GET", "/logout", "logout"),
        ("POST", "/password/reset", "password_reset"),
        ("POST", "/account", None),
        ("DELETE", "/account/42", None),
        ("GET", "/exporter", "view"),  # \b: not the export rule
        ("GET", "/v2/api/x", "view"),  # api rule is anchored at the start
    ],
)
def test_default_actions(method: str, target: str, action: str | None) -> None:
    line = f'192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "{method} {target} HTTP/1.1" 200 1 "-" "-"'
    event = one(combined(), line)
    assert event.get("event.action") == action


def test_first_matching_custom_action_rule_wins() -> None:
    rules = [
        ActionRule(action="admin", path=r"^/admin/", methods=["GET"]),
        ActionRule(action="anything_admin", path=r"^/admin/"),
    ]
    parser = CombinedParser(rules)
    base = '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "{} /admin/users HTTP/1.1" 200 1 "-" "-"'
    assert one(parser, base.format("GET"))["event.action"] == "admin"
    assert one(parser, base.format("POST"))["event.action"] == "anything_admin"
    other = one(parser, '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /home HTTP/1.1" 200 1 "-" "-"')
    assert other["event.action"] == "view"


# --- rejected lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # truncated: no closing quote
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /index.html HTTP/1.1',
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 1 "-" "Mozilla/5.0',
        # missing user agent
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 1 "-"',
        # common line given to the combined parser
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 1',
        # status not three digits
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 20 1 "-" "-"',
        "",
        "this is not an access log",
        '{"@timestamp": "2024-01-01T00:00:00Z"}',
    ],
)
def test_combined_rejects(line: str) -> None:
    with pytest.raises(ParseError, match="does not match the combined log format"):
        combined().parse_line(line)


def test_combined_line_given_to_common_parser_is_rejected() -> None:
    line = '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8"'
    with pytest.raises(ParseError, match="does not match the common log format"):
        common().parse_line(line)


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ("10/Okt/2000:13:55:36 +0000", "bad month"),
        ("10/oct/2000:13:55:36 +0000", "bad month"),
        ("10/Oct/2000 13:55:36 +0000", "bad timestamp"),
        ("10/Oct/2000:13:55:36 X0000", "bad offset"),
        ("32/Oct/2000:13:55:36 +0000", "day is out of range"),
        ("29/Feb/2023:13:55:36 +0000", "day is out of range"),
        ("10/Oct/2000:25:55:36 +0000", "hour must be in"),
        ("10/Oct/2000:13:60:36 +0000", "minute must be in"),
        ("1x/Oct/2000:13:55:36 +0000", "invalid literal"),
        ("10/Oct/2000:13:55:36 +99zz", "bad offset"),
    ],
)
def test_wrong_timestamp_is_rejected(stamp: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        common().parse_line(f'192.0.2.1 - - [{stamp}] "GET / HTTP/1.1" 200 1')


@pytest.mark.parametrize("stamp", ["10/Oct/2000:13:55:36", "2000-10-10T13:55:36+00:00", "1/Oct/2000:13:55:36 +0000"])
def test_timestamp_of_wrong_length_is_rejected(stamp: str) -> None:
    with pytest.raises(ParseError, match="does not match the common log format"):
        common().parse_line(f'192.0.2.1 - - [{stamp}] "GET / HTTP/1.1" 200 1')


# --- records over lines --------------------------------------------------------------------------------


def test_records_skip_blank_lines_and_report_bad_and_unreadable_ones() -> None:
    good = '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1'
    lines = [
        Line(1, good),
        Line(2, ""),
        Line(3, "   "),
        Line(4, "garbage"),
        Line(5, None, "binary data (NUL bytes)", "a\\x00b"),
        Line(6, good),
    ]
    records = list(common().records(iter(lines)))
    assert [r.line for r in records] == [1, 4, 5, 6]
    assert records[0].events is not None
    assert records[0].events[0]["source.ip"] == "192.0.2.1"
    assert records[1] == Record(4, "garbage", error="does not match the common log format")
    assert records[2] == Record(5, "a\\x00b", error="binary data (NUL bytes)")
    assert records[3].raw == good
    assert records[3].error is None


# --- known bugs ----------------------------------------------------------------------------------------


def test_body_bytes_beyond_int64_is_rejected() -> None:
    line = '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 99999999999999999999999 "-" "-"'
    with pytest.raises(ParseError):
        combined().parse_line(line)


def test_malformed_offset_with_two_signs_is_rejected() -> None:
    with pytest.raises(ParseError):
        common().parse_line('192.0.2.1 - - [10/Oct/2000:13:55:36 +-700] "GET / HTTP/1.1" 200 1')


@pytest.mark.parametrize(
    ("user", "target", "expected"),
    [
        ("u1", "/admin/users/u101628", "u101628"),
        ("u1", "/api/customers/c%2042/consumption", "c 42"),
        ("u1", "/export/consumption.csv?from=2024&customer=u100123", "u100123"),
        ("u1", "/export?user_id=u7", "u7"),
        ("u1", "/users/u1/profile", None),  # the actor's own account is not a target
        ("u1", "/installer/customers", None),
        ("-", "/reports?format=csv", None),
    ],
)
def test_default_target_rules(user: str, target: str, expected: str | None) -> None:
    line = f'192.0.2.1 - {user} [10/Oct/2000:13:55:36 +0000] "GET {target} HTTP/1.1" 200 1 "-" "-"'
    event = one(combined("user.id"), line)
    assert event.get("user.target.id") == expected


def test_target_rules_are_validated() -> None:
    from pydantic import ValidationError

    from breachkit.config import TargetRule

    with pytest.raises(ValidationError, match="group named target"):
        TargetRule(path=r"/users/([^/]+)")
    with pytest.raises(ValidationError, match="either path"):
        TargetRule(path=r"/u/(?P<target>\w+)", query="customer")
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        TargetRule(path=r"/u/(?P<target>")
