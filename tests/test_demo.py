"""The main job (scripts/demo → `breachkit demo`) end to end on the embedded engine."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from breachkit.cli import cli


@pytest.mark.slow
def test_demo_runs_the_whole_flow_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "demo"])
    assert result.exit_code == 0, result.output
    assert "opened BK-2026-0001" in result.output and "216 people affected" in result.output
    review = tmp_path / "demo" / "review"
    summary = json.loads((review / "subjects" / "summary.json").read_text())
    assert summary["rendered"] == 216 and set(summary["per_locale"]) >= {"de", "fr", "en"}
    assert (review / "authority" / "report.md").read_text().count("Art. 33(3)") >= 3
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (review / "subjects" / "messages").iterdir())
    monkeypatch.chdir(tmp_path / "demo")
    shown = json.loads(CliRunner().invoke(cli, ["incident", "show", "BK-2026-0001", "-o", "json"]).output)
    assert len(shown["tasks"]) >= 10 and shown["incident"]["approx_subjects"] == 216
    assert next(d for d in shown["deadlines"] if d["regime"] == "gdpr-33")["status"] == "met"
    status = json.loads(CliRunner().invoke(cli, ["notices", "status", "BK-2026-0001", "-o", "json"]).output)
    assert sum(status["counts"].values()) == 0  # rendered for review, nothing queued or sent
