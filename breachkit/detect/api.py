"""The detection stage's entry points for callers (CLI, scheduled scans): rules and engines from config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from breachkit.config import Config
from breachkit.detect.engines import Engine, LocalEngine, SearchEngine
from breachkit.detect.rules import RuleSet, load_rules

if TYPE_CHECKING:
    from breachkit.detect.sources import RuleCheck
from breachkit.logs.local import LocalStore
from breachkit.logs.search import SearchStore
from breachkit.logs.stores import open_event_store
from breachkit.workspace import Workspace

# The rule pack shipped with breachkit (in a checkout or an editable install: <repo>/rules).
BUNDLED_RULES = Path(__file__).resolve().parents[2] / "rules"


def rule_paths(config: Config, extra: Sequence[Path] = ()) -> list[Path]:
    paths = [BUNDLED_RULES] if config.detect.bundled and BUNDLED_RULES.is_dir() else []
    return [*paths, *(config.resolve(p) for p in config.detect.rules), *extra]


def ruleset_from_config(config: Config, extra: Sequence[Path] = (), *, only: Sequence[Path] | None = None) -> RuleSet:
    """The configured rules (bundled pack + detect.rules + `extra`), or exactly `only` when given."""
    paths = list(only) if only else rule_paths(config, extra)
    return load_rules(paths, pipelines=[config.resolve(p) for p in config.detect.pipelines],
                      strict_fields=config.detect.strict_fields)


@contextlib.contextmanager
def open_engine(config: Config, workspace: Workspace, engine: str | None = None) -> Iterator[Engine]:
    with open_event_store(config, workspace, engine, read_only=True) as store:
        if isinstance(store, LocalStore):
            yield LocalEngine(store)
        else:
            yield search_engine(config, store)


def runnable_on(ruleset: RuleSet, engine: Engine) -> tuple[RuleSet, list[RuleCheck]]:
    """The rules that can run on `engine` and those that cannot (over existing indices lacking fields)."""
    if isinstance(engine, SearchEngine):
        from breachkit.detect.sources import runnable

        return runnable(ruleset, engine.fields)
    return ruleset, []


def search_engine(config: Config, store: SearchStore) -> SearchEngine:
    """The engine over the store's own index, or over the configured existing indices (read-only) when
    `<engine>.indices` is set."""
    cfg = config.opensearch if store.engine == "opensearch" else config.elasticsearch
    if not cfg.indices:
        return SearchEngine.over(store)
    from breachkit.detect.sources import source_fields

    return SearchEngine(store.conn, ",".join(cfg.indices), source_fields(store.conn, cfg.indices, cfg.source))
