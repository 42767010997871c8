"""Issue 12 end to end: the ingest keeps "" apart from a missing value (logs), and the rules tell them apart the
same way (detect) — one notion of empty and null, from a JSON line to a detection, on the embedded engine and
each search engine."""

from __future__ import annotations

import json

from breachkit.detect.engines import LocalEngine, SearchEngine
from breachkit.detect.rules import load_rules
from breachkit.detect.run import run
from breachkit.logs.ingest import ingest_file
from tests.storepair import pair  # noqa: F401 - fixture

RULES = {
    "empty": "''",
    "null": "null",
    "any": "'*'",
}


def rule(name: str, value: str, number: int) -> str:
    return (f"title: user.name is {name}\nid: 5f000000-0000-4000-8000-00000000000{number}\nstatus: test\n"
            f"logsource:\n  product: breachkit\ndetection:\n  sel:\n    user.name: {value}\n  condition: sel\n"
            "level: low\n")


def test_empty_null_and_any_from_a_json_line_to_a_detection_on_both_engines(pair, tmp_path):  # noqa: F811
    rows = [{"@timestamp": "2026-03-02T08:00:00Z", "user.name": "", "user.id": "u1"},
            {"@timestamp": "2026-03-02T08:00:01Z", "user.id": "u2"},
            {"@timestamp": "2026-03-02T08:00:02Z", "user.name": None, "user.id": "u3"},
            {"@timestamp": "2026-03-02T08:00:03Z", "user.name": "bob", "user.id": "u4"}]
    path = tmp_path / "api.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = tmp_path / "rules"
    folder.mkdir()
    for number, (name, value) in enumerate(RULES.items(), 1):
        (folder / f"{name}.yml").write_text(rule(name, value, number))
    ruleset = load_rules([folder])
    assert ruleset.not_run == ()
    for store in pair.stores:
        ingest_file(str(path), store, pair.config, pair.workspace)
    pair.search.refresh()
    expected = {"user.name is empty": {"u1"}, "user.name is null": {"u2", "u3"},
                "user.name is any": {"u1", "u4"}}
    for engine in (LocalEngine(pair.local), SearchEngine.over(pair.search)):
        found: dict[str, set[str]] = {}
        for d in run(ruleset, engine).detections:
            found.setdefault(d.title, set()).update(v for k, v in d.key if k == "user.id")
        assert found == expected, engine.name
