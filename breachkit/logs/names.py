"""Names of the event stores and log formats (a leaf module: the CLI builds its option choices from it without
loading the stores)."""

from __future__ import annotations

from typing import Final, Literal

Engine = Literal["local", "elasticsearch", "opensearch"]
ENGINES: tuple[Engine, ...] = ("local", "elasticsearch", "opensearch")
SEARCH_ENGINES: tuple[Engine, ...] = ("elasticsearch", "opensearch")  # the clusters (breachkit.logs.search)
FORMATS: Final = ("combined", "common", "jsonl", "csv", "auth")
