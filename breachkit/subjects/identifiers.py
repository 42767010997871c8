"""Scope → identifiers: everything an incident's actors touched, aggregated where the events are.

The actor events are the events in the scope's window (`since`/`until` inclusive, to the millisecond both
stores keep; None leaves that side open) whose `source.ip` is one of the scope's addresses or networks
(IPv4 and IPv6 CIDR), or whose `user.id`, `user.name`, `device.id`, `device.imei` or `session.id` is listed
(an OR over the lists; `Scope.systems` does not narrow them). Over those events every identifier in
`schema.IDENTIFIER_FIELDS` gets one row: first and last seen, the number of events, the union of the
data categories those events expose (`categories.CompiledRules`), the number of events that exposed data of
the person behind it (`exposing`: a category other than the requester's own online identifiers), and for an
account (`user.id`) the number of its events that succeeded (`succeeded`: failed logins alone are attempts) and of
those that came from the scope's actor addresses, networks, sessions, devices or IMEIs (`used_by_actor`: evidence
that someone else used the account; `subjects.roles`).

Both engines aggregate server-side and return only one row per identifier:

* embedded (DuckDB): one SQL statement — the actor events once (a materialized CTE), then one GROUP BY
  per identifier field;
* Elasticsearch and OpenSearch: per identifier field, a composite aggregation paged to the end with `min`/`max` of
  `@timestamp` and a `filters` sub-aggregation holding one filter per data category (one search carries
  the next page of every field, so a small scope costs one search).

Both produce the same intermediate columns and go through `identifier_frame`, so the frames are equal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from breachkit.config import CategoryRule
from breachkit.detect import ir
from breachkit.detect.esquery import to_dsl
from breachkit.detect.sqlgen import ip_range, to_sql
from breachkit.errors import Location, Problem, UsageError
from breachkit.incidents.model import Scope
from breachkit.logs.ingest import ProgressCallback
from breachkit.logs.local import TABLE, LocalStore, ip_bin_column, q
from breachkit.logs.schema import canonical_ip
from breachkit.subjects import schema
from breachkit.subjects.categories import (
    ACTOR_CATEGORIES,
    ACTOR_FIELD,
    SUCCEEDED,
    TARGET_FIELD,
    CompiledRules,
    compile_rules,
    reaches,
)

if TYPE_CHECKING:
    from breachkit.logs.search import SearchStore

PHASE = "identifiers"  # the progress callback's phase name
TIME_DTYPE: Final = schema.TIME_DTYPE
FIELDS: tuple[str, ...] = tuple(schema.IDENTIFIER_FIELDS)  # output order: user.id, user.target.id, device.*
# Scope lists matched by value (exact, case-sensitive), with the field each one matches.
_KEYWORD_LISTS = (("user_ids", "user.id"), ("user_names", "user.name"), ("device_ids", "device.id"),
                  ("imeis", "device.imei"), ("session_ids", "session.id"))
# The lists that name the actor's means (where it acted from) rather than accounts: an account used through
# one of them was used by the actor (`used_by_actor`). Source addresses and networks count too.
_MEANS_FIELDS = frozenset({"device.id", "device.imei", "session.id"})
_ES_TERMS_CHUNK = 50_000  # values per `terms` query (index.max_terms_count defaults to 65,536)
ES_PAGE_BUCKETS = 60_000  # buckets per response, below search.max_buckets (65,536), sub-aggregations included
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class ActorFilter:
    """A validated scope: the window in whole milliseconds and the identifier lists, canonical."""

    since: datetime | None  # inclusive
    until: datetime | None  # inclusive
    addresses: tuple[str, ...]  # canonical IP text (as the stores keep source.ip)
    networks: tuple[str, ...]  # canonical CIDR with a shorter prefix than a single address
    values: tuple[tuple[str, tuple[str, ...]], ...]  # (field, values)

    @classmethod
    def from_scope(cls, scope: Scope) -> ActorFilter:
        lists = ("source_ips", *(name for name, _ in _KEYWORD_LISTS))
        if scope.empty or not any(v.strip() for name in lists for v in getattr(scope, name)):
            raise UsageError("the scope names no actor to follow",
                             hint="add source IPs, user ids or names, device ids, IMEIs or session ids to the scope")
        problems: list[Problem] = []
        addresses: set[str] = set()
        networks: set[str] = set()
        for i, text in enumerate(scope.source_ips):
            try:
                net = ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                problems.append(Problem(f"not an IP address or CIDR range: {text!r}",
                                        Location(field=f"scope.source_ips[{i}]")))
                continue
            if net.num_addresses == 1:
                addresses.add(canonical_ip(str(net.network_address)) or str(net.network_address))
            else:
                networks.add(str(net))
        if problems:
            raise UsageError("invalid addresses in the scope", problems=problems)
        values = tuple((field, tuple(sorted({v for v in getattr(scope, name) if v.strip()})))
                       for name, field in _KEYWORD_LISTS)
        return cls(since=_ceil_ms(scope.since), until=_floor_ms(scope.until), addresses=tuple(sorted(addresses)),
                   networks=tuple(sorted(networks)), values=tuple((f, v) for f, v in values if v))


def _floor_ms(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _ceil_ms(value: datetime | None) -> datetime | None:
    floor = _floor_ms(value)
    return floor if floor is None or floor == value else floor + _MS


@dataclass(frozen=True)
class Aggregated:
    """One row per identifier, as both engines return it: the field's index in FIELDS, the value, epoch
    milliseconds of the first and last event, the event count, a bit mask of the categories exposed
    (bit i = `CompiledRules.categories[i]`), the events that exposed the person's data and, for accounts, the
    successful events made through the actor's means."""

    field: np.ndarray
    value: list[str]
    first_ms: np.ndarray
    last_ms: np.ndarray
    events: np.ndarray
    mask: np.ndarray
    exposing: np.ndarray
    used: np.ndarray
    succeeded: np.ndarray


def affected_identifiers(source: LocalStore | SearchStore, scope: Scope,
                         rules: CompiledRules | Sequence[CategoryRule] | None = None, *,
                         progress: ProgressCallback | None = None) -> pd.DataFrame:
    """The identifier table (`schema.IDENTIFIER_COLUMNS`) of everything the scope's actors touched.

    `rules`: compiled rules, a list of `CategoryRule`, or None for `categories.DEFAULT_RULES`.
    Rows are sorted by field (in `schema.IDENTIFIER_FIELDS` order), then value. Raises UsageError for an
    empty scope or an invalid address, ConfigError for bad rules, ServiceError when the search engine fails.
    """
    compiled = rules if isinstance(rules, CompiledRules) else compile_rules(rules)
    actors = ActorFilter.from_scope(scope)
    if isinstance(source, LocalStore):
        rows = _local(source, actors, compiled, progress)
    else:
        rows = _search(source, actors, compiled, progress)
    return identifier_frame(rows, compiled.categories)


# --------------------------------------------------------------------------------------- the frame


def identifier_frame(rows: Aggregated, categories: Sequence[str]) -> pd.DataFrame:
    """The identifier table from the aggregated rows, sorted by field order then value."""
    names: dict[int, tuple[str, ...]] = {}
    for m in np.unique(rows.mask).tolist():
        names[m] = tuple(sorted({c for i, c in enumerate(categories) if m >> i & 1}))
    order = np.asarray(rows.field, dtype=np.int64)
    frame = pd.DataFrame({
        schema.ID_FIELD: pd.Series([FIELDS[i] for i in order.tolist()], dtype="str"),
        schema.ID_VALUE: pd.Series(rows.value, dtype="str"),
        schema.ID_RELATION: pd.Series([schema.IDENTIFIER_FIELDS[FIELDS[i]] for i in order.tolist()], dtype="str"),
        schema.ID_FIRST_SEEN: _times(rows.first_ms),
        schema.ID_LAST_SEEN: _times(rows.last_ms),
        schema.ID_EVENTS: pd.Series(np.asarray(rows.events, dtype=np.int64), dtype="int64"),
        schema.ID_CATEGORIES: pd.Series([list(names[m]) for m in rows.mask.tolist()], dtype="object"),
        schema.ID_EXPOSING: pd.Series(np.asarray(rows.exposing, dtype=np.int64), dtype="int64"),
        schema.ID_USED_BY_ACTOR: pd.Series(np.asarray(rows.used, dtype=np.int64), dtype="int64"),
        schema.ID_SUCCEEDED: pd.Series(np.asarray(rows.succeeded, dtype=np.int64), dtype="int64"),
        "_order": order,
    })
    frame = frame.sort_values(["_order", schema.ID_VALUE], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)[list(schema.IDENTIFIER_COLUMNS)]


def _times(ms: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(ms, dtype=np.int64), unit="ms", utc=True)).astype(TIME_DTYPE)


def _empty() -> Aggregated:
    none = np.zeros(0, dtype=np.int64)
    return Aggregated(none, [], none, none, none, none, none, none, none)


# --------------------------------------------------------------------------------------- embedded


def _local_where(actors: ActorFilter) -> tuple[str, str, dict[str, Any]]:
    """The actor events' condition, the condition of the actor's means (addresses, sessions, devices: what tells
    an account used by the actor), and their parameters."""
    params: dict[str, Any] = {}
    window: list[str] = []
    if actors.since is not None:
        window.append('"@timestamp" >= $since')
        params["since"] = actors.since
    if actors.until is not None:
        window.append('"@timestamp" < $until_next')  # inclusive to the millisecond
        params["until_next"] = actors.until + _MS
    who: list[str] = []
    means: list[str] = []
    if actors.addresses:
        means.append('"source.ip" IN (SELECT unnest($addresses))')
        params["addresses"] = list(actors.addresses)
    for i, network in enumerate(actors.networks):
        low, high = ip_range(network)
        means.append(f"{q(ip_bin_column('source.ip'))} BETWEEN $net{i}_lo AND $net{i}_hi")
        params[f"net{i}_lo"], params[f"net{i}_hi"] = low, high
    for i, (field, values) in enumerate(actors.values):
        (means if field in _MEANS_FIELDS else who).append(f"{q(field)} IN (SELECT unnest($values{i}))")
        params[f"values{i}"] = list(values)
    where = " AND ".join([*window, "(" + " OR ".join(who + means) + ")"])
    return where, ("coalesce(" + " OR ".join(means) + ", FALSE)") if means else "FALSE", params


def local_sql(actors: ActorFilter, rules: CompiledRules) -> tuple[str, dict[str, Any]]:
    """The one DuckDB statement (and its parameters) that aggregates the identifiers."""
    where, means, params = _local_where(actors)
    bits = " | ".join(f"(CASE WHEN {sql} THEN {1 << i} ELSE 0 END)" for i, (_c, sql) in enumerate(rules.sql()))
    ids = ", ".join(f"{q(f)} AS i{k}" for k, f in enumerate(FIELDS))
    target = FIELDS.index(TARGET_FIELD)
    person = sum(1 << i for i, c in enumerate(rules.categories) if c not in ACTOR_CATEGORIES)
    succeeded = f"coalesce({to_sql(SUCCEEDED)}, FALSE)"

    def attributed(field: str) -> str:
        # the slots reaching this field's person, with and without a target in the event (categories.reaches)
        def keep(has_target: bool) -> int:
            return sum(1 << i for i, c in enumerate(rules.categories)
                       if reaches(c, rules.owner(i), field, has_target))
        return f"(CASE WHEN i{target} IS NULL THEN m & {keep(False)} ELSE m & {keep(True)} END)"

    def used(field: str) -> str:
        return "count(*) FILTER (WHERE u), count(*) FILTER (WHERE s)" if field == ACTOR_FIELD else "0, 0"

    # SQL from the schema's quoted field names and the compiled rules; scope values are parameters.
    per_field = "\nUNION ALL\n".join(
        f"SELECT {k} AS f, i{k} AS v, min(t), max(t), count(*), bit_or({attributed(field)}), "  # noqa: S608
        f"count(*) FILTER (WHERE {attributed(field)} & {person} != 0), {used(field)} FROM actor_events "
        f"WHERE i{k} IS NOT NULL GROUP BY i{k}" for k, field in enumerate(FIELDS))
    sql = (f'WITH actor_events AS MATERIALIZED (SELECT epoch_ms("@timestamp") AS t, {ids}, '  # noqa: S608
           f"CAST({bits or '0'} AS BIGINT) AS m, ({means}) AND {succeeded} AS u, {succeeded} AS s FROM {TABLE} "
           f"WHERE {where})\n"
           f"{per_field}")
    return sql, params


def _local(store: LocalStore, actors: ActorFilter, rules: CompiledRules,
           progress: ProgressCallback | None) -> Aggregated:
    if progress is not None:
        progress(PHASE, 0, None)
    sql, params = local_sql(actors, rules)
    columns = store.con.execute(sql, params).fetchnumpy()
    f, v, first, last, count, mask, exposing, used, succeeded = (columns[k] for k in columns)
    rows = Aggregated(field=np.asarray(f, dtype=np.int64), value=[str(x) for x in np.asarray(v, dtype=object)],
                      first_ms=np.asarray(first, dtype=np.int64), last_ms=np.asarray(last, dtype=np.int64),
                      events=np.asarray(count, dtype=np.int64), mask=np.asarray(mask, dtype=np.int64),
                      exposing=np.asarray(exposing, dtype=np.int64), used=np.asarray(used, dtype=np.int64),
                      succeeded=np.asarray(succeeded, dtype=np.int64))
    if progress is not None:
        progress(PHASE, len(rows.value), len(rows.value))
    return rows


# --------------------------------------------------------------------------------------- Elasticsearch and OpenSearch


def es_query(actors: ActorFilter) -> dict[str, Any]:
    """The actor events as an Elasticsearch query (window range + OR of `terms` on the identifier fields)."""
    bounds: dict[str, Any] = {}
    if actors.since is not None:
        bounds["gte"] = _epoch_ms(actors.since)
    if actors.until is not None:
        bounds["lte"] = _epoch_ms(actors.until)
    filters = [{"range": {"@timestamp": {**bounds, "format": "epoch_millis"}}}] if bounds else []
    should = _terms(actors, means=False) + _terms(actors, means=True)
    return {"bool": {"filter": filters, "should": should, "minimum_should_match": 1}}


def _terms(actors: ActorFilter, *, means: bool) -> list[dict[str, Any]]:
    """`terms` queries on the scope's lists: the actor's means (addresses, sessions, devices) or its accounts."""
    ips = [*actors.addresses, *actors.networks]  # `terms` on an ip field takes addresses and CIDR ranges
    lists = [("source.ip", tuple(ips)), *actors.values]
    return [{"terms": {field: list(values[i:i + _ES_TERMS_CHUNK])}}
            for field, values in lists if (field == "source.ip" or field in _MEANS_FIELDS) == means
            for i in range(0, len(values), _ES_TERMS_CHUNK)]


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp()) * 1000 + value.microsecond // 1000


def _search(store: SearchStore, actors: ActorFilter, rules: CompiledRules,
                   progress: ProgressCallback | None) -> Aggregated:
    query = es_query(actors)
    no_target = {"exists": {"field": TARGET_FIELD}}
    dsl = rules.es_filters()
    always: dict[int, int] = {}  # field index → slots every event of it exposes
    filters: dict[int, dict[str, dict[str, Any]]] = {}  # field index → slot → query
    for k, field in enumerate(FIELDS):
        always[k], filters[k] = 0, {}
        for i, (slot, (category, predicate)) in enumerate(zip(rules.slots, rules.predicates, strict=True)):
            with_target, without = (reaches(category, rules.owner(i), field, t) for t in (True, False))
            base = [] if predicate == ir.TRUE else [dsl[slot]]
            if with_target and without:
                if predicate == ir.TRUE:
                    always[k] |= 1 << i
                else:
                    filters[k][slot] = dsl[slot]
            elif without:  # only from events without a target (categories.reaches)
                filters[k][slot] = {"bool": {"filter": base, "must_not": [no_target]}}
            elif with_target:
                filters[k][slot] = {"bool": {"filter": [*base, no_target]}}
    bit = {slot: 1 << i for i, slot in enumerate(rules.slots)}
    person = {c for c in rules.categories if c not in ACTOR_CATEGORIES}
    person_bits = sum(1 << i for i, c in enumerate(rules.categories) if c in person)
    extra: dict[int, dict[str, Any]] = {}  # field index → the `exposing` / `used` filter sub-aggregations
    means = _terms(actors, means=True)
    for k, field in enumerate(FIELDS):
        aggs: dict[str, Any] = {}
        exposing = [q for slot, q in filters[k].items() if slot.split(".")[0] in person]
        if not always[k] & person_bits and exposing:
            aggs["exposing"] = {"filter": {"bool": {"should": exposing, "minimum_should_match": 1}}}
        if field == ACTOR_FIELD and means:
            aggs["used"] = {"filter": {"bool": {"filter": [to_dsl(SUCCEEDED)], "should": means,
                                                "minimum_should_match": 1}}}
        if field == ACTOR_FIELD:
            aggs["ok"] = {"filter": to_dsl(SUCCEEDED)}
        extra[k] = aggs
    width = 1 + max(len(f) for f in filters.values()) + 2
    page = max(1, ES_PAGE_BUCKETS // (len(FIELDS) * width))
    fields: list[int] = []
    values: list[str] = []
    firsts: list[float] = []
    lasts: list[float] = []
    counts: list[int] = []
    masks: list[int] = []
    exposed: list[int] = []
    used: list[int] = []
    succeeded: list[int] = []
    with store.conn.errors():
        for k, b in _composite(store, query, filters, extra, page):
            fields.append(k)
            values.append(str(b["key"]["v"]))
            firsts.append(b["first"]["value"])
            lasts.append(b["last"]["value"])
            counts.append(int(b["doc_count"]))
            mask = always[k]
            for slot, hit in (b["cats"]["buckets"].items() if filters[k] else ()):
                if hit["doc_count"]:
                    mask |= bit[slot]
            masks.append(mask)
            exposed.append(int(b["doc_count"]) if always[k] & person_bits
                           else int(b["exposing"]["doc_count"]) if "exposing" in b else 0)
            used.append(int(b["used"]["doc_count"]) if "used" in b else 0)
            succeeded.append(int(b["ok"]["doc_count"]) if "ok" in b else 0)
            if progress is not None and len(values) % 10_000 == 0:
                progress(PHASE, len(values), None)
    if progress is not None:
        progress(PHASE, len(values), len(values))
    if not values:
        return _empty()
    return Aggregated(field=np.asarray(fields, dtype=np.int64), value=values,
                      first_ms=np.asarray(firsts, dtype=np.float64).astype(np.int64),
                      last_ms=np.asarray(lasts, dtype=np.float64).astype(np.int64),
                      events=np.asarray(counts, dtype=np.int64), mask=np.asarray(masks, dtype=np.int64),
                      exposing=np.asarray(exposed, dtype=np.int64), used=np.asarray(used, dtype=np.int64),
                      succeeded=np.asarray(succeeded, dtype=np.int64))


def _composite(store: SearchStore, query: dict[str, Any], filters: dict[int, dict[str, dict[str, Any]]],
               extra: dict[int, dict[str, Any]], page: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(field index, bucket) for every identifier of every field over the actor events, paged to the end.

    One search carries a composite aggregation per identifier field that still has pages, so a small
    scope costs one search (each search also compiles the category filters' automata once per field).
    """
    times: dict[str, Any] = {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}}
    subs = {k: times | ({"cats": {"filters": {"filters": f}}} if f else {}) | extra[k] for k, f in filters.items()}
    pending: dict[int, dict[str, Any] | None] = dict.fromkeys(range(len(FIELDS)))  # field index → after key
    while pending:
        aggs: dict[str, Any] = {}
        for k, after in pending.items():
            composite: dict[str, Any] = {"size": page, "sources": [{"v": {"terms": {"field": FIELDS[k]}}}]}
            if after is not None:
                composite["after"] = after
            aggs[f"f{k}"] = {"composite": composite, "aggs": subs[k]}
        resp = store.conn.search(store.index, {"size": 0, "track_total_hits": False, "query": query, "aggs": aggs})
        for k in list(pending):
            agg = resp["aggregations"][f"f{k}"]
            for b in agg["buckets"]:
                yield k, b
            if len(agg["buckets"]) < page or agg.get("after_key") is None:
                del pending[k]  # a short page is the last one
            else:
                pending[k] = agg["after_key"]
