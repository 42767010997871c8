"""Rules written elsewhere, for a logsource breachkit has never heard of and with flat field names, run
unmodified: a user pipeline maps the names (and may change the logsource, as in pySigma), and
`[detect.logsources]` says which events the logsource covers. Both ways, on every engine and from the CLI.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from breachkit.detect.engines import TimeWindow
from breachkit.detect.logsources import LogsourceMap
from breachkit.detect.rules import RuleSet, load_rules
from breachkit.detect.ruletest import local_engine_for, reference_engine_for
from breachkit.detect.run import run
from breachkit.logs.derive import add_derived
from breachkit.logs.schema import ARROW_SCHEMA

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)

RULES = {
    "admin.yml": """title: Admin console from outside the office
id: 7a000000-0000-4000-8000-000000000001
status: test
logsource: {product: webapp, category: access}
detection:
  admin:
    req_path|startswith: /admin
  office:
    client_ip|cidr: 10.0.0.0/8
  condition: admin and not office
level: high
""",
    "scanner.yml": """title: Scanner marker in the query
id: 7a000000-0000-4000-8000-000000000002
status: test
logsource: {product: webapp, category: access}
detection:
  sel:
    query|contains: '<script>'
  condition: sel
level: medium
""",
    "no_referer.yml": """title: Login form posted without a referer
id: 7a000000-0000-4000-8000-000000000003
status: test
logsource: {product: webapp, category: access}
detection:
  sel:
    method: POST
    req_path: /login
    referer: ''
  condition: sel
level: low
""",
    "failures.yml": """title: Denied requests (base)
id: 7a000000-0000-4000-8000-000000000004
name: webapp_denied
status: test
logsource: {product: webapp, category: access}
detection:
  sel:
    status: 401
  condition: sel
level: informational
---
title: Five denied requests from one client within a minute
id: 7a000000-0000-4000-8000-000000000005
status: test
correlation:
  type: event_count
  rules: [webapp_denied]
  group-by: [client_ip]
  timespan: 1m
  condition: {gte: 5}
level: high
""",
    "keyword.yml": """title: Tool name anywhere in the line
id: 7a000000-0000-4000-8000-000000000006
status: test
logsource: {product: webapp, category: access}
detection:
  keywords:
    - 'evil\\tool "x"'
  condition: keywords
level: medium
""",
}
FIELDS = ("client_ip: source.ip\n      method: http.request.method\n      req_path: url.path\n"
          "      query: url.query\n      status: http.response.status_code\n      ua: user_agent.original\n"
          "      referer: http.request.referrer\n")
# The pySigma way: map the names for this logsource, then call it a web server's (keeping the product, so the
# correlation, whose condition sees its rules' new logsource, still matches the same conditions).
CHANGE_LOGSOURCE = f"""name: webapp access log
priority: 10
transformations:
  - id: webapp_fields
    type: field_name_mapping
    mapping:
      {FIELDS}    rule_conditions:
      - type: logsource
        product: webapp
  - id: webapp_is_a_webserver
    type: change_logsource
    category: webserver
    product: webapp
    rule_conditions:
      - type: logsource
        product: webapp
"""
# Or: only map the names, and say in the configuration which events the logsource covers.
NAMES_ONLY = f"""name: webapp field names
transformations:
  - id: webapp_fields
    type: field_name_mapping
    mapping:
      {FIELDS}"""
MAPPING = [LogsourceMap(product="webapp", category="access", datasets=("web",))]

# JSON lines as the site logs them (flat names), with what each rule must find (line indexes).
LINES: list[dict[str, Any]] = [
    {"client_ip": "203.0.113.7", "method": "GET", "req_path": "/admin/users", "status": 200, "referer": "-"},  # 0
    {"client_ip": "10.1.2.3", "method": "GET", "req_path": "/admin/users", "status": 200, "referer": "-"},  # 1
    {"client_ip": "198.51.100.9", "method": "GET", "req_path": "/search", "query": "q=%3Cscript%3Ealert(1)",
     "status": 200, "referer": "-"},  # 2
    {"client_ip": "198.51.100.10", "method": "POST", "req_path": "/login", "status": 200, "referer": ""},  # 3
    {"client_ip": "198.51.100.11", "method": "POST", "req_path": "/login", "status": 200},  # 4: no referer at all
    *({"client_ip": "192.0.2.44", "method": "POST", "req_path": "/login", "status": 401,
       "referer": "https://shop.example/"} for _ in range(5)),  # 5-9
    {"client_ip": "192.0.2.45", "method": "GET", "req_path": "/", "status": 200, "ua": 'evil\\tool "x"/1.0',
     "referer": "-"},  # 10
]
EXPECTED = {"Admin console from outside the office": [[0]], "Scanner marker in the query": [[2]],
            "Login form posted without a referer": [[3]], "Five denied requests from one client within a minute":
            [[5, 6, 7, 8, 9]], "Tool name anywhere in the line": [[10]]}


def jsonl() -> list[str]:
    return [json.dumps({"time": (T0 + timedelta(seconds=i)).isoformat(), **line}) for i, line in enumerate(LINES)]


def events() -> pa.RecordBatch:
    """The lines as the ingest stores them (ECS names, derived fields), "" kept as an empty value."""
    names = {"client_ip": "source.ip", "method": "http.request.method", "req_path": "url.path", "query": "url.query",
             "status": "http.response.status_code", "ua": "user_agent.original", "referer": "http.request.referrer"}
    rows = []
    for i, (raw, line) in enumerate(zip(jsonl(), LINES, strict=True)):
        row: dict[str, Any] = {names[k]: v for k, v in line.items() if v != "-"}
        row.update({"@timestamp": T0 + timedelta(seconds=i), "event.id": f"e{i:06d}", "event.dataset": "web",
                    "log.file.path": "site.jsonl", "log.file.line": i + 1, "log.original": raw})
        add_derived(row, raw, "jsonl")
        rows.append(row)
    return pa.RecordBatch.from_pylist(rows, schema=ARROW_SCHEMA)


@pytest.fixture(params=["change_logsource", "logsource_mapping"])
def foreign(request, tmp_path) -> RuleSet:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in RULES.items():
        (rules / name).write_text(text)
    pipeline = tmp_path / "pipeline.yml"
    if request.param == "change_logsource":
        pipeline.write_text(CHANGE_LOGSOURCE)
        ruleset = load_rules([rules], pipelines=[pipeline])
    else:
        pipeline.write_text(NAMES_ONLY)
        ruleset = load_rules([rules], pipelines=[pipeline], logsources=MAPPING)
    assert not ruleset.problems and not ruleset.skipped, (ruleset.problems, ruleset.skipped)
    assert all(not r.warnings for r in ruleset.rules), [r.warnings for r in ruleset.rules]
    return ruleset


def found(ruleset: RuleSet, engine: Any) -> dict[str, list[list[int]]]:
    result = run(ruleset, engine, TimeWindow())
    assert result.not_run == () and result.ran == len(EXPECTED)
    out: dict[str, list[list[int]]] = {}
    for d in result.detections:
        out.setdefault(d.title, []).append(sorted(int(e[1:]) for e in d.event_ids))
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("engine", ["reference", "local"])
def test_foreign_rules_run_in_process(foreign, engine):
    with (reference_engine_for if engine == "reference" else local_engine_for)(events()) as eng:
        assert found(foreign, eng) == EXPECTED


def test_foreign_rules_run_on_search_engines(foreign, search_case_engine):
    with search_case_engine(events()) as eng:
        assert found(foreign, eng) == EXPECTED


def test_without_the_mapping_they_are_skipped_with_the_reason(tmp_path):
    (tmp_path / "admin.yml").write_text(RULES["admin.yml"])
    ruleset = load_rules([tmp_path / "admin.yml"])
    (skipped,) = ruleset.skipped
    assert "logsource (product: webapp, category: access) is not mapped" in skipped.reason
    assert "[detect.logsources]" in skipped.reason


@pytest.mark.parametrize("variant", ["change_logsource", "logsource_mapping"])
def test_from_the_cli(variant, tmp_path, monkeypatch, invoke_cli):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("BREACHKIT_")]:
        monkeypatch.delenv(name)
    invoke_cli("init", ".")
    (tmp_path / "rules").mkdir()
    for name, text in RULES.items():
        if name != "no_referer.yml":  # the ingest's handling of "" is not this test's subject
            (tmp_path / "rules" / name).write_text(text)
    (tmp_path / "pipeline.yml").write_text(CHANGE_LOGSOURCE if variant == "change_logsource" else NAMES_ONLY)
    mapping = '[[detect.logsources]]\nproduct = "webapp"\ncategory = "access"\ndatasets = ["web"]\n'
    (tmp_path / "breachkit.toml").write_text(
        '[ingest.jsonl]\nmapping = { "@timestamp" = "time" }\n'
        '[detect]\nbundled = false\nrules = ["rules"]\npipelines = ["pipeline.yml"]\n'
        + (mapping if variant == "logsource_mapping" else ""))
    (tmp_path / "site.jsonl").write_text("\n".join(jsonl()) + "\n")
    # the flat names are ingested as they are named; the dataset says what the lines are
    config = (tmp_path / "breachkit.toml").read_text().replace(
        'mapping = { "@timestamp" = "time" }',
        'mapping = { "@timestamp" = "time", "source.ip" = "client_ip", "http.request.method" = "method", '
        '"url.path" = "req_path", "url.query" = "query", "http.response.status_code" = "status", '
        '"user_agent.original" = "ua", "http.request.referrer" = "referer" }')
    (tmp_path / "breachkit.toml").write_text(config)
    invoke_cli("ingest", "--format", "jsonl", "--dataset", "web", "site.jsonl")
    checked = invoke_cli("rules", "check", "rules")
    assert "0 cannot run here" in checked.output
    listed = json.loads(invoke_cli("rules", "list", "rules", "-o", "json").output)
    admin = next(r for r in listed["rules"] if r["title"].startswith("Admin"))
    assert admin["datasets"] == ["web"] if variant == "logsource_mapping" else ["access", "web"]
    assert admin["logsource"] == ("product: webapp, category: access" if variant == "logsource_mapping"
                                  else "product: webapp, category: webserver")
    detected = json.loads(invoke_cli("detect", "-o", "json").output)
    titles = sorted({d["title"] for d in detected["detections"]})
    assert titles == sorted(t for t in EXPECTED if t != "Login form posted without a referer")
    assert detected["not_run"] == [] and detected["rules_run"] == 4
