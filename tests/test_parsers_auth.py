"""AuthLogParser (syslog auth.log): sshd, sudo, PAM sessions, noise, years and zones, and real logs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from breachkit.config import IngestConfig
from breachkit.logs.parsers import ParseError, make_parser
from breachkit.logs.parsers.authlog import AuthLogParser
from breachkit.logs.reader import LineReader
from breachkit.logs.schema import canonical_ip

SHARED = Path(__file__).parents[2] / "shared/data"
ELASTIC_AUTH = SHARED / "logs/elastic-examples/auth.log"
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def one(line: str, *, year: int = 2024) -> dict:
    events = AuthLogParser(year=year).parse_line(line)
    assert len(events) == 1
    return events[0]


# --- sshd ----------------------------------------------------------------------------------------------


def test_accepted_password_full_event() -> None:
    line = "Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: Accepted password for ubuntu from 85.245.107.41 port 54259 ssh2"
    assert one(line) == {
        "@timestamp": utc(2024, 3, 27, 13, 8, 9),
        "host.name": "ip-10-77-20-248",
        "service.name": "sshd",
        "process.pid": 1361,
        "message": "Accepted password for ubuntu from 85.245.107.41 port 54259 ssh2",
        "event.action": "login",
        "event.outcome": "success",
        "user.name": "ubuntu",
        "source.ip": "85.245.107.41",
    }


def test_accepted_publickey_ipv6() -> None:
    line = ("Apr  2 08:00:01 bastion sshd[77]: Accepted publickey for deploy from 2001:DB8::7 port 50000 ssh2: "
            "ED25519 SHA256:abcdef")
    event = one(line)
    assert event["@timestamp"] == utc(2024, 4, 2, 8, 0, 1)
    assert (event["event.action"], event["event.outcome"]) == ("login", "success")
    assert event["user.name"] == "deploy"
    assert event["source.ip"] == "2001:db8::7"


def test_failed_password_for_valid_user() -> None:
    line = "Mar 29 23:18:30 web1 sshd[6402]: Failed password for root from 218.60.136.106 port 56338 ssh2"
    assert one(line) == {
        "@timestamp": utc(2024, 3, 29, 23, 18, 30),
        "host.name": "web1",
        "service.name": "sshd",
        "process.pid": 6402,
        "message": "Failed password for root from 218.60.136.106 port 56338 ssh2",
        "event.action": "login",
        "event.outcome": "failure",
        "user.name": "root",
        "source.ip": "218.60.136.106",
    }


def test_failed_password_for_invalid_user() -> None:
    line = "Mar 29 23:18:31 web1 sshd[6403]: Failed password for invalid user oracle from 192.0.2.44 port 4022 ssh2"
    event = one(line)
    assert (event["event.action"], event["event.outcome"]) == ("login", "failure")
    assert event["user.name"] == "oracle"
    assert event["source.ip"] == "192.0.2.44"


def test_failed_publickey_and_other_methods() -> None:
    for method in ("publickey", "keyboard-interactive/pam", "none", "hostbased"):
        event = one(f"Mar 29 23:18:31 web1 sshd[1]: Failed {method} for git from 192.0.2.5 port 1 ssh2")
        assert (event["event.action"], event["event.outcome"], event["user.name"], event["source.ip"]) == (
            "login", "failure", "git", "192.0.2.5")


def test_invalid_user() -> None:
    line = "Mar 30 02:06:50 web1 sshd[11400]: Invalid user admin from 106.57.58.19 port 50011"
    assert one(line) == {
        "@timestamp": utc(2024, 3, 30, 2, 6, 50),
        "host.name": "web1",
        "service.name": "sshd",
        "process.pid": 11400,
        "message": "Invalid user admin from 106.57.58.19 port 50011",
        "event.action": "invalid_user",
        "event.outcome": "failure",
        "user.name": "admin",
        "source.ip": "106.57.58.19",
    }


def test_invalid_user_with_empty_name() -> None:
    # sshd logged an empty user name: empty is kept as "", not dropped (issue 12: empty is not missing)
    event = one("Jun  6 04:17:04 host sshd[1189074]: Invalid user  from 192.0.2.68 port 34916")
    assert (event["event.action"], event["source.ip"]) == ("invalid_user", "192.0.2.68")
    assert event["user.name"] == ""


def test_message_repeated_expands_to_n_events() -> None:
    line = ("Mar 29 23:18:33 web1 sshd[6402]: message repeated 3 times: "
            "[ Failed password for root from 1.2.3.4 port 22 ssh2]")
    events = AuthLogParser(year=2024).parse_line(line)
    expected = {
        "@timestamp": utc(2024, 3, 29, 23, 18, 33),
        "host.name": "web1",
        "service.name": "sshd",
        "process.pid": 6402,
        "message": "Failed password for root from 1.2.3.4 port 22 ssh2",
        "event.action": "login",
        "event.outcome": "failure",
        "user.name": "root",
        "source.ip": "1.2.3.4",
    }
    assert events == [expected, expected, expected]
    # Independent dicts: ingest adds a distinct event.id to each.
    assert len({id(e) for e in events}) == 3


def test_max_auth_attempts() -> None:
    line = ("Nov 23 21:50:38 myhost sshd[109798]: error: maximum authentication attempts exceeded for invalid "
            "user xxx from 192.0.2.7 port 49941 ssh2 [preauth]")
    event = one(line)
    assert (event["event.action"], event["event.outcome"]) == ("max_auth_attempts", "failure")
    assert (event["user.name"], event["source.ip"]) == ("xxx", "192.0.2.7")


def test_pam_auth_failure_in_sshd() -> None:
    line = ("Mar  7 18:53:20 bar sshd[1556]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
            "tty=ssh ruser= rhost=192.0.2.113  user=rda")
    event = one(line)
    assert (event["event.action"], event["event.outcome"]) == ("auth_failure", "failure")
    assert (event["user.name"], event["source.ip"]) == ("rda", "192.0.2.113")


def test_pam_auth_failure_with_hostname_rhost_goes_to_source_address() -> None:
    line = ("Mar  7 18:53:20 bar sshd[1556]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
            "tty=ssh ruser= rhost=scanner.example.net  user=root")
    event = one(line)
    assert event["source.address"] == "scanner.example.net"
    assert "source.ip" not in event


def test_disconnect_with_port() -> None:
    # [preauth]: the client left before authentication completed, a failed attempt (as fail2ban counts it)
    line = "Jul 18 17:19:11 srv sshd[2101]: Disconnected from authenticating user root 192.0.2.4 port 36985 [preauth]"
    event = one(line)
    assert (event["event.action"], event["event.outcome"]) == ("disconnect", "failure")
    assert (event["user.name"], event["source.ip"]) == ("root", "192.0.2.4")


# --- sudo and PAM sessions ------------------------------------------------------------------------------


def test_sudo_command() -> None:
    line = ("Mar 27 13:09:37 ip-10-77-20-248 sudo:   ubuntu : TTY=pts/0 ; PWD=/home/ubuntu ; USER=root ; "
            "COMMAND=/usr/bin/apt-key add -")
    assert one(line) == {
        "@timestamp": utc(2024, 3, 27, 13, 9, 37),
        "host.name": "ip-10-77-20-248",
        "service.name": "sudo",
        "message": "  ubuntu : TTY=pts/0 ; PWD=/home/ubuntu ; USER=root ; COMMAND=/usr/bin/apt-key add -",
        "event.action": "sudo",
        "event.outcome": "success",
        "user.name": "ubuntu",
    }


def test_sudo_pam_session_opened_and_closed() -> None:
    opened = one("Mar 27 13:09:37 h sudo: pam_unix(sudo:session): session opened for user root by ubuntu(uid=0)")
    closed = one("Mar 27 13:09:38 h sudo: pam_unix(sudo:session): session closed for user root")
    assert (opened["event.action"], opened["event.outcome"], opened["user.name"]) == (
        "session_opened", "success", "root")
    assert opened["service.name"] == "sudo"
    assert (closed["event.action"], closed["event.outcome"], closed["user.name"]) == (
        "session_closed", "success", "root")


def test_sshd_pam_session_with_uid_suffix() -> None:
    line = "Mar 27 13:08:09 h sshd[1361]: pam_unix(sshd:session): session opened for user ubuntu(uid=1000) by (uid=0)"
    event = one(line)
    assert (event["event.action"], event["user.name"], event["process.pid"]) == ("session_opened", "ubuntu", 1361)


def test_systemd_session_without_pid() -> None:
    line = "Mar 27 13:08:09 h systemd: pam_unix(systemd-user:session): session opened for user ubuntu by (uid=0)"
    event = one(line)
    assert event["service.name"] == "systemd"
    assert "process.pid" not in event
    assert (event["event.action"], event["user.name"]) == ("session_opened", "ubuntu")


# --- noise ---------------------------------------------------------------------------------------------


def test_cron_noise_has_no_action_but_keeps_context() -> None:
    line = "Mar 27 13:17:01 ip-10-77-20-248 CRON[1500]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)"
    assert one(line) == {
        "@timestamp": utc(2024, 3, 27, 13, 17, 1),
        "host.name": "ip-10-77-20-248",
        "service.name": "CRON",
        "process.pid": 1500,
        "message": "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
    }


def test_sshd_informational_line_has_no_action() -> None:
    event = one("Mar 27 13:06:56 h sshd[1291]: Server listening on 0.0.0.0 port 22.")
    assert "event.action" not in event
    assert "event.outcome" not in event
    assert "source.ip" not in event
    assert event["message"] == "Server listening on 0.0.0.0 port 22."


def test_sshd_pattern_only_applies_to_sshd() -> None:
    # The same text from another program is not an sshd login.
    event = one("Mar 27 13:06:56 h myapp[5]: Failed password for root from 192.0.2.1 port 22 ssh2")
    assert "event.action" not in event
    assert "source.ip" not in event


# --- years, zones, timestamps --------------------------------------------------------------------------


def test_year_comes_from_the_caller() -> None:
    line = "Feb 29 12:00:00 h sshd[1]: Server listening on :: port 22."
    assert one(line, year=2020)["@timestamp"] == utc(2020, 2, 29, 12)
    with pytest.raises(ParseError, match="bad timestamp"):
        AuthLogParser(year=2021).parse_line(line)  # not a leap year


def test_make_parser_passes_year_and_zone() -> None:
    parser = make_parser("auth", IngestConfig(assume_timezone="Europe/Berlin"), year=2019)
    (event,) = parser.parse_line("Jul  1 12:00:00 h sshd[1]: Server listening on :: port 22.")
    assert event["@timestamp"] == utc(2019, 7, 1, 10)


def test_december_to_january_rolls_the_year_over() -> None:
    parser = AuthLogParser(year=2023)
    stamps = [
        parser.parse_line(f"{stamp} h sshd[1]: Server listening on :: port 22.")[0]["@timestamp"]
        for stamp in ("Dec 30 10:00:00", "Dec 31 23:59:59", "Jan  1 00:00:01", "Jan  1 00:10:00", "Feb  3 08:00:00")
    ]
    assert stamps == [
        utc(2023, 12, 30, 10),
        utc(2023, 12, 31, 23, 59, 59),
        utc(2024, 1, 1, 0, 0, 1),
        utc(2024, 1, 1, 0, 10),
        utc(2024, 2, 3, 8),
    ]


def test_small_backward_month_steps_do_not_roll_over() -> None:
    parser = AuthLogParser(year=2023)
    stamps = [
        parser.parse_line(f"{stamp} h sshd[1]: x")[0]["@timestamp"]
        for stamp in ("Apr  1 00:00:00", "Mar 31 23:59:00", "Jun  1 00:00:00", "Feb  5 00:00:00")
    ]
    # Apr → Mar and Jun → Feb (out-of-order lines, merged files) are not a year change.
    assert [s.year for s in stamps] == [2023, 2023, 2023, 2023]


def test_each_parser_keeps_its_own_year() -> None:
    first = AuthLogParser(year=2023)
    first.parse_line("Dec 31 23:59:59 h sshd[1]: x")
    first.parse_line("Jan  1 00:00:00 h sshd[1]: x")
    fresh = AuthLogParser(year=2023)
    assert fresh.parse_line("Jan  1 00:00:00 h sshd[1]: x")[0]["@timestamp"] == utc(2023, 1, 1)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("Jan 15 12:00:00", utc(2024, 1, 15, 11)),  # CET, +01:00
        ("Jul 15 12:00:00", utc(2024, 7, 15, 10)),  # CEST, +02:00
        # 31 March 2024: clocks go from 02:00 CET to 03:00 CEST
        ("Mar 31 01:30:00", utc(2024, 3, 31, 0, 30)),
        ("Mar 31 03:30:00", utc(2024, 3, 31, 1, 30)),
        ("Mar 30 12:00:00", utc(2024, 3, 30, 11)),
        ("Mar 31 12:00:00", utc(2024, 3, 31, 10)),
        # 27 October 2024: clocks go from 03:00 CEST back to 02:00 CET
        ("Oct 27 01:30:00", utc(2024, 10, 26, 23, 30)),
        ("Oct 27 04:00:00", utc(2024, 10, 27, 3)),
    ],
)
def test_assume_tz_converts_to_utc(stamp: str, expected: datetime) -> None:
    parser = AuthLogParser(year=2024, assume_tz=BERLIN)
    ts = parser.parse_line(f"{stamp} h sshd[1]: x")[0]["@timestamp"]
    assert ts == expected
    assert ts.utcoffset() == timedelta(0)


def test_default_zone_is_utc() -> None:
    ts = AuthLogParser(year=2024).parse_line("Jul 15 12:00:00 h sshd[1]: x")[0]["@timestamp"]
    assert ts == utc(2024, 7, 15, 12)
    assert ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2015-04-16T18:02:50.321974+00:00", datetime(2015, 4, 16, 18, 2, 50, 321974, tzinfo=UTC)),
        ("2015-04-16T18:02:50+02:00", utc(2015, 4, 16, 16, 2, 50)),
        ("2015-04-16T18:02:50Z", utc(2015, 4, 16, 18, 2, 50)),
        ("2019-07-08T17:40:16.954167-04:00", datetime(2019, 7, 8, 21, 40, 16, 954167, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps(stamp: str, expected: datetime) -> None:
    # The offset in the line wins: the parser's year and assumed zone do not apply.
    parser = AuthLogParser(year=1999, assume_tz=BERLIN)
    line = f"{stamp} host sshd[2716]: Failed password for root from 192.0.2.112 port 22 ssh2"
    (event,) = parser.parse_line(line)
    assert event == {
        "@timestamp": expected,
        "host.name": "host",
        "service.name": "sshd",
        "process.pid": 2716,
        "message": "Failed password for root from 192.0.2.112 port 22 ssh2",
        "event.action": "login",
        "event.outcome": "failure",
        "user.name": "root",
        "source.ip": "192.0.2.112",
    }


@pytest.mark.parametrize(
    "line",
    [
        "",
        "hello world",
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1',
        '{"@timestamp": "2024-01-01T00:00:00Z", "message": "x"}',
        "Foo 27 13:08:09 h sshd[1]: x",  # no such month
        "Mar 27 13:08 h sshd[1]: x",  # no seconds
        "mar 27 13:08:09 h sshd[1]: x",
        "2015-04-16 18:02:50 host sshd[2716]: x",  # not RFC 3339 (space, no zone)
    ],
)
def test_non_syslog_line_is_rejected(line: str) -> None:
    with pytest.raises(ParseError):
        AuthLogParser(year=2024).parse_line(line)


def test_bad_day_is_rejected() -> None:
    with pytest.raises(ParseError, match="bad timestamp"):
        AuthLogParser(year=2024).parse_line("Apr 31 10:00:00 h sshd[1]: x")


# --- known bugs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detail",
    ["3 incorrect password attempts", "1 incorrect password attempt", "user NOT in sudoers"],
)
def test_sudo_failures_are_failures(detail: str) -> None:
    line = (f"Mar 27 13:09:37 host sudo:   alice : {detail} ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
            "COMMAND=/usr/bin/id")
    event = one(line)
    assert (event["event.action"], event["event.outcome"], event["user.name"]) == ("sudo", "failure", "alice")


def test_sshd_session_program_is_classified() -> None:
    event = one("Jul  3 14:59:17 host sshd-session[1571]: Failed password for root from 192.0.2.1 port 56502 ssh2")
    assert (event["event.action"], event["event.outcome"], event["user.name"], event["source.ip"]) == (
        "login", "failure", "root", "192.0.2.1")


@pytest.mark.parametrize(
    ("message", "real_ip"),
    [
        ("Failed password for invalid user test from 10.10.1.2 port 55555 ssh2 from 127.0.0.1 port 58946 ssh2",
         "127.0.0.1"),
        ("Connection closed by authenticating user test 127.0.0.1 192.0.2.11 port 46039 [preauth]", "192.0.2.11"),
        ("Connection closed by authenticating user test 127.0.0.1 port 12345 192.0.2.11 port 46039 [preauth]",
         "192.0.2.11"),
    ],
)
def test_user_name_cannot_inject_source_ip(message: str, real_ip: str) -> None:
    event = one(f"Nov 11 08:04:52 redbamboo sshd[2737]: {message}")
    assert event["source.ip"] == real_ip


def test_failed_password_without_port() -> None:
    event = one("Feb 25 14:34:11 belka sshd[31603]: Failed password for invalid user ROOT from 192.0.2.9")
    assert (event["event.action"], event["event.outcome"], event["user.name"], event["source.ip"]) == (
        "login", "failure", "ROOT", "192.0.2.9")


def test_received_disconnect_ipv4_followed_by_colon() -> None:
    event = one("Apr 27 13:02:04 host sshd[29116]: Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]")
    assert event["source.ip"] == "1.2.3.4"
    assert "source.address" not in event


# --- real data -----------------------------------------------------------------------------------------


def _independent_auth_counts(path: Path) -> Counter[str]:
    """Counts of sshd login outcomes computed with plain string operations only."""
    counts: Counter[str] = Counter()
    for raw in path.read_text(encoding="utf-8").splitlines():
        if " sshd[" not in raw or "]: " not in raw:
            continue
        message = raw.split("]: ", 1)[1]
        times = 1
        if message.startswith("message repeated "):
            times = int(message.split()[2])
            message = message.split("[ ", 1)[1]
        if message.startswith("Failed "):
            counts["failure"] += times
        elif message.startswith("Accepted "):
            counts["success"] += times
        elif message.startswith("Invalid user "):
            counts["invalid_user"] += times
    return counts


@pytest.mark.realdata
def test_elastic_auth_log_every_line_parses_and_counts_match() -> None:
    if not ELASTIC_AUTH.parent.is_dir():
        pytest.skip(f"{ELASTIC_AUTH.parent} not present")
    expected = _independent_auth_counts(ELASTIC_AUTH)
    total_lines = len(ELASTIC_AUTH.read_text(encoding="utf-8").splitlines())
    parser = AuthLogParser(year=2017)
    got: Counter[str] = Counter()
    records = errors = 0
    with LineReader(str(ELASTIC_AUTH)) as reader:
        for record in parser.records(iter(reader)):
            records += 1
            if record.events is None:
                errors += 1
                continue
            for event in record.events:
                action, outcome = event.get("event.action"), event.get("event.outcome")
                if action == "login":
                    got[outcome] += 1
                    assert canonical_ip(event["source.ip"]) == event["source.ip"]
                elif action == "invalid_user":
                    got["invalid_user"] += 1
                assert event["@timestamp"].year == 2017
    assert errors == 0
    assert records == total_lines
    # Sanity of the independent count itself (the file has ~700 'Failed password' lines and repeats).
    assert expected["failure"] > 700
    assert expected["success"] > 100
    assert got == expected
