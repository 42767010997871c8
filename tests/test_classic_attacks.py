"""The classic web attack families in an Apache access log, through the real parser and ingest, are found by
the pack's generic rules with honest levels — the same on DuckDB, Elasticsearch and the reference evaluator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from breachkit.config import load_config
from breachkit.detect.engines import LocalEngine, ReferenceEngine, SearchEngine
from breachkit.detect.rules import load_rules
from breachkit.detect.run import Detection, run
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.resources import bundled
from breachkit.workspace import Workspace

BUNDLED_RULES = bundled("rules")

CODE_RED = ("/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3"
            "%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a")
# (client, request line, status, user agent) — one family per client address
LINES = [
    ("192.0.2.1", f"GET {CODE_RED} HTTP/1.0", 404, "-"),
    ("192.0.2.2", "GET /scripts/root.exe?/c+dir HTTP/1.0", 404, "-"),
    ("192.0.2.2", "GET /MSADC/root.exe?/c+dir HTTP/1.0", 404, "-"),
    ("192.0.2.2", "GET /scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir HTTP/1.0", 404, "-"),
    ("192.0.2.2", "GET /_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir HTTP/1.0", 404, "-"),
    ("192.0.2.3", "GET /c/winnt/system32/cmd.exe?/c+dir HTTP/1.0", 200, "-"),  # answered: a backdoor?
    ("192.0.2.4", "GET /search?q=%3CscRipt%3Ealert(document.cookie)%3C%2FscRipt%3E HTTP/1.1", 200, "Mozilla/5.0"),
    ("192.0.2.5", r"SEARCH /\x90\x02\xb1\x02\xb1\x02\xb1\x02\xb1\x90\x90\x90\x90 HTTP/1.1", 400, "-"),
    ("192.0.2.6", "GET /acunetix-wvs-test-for-some-inexistent-file HTTP/1.1", 404, "Mozilla/5.0"),
    ("192.0.2.6", "GET /index.php?id=1%27%22()%26%25%3Cacx%3E%3CScRiPt%20%3Eprompt(919191)%3C/ScRiPt%3E HTTP/1.1",
     200, "Mozilla/5.0"),
    ("192.0.2.7", "GET /?x=%27%22--%3E%3C%2Fstyle%3E%3C%2FscRipt%3E%3CscRipt%3Enetsparker(0x000123)%3C%2FscRipt%3E "
     "HTTP/1.1", 200, "Mozilla/5.0"),
    ("192.0.2.8", "GET /static/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1", 404, "Mozilla/5.0"),
    ("192.0.2.9", "PROPFIND / HTTP/1.1", 405, "-"),
    ("192.0.2.10", "GET /w00tw00t.at.ISC.SANS.DFind:) HTTP/1.1", 400, "-"),
    ("192.0.2.11", "GET /index.php?id=1%20UNION%20ALL%20SELECT%20NULL,NULL-- HTTP/1.1", 200, "Mozilla/5.0"),
    # benign
    ("198.51.100.20", "GET /blog/2001/code-red-retrospective.html HTTP/1.1", 200, "Mozilla/5.0"),
    ("198.51.100.21", "GET /search?q=caf%C3%A9+%26+cr%C3%A8me HTTP/1.1", 200, "Mozilla/5.0"),
    ("198.51.100.22", "GET /vim/Result:+%E8%F1%EF%EE%EB%FC%E7%EE%E2%E0%ED HTTP/1.1", 404, "Mozilla/5.0"),
]
EXPECTED = {  # rule title → (level, client addresses it must name)
    "Internet worm probe (Code Red, Nimda)": ("low", {"192.0.2.1", "192.0.2.2", "192.0.2.3"}),
    "Command shell requested through the web server": ("medium", {"192.0.2.2", "192.0.2.3"}),
    "Command shell request answered with success": ("high", {"192.0.2.3"}),
    "Cross-site scripting attempt in the request URL": ("medium", {"192.0.2.4", "192.0.2.6", "192.0.2.7"}),
    "Buffer overflow attempt - binary bytes or an oversized request path": ("medium", {"192.0.2.5"}),
    "WebDAV method probe": ("low", {"192.0.2.5", "192.0.2.9"}),
    "Vulnerability scanner marker in the request": ("medium", {"192.0.2.6", "192.0.2.7", "192.0.2.10"}),
    "Path traversal attempt in the request URL": ("medium", {"192.0.2.2", "192.0.2.8"}),
    "SQL injection attempt in the request URL": ("high", {"192.0.2.11"}),
}


def access_log(path: Path) -> Path:
    path.write_text("".join(f'{ip} - - [02/Mar/2026:10:00:{i:02d} +0000] "{req}" {status} 512 "-" "{ua}"\n'
                            for i, (ip, req, status, ua) in enumerate(LINES)), encoding="utf-8")
    return path


def found(detections: tuple[Detection, ...]) -> dict[str, tuple[str, set[str]]]:
    out: dict[str, tuple[str, set[str]]] = {}
    for d in detections:
        _, ips = out.setdefault(d.title, (d.level or "", set()))
        ips.update(v for k, v in d.key if k == "source.ip")
    return out


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[LocalStore]:
    tmp = tmp_path_factory.mktemp("classic")
    config, workspace = load_config(environ={}, cwd=tmp), Workspace(tmp / "ws").ensure()
    store = LocalStore(workspace.events_db)
    ingest_file(str(access_log(tmp / "access.log")), store, config, workspace, options=IngestOptions(format="combined"))
    yield store
    store.close()


def test_each_family_is_found_with_an_honest_level(local):
    result = run(load_rules([BUNDLED_RULES]), LocalEngine(local))
    assert result.not_run == ()
    assert found(result.detections) == EXPECTED
    sql_only = LocalEngine(local)
    sql_only.sparse_limit = 0  # decoded URLs evaluated in SQL as well: the same detections
    assert {(d.rule_id, d.key, d.event_ids) for d in run(load_rules([BUNDLED_RULES]), sql_only).detections} == {
        (d.rule_id, d.key, d.event_ids) for d in result.detections}
    names = [d[0] for d in local.con.execute("DESCRIBE events").fetchall() if "#" not in d[0]]
    rows = local.con.execute("SELECT * EXCLUDE (\"source.ip#bin\") FROM events").fetchall()
    events = [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in rows]
    on_reference = run(load_rules([BUNDLED_RULES]), ReferenceEngine(events))
    assert {(d.rule_id, d.key, d.event_ids) for d in on_reference.detections} == {
        (d.rule_id, d.key, d.event_ids) for d in result.detections}


def test_search_engines_find_the_same(local, search_setup, tmp_path):
    """Elasticsearch, then OpenSearch (`wildcard` fields there, decoded URLs included)."""
    s = search_setup
    ingest_file(str(access_log(tmp_path / "access.log")), s.store, s.config, s.workspace,
                options=IngestOptions(format="combined"))
    ruleset = load_rules([BUNDLED_RULES])
    on_search = run(ruleset, SearchEngine.over(s.store))
    on_local = run(ruleset, LocalEngine(local))
    assert {(d.rule_id, d.key, d.event_ids) for d in on_search.detections} == {
        (d.rule_id, d.key, d.event_ids) for d in on_local.detections}
