"""No silent zeros: every rule that cannot run is said, and the exit code tells a complete run from a partial
one and from one that looked at nothing (`rules check`, `detect`, `scan`, and the library's results)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from breachkit.detect.engines import QueryFailed, ReferenceEngine
from breachkit.detect.rules import load_rules
from breachkit.detect.run import run, verdict
from breachkit.errors import InputError, PartialFailure, UsageError
from breachkit.logs.schema import ARROW_SCHEMA
from tests.services.smtp import start_server

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SINCE = "2026-03-19T00:00:00Z"


def rule(title: str, n: int, logsource: str = "{product: breachkit, service: api}",
         selection: str = "event.action: export", level: str = "high") -> str:
    return (f"title: {title}\nid: 6d000000-0000-4000-8000-{n:012d}\nstatus: test\nlogsource: {logsource}\n"
            f"detection:\n  sel:\n    {selection}\n  condition: sel\nlevel: {level}\n")


GOOD = rule("Exports", 1)
FAILURES = rule("Failed logins", 2, selection="event.outcome: failure")
PROXY = rule("Download from a suspicious TLD", 3, logsource="{category: proxy}", selection="c-uri-extension: exe")
OKTA = rule("Okta admin role", 4, logsource="{product: okta, service: okta}", selection="eventtype: x")
BROKEN = "title: Broken\ndetection: [\n"


@pytest.fixture
def project(tmp_path, monkeypatch, invoke_cli):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("BREACHKIT_")]:
        monkeypatch.delenv(name)
    invoke_cli("init", ".")
    (tmp_path / "rules").mkdir()
    (tmp_path / "extra").mkdir()
    (tmp_path / "breachkit.toml").write_text('[detect]\nbundled = false\nrules = ["rules"]\n')
    return tmp_path


def write(folder: Path, **files: str) -> None:
    for name, text in files.items():
        (folder / f"{name}.yml").write_text(text)


# ------------------------------------------------------------------------------------------ rules check


def test_check_exits_1_when_no_rule_given_can_run(project, invoke_cli):
    write(project / "extra", proxy=PROXY, okta=OKTA)
    out = invoke_cli("rules", "check", "extra", code=1)
    assert "0 rules ok, 2 cannot run here (skipped)" in out.output
    assert "Download from a suspicious TLD" in out.output and "proxy logs" in out.output
    assert "Okta admin role" in out.output and "product: okta" in out.output


def test_check_exits_1_when_some_rules_given_cannot_run(project, invoke_cli):
    write(project / "extra", good=GOOD, proxy=PROXY)
    out = invoke_cli("rules", "check", "extra", code=1)
    assert "1 of the rules given cannot run" in out.output and "1 rule ok, 1 cannot run here" in out.output


def test_check_of_the_configured_set_warns_about_skipped_rules(project, invoke_cli):
    write(project / "rules", good=GOOD, proxy=PROXY)
    out = invoke_cli("rules", "check")
    assert "1 rule ok, 1 cannot run here (skipped)" in out.output
    assert "1 rule cannot run here" in out.stderr


# ------------------------------------------------------------------------------------------ detect


@pytest.fixture
def ingested(project, invoke_cli):
    invoke_cli("ingest", "--format", "jsonl", str(SAMPLES / "app-api.jsonl.gz"))
    return project


def test_detect_exits_1_when_nothing_could_run(ingested, invoke_cli):
    write(ingested / "rules", proxy=PROXY, okta=OKTA)
    out = invoke_cli("detect", "-o", "json", code=1)
    assert out.stdout == ""
    assert "nothing was run: none of the 2 selected rules could run" in out.stderr
    assert "Download from a suspicious TLD" in out.stderr and "Okta admin role" in out.stderr


def test_detect_with_some_configured_rules_skipped_runs_the_rest_and_says_so(ingested, invoke_cli):
    write(ingested / "rules", good=GOOD, proxy=PROXY)
    out = invoke_cli("detect", "-o", "json")
    result = json.loads(out.stdout)
    assert result["detections"] and result["rules_run"] == 1
    (skipped,) = result["not_run"]
    assert skipped["kind"] == "skipped" and skipped["title"] == "Download from a suspicious TLD"
    assert "1 rule did not run (1 skipped)" in out.stderr and "proxy logs" in out.stderr


def test_detect_with_a_rule_given_explicitly_skipped_is_partial(ingested, invoke_cli):
    write(ingested / "rules", good=GOOD)
    write(ingested / "extra", proxy=PROXY)
    out = invoke_cli("detect", "--rules", "extra", "-o", "json", code=4)
    assert json.loads(out.stdout)["detections"]
    assert "1 of 2 rules did not run" in out.stderr


def test_a_broken_file_among_good_ones_degrades_not_blinds(ingested, invoke_cli, fault_report):
    write(ingested / "rules", good=GOOD, broken=BROKEN, failures=FAILURES)
    out = invoke_cli("detect", "-o", "json", code=4)
    result = json.loads(out.stdout)
    # lost: the good rules' detections missing because a broken file sat beside them
    fault_report.record("rules.broken_among_good", tried=1,
                        lost=len({"Exports", "Failed logins"} - {d["title"] for d in result["detections"]}))
    assert {d["title"] for d in result["detections"]} == {"Exports", "Failed logins"}
    (broken,) = result["not_run"]
    assert broken["kind"] == "broken" and broken["path"].endswith("broken.yml") and "YAML syntax" in broken["reason"]
    assert "1 of 3 rules did not run; the detections above are from the 2 that did" in out.stderr
    assert out.stderr.count("broken.yml") == 1  # listed once, not again under the error
    table = invoke_cli("detect", code=4)
    assert "from 2 of 2 rules; 1 did not run (see stderr)" in table.stdout


def test_detect_selecting_nothing_is_a_usage_error(ingested, invoke_cli):
    write(ingested / "rules", good=GOOD)
    out = invoke_cli("detect", "--tag", "attack.t9999", code=2)
    assert "no rule matches the selection" in out.stderr


def test_a_rule_the_engine_rejects_fails_alone(tmp_path):
    """The library: a query the engine refuses is `failed` with the engine's reason; the others run."""
    write(tmp_path, good=GOOD, failures=FAILURES)
    ruleset = load_rules([tmp_path])
    failing = next(r for r in ruleset.rules if r.meta.title == "Failed logins").query

    class Refusing(ReferenceEngine):
        def select(self, query, window, columns, narrowing=None):  # type: ignore[no-untyped-def]
            if query == failing:
                raise QueryFailed("regular expression too complex")
            return super().select(query, window, columns, narrowing)

    event = {"@timestamp": datetime(2026, 3, 2, tzinfo=UTC), "event.id": "e1", "event.dataset": "api",
             "log.file.path": "x", "event.action": "export", "event.outcome": "failure", "user.id": "u1"}
    result = run(ruleset, Refusing(pa.Table.from_pylist([event], schema=ARROW_SCHEMA).to_pylist()))
    assert [d.title for d in result.detections] == ["Exports"] and result.ran == 1
    (failed,) = result.not_run
    assert failed.kind == "failed" and "regular expression too complex" in failed.reason
    assert isinstance(verdict(result), PartialFailure)
    assert isinstance(verdict(run(ruleset, Refusing([]), select=lambda m: False)), UsageError)
    nothing = run(load_rules([]), Refusing([]))
    assert isinstance(verdict(nothing), UsageError)
    proxy_only = tmp_path / "proxy"
    write(proxy_only.mkdir() or proxy_only, proxy=PROXY)
    assert isinstance(verdict(run(load_rules([proxy_only]), Refusing([]))), InputError)


# ------------------------------------------------------------------------------------------ scan


@pytest.fixture
def scanning(ingested, monkeypatch):
    server = start_server()
    for key, value in server.environment(sender="security@heimwatt.example").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BREACHKIT_SCAN__ALERT_TO", '["soc@heimwatt.example"]')
    monkeypatch.setenv("BREACHKIT_ACTOR", "cron@heimwatt.example")
    yield ingested, server
    server.stop()


def mails(server) -> list[str]:
    return [m.message.get_body(("plain",)).get_content() for m in server.recorder.received]


def test_scan_alerts_once_when_its_rule_set_shrinks_or_breaks(scanning, invoke_cli):
    project, server = scanning
    write(project / "rules", good=GOOD, failures=FAILURES)
    first = json.loads(invoke_cli("scan", "--since", SINCE, "-o", "json").stdout)
    assert first["new"] and first["rules_run"] == 2 and first["not_run"] == [] and len(mails(server)) == 1
    # a rule file breaks: the rest still scans, the exit code says partial, one mail says what stopped
    (project / "rules" / "failures.yml").write_text(BROKEN)
    second = invoke_cli("scan", "--since", SINCE, "-o", "json", code=4)
    report = json.loads(second.stdout)
    assert report["rules_run"] == 1 and report["not_run"][0]["kind"] == "broken"
    assert any("no longer runs: Failed logins" in line for line in report["rules_changed"])
    assert len(mails(server)) == 2
    body = mails(server)[1]
    assert "rule set changed" in body and "Failed logins" in body and "failures.yml" in body
    assert "rules stopped running or broke" in server.recorder.received[1].message["Subject"]
    # the same broken state again: still partial, but not alerted again
    invoke_cli("scan", "--since", SINCE, "-o", "json", code=4)
    assert len(mails(server)) == 2
    # a rule whose logsource is no longer mapped (deleted file replaced by a proxy rule): alerted once
    (project / "rules" / "failures.yml").unlink()
    (project / "rules" / "good.yml").write_text(GOOD.replace("{product: breachkit, service: api}", "{category: proxy}"))
    write(project / "rules", other=rule("Logins", 5, selection="event.action: login"))
    third = json.loads(invoke_cli("scan", "--since", SINCE, "-o", "json").stdout)
    assert any("no longer runs: Exports" in line and "proxy logs" in line for line in third["rules_changed"])
    assert len(mails(server)) == 3
    invoke_cli("scan", "--since", SINCE, "-o", "json")
    assert len(mails(server)) == 3


def test_a_scan_that_can_run_nothing_fails_and_keeps_the_checkpoint(scanning, invoke_cli):
    project, server = scanning
    write(project / "rules", good=GOOD)
    invoke_cli("scan", "--since", SINCE, "-o", "json")
    status = invoke_cli("scan", "--status").output
    (project / "rules" / "good.yml").write_text(PROXY)
    out = invoke_cli("scan", "-o", "json", code=1)
    assert "nothing was run" in out.stderr and "Download from a suspicious TLD" in out.stderr
    assert invoke_cli("scan", "--status").output.split("(run at")[0] == status.split("(run at")[0]
    assert "no longer runs: Exports" in mails(server)[-1]
    invoke_cli("scan", "-o", "json", code=1)  # still nothing: not alerted twice
    assert len(mails(server)) == 2
