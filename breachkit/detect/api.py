"""The detection stage's entry points for callers (CLI, scheduled scans): rules and engines from config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from breachkit.config import Config
from breachkit.detect.engines import ElasticsearchEngine, Engine, LocalEngine
from breachkit.detect.logsources import LogsourceMap
from breachkit.detect.rules import RuleSet, load_rules
from breachkit.logs.local import LocalStore
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
                      strict_fields=config.detect.strict_fields, logsources=logsource_mapping(config))


def logsource_mapping(config: Config) -> list[LogsourceMap]:
    """The configured `[[detect.logsources]]` entries (looked up before the built-in defaults)."""
    return [LogsourceMap(m.product, m.category, m.service, tuple(m.datasets)) for m in config.detect.logsources]


@contextlib.contextmanager
def open_engine(config: Config, workspace: Workspace, engine: str | None = None) -> Iterator[Engine]:
    with open_event_store(config, workspace, engine, read_only=True) as store:
        if isinstance(store, LocalStore):
            yield LocalEngine(store)
        else:
            yield ElasticsearchEngine(store.client, store.index)
