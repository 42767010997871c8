"""The CLI over ingestion: exit codes, messages on stderr, JSON output, init."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from breachkit.cli import cli
from tests.test_ingest_local import access_lines


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("BREACHKIT_")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    return tmp_path


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_init_writes_config_and_private_workspace(project):
    assert (project / "breachkit.toml").is_file()
    assert (project / ".breachkit").stat().st_mode & 0o777 == 0o700
    again = run("init")
    assert again.exit_code == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert run("init", "--force").exit_code == 0


def test_ingest_json_output_and_idempotence(project):
    path = project / "access.log"
    path.write_text("\n".join(access_lines(120)) + "\n")
    first = run("ingest", str(path), "-o", "json")
    assert first.exit_code == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["engine"] == "local"
    assert (data["files"][0]["events"], data["files"][0]["added"]) == (123, 123)
    second = json.loads(run("ingest", str(path), "-o", "json").stdout)
    assert (second["files"][0]["added"], second["files"][0]["already_present"]) == (0, 123)
    stats = json.loads(run("logs", "stats", "-o", "json").stdout)
    assert stats["events"] == 123
    assert stats["fields"]["url.path"]["distinct"] == 5


def test_ingest_stdin_gzip(project):
    data = gzip.compress(("\n".join(access_lines(20)) + "\n").encode())
    result = run("ingest", "-", "--source-name", "edge-1", "-o", "json", input=data)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["files"][0]["source"] == "edge-1"


def test_errors_have_location_hint_and_exit_codes(project):
    path = project / "access.log"
    path.write_text("\n".join(access_lines(10)) + "\n")
    wrong = run("ingest", "--format", "jsonl", str(path))
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith(f"error: {path}:1: none of 11 lines could be read as jsonl")
    assert "hint:" in wrong.stderr
    partial = run("ingest", str(path), str(project / "nope.log"))
    assert partial.exit_code == 4
    assert "nope.log: no such file" in partial.stderr
    bad_config = project / "bad.toml"
    bad_config.write_text('[ingest]\nmax_bad_ratio = 2\nbogus = 1\n[workspace]\ntimezone = "Mars/Olympus"\n')
    result = run("--config", str(bad_config), "ingest", str(path))
    assert result.exit_code == 2
    for key in ("ingest.max_bad_ratio", "ingest.bogus", "workspace.timezone"):
        assert key in result.stderr
    assert "Traceback" not in result.stderr
    verbose = run("--verbose", "--config", str(bad_config), "ingest", str(path))
    assert "Traceback" in verbose.stderr


def test_elasticsearch_unreachable_is_a_service_error(project, monkeypatch):
    monkeypatch.setenv("BREACHKIT_ELASTICSEARCH__HOSTS", '["http://127.0.0.1:9"]')
    monkeypatch.setenv("BREACHKIT_ELASTICSEARCH__REQUEST_TIMEOUT", "2")
    path = project / "access.log"
    path.write_text("\n".join(access_lines(5)) + "\n")
    result = run("ingest", "--to", "elasticsearch", str(path))
    assert result.exit_code == 3
    assert "cannot reach Elasticsearch at http://127.0.0.1:9" in result.stderr
