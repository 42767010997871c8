"""The ingest log: one JSON line per change to an event store, in `<workspace>/ingest-log.jsonl` (0600).

Each `ingest` of an input, each `ingest --replace` and each `logs forget` appends what it did (who, when,
which store and source, what was added, replaced and removed, the notes such as the year reference of
syslog lines), so a later reader can tell where the stored events came from and what was corrected.
Appends only; a line is written with one `write` on a file opened with O_APPEND.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from breachkit.workspace import PRIVATE_FILE, Workspace

FILENAME = "ingest-log.jsonl"


def actor_name(environ: Mapping[str, str] | None = None) -> str:
    """Who is acting: $BREACHKIT_ACTOR (e.g. an email), else the login name (as the incident store)."""
    env = os.environ if environ is None else environ
    try:
        return env.get("BREACHKIT_ACTOR", "").strip() or getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return "unknown"


def record(workspace: Workspace, now: datetime, action: str, entry: Mapping[str, Any]) -> None:
    line = json.dumps({"time": now.isoformat(), "actor": actor_name(), "action": action, **entry},
                      ensure_ascii=True, default=str, sort_keys=False)
    path = workspace.root / FILENAME
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        os.write(fd, (line + "\n").encode("ascii"))
    finally:
        os.close(fd)


def read(workspace: Workspace) -> list[dict[str, Any]]:
    path = workspace.root / FILENAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
