"""Detection over existing, read-only indices shaped the way Filebeat's Apache/Nginx modules write them.

The same raw access-log lines are ingested by breachkit into the embedded engine and, as Filebeat's ECS
documents (dotted names as objects, `source.address`, `url.original` only, lower-cased Apache methods, "-" kept
for missing values, `event.dataset: apache.access`, no `log.original`, random ids), written into an index of a
real node. Every rule that `check_index` does not report as unable to run must find the same events there.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from breachkit.config import IngestConfig, SourceIndicesConfig, load_config
from breachkit.detect import compat
from breachkit.detect.api import runnable_on
from breachkit.detect.engines import LocalEngine, SearchEngine
from breachkit.detect.rules import RuleSet, load_rules
from breachkit.detect.run import DetectionRun, run
from breachkit.detect.sources import check_index, source_fields
from breachkit.errors import ServiceError
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.logs.parsers import make_parser
from breachkit.logs.reader import Line
from breachkit.resources import bundled
from breachkit.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FILEBEAT = SHARED / "filebeat"
ACCESS_LOG = REPO / "samples" / "portal-access.log"
BUNDLED_RULES = bundled("rules")


def _ruleset() -> RuleSet:
    paths = [BUNDLED_RULES]
    if (SHARED / "sigma").is_dir():
        paths += compat.rule_paths(SHARED / "sigma", "web")
    return load_rules(paths)


def filebeat_mapping(wildcard: bool) -> dict[str, Any]:
    """An ECS mapping as Filebeat's template gives these fields (`wildcard` where the cluster has it)."""
    text = {"type": "wildcard"} if wildcard else {"type": "keyword", "ignore_above": 1024}
    keyword = {"type": "keyword", "ignore_above": 1024}
    return {"dynamic": True, "date_detection": False, "properties": {
        "@timestamp": {"type": "date"},
        "event": {"properties": {"dataset": keyword, "outcome": keyword, "module": keyword, "kind": keyword,
                                 "category": keyword}},
        "source": {"properties": {"address": keyword, "ip": {"type": "ip"}}},
        "url": {"properties": {"original": {**text, "fields": {"text": {"type": "text"}}}}},
        "http": {"properties": {"request": {"properties": {"method": keyword, "referrer": keyword}},
                                "response": {"properties": {"status_code": {"type": "long"},
                                                            "body": {"properties": {"bytes": {"type": "long"}}}}},
                                "version": keyword}},
        "user": {"properties": {"name": keyword}},
        "user_agent": {"properties": {"original": {**text, "fields": {"text": {"type": "text"}}}}},
        "log": {"properties": {"offset": {"type": "long"}}},
    }}


def filebeat_document(line: str, offset: int) -> dict[str, Any] | None:
    """What Filebeat's Apache module makes of one combined-format line (the fields it sets, its quirks)."""
    parser = make_parser("combined", IngestConfig(), year=2026, remote_user_field="user.name")
    record = next(parser.records(iter([Line(1, line)])))
    if not record.events:
        return None
    e = record.events[0]
    status = e.get("http.response.status_code")
    doc: dict[str, Any] = {
        "@timestamp": e["@timestamp"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "event": {"dataset": "apache.access", "module": "apache", "kind": "event", "category": "web",
                  "outcome": "failure" if status is not None and status >= 400 else "success"},
        "source": {"address": e.get("source.ip") or e.get("source.address"), "ip": e.get("source.ip")},
        "user": {"name": e.get("user.name", "-")},
        "http": {"request": {"referrer": e.get("http.request.referrer", "-")}, "response": {}},
        "log": {"offset": offset},
    }
    if "http.request.method" in e:
        doc["http"]["request"]["method"] = e["http.request.method"].lower()  # Apache module: lower case
    if status is not None:
        doc["http"]["response"]["status_code"] = status
    if "http.response.body.bytes" in e:
        doc["http"]["response"]["body"] = {"bytes": e["http.response.body.bytes"]}
    for name in ("url.original", "user_agent.original", "http.version"):
        if name in e:
            head, tail = name.rsplit(".", 1)
            node = doc
            for part in head.split("."):
                node = node.setdefault(part, {})
            node[tail] = e[name]
    return doc


def _index_docs(s: Any, index: str, docs: list[tuple[str, dict[str, Any]]], wildcard: bool) -> None:
    conn = s.store.conn
    body = {"mappings": filebeat_mapping(wildcard)}
    if s.engine == "opensearch":
        s.client.indices.create(index=index, body=body)
    else:
        s.client.indices.create(index=index, mappings=body["mappings"])
    actions = ((json.dumps({"index": {"_index": index, "_id": i}}).encode(), json.dumps(d).encode())
               for i, d in docs)
    for ok, item in conn.bulk(actions, 1, 500):
        assert ok, item
    conn.refresh(index)


def _by_line(result: DetectionRun, lines: dict[str, int]) -> set[tuple[str, tuple[Any, ...], tuple[int, ...]]]:
    return {(d.rule_id, d.key, tuple(sorted(lines[i] for i in d.event_ids))) for d in result.detections}


def _local_run(tmp_path: Path, path: Path, ruleset: RuleSet) -> tuple[DetectionRun, dict[str, int]]:
    workspace = Workspace(tmp_path / "ws-local").ensure()
    config = load_config(environ={}, cwd=tmp_path)
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"max_bad_ratio": 1.0})})
    with LocalStore(workspace.events_db) as local:
        ingest_file(str(path), local, config, workspace, options=IngestOptions(format="combined", year=2026))
        lines = dict(local.con.execute('SELECT "event.id", "log.file.line" FROM events').fetchall())
        return run(ruleset, LocalEngine(local)), lines


def _parsed_lines(path: Path) -> set[int]:
    parser = make_parser("combined", IngestConfig(), year=2026, remote_user_field="user.name")
    lines = [Line(i, t) for i, t in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)]
    return {r.line for r in parser.records(iter(lines)) if r.events}


def _compare(s: Any, tmp_path: Path, path: Path, docs: list[tuple[str, dict[str, Any]]]) -> tuple[Any, int]:
    ruleset = _ruleset()
    assert not ruleset.problems
    parsed = _parsed_lines(path)
    docs = [(i, d) for i, d in docs if int(i) in parsed]  # lines breachkit's parser cannot read have no twin
    assert docs
    index = f"{s.store.index}-filebeat-apache"
    wildcard = s.store.conn.wildcard_mapping() is not None
    _index_docs(s, index, docs, wildcard)
    pattern = f"{s.store.index}-filebeat-*"
    before = s.store.conn.search(index, {"size": 0, "track_total_hits": True})["hits"]["total"]["value"]
    fields = source_fields(s.store.conn, [pattern], SourceIndicesConfig())
    # computed on the client: the URL parts Filebeat leaves out, and the once-decoded URLs breachkit derives
    assert {"url.path", "url.query", "url.extension", "url.original_decoded", "url.path_decoded",
            "url.query_decoded"} <= fields.derived and fields.id_field is None
    engine = SearchEngine(s.store.conn, pattern, fields)
    kept = runnable_on(ruleset, engine)
    skipped = {x.meta.id: x.reason for x in kept.skipped[len(ruleset.skipped):]}  # those this index cannot run
    assert skipped and all(reason.startswith(f"cannot run on {s.engine} ") for reason in skipped.values())
    report = check_index(s.store.conn, pattern, ruleset, SourceIndicesConfig())
    assert {r.rule_id for r in report.rules} >= set(skipped) and not report.ok
    assert any("event.action" in reason for reason in skipped.values())  # Filebeat derives no event.action
    on_local, lines = _local_run(tmp_path, path, kept)
    on_index = run(kept, engine)
    found_local = _by_line(on_local, lines)
    found_index = _by_line(on_index, {i: int(i) for i, _ in docs})
    assert found_local == found_index, (sorted(found_local - found_index)[:5], sorted(found_index - found_local)[:5])
    # read-only: nothing was written into the source index
    s.store.conn.refresh(index)
    after = s.store.conn.search(index, {"size": 0, "track_total_hits": True})["hits"]["total"]["value"]
    assert after == before == len(docs)
    assert s.store.conn.get_mapping(index)[index] == s.store.conn.get_mapping(index)[index]
    return found_index, len({r for r, _, _ in found_index})


def test_generated_filebeat_index_finds_what_breachkit_finds(search_setup, tmp_path):
    """The sample platform's access log (planted attacks) as Filebeat would have indexed it."""
    docs = []
    offset = 0
    for number, line in enumerate(ACCESS_LOG.read_text(encoding="utf-8").splitlines(), start=1):
        doc = filebeat_document(line, offset)
        offset += len(line.encode()) + 1
        if doc is not None:
            docs.append((str(number), doc))
    found, rules_fired = _compare(search_setup, tmp_path, ACCESS_LOG, docs)
    assert rules_fired >= 3, found  # the comparison covers real detections, not two empty sets


@pytest.mark.realdata
@pytest.mark.parametrize("module", ["apache-access", "nginx-access"])
def test_filebeat_module_fixtures(search_setup, tmp_path, module):
    """Filebeat's own test fixtures: the ECS documents its ingest pipelines produced from test.log."""
    folder = FILEBEAT / module
    if not folder.is_dir():
        pytest.skip("../shared/data is absent")
    expected = json.loads((folder / "test.log-expected.json").read_text())
    raw = (folder / "test.log").read_text().splitlines()
    offsets = {}
    at = 0
    for number, line in enumerate(raw, start=1):
        offsets[at] = number
        at += len(line.encode()) + 1
    docs = []
    for flat in expected:
        doc: dict[str, Any] = {}
        for key, value in flat.items():
            node = doc
            *head, last = key.split(".")
            for part in head:
                node = node.setdefault(part, {})
            node[last] = value
        docs.append((str(offsets[flat["log.offset"]]), doc))
    path = tmp_path / "test.log"
    path.write_text("\n".join(raw[: max(int(i) for i, _ in docs)]) + "\n")  # the lines the documents cover
    _compare(search_setup, tmp_path, path, docs)
    # What breachkit's combined parser reads of Filebeat's fixtures (Filebeat also reads common-format lines,
    # X-Forwarded-For lists and virtual-host prefixes): the comparison covers those lines.
    assert len(_parsed_lines(path)) >= 2


def test_check_index_reports_missing_and_unusable_fields(search_setup):
    s = search_setup
    index = f"{s.store.index}-legacy"
    mapping = {"properties": {"@timestamp": {"type": "date"}, "url": {"properties": {"original": {"type": "text"}}},
                              "source": {"properties": {"ip": {"type": "keyword"}}},
                              "event": {"properties": {"dataset": {"type": "keyword"}}}}}
    if s.engine == "opensearch":
        s.client.indices.create(index=index, body={"mappings": mapping})
    else:
        s.client.indices.create(index=index, mappings=mapping)
    report = check_index(s.store.conn, index, _ruleset(), SourceIndicesConfig())
    by_name = {f.field: f for f in report.fields}
    assert not by_name["url.original"].usable and "text" in by_name["url.original"].reason
    assert not by_name["source.ip"].usable and "keyword" in by_name["source.ip"].types
    assert not by_name["user_agent.original"].usable and by_name["user_agent.original"].reason == "not in the index"
    assert by_name["url.path"].usable is False  # url.original is text: nothing to derive it from
    assert not report.ok and all(r.problems for r in report.rules)
    traversal = next(r for r in report.rules if r.rule_id.startswith("52e96b17"))
    assert any("url.original" in p and "text" in p for p in traversal.problems)


def test_missing_index_names_the_pattern(search_setup):
    with pytest.raises(ServiceError, match="no index matches") as err:
        check_index(search_setup.store.conn, f"nothing-here-{secrets.token_hex(3)}*", _ruleset(),
                    SourceIndicesConfig())
    assert "nothing-here-" in err.value.message


def test_cli_check_index_and_detect_over_existing_indices(search_setup, monkeypatch, tmp_path):
    from tests.test_cli_rules import run as run_cli

    s = search_setup
    index = f"{s.store.index}-filebeat-x"
    docs = []
    for number, line in enumerate(ACCESS_LOG.read_text(encoding="utf-8").splitlines()[:3000], start=1):
        doc = filebeat_document(line, 0)
        if doc is not None:
            docs.append((str(number), doc))
    _index_docs(s, index, docs, s.store.conn.wildcard_mapping() is not None)
    for name, value in s.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BREACHKIT_WORKSPACE__PATH", str(tmp_path / "ws-cli"))
    checked = run_cli("logs", "check-index", f"{s.store.index}-filebeat-*", "--engine", s.engine, "-o", "json")
    assert checked.exit_code == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert not report["ok"] and report["indices"] == [index]
    assert {f["field"]: f["usable"] for f in report["fields"]}["url.original"] is True
    monkeypatch.setenv(f"BREACHKIT_{s.engine.upper()}__INDICES", f'["{s.store.index}-filebeat-*"]')
    found = run_cli("detect", "--engine", s.engine, "-o", "json")
    assert found.exit_code == 0, found.stderr
    assert "cannot run on" in found.stderr and "event.action" in found.stderr
    assert json.loads(found.stdout)["detections"]
    # ingest refuses to write where the read-only pattern points
    monkeypatch.setenv(f"BREACHKIT_{s.engine.upper()}__INDEX", f"{s.store.index}-filebeat-new")
    refused = run_cli("ingest", "--to", s.engine, str(ACCESS_LOG))
    assert refused.exit_code == 2 and "never writes into existing indices" in refused.stderr
    assert not s.store.conn.index_exists(f"{s.store.index}-filebeat-new")
    # a missing index: exit 3, named
    monkeypatch.setenv(f"BREACHKIT_{s.engine.upper()}__INDICES", '["absent-index-zz"]')
    missing = run_cli("detect", "--engine", s.engine)
    assert missing.exit_code == 3 and "absent-index-zz" in missing.stderr


def test_subject_lists_refuse_existing_indices(tmp_path):
    """Subject lists come from breachkit's own index: with existing indices configured they would miss people."""
    from datetime import datetime

    from breachkit.config import ElasticsearchConfig
    from breachkit.errors import UsageError
    from breachkit.session import Session
    from breachkit.subjects.api import build_subjects

    now = datetime(2026, 3, 25, 6, tzinfo=UTC)
    config = load_config(environ={}, cwd=tmp_path)
    config = config.model_copy(update={"elasticsearch": ElasticsearchConfig(indices=["filebeat-*"])})
    with Session(config, actor="t", clock=lambda: now) as session:
        incident = session.store.open_incident({"title": "t", "aware_at": now, "aware_justification": "j",
                                                "scope": {"source_ips": ["198.51.100.7"]}}, actor="t", now=now)
        with pytest.raises(UsageError, match="filebeat-"):
            build_subjects(session, incident.id, engine="elasticsearch", compromised=["u1"])
        assert session.store.get(incident.id).compromised_accounts == []  # a refused build records nothing
