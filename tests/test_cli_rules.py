"""`breachkit rules …` and `breachkit detect` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from breachkit.cli import cli
from breachkit.detect import compat

SHARED_SIGMA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sigma"
REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "docs" / "sigmahq-compatibility.md"

BROKEN = {
    "yaml.yml": "title: x\ndetection: [\n",
    "modifier.yml": (
        "title: Unknown modifier\nid: 9b0c4d1e-0000-4000-8000-000000000001\nstatus: test\n"
        "logsource: {product: breachkit}\ndetection:\n  sel:\n    url.path|bogus: x\n  condition: sel\n"),
    "field.yml": (
        "title: Unknown field\nid: 9b0c4d1e-0000-4000-8000-000000000002\nstatus: test\n"
        "logsource: {product: breachkit}\ndetection:\n  sel:\n    no.such.field: x\n  condition: sel\n"),
    "corr.yml": (
        "title: Dangling correlation\nid: 9b0c4d1e-0000-4000-8000-000000000003\nstatus: test\n"
        "correlation:\n  type: event_count\n  rules: [does_not_exist]\n  group-by: [source.ip]\n"
        "  timespan: 5m\n  condition: {gte: 3}\n"),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    # the test services' own variables (BREACHKIT_TEST_*) stay: the session's nodes are reused, not started again
    for name in [n for n in __import__("os").environ
                 if n.startswith("BREACHKIT_") and not n.startswith("BREACHKIT_TEST_")]:
        monkeypatch.delenv(name)
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_check_lists_every_broken_rule_with_location(project):
    rules = project / "bad"
    rules.mkdir()
    for name, text in BROKEN.items():
        (rules / name).write_text(text)
    (project / "breachkit.toml").write_text('[detect]\nstrict_fields = true\n')
    result = run("rules", "check", str(rules))
    assert result.exit_code == 1
    err = result.stderr
    assert f"{rules / 'yaml.yml'}:3: YAML syntax" in err
    assert f"{rules / 'modifier.yml'}:7: Unknown modifier 'bogus'" in err
    assert f"{rules / 'field.yml'}" in err and "no.such.field" in err
    assert f"{rules / 'corr.yml'}:6: Rule 'does_not_exist' not found" in err
    assert "4 problems" in err


def test_bundled_pack_lists_converts_and_tests(project):
    listed = json.loads(run("rules", "list", "-o", "json").stdout)
    assert len(listed["rules"]) >= 50 and not listed["problems"]
    converted = run("rules", "convert", "--rule", listed["rules"][0]["id"])
    assert converted.exit_code == 0 and "SELECT * FROM" in converted.stdout and '"query"' in converted.stdout
    tested = run("rules", "test")
    assert tested.exit_code == 0, tested.stdout
    assert " 0 failed" in tested.stdout


def test_detect_on_the_sample_platform(project):
    samples = Path(__file__).resolve().parents[1] / "samples"
    assert run("ingest", "--remote-user-field", "user.id", str(samples / "portal-access.log")).exit_code == 0
    assert run("ingest", "--year", "2026", str(samples / "app-api.jsonl.gz"), str(samples / "auth.log")).exit_code == 0
    result = run("detect", "-o", "ndjson", "--level", "high", "--since", "2026-03-31", "--until", "2026-04-01")
    assert result.exit_code == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert found and all(d["level"] in ("high", "critical") for d in found)
    assert all("2026-03-31" <= d["first_seen"] < "2026-04-01" for d in found)
    enumeration = [d for d in found if "numeration" in d["title"]]
    assert enumeration and enumeration[0]["count"] >= 200
    bad_time = run("detect", "--since", "yesterday")
    assert bad_time.exit_code == 2 and "--since" in bad_time.stderr


def test_user_pipeline_maps_custom_fields(project):
    (project / "pipeline.yml").write_text(
        "name: site fields\npriority: 30\ntransformations:\n"
        "  - id: site\n    type: field_name_mapping\n    mapping:\n      client: source.ip\n")
    rules = project / "r"
    rules.mkdir()
    (rules / "r.yml").write_text(
        "title: Custom field\nid: 9b0c4d1e-0000-4000-8000-000000000009\nstatus: test\n"
        "logsource: {product: breachkit}\ndetection:\n  sel:\n    client|cidr: 203.0.113.0/24\n  condition: sel\n")
    (project / "breachkit.toml").write_text('[detect]\nbundled = false\npipelines = ["pipeline.yml"]\n')
    converted = run("rules", "convert", str(rules), "-e", "local")
    assert converted.exit_code == 0
    assert '"source.ip#bin" BETWEEN' in converted.stdout


@pytest.mark.realdata
def test_sigmahq_compatibility_report_is_current():
    if not SHARED_SIGMA.is_dir():
        pytest.skip("../shared/data is absent")
    assert REPORT.read_text() == compat.report(SHARED_SIGMA), (
        "regenerate: python -m breachkit.detect.compat ../shared/data/sigma > docs/sigmahq-compatibility.md")


def test_cli_ingest_stats_detect_and_rule_cases_on_search_engines(project, search_setup, monkeypatch):
    """The configured cluster from the CLI (Elasticsearch: TLS with the node's CA, password from the environment;
    OpenSearch: plain HTTP, no security plugin on the test node)."""
    s = search_setup
    for name, value in s.env.items():
        monkeypatch.setenv(name, value)
    samples = Path(__file__).resolve().parents[1] / "samples"
    ingested = run("ingest", "--to", s.engine, "--year", "2026", str(samples / "auth.log"), "-o", "json")
    assert ingested.exit_code == 0, ingested.stderr
    assert json.loads(ingested.stdout)["files"][0]["added"] == 2498
    stats = json.loads(run("logs", "stats", "--engine", s.engine, "-o", "json").stdout)
    assert stats["events"] == 2498 and stats["fields"]["user.name"]["present"] > 0
    found = run("detect", "--engine", s.engine, "--tag", "attack.t1110.001", "-o", "json")
    assert found.exit_code == 0, found.stderr
    assert json.loads(found.stdout)["engine"] == s.engine
    titles = {d["title"] for d in json.loads(found.stdout)["detections"]}
    assert any("SSH" in t for t in titles)
    cases = run("rules", "test", "--engine", s.engine, str(REPO / "rules" / "tests" / "path_traversal_in_url.yml"))
    assert cases.exit_code == 0 and "0 failed" in cases.stdout, cases.stdout + cases.stderr
    if s.engine == "elasticsearch":
        monkeypatch.setenv("BREACHKIT_ES_PASSWORD", "wrong")
        denied = run("detect", "--engine", s.engine)
        assert denied.exit_code == 3 and "rejected the credentials" in denied.stderr
    scheme = "https" if s.engine == "elasticsearch" else "http"
    monkeypatch.setenv(f"BREACHKIT_{s.engine.upper()}__HOSTS", f'["{scheme}://127.0.0.1:9"]')
    unreachable = run("detect", "--engine", s.engine)
    assert unreachable.exit_code == 3 and "cannot reach" in unreachable.stderr and "127.0.0.1:9" in unreachable.stderr


def test_pipelines_map_correlation_fields_too(tmp_path):
    from breachkit.detect.rules import load_rules

    pipeline = tmp_path / "pipeline.yml"
    pipeline.write_text("name: site\npriority: 30\ntransformations:\n"
                        "  - id: site\n    type: field_name_mapping\n    mapping:\n      client: source.ip\n"
                        "      account: user.id\n")
    (tmp_path / "r.yml").write_text(
        "title: Failures\nid: 9b0c4d1e-0000-4000-8000-000000000010\nname: site_failures\nstatus: test\n"
        "logsource: {product: breachkit}\ndetection:\n  sel:\n    event.outcome: failure\n  condition: sel\n"
        "---\ntitle: Spraying\nid: 9b0c4d1e-0000-4000-8000-000000000011\nstatus: test\ncorrelation:\n"
        "  type: value_count\n  rules: [site_failures]\n  group-by: [client]\n  timespan: 1h\n"
        "  condition: {gte: 10, field: account}\n")
    ruleset = load_rules([tmp_path / "r.yml"], pipelines=[pipeline])
    (corr,) = ruleset.correlations
    rid = corr.rules[0]
    assert (corr.group_by[rid], corr.value_field[rid]) == (("source.ip",), "user.id")


@pytest.mark.parametrize("value", ["1", "[a, b]", "{x: 1}"])
def test_a_rule_id_that_is_not_a_string_is_a_listed_problem_not_a_traceback(project: Path, value: str) -> None:
    rule = project / "odd.yml"
    rule.write_text(f"title: odd id\nid: {value}\nlogsource: {{product: breachkit}}\n"
                    "detection:\n  sel:\n    url.path: /x\n  condition: sel\n")
    result = CliRunner().invoke(cli, ["rules", "check", str(rule)])
    assert result.exit_code == 1, result.output
    assert "odd.yml:2: id: id must be a UUID string" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("columns", "shown", "left_out"), [
    (80, ("level", "kind", "title", "datasets"), "logsources, ids and tags: -o json"),
    (120, ("level", "kind", "title", "logsource", "datasets"), "ids and tags: -o json"),
    (200, ("level", "kind", "title", "logsource", "datasets", "tags", "id"), None),
])
def test_list_table_fits_the_terminal(project, columns, shown, left_out):
    """The columns that fit the width, titles readable (never a word per line), and what was left out said."""
    out = CliRunner().invoke(cli, ["rules", "list"], env={"COLUMNS": str(columns)}).output
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= columns
    header = next(line for line in lines if "level" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == list(shown)
    title_width = len(lines[lines.index(header) - 1].split("┳")[2])
    assert title_width >= 24
    assert (left_out in out) if left_out else ("-o json" not in out)
