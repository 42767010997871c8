"""The detection stage's entry points: rules and engines from the config, and the detection use case."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from breachkit import resources
from breachkit.config import Config
from breachkit.detect.engines import Engine, LocalEngine, SearchEngine, TimeWindow
from breachkit.detect.logsources import LogsourceMap
from breachkit.detect.rules import RuleMeta, RuleSet, load_rules
from breachkit.detect.run import DetectionRun
from breachkit.logs.local import LocalStore
from breachkit.logs.search import SearchStore
from breachkit.logs.stores import open_event_store
from breachkit.session import Session
from breachkit.times import parse_time
from breachkit.workspace import Workspace

if TYPE_CHECKING:
    from breachkit.detect.sources import IndexCheck


def rule_paths(config: Config, extra: Sequence[Path] = ()) -> list[Path]:
    paths = [resources.bundled("rules")] if config.detect.bundled else []
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
            with LocalEngine(store) as local:
                yield local
        else:
            yield search_engine(config, store)


def runnable_on(ruleset: RuleSet, engine: Engine) -> RuleSet:
    """`ruleset` with the rules that cannot run on `engine` (over existing indices lacking fields they read)
    moved to its skipped rules, with why: they are reported as not run, never silently empty."""
    if isinstance(engine, SearchEngine) and not engine.fields.is_native:
        from breachkit.detect.sources import runnable

        return runnable(ruleset, engine.fields, f"{engine.name} {engine.index}")[0]
    return ruleset


def search_engine(config: Config, store: SearchStore) -> SearchEngine:
    """The engine over the store's own index, or over the configured existing indices (read-only) when
    `<engine>.indices` is set."""
    cfg = config.opensearch if store.engine == "opensearch" else config.elasticsearch
    if not cfg.indices:
        return SearchEngine.over(store)
    from breachkit.detect.sources import source_fields

    return SearchEngine(store.conn, ",".join(cfg.indices), source_fields(store.conn, cfg.indices, cfg.source))


LEVELS = ("informational", "low", "medium", "high", "critical")


def level_at_least(level: str | None, minimum: str | None) -> bool:
    return minimum is None or LEVELS.index(level or "informational") >= LEVELS.index(minimum)


def run_detection(session: Session, *, since: datetime | str | None = None, until: datetime | str | None = None,
                  rule_ids: Sequence[str] = (), tags: Sequence[str] = (), level: str | None = None,
                  extra_rules: Sequence[Path] = (), engine: str | None = None,
                  on_start: Callable[[int], None] | None = None,
                  on_rule: Callable[[RuleMeta], None] | None = None) -> DetectionRun:
    """Run the configured rules (plus `extra_rules`), selected by id, tag and minimum level, over the events in
    [since, until) on an engine (default ingest.default_engine). Times without an offset are UTC.

    Nothing is dropped silently: the result lists every selected rule that did not run (`not_run`: skipped
    here, broken, or rejected by the engine) and the others still run. When none could run, this raises
    (InputError, or UsageError when no rule matches the selection): no detections must never look like "all
    quiet". When some did not run that had to — broken, rejected, or given explicitly (`extra_rules`,
    `rule_ids`) — the result carries the PartialFailure (`incomplete`, exit 4) to raise after showing it."""
    from breachkit.detect.run import run, verdict

    window = TimeWindow(parse_time(since, "since"), parse_time(until, "until"))
    ruleset = ruleset_from_config(session.config, extra_rules)

    def selected(meta: RuleMeta) -> bool:
        return ((not rule_ids or meta.id in rule_ids) and (not tags or bool(set(tags) & set(meta.tags)))
                and level_at_least(meta.level, level))

    with open_engine(session.config, session.workspace, engine) as eng:
        # over existing indices lacking fields some rules cannot run: skipped with why, never silently empty
        ruleset = runnable_on(ruleset, eng)
        if on_start is not None:
            on_start(sum(1 for item in ruleset.alerting if selected(item.meta)))
        result = run(ruleset, eng, window, select=selected, on_rule=on_rule)
    problem = verdict(result, explicit=[str(p) for p in extra_rules], explicit_ids=rule_ids)
    if problem is not None and result.ran == 0:
        raise problem
    return dataclasses.replace(result, incomplete=problem)


def check_existing_index(session: Session, pattern: str, engine: str = "elasticsearch") -> IndexCheck:
    """Can the configured rules run on an existing (read-only) index of a search engine? Per field the rules
    use: present, with a type breachkit can query, and the rules that cannot run there with why."""
    from breachkit.detect.sources import check_index
    from breachkit.logs.stores import open_search_store

    config = session.config
    cfg = config.opensearch if engine == "opensearch" else config.elasticsearch
    ruleset = ruleset_from_config(config)
    with open_search_store(config, session.workspace, engine) as store:
        return check_index(store.conn, pattern, ruleset, cfg.source)
