"""The incident stage's entry points for callers (CLI, scans): the store, regimes, detections → incident."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from breachkit.config import Config
from breachkit.detect.run import Detection
from breachkit.errors import InputError, Location, Problem
from breachkit.incidents.clock import Deadline, incident_deadlines
from breachkit.incidents.model import Incident, LinkedDetection
from breachkit.incidents.regimes import Regime, load_regimes
from breachkit.incidents.store import IncidentStore, store_url
from breachkit.workspace import Workspace


def actor_name(environ: Mapping[str, str] | None = None) -> str:
    """Who is acting: $BREACHKIT_ACTOR (e.g. an email), else the login name."""
    env = os.environ if environ is None else environ
    return env.get("BREACHKIT_ACTOR", "").strip() or getpass.getuser()


@contextlib.contextmanager
def open_store(config: Config, workspace: Workspace) -> Iterator[IncidentStore]:
    store = IncidentStore(store_url(config.incidents.store.url, workspace.root))
    try:
        yield store
    finally:
        store.close()


def regimes_from_config(config: Config) -> dict[str, Regime]:
    return load_regimes([config.resolve(p) for p in config.incidents.regimes])


def deadlines_of(store: IncidentStore, incident: Incident, regimes: Mapping[str, Regime],
                 now: datetime) -> list[Deadline]:
    return incident_deadlines(incident.regimes, regimes, incident.aware_at, store.filings(incident.id), now)


def linked(detection: Detection) -> LinkedDetection:
    return LinkedDetection(rule_id=detection.rule_id, title=detection.title, level=detection.level,
                           kind=detection.kind, engine=detection.engine, key=list(detection.key),
                           event_count=detection.count, event_ids=list(detection.event_ids),
                           first_seen=detection.first_seen, last_seen=detection.last_seen)


def _linked_from_dict(data: Mapping[str, Any]) -> LinkedDetection:
    key = data.get("key") or {}
    pairs = list(key.items()) if isinstance(key, Mapping) else [tuple(p) for p in key]
    return LinkedDetection.model_validate({
        "rule_id": data.get("rule_id"), "title": data.get("title"), "level": data.get("level"),
        "kind": data.get("kind", "event"), "engine": data.get("engine", "local"), "key": pairs,
        "event_count": data.get("count", len(data.get("event_ids") or [])),
        "event_ids": data.get("event_ids") or [], "first_seen": data.get("first_seen"),
        "last_seen": data.get("last_seen")})


def read_detections(path: Path) -> list[LinkedDetection]:
    """Detections saved by `breachkit detect --output json` (one document) or `--output ndjson` (a line each)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read detections: {exc}", path=path) from None
    items: list[tuple[int | None, Any]]
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n{" not in stripped.rstrip():
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
        found = document.get("detections", [document]) if isinstance(document, dict) else document
        items = [(None, d) for d in found]
    else:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON: {exc.msg}", path=path, line=number) from None
    out: list[LinkedDetection] = []
    problems: list[Problem] = []
    for index, (where, data) in enumerate(items):
        try:
            if not isinstance(data, Mapping):
                raise InputError("a detection is a JSON object")
            out.append(_linked_from_dict(data))
        except ValidationError as exc:
            problems += [Problem(e["msg"], Location(str(path), where, f"detections[{index}]." + ".".join(
                str(p) for p in e["loc"]))) for e in exc.errors()]
        except InputError as exc:
            problems.append(Problem(exc.message, Location(str(path), where, f"detections[{index}]")))
    if problems:
        raise InputError(f"{len(problems)} invalid detections; nothing was linked", path=path, problems=problems)
    return out
