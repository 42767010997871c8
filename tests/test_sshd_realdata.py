"""Every sshd line of fail2ban's annotated test logs (../shared/data/testdata/fail2ban), read as auth.log.

fail2ban's `# failJSON` annotations say which lines its sshd filter must match (in any of its modes:
normal, ddos, extra, aggressive) and the client address of each. For breachkit, every such line must give
an event with that address (source.ip, or source.address for a host name or a non-canonical address)
and a failure outcome — except `Accepted …` lines, where fail2ban's match reports the failures seen
earlier on the connection: there the event is the success, and an earlier line of the same connection
must carry a failure. Where an annotation names the user or the time, those must agree too. And no line
is lost: every line yields an event.

`sshd-journal` holds the same messages as journald stores them (no time, no syslog header): each gets a
classic time in front, as `journalctl -o short` prints them.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from breachkit.logs.parsers.authlog import AuthLogParser
from breachkit.logs.reader import Line
from breachkit.logs.schema import canonical_ip

pytestmark = pytest.mark.realdata
LOGS = Path(__file__).resolve().parents[2] / "shared/data/testdata/fail2ban/fail2ban/tests/files/logs"
JOURNAL_TIME = "Jan  1 00:00:00 "


def annotated(name: str, prefix: str = "") -> list[tuple[int, dict | None, str]]:
    """(line number, the failJSON annotation before it or None, the log line) for every log line."""
    cases: list[tuple[int, dict | None, str]] = []
    pending: dict | None = None
    for number, raw in enumerate((LOGS / name).read_text(encoding="utf-8").splitlines(), start=1):
        if raw.startswith("# failJSON:"):
            pending = json.loads(raw.split(":", 1)[1])
        elif raw.strip() and not raw.startswith("#"):
            cases.append((number, pending, prefix + raw))
            pending = None
    return cases


@pytest.fixture(scope="module", params=[("sshd", ""), ("sshd-journal", JOURNAL_TIME)], ids=["sshd", "journal"])
def read(request):
    if not LOGS.is_dir():
        pytest.fail(f"{LOGS} is missing (realdata)")
    name, prefix = request.param
    cases = annotated(name, prefix)
    parser = AuthLogParser(year=2005)  # one parser, in file order: connections carry over lines
    records = {r.line: r for r in parser.records(iter(Line(n, text) for n, _, text in cases))}
    return name, cases, records


def test_every_line_gives_an_event(read) -> None:
    _name, cases, records = read
    lost = [f"line {n}: {records[n].error}: {text}" for n, _, text in cases if records[n].events is None]
    assert lost == []
    assert len(cases) > 100


def test_every_line_fail2ban_matches_gives_its_address_and_a_failure(read) -> None:
    name, cases, records = read
    wrong: list[str] = []
    checked = Counter[str]()
    failures_by_pid: dict[int, int] = Counter()
    for n, note, text in cases:
        (event, *_) = records[n].events
        if event.get("event.outcome") == "failure" and "process.pid" in event:
            failures_by_pid[event["process.pid"]] += 1
        if not note or note.get("match") is not True or "host" not in note:
            continue
        want = canonical_ip(note["host"]) or note["host"]
        got = event.get("source.ip", event.get("source.address"))
        accepted = event.get("message", "").startswith("Accepted ")
        outcome = "success" if accepted else "failure"
        problems = []
        if got != want:
            problems.append(f"address {got!r}, expected {want!r}")
        if event.get("event.outcome") != outcome:
            problems.append(f"outcome {event.get('event.outcome')!r}")
        if accepted and not failures_by_pid[event["process.pid"]]:
            problems.append("no earlier failure on the connection")
        if "user" in note and event.get("user.name") != note["user"]:
            problems.append(f"user {event.get('user.name')!r}, expected {note['user']!r}")
        classic = text[:1].isalpha()  # RFC 3339/5424 lines carry an offset, and fail2ban writes their annotated
        # time in the zone its tests run in (UTC+2); breachkit's are UTC. Classic lines are compared.
        if "time" in note and classic and name == "sshd":
            want_time = datetime.fromisoformat(note["time"])
            stamp = event["@timestamp"]  # the year is the parser's guess: syslog has none
            if (stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second) != (
                    want_time.month, want_time.day, want_time.hour, want_time.minute, want_time.second):
                problems.append(f"time {stamp}, expected {want_time}")
        if problems:
            wrong.append(f"line {n}: {'; '.join(problems)}: {text}")
        checked["accepted" if accepted else "failure"] += 1
    assert wrong == []
    assert checked["failure"] > 80 and checked["accepted"] >= 2, checked
