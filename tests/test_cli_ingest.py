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
    # the test services' own variables (BREACHKIT_TEST_*) stay: the session's nodes are reused, not started again
    for name in [n for n in __import__("os").environ
                 if n.startswith("BREACHKIT_") and not n.startswith("BREACHKIT_TEST_")]:
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


# --- the exit-code table of `ingest` (each row; the table is in `ingest --help` and the security engineer's guide) -


def test_exit_code_table_is_in_the_help_and_the_readme(project):
    text = run("ingest", "--help").stdout
    guide = Path(__file__).resolve().parents[1] / "docs" / "guides" / "security-engineer.md"
    readme = guide.read_text(encoding="utf-8")
    for code in ("0  every input was stored", "1  no input was stored", "2  no input was stored",
                 "3  no input was stored", "4  some inputs were stored"):
        assert code in text, code
    assert "| 4 | some inputs were stored, others failed" in readme


def test_exit_0_every_input_stored_including_empty_ones_and_tolerated_bad_lines(project):
    good = project / "access.log"
    good.write_text("\n".join(access_lines(20)) + "\n")
    mixed = project / "mixed.log"
    mixed.write_text("\n".join([*access_lines(20)[:19], "garbage"]) + "\n")  # 1 bad line of 20: under the ratio
    empties = []
    for name, data in (("empty.log", ""), ("newline.log", "\n"), ("blank.log", " \n\t\n\n")):
        (project / name).write_text(data)
        empties.append(str(project / name))
    result = run("ingest", str(good), str(mixed), *empties, "-o", "json")
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert [(f["format"], f["events"]) for f in files] == [("combined", 21), ("combined", 19), (None, 0),
                                                           (None, 0), (None, 0)]
    assert files[2]["notes"] == ["empty input: nothing to store"]
    assert run("ingest", "--format", "auth", empties[1]).exit_code == 0  # also with --format
    table = run("ingest", empties[0])
    assert table.exit_code == 0 and "(empty)" in table.stdout


def test_exit_4_some_inputs_stored_others_failed_each_listed(project):
    good = project / "access.log"
    good.write_text("\n".join(access_lines(10)) + "\n")
    garbage = project / "notes.txt"
    garbage.write_text("hello\nworld\n")
    not_a_folder = str(good) + "/inside.log"  # unreadable argument: its "folder" is a file
    result = run("ingest", str(project / "missing.log"), not_a_folder, str(garbage), str(good))
    assert result.exit_code == 4, result.stderr
    assert "3 of 4 inputs failed; the others were stored" in result.stderr
    for text in ("missing.log: no such file", "inside.log: cannot open", "notes.txt: cannot tell the log format"):
        assert text in result.stderr, text
    stats = json.loads(run("logs", "stats", "-o", "json").stdout)
    assert stats["events"] == 11  # the good file after three failures before it


def test_exit_1_every_input_failed_on_its_own(project):
    garbage = project / "notes.txt"
    garbage.write_text("hello\nworld\n")
    result = run("ingest", str(project / "missing.log"), str(garbage))
    assert result.exit_code == 1
    assert "none of the 2 inputs was stored" in result.stderr
    assert "missing.log: no such file" in result.stderr and "notes.txt: cannot tell" in result.stderr
    single = run("ingest", str(project / "missing.log"))
    assert single.exit_code == 1 and "missing.log: no such file" in single.stderr


def test_folder_arguments_subfolders_need_recursive_and_nothing_is_skipped_silently(project):
    logs = project / "logs"
    (logs / "web2").mkdir(parents=True)
    (logs / "web1.log").write_text("\n".join(access_lines(5)) + "\n")
    (logs / "web2" / "access.log").write_text("\n".join(access_lines(7, seed=3)) + "\n")
    (logs / ".DS_Store").write_bytes(b"\x00\x01binary")
    flat = run("ingest", str(logs))
    assert flat.exit_code == 4
    assert "web2: a folder inside" in flat.stderr and "not read without --recursive" in flat.stderr
    assert "skipped 1 hidden entry (.DS_Store)" in flat.stderr
    deep = run("ingest", "-r", str(logs), "-o", "json")
    assert deep.exit_code == 0, deep.stderr
    summary = json.loads(deep.stdout)
    assert [f["source"] for f in summary["files"]] == ["web1.log", "access.log"]
    assert any("hidden" in note for note in summary["notes"])
    (project / "drop").mkdir()
    empty = run("ingest", str(project / "drop"))
    assert empty.exit_code == 0 and "no files to read in this folder" in empty.stderr


def test_exit_3_store_failing_before_anything_was_stored_stops_the_rest(project, monkeypatch):
    monkeypatch.setenv("BREACHKIT_ELASTICSEARCH__HOSTS", '["http://127.0.0.1:9"]')
    monkeypatch.setenv("BREACHKIT_ELASTICSEARCH__REQUEST_TIMEOUT", "2")
    path = project / "access.log"
    path.write_text("\n".join(access_lines(5)) + "\n")
    result = run("ingest", "--to", "elasticsearch", str(path), str(path))
    assert result.exit_code == 3
    assert "cannot reach Elasticsearch" in result.stderr


def test_control_characters_in_names_and_reasons_are_shown_escaped(project):
    evil = project / "evil\x1b[2J.log"
    evil.write_text("\n".join([*access_lines(30), "bad \x1b]0;pwned\x07 line"]) + "\n")
    result = run("ingest", str(evil))
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stderr
    assert "evil\\x1b[2J.log: 1 unreadable line skipped" in result.stderr
    missing = run("ingest", str(project / "gone\x1b[31m.log"))
    assert missing.exit_code == 1
    assert "\x1b" not in missing.stderr and "gone\\x1b[31m.log: no such file" in missing.stderr
    samples = next((project / ".breachkit" / "rejects").iterdir()).read_text()
    assert "\x1b" not in samples and "bad \\x1b]0;pwned\\x07 line" in samples


def test_replace_and_forget_through_the_cli(project):
    path = project / "auth.log"
    lines = [f"Mar  1 10:00:0{i} bastion sshd[{i}]: Failed password for root from 192.0.2.{i} port 22 ssh2"
             for i in range(1, 4)]
    path.write_text("\n".join(lines) + "\n")
    first = json.loads(run("ingest", str(path), "-o", "json").stdout)["files"][0]
    assert first["added"] == 3
    fixed = run("ingest", "--replace", "--year", "2024", "--reason", "copied", str(path), "-o", "json")
    assert fixed.exit_code == 0, fixed.stderr
    (file,) = json.loads(fixed.stdout)["files"]
    assert (file["added"], file["replaced"], file["removed"]) == (0, 3, 0)
    assert "given by --year" in file["notes"][0]
    gone = run("logs", "forget", "auth.log", "--reason", "test")
    assert gone.exit_code == 0 and "removed 3 events of source auth.log" in gone.stdout
    again = run("logs", "forget", "auth.log")
    assert again.exit_code == 2 and "no events of source 'auth.log'" in again.stderr
    log = [json.loads(x) for x in (project / ".breachkit" / "ingest-log.jsonl").read_text().splitlines()]
    assert [e["action"] for e in log] == ["ingest", "replace", "forget"]
    assert run("ingest", "--replace", "-", input=b"").exit_code == 2  # stdin needs --source-name


def test_replace_refuses_two_inputs_of_one_source_before_reading_any(project):
    for host in ("web1", "web2"):
        (project / host).mkdir()
        (project / host / "access.log").write_text("\n".join(access_lines(5, seed=len(host))) + "\n")
    run("ingest", str(project / "web1" / "access.log"))
    result = run("ingest", "--replace", str(project / "web1" / "access.log"), str(project / "web2" / "access.log"))
    assert result.exit_code == 2
    assert "are both source 'access.log'; the second would replace the first" in result.stderr
    assert json.loads(run("logs", "stats", "-o", "json").stdout)["events"] == 6  # nothing replaced


def test_replace_and_forget_through_the_cli_on_search_engines(project, search_setup, monkeypatch):
    """The same commands on Elasticsearch and OpenSearch (the shared SearchStore): replace with a shorter
    input removes the lines gone, forget removes the rest, both recorded with the engine's name."""
    s = search_setup
    for name, value in s.env.items():
        monkeypatch.setenv(name, value)
    path = project / "access.log"
    lines = access_lines(6, seed=3)
    path.write_text("\n".join(lines) + "\n")
    first = run("ingest", "--to", s.engine, str(path), "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["files"][0]["added"] == len(lines)
    path.write_text("\n".join(lines[:4]) + "\n")
    fixed = run("ingest", "--to", s.engine, "--replace", "--reason", "cut", str(path), "-o", "json")
    assert fixed.exit_code == 0, fixed.stderr
    (file,) = json.loads(fixed.stdout)["files"]
    assert (file["added"], file["replaced"], file["removed"]) == (0, 4, len(lines) - 4)
    other = project / "other.log"
    others = access_lines(2, seed=9)
    other.write_text("\n".join(others) + "\n")
    assert run("ingest", "--to", s.engine, str(other)).exit_code == 0
    gone = run("logs", "forget", "access.log", "--engine", s.engine, "--reason", "test")
    assert gone.exit_code == 0, gone.stderr
    assert f"removed 4 events of source access.log from {s.engine}" in gone.stdout
    again = run("logs", "forget", "access.log", "--engine", s.engine)
    assert again.exit_code == 2 and f"other.log ({len(others)})" in again.stderr  # the stored sources are listed
    log = [json.loads(x) for x in (project / ".breachkit" / "ingest-log.jsonl").read_text().splitlines()]
    assert [(e["action"], e["engine"]) for e in log] == [("ingest", s.engine), ("replace", s.engine),
                                                         ("ingest", s.engine), ("forget", s.engine)]
