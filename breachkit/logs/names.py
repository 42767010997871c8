"""Names of the event stores and log formats (a leaf module: the CLI builds its option choices from it without
loading the stores)."""

from __future__ import annotations

from typing import Final, Literal

Engine = Literal["local", "elasticsearch"]
ENGINES: tuple[Engine, ...] = ("local", "elasticsearch")
FORMATS: Final = ("combined", "common", "jsonl", "csv", "auth")
