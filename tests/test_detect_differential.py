"""The acceptance test of the detection engines: identical hits on Elasticsearch, OpenSearch and the embedded
engine.

All shipped rules plus SigmaHQ's web rules run over the same events — the generated sample platform
(planted attacks) and, where ../shared/data is present, the real Apache and auth logs — on DuckDB, on
real Elasticsearch and OpenSearch nodes, and on the pure-Python reference evaluator; the detection sets must be equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from breachkit.config import Config, ElasticsearchConfig, OpenSearchConfig, load_config
from breachkit.detect import compat
from breachkit.detect.engines import LocalEngine, ReferenceEngine, SearchEngine, TimeWindow
from breachkit.detect.rules import load_rules
from breachkit.detect.run import Detection, detect_correlation, run
from breachkit.logs.elasticsearch import ElasticsearchStore
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.local import LocalStore
from breachkit.logs.opensearch import OpenSearchStore
from breachkit.logs.search import SearchStore
from breachkit.resources import bundled
from breachkit.workspace import Workspace

BUNDLED_RULES = bundled("rules")

pytestmark = [pytest.mark.slow]
SEARCH_ENGINES = ("elasticsearch", "opensearch")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
INPUTS = [
    (REPO / "samples" / "portal-access.log", IngestOptions(format="combined", remote_user_field="user.id")),
    (REPO / "samples" / "app-api.jsonl.gz", IngestOptions(format="jsonl")),
    (REPO / "samples" / "auth.log", IngestOptions(format="auth", year=2026)),
]
REAL = [
    (SHARED / "logs" / "elastic-examples" / "apache_logs", IngestOptions(format="combined")),
    (SHARED / "logs" / "basjes-hackers-access" / "hackers-access.log", IngestOptions(format="combined")),
    (SHARED / "logs" / "elastic-examples" / "auth.log", IngestOptions(format="auth", year=2026)),
]


def _ruleset():
    paths = [BUNDLED_RULES] if BUNDLED_RULES.is_dir() else []
    if (SHARED / "sigma").is_dir():
        paths += compat.rule_paths(SHARED / "sigma", "web")
    return load_rules(paths)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Config, Workspace]:
    tmp = tmp_path_factory.mktemp("diff")
    return load_config(environ={}, cwd=tmp), Workspace(tmp / "ws").ensure()


def _inputs():
    return INPUTS + [(p, o) for p, o in REAL if p.exists()]


@pytest.fixture(scope="module")
def local(workspace) -> Iterator[LocalStore]:
    config, ws = workspace
    store = LocalStore(ws.events_db)
    for path, options in _inputs():
        ingest_file(str(path), store, config, ws, options=options)
    assert store.count() > 30_000
    yield store
    store.close()


@pytest.fixture(scope="module", params=SEARCH_ENGINES)
def search(request, workspace, local) -> Iterator[SearchStore]:
    """The same events in Elasticsearch, then in OpenSearch (`wildcard` fields there)."""
    from tests.services.fixtures import os_prefixed, prefixed

    config, ws = workspace
    if request.param == "elasticsearch":
        client, node = request.getfixturevalue("es_client"), request.getfixturevalue("es_node")
        scope = prefixed(client, "differential")
    else:
        client, node = request.getfixturevalue("os_client"), request.getfixturevalue("os_node")
        scope = os_prefixed(client, "differential")
    with scope as prefix:
        if request.param == "elasticsearch":
            store: SearchStore = ElasticsearchStore(client, ElasticsearchConfig(hosts=[node.url],
                                                                                index=f"{prefix}events"))
        else:
            store = OpenSearchStore(client, OpenSearchConfig(hosts=[node.url], index=f"{prefix}events"))
        for path, options in _inputs():
            ingest_file(str(path), store, config, ws, options=options)
        assert store.count() == local.count()
        yield store


def _keyed(detections: tuple[Detection, ...]) -> set[tuple[str, tuple, tuple]]:
    return {(d.rule_id, d.key, d.event_ids) for d in detections}


def test_embedded_and_search_engine_find_the_same(local, search):
    ruleset = _ruleset()
    assert not ruleset.problems
    on_local = run(ruleset, LocalEngine(local))
    on_es = run(ruleset, SearchEngine.over(search))
    assert on_local.detections, "the planted attacks must be found"
    missing_on_es = _keyed(on_local.detections) - _keyed(on_es.detections)
    extra_on_es = _keyed(on_es.detections) - _keyed(on_local.detections)
    assert not missing_on_es and not extra_on_es, (sorted(missing_on_es)[:5], sorted(extra_on_es)[:5])
    fired = {d.rule_id for d in on_local.detections}
    assert len(fired) >= 10


def test_reference_evaluator_agrees(local):
    ruleset = _ruleset()
    names = [d[0] for d in local.con.execute("DESCRIBE events").fetchall() if "#" not in d[0]]
    cols = ", ".join(f'"{n}"' for n in names)
    rows = local.con.execute(f"SELECT {cols} FROM events").fetchall()  # noqa: S608 - schema names
    events = [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in rows]
    on_reference = run(ruleset, ReferenceEngine(events))
    on_local = run(ruleset, LocalEngine(local))
    assert _keyed(on_reference.detections) == _keyed(on_local.detections)


def test_candidate_groups_split_over_many_searches(local, search):
    """With a handful of candidate groups per search, the search engines still find exactly the same."""
    ruleset = _ruleset()
    rules = ruleset.by_id()
    engine = SearchEngine.over(search)
    engine.keys_per_query = 3
    for corr in ruleset.correlations:
        on_es = detect_correlation(corr, rules, engine, TimeWindow())
        on_local = detect_correlation(corr, rules, LocalEngine(local), TimeWindow())
        assert _keyed(tuple(on_es)) == _keyed(tuple(on_local)), corr.meta.title


def test_engines_sharing_one_store_on_two_threads_find_what_one_finds_alone(local):
    """Each LocalEngine queries through a cursor of its own: two running at once on the same store (its
    candidate tables, its session time zone) find exactly what one finds alone, and leave the store's own
    connection as it was."""
    import threading

    ruleset = _ruleset()
    zone = local.con.execute("SELECT current_setting('TimeZone')").fetchone()
    alone = _keyed(run(ruleset, LocalEngine(local)).detections)
    found: list[set[tuple[str, tuple, tuple]]] = []
    errors: list[BaseException] = []

    def detect() -> None:
        try:
            with LocalEngine(local) as engine:
                found.append(_keyed(run(ruleset, engine).detections))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=detect) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(found) == 2
    assert found[0] == alone and found[1] == alone and alone
    assert local.con.execute("SELECT current_setting('TimeZone')").fetchone() == zone
