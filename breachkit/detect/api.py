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
from breachkit.detect.rules import RuleCheck, RuleMeta, RuleSet, load_rules
from breachkit.detect.run import DetectionRun
from breachkit.errors import InputError
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


LEVELS = ("informational", "low", "medium", "high", "critical")


def level_at_least(level: str | None, minimum: str | None) -> bool:
    return minimum is None or LEVELS.index(level or "informational") >= LEVELS.index(minimum)


def run_detection(session: Session, *, since: datetime | str | None = None, until: datetime | str | None = None,
                  rule_ids: Sequence[str] = (), tags: Sequence[str] = (), level: str | None = None,
                  extra_rules: Sequence[Path] = (), engine: str | None = None,
                  on_start: Callable[[int], None] | None = None,
                  on_rule: Callable[[RuleMeta], None] | None = None) -> DetectionRun:
    """Run the configured rules (plus `extra_rules`), selected by id, tag and minimum level, over the events in
    [since, until) on an engine (default ingest.default_engine). Times without an offset are UTC."""
    from breachkit.detect.run import run

    window = TimeWindow(parse_time(since, "since"), parse_time(until, "until"))
    ruleset = ruleset_from_config(session.config, extra_rules)
    if ruleset.problems:
        raise InputError(f"{len(ruleset.problems)} broken rules; nothing was run", problems=list(ruleset.problems),
                         hint="breachkit rules check")

    def selected(meta: RuleMeta) -> bool:
        return ((not rule_ids or meta.id in rule_ids) and (not tags or bool(set(tags) & set(meta.tags)))
                and level_at_least(meta.level, level))

    metas = {r.meta.id: r.meta for r in ruleset.rules} | {c.meta.id: c.meta for c in ruleset.correlations}
    with open_engine(session.config, session.workspace, engine) as eng:
        # over existing indices lacking fields some rules cannot run: left out and named, never silently empty
        ruleset, not_run = runnable_on(ruleset, eng)
        if on_start is not None:
            on_start(sum(1 for r in ruleset.rules if r.generate and selected(r.meta))
                     + sum(1 for c in ruleset.correlations if selected(c.meta)))
        result = run(ruleset, eng, window, select=selected, on_rule=on_rule)
    return dataclasses.replace(result, not_run=tuple(c for c in not_run if selected(metas[c.rule_id])))


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
