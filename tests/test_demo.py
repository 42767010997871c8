"""The main job (scripts/demo → `breachkit demo`) end to end on the embedded engine."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from breachkit.cli import cli

INSTALLER = "u101459"  # the installer account whose API token was used to enumerate the customers


@pytest.mark.slow
def test_demo_runs_the_whole_flow_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "demo"])
    assert result.exit_code == 0, result.output
    assert "3. Incident BK-2026-0001" in result.output
    assert "215 people whose data was read; 1 account used by someone else" in result.output
    assert "check passed" in result.output
    review = tmp_path / "demo" / "review"
    summary = json.loads((review / "subjects" / "summary.json").read_text())
    # 215 customers whose records were read, and the installer, told about its compromised token
    assert summary["rendered"] == 216 and set(summary["per_locale"]) >= {"de", "fr", "en"}
    assert summary["per_kind"] == {"breach": 215, "compromise": 1} and summary["skipped"] == 0
    messages = review / "subjects" / "messages"
    installer = (messages / f"{INSTALLER}.txt").read_text()
    assert "Ihr Konto" in (messages / f"{INSTALLER}.subject.txt").read_text()
    assert "API-Tokens" in installer and "260 Anfragen" in installer and "Verbrauchsdaten" not in installer
    customer = (messages / "u100385.txt").read_text()
    assert "Usage data" in customer and "API token" not in customer.split("What you should do now")[1]
    # nobody is told an attacker's address is theirs
    assert not [p.name for p in messages.iterdir() if re.search(r"\b203\.0\.113\.\d+\b", p.read_text())]
    report = (review / "authority" / "report.md").read_text()
    assert report.count("Art. 33(3)") >= 3
    assert "**Number of people whose data was exposed:** 215 (exact)" in report
    assert "**Number of records:** 215 (exact)" in report  # the customer records the API returned
    assert "**Accounts compromised (counted apart):** 1" in report and "LfDI Baden-Württemberg" in report
    assert "revFADP" in report and "not applicable" not in report
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in messages.iterdir())
    monkeypatch.chdir(tmp_path / "demo")
    shown = json.loads(CliRunner().invoke(cli, ["incident", "show", "BK-2026-0001", "-o", "json"]).output)
    assert len(shown["tasks"]) >= 10 and shown["incident"]["approx_subjects"] == 215
    assert shown["incident"]["approx_records"] == 215 and shown["incident"]["compromised_accounts"] == [INSTALLER]
    # filed only because the pre-filing check passed (file_report runs it)
    assert next(d for d in shown["deadlines"] if d["regime"] == "gdpr-33")["status"] == "met"
    status = json.loads(CliRunner().invoke(cli, ["notices", "status", "BK-2026-0001", "-o", "json"]).output)
    assert sum(status["counts"].values()) == 0  # rendered for review, nothing queued or sent


@pytest.mark.slow
def test_the_demo_tells_its_story_in_one_screen_at_80_columns(tmp_path, monkeypatch):
    """Under 60 lines at 80 columns, no line wider, no word cut or broken across lines, the detection that opened
    the incident marked, one zone named, and next commands that work when pasted (absolute paths)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(cli, ["demo", "demo"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) < 60, result.stdout
    # only a path longer than the screen may overflow, on a line of its own (breaking it would break pasting)
    wide = [line for line in lines if len(line) > 80]
    assert all(len(line.split()) == 1 and line.strip().startswith("/") for line in wide), wide
    assert "…" not in result.stdout  # nothing cut to fit
    assert "Times in Europe/Berlin" in result.stdout and "UTC" not in result.stdout
    marked = [line for line in lines if line.lstrip().startswith("▶ high")]
    assert len(marked) == 1 and "Enumeration of other customers" in marked[0]
    commands = [line.strip() for line in lines if "breachkit " in line and line.startswith("  /")]
    assert commands and all(c.split()[0].startswith("/") for c in commands)
    # each rule title in the table is whole: its words appear in order, none split across lines
    table = " ".join(line.strip() for line in lines)
    assert "Enumeration of other customers' records" in table
    assert (tmp_path / "demo" / "detections.txt").stat().st_mode & 0o777 == 0o600
