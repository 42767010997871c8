"""Playbooks: the bundled ones, exact due times, and located errors for every mistake in a playbook."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from breachkit.errors import InputError, UsageError
from breachkit.incidents.model import TaskState
from breachkit.incidents.playbooks import (
    Playbook,
    find_playbook,
    format_offset,
    load_playbook,
    load_playbooks,
    parse_offset,
    parse_playbook,
    tasks_for,
)
from breachkit.incidents.regimes import builtin_regimes
from breachkit.resources import bundled

BUNDLED_PLAYBOOKS = bundled("playbooks")


DATA = Path(__file__).parent / "data" / "playbooks"
BAD = DATA / "bad"
GOOD = DATA / "good"
GDPR = "gdpr-personal-data-breach"
NIS2 = "nis2-significant-incident"


def offsets(playbook: Playbook) -> dict[str, str | None]:
    return {t.id: None if t.due is None else format_offset(t.due) for t in playbook.tasks}


# ------------------------------------------------------------------------------------------ bundled


def test_bundled_playbooks_load() -> None:
    playbooks = load_playbooks([BUNDLED_PLAYBOOKS])
    assert set(playbooks) == {GDPR, NIS2}
    assert playbooks[GDPR].regimes == ["gdpr-33", "gdpr-34"]
    assert playbooks[NIS2].regimes == ["nis2"]
    assert playbooks[GDPR].source == BUNDLED_PLAYBOOKS / f"{GDPR}.yaml"
    for playbook in playbooks.values():
        assert all(t.checklist for t in playbook.tasks), "every bundled task has a checklist"
        assert set(playbook.regimes) <= set(builtin_regimes())


def test_gdpr_playbook_targets_leave_room_before_the_72_hours() -> None:
    due = offsets(find_playbook(GDPR))
    assert due["triage"] == "1h"
    assert due["contain"] == "4h"
    assert due["scope"] == "12h"
    assert due["risk-assessment"] == "24h"
    assert due["decide"] == "36h"
    assert due["authority-report-draft"] == "48h"
    assert due["authority-report-submit"] == "72h"  # == the gdpr-33 deadline, never after it
    assert builtin_regimes()["gdpr-33"].stage("authority").due.hours == 72


def test_nis2_playbook_follows_the_three_stages() -> None:
    playbook = find_playbook(NIS2)
    due = offsets(playbook)
    stages = {s.id: s.due for s in builtin_regimes()["nis2"].stages}
    assert due["early-warning"] == f"{stages['early_warning'].hours}h" == "24h"
    assert due["incident-notification"] == f"{stages['notification'].hours}h" == "72h"
    assert playbook.task("final-report").due == timedelta(hours=72) + timedelta(days=30)
    assert due["intermediate-report"] is None  # only on request
    assert "csirt_liaison" in playbook.roles


def test_bundled_checklists_name_breachkit_commands() -> None:
    playbook = find_playbook(GDPR)
    text = {t.id: " ".join(t.checklist) for t in playbook.tasks}
    assert "`breachkit subjects build`" in text["scope"]
    assert "`breachkit incident assess`" in text["risk-assessment"]
    assert "`breachkit incident decide`" in text["decide"]
    assert "`breachkit report register`" in text["breach-register"]


# ------------------------------------------------------------------------------------------ tasks


def test_tasks_for_counts_exact_hours_across_the_spring_dst_change() -> None:
    playbook = find_playbook(GDPR)
    aware = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Europe's clocks go forward at 01:00 UTC
    tasks = {t.key: t for t in tasks_for(playbook, "BK-2026-0007", aware)}
    assert tasks["contain"].due_at == datetime(2026, 3, 29, 4, 30, tzinfo=UTC)
    assert tasks["authority-report-submit"].due_at == datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
    assert tasks["lessons-learned"].due_at == datetime(2026, 4, 28, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(("aware", "hours", "expected"), [
    # 01:30 CET is 00:30 UTC; adding 4 h of wall-clock time in Berlin would give 03:30 UTC (05:30 CEST)
    (datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")), 4, datetime(2026, 3, 29, 4, 30, tzinfo=UTC)),
    # autumn: 02:30 CEST is 00:30 UTC; 4 h later is 04:30 UTC whatever the wall clock says
    (datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=ZoneInfo("Europe/Berlin")), 4,
     datetime(2026, 10, 25, 4, 30, tzinfo=UTC)),
    # New York springs forward at 02:00 EST = 07:00 UTC
    (datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("America/New_York")), 72, datetime(2026, 3, 11, 6, 30, tzinfo=UTC)),
])
def test_tasks_for_is_exact_elapsed_time_from_zoned_awareness(aware: datetime, hours: int, expected: datetime) -> None:
    playbook = parse_playbook(f"""
id: one
name: One task
roles: {{dpo: Data protection officer}}
tasks: [{{id: t, title: T, role: dpo, due: {hours}h}}]
""", known_regimes=[])
    (task,) = tasks_for(playbook, "BK-2026-0001", aware)
    assert task.due_at == expected
    assert task.due_at is not None and task.due_at.tzinfo == UTC
    assert task.due_at - aware == timedelta(hours=hours)


def test_tasks_for_copies_key_role_title_and_checklist_in_playbook_order() -> None:
    playbook = load_playbook(GOOD / "minimal.yaml")
    aware = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    tasks = tasks_for(playbook, "BK-2026-0042", aware)
    assert [t.key for t in tasks] == ["triage", "report", "follow-up"]
    report = tasks[1]
    assert (report.incident_id, report.title, report.role) == ("BK-2026-0042", "Report to the authority", "dpo")
    assert report.checklist == ["Draft", "Review", "Submit"]
    assert report.due_at == datetime(2027, 1, 3, 11, 59, tzinfo=UTC)
    assert report.state is TaskState.OPEN and report.assignee is None
    assert tasks[0].due_at == datetime(2027, 1, 1, 0, 29, tzinfo=UTC)
    assert tasks[2].due_at is None


def test_tasks_for_refuses_a_naive_awareness_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        tasks_for(find_playbook(GDPR), "BK-2026-0001", datetime(2026, 3, 29, 0, 30))


# ---------------------------------------------------------------------------------------- offsets


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", timedelta(minutes=30)), ("4h", timedelta(hours=4)), ("72h", timedelta(hours=72)),
    ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), ("1d12h", timedelta(hours=36)),
    ("2h30m", timedelta(minutes=150)), ("0m", timedelta()), ("33d", timedelta(days=33)),
])
def test_parse_offset(text: str, expected: timedelta) -> None:
    assert parse_offset(text) == expected
    assert parse_offset(format_offset(expected)) == expected


@pytest.mark.parametrize("text", ["4 hours", "4H", "PT4H", "4", "", "h", "12h1d", "-4h", " 4h", "1.5h"])
def test_parse_offset_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a due offset"):
        parse_offset(text)


# ------------------------------------------------------------------------------------- located errors


def expected_markers(path: Path) -> set[tuple[str, int, str | None, str]]:
    """`# expect: <field> | <message fragment>` on the line where the problem must be reported."""
    found = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.search(r"# expect: (\S+) \| (.+)$", line)
        if match:
            field = None if match[1] == "-" else match[1]
            found.add((str(path), number, field, match[2].strip()))
    return found


def test_every_problem_of_every_bad_file_is_reported_on_its_line() -> None:
    with pytest.raises(InputError) as caught:
        load_playbooks([BAD])
    expected = expected_markers(BAD / "many-problems.yaml") | expected_markers(BAD / "syntax-error.yaml")
    assert len(expected) == 15
    reported = caught.value.problems
    assert len(reported) == len(expected), "\n".join(map(str, reported))
    for path, line, field, fragment in expected:
        matching = [p for p in reported if (p.location.path, p.location.line, p.location.field) == (path, line, field)]
        assert len(matching) == 1, f"{path}:{line}: {field}: nothing reported (got: {[str(p) for p in reported]})"
        assert fragment in matching[0].message, str(matching[0])


def test_problems_print_as_file_line_field_message() -> None:
    with pytest.raises(InputError) as caught:
        load_playbook(BAD / "many-problems.yaml")
    text = str(caught.value)
    assert caught.value.exit_code == 1
    assert caught.value.location.path == str(BAD / "many-problems.yaml")
    assert f"{BAD / 'many-problems.yaml'}:19: tasks[1].role: unknown role 'lawyer' (declared: commander, dpo)" in text
    assert f"{BAD / 'many-problems.yaml'}:7: owner: unknown key 'owner' (allowed: id, name," in text


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("", None, "the file is empty"),
    ("# only a comment\n", None, "the file is empty"),
    ("- id: x\n- id: y\n", 1, "a playbook is a YAML mapping"),
    ("id: a\n---\nid: b\n", 2, "expected a single document"),
    ("id: a\nname: [unclosed\n", 3, "YAML syntax error"),
    ("id: a\n\tname: tab\n", 2, "YAML syntax error"),
    ("id: a\nname: \x07bell\n", 2, "special characters are not allowed"),
])
def test_unusable_yaml_is_located(text: str, line: int | None, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_playbook(text, "x.yaml")
    problem = caught.value.problems[0]
    assert fragment in problem.message
    assert (problem.location.path, problem.location.line) == ("x.yaml", line)


def test_missing_keys_are_reported_at_their_mapping() -> None:
    with pytest.raises(InputError) as caught:
        parse_playbook("id: a\nname: A\nroles: {}\ntasks:\n  - id: t\n    role: dpo\n", "x.yaml")
    got = {(p.location.line, p.location.field, p.message) for p in caught.value.problems}
    assert got == {
        (3, "roles", "must not be empty"),
        (5, "tasks[0].title", "missing required key 'title'"),
        (5, "tasks[0].due", "missing required key 'due'"),
        (6, "tasks[0].role", "unknown role 'dpo' (declared: )"),
    }


def test_merge_keys_are_not_duplicate_keys() -> None:
    with pytest.raises(InputError) as caught:
        parse_playbook("""
id: anchors
name: Anchors
roles: {dpo: DPO}
defaults: &dpo_task {role: dpo, due: 24h}
tasks:
  - {<<: *dpo_task, id: a, title: A}
  - {<<: *dpo_task, id: b, title: B, due: 48h}
""", "anchors.yaml")
    # the merged `due` overridden in task b is not a duplicate key; `defaults` is just not a playbook key
    assert [str(p) for p in caught.value.problems] == [
        "anchors.yaml:5: defaults: unknown key 'defaults' (allowed: id, name, description, regimes, references, "
        "roles, tasks)"]


def test_merge_keys_are_accepted() -> None:
    playbook = parse_playbook("""
id: anchors
name: Anchors
roles: {dpo: DPO}
tasks:
  - &first {id: a, title: A, role: dpo, due: 24h}
  - {<<: *first, id: b, title: B, due: 48h}
""", "anchors.yaml")
    assert offsets(playbook) == {"a": "24h", "b": "48h"}
    assert playbook.task("b").role == "dpo"


def test_regimes_are_checked_against_the_known_ids() -> None:
    with pytest.raises(InputError, match="unknown regime 'acme-contract'"):
        load_playbook(GOOD / "custom-regime.yml")
    playbook = load_playbook(GOOD / "custom-regime.yml", known_regimes=[*builtin_regimes(), "acme-contract"])
    assert playbook.task("tell-customer").due == timedelta(weeks=1)


def test_a_playbook_built_in_code_must_be_consistent_too() -> None:
    with pytest.raises(ValidationError, match=r"tasks\[0\]\.role: unknown role 'lawyer'"):
        Playbook.model_validate({"id": "x", "name": "X", "roles": {"dpo": "DPO"},
                                 "tasks": [{"id": "t", "title": "T", "role": "lawyer", "due": "4h"}]})


# ------------------------------------------------------------------------------------ collections


def test_folders_give_yaml_and_yml_files() -> None:
    playbooks = load_playbooks([GOOD], known_regimes=[*builtin_regimes(), "acme-contract"])
    assert set(playbooks) == {"minimal", "custom-regime"}


def test_duplicate_playbook_ids_name_both_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    first, second = tmp_path / "a" / "one.yaml", tmp_path / "two.yaml"
    shutil.copy(GOOD / "minimal.yaml", first)
    shutil.copy(GOOD / "minimal.yaml", second)
    with pytest.raises(InputError) as caught:
        load_playbooks([tmp_path / "a", second, tmp_path / "missing"])
    got = [(p.location.path, p.location.line, p.location.field, p.message) for p in caught.value.problems]
    assert got == [
        (str(tmp_path / "missing"), None, None, "no such playbook file or folder"),
        (str(second), 2, "id", f"duplicate playbook id 'minimal': also defined in {first}"),
    ]


def test_find_playbook_by_id_path_and_override(tmp_path: Path) -> None:
    assert find_playbook(GDPR).id == GDPR
    assert find_playbook(str(GOOD / "minimal.yaml")).id == "minimal"
    override = tmp_path / "mine.yaml"
    override.write_text((GOOD / "minimal.yaml").read_text(encoding="utf-8").replace("id: minimal", f"id: {GDPR}"),
                        encoding="utf-8")
    mine = find_playbook(GDPR, [tmp_path])
    assert mine.source == override and len(mine.tasks) == 3
    assert find_playbook(NIS2, [tmp_path]).source == BUNDLED_PLAYBOOKS / f"{NIS2}.yaml"


def test_find_playbook_unknown_id_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        find_playbook("ransomware", [GOOD / "minimal.yaml"])
    assert caught.value.exit_code == 2
    assert f"unknown playbook 'ransomware' (known: {GDPR}, minimal, {NIS2})" in str(caught.value)


def test_find_playbook_reports_broken_extra_playbooks() -> None:
    with pytest.raises(InputError) as caught:
        find_playbook(GDPR, [BAD])
    assert len(caught.value.problems) == 15
