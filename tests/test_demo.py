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
    assert "opened BK-2026-0001" in result.output
    assert "215 people affected, 1 account compromised" in result.output and "check passed" in result.output
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
