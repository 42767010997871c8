"""Parsed Sigma rules → the compiled rule set (IR queries, correlation definitions), with every rule that
cannot run kept as `Skipped` or a problem, never dropped.

Order of decisions for a single-event rule: the processing pipelines run first (inside pySigma's
`convert_rule`, so `change_logsource` and `rule_conditions` behave as in pySigma); then the logsource the
pipelines left is looked up (`logsources.scope_of`): mapped to no dataset → skipped with that reason, even
when its conversion failed too; otherwise a failed conversion skips it with the backend's reason.

Correlations are compiled after the rules, each after the correlations it references (Sigma v2 chains:
`rules:` may name correlations), so a chain is resolved bottom-up and a cycle is reported as a problem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from breachkit.detect import ir
from breachkit.detect.backend import IRBackend
from breachkit.detect.logsources import LogsourceMap, describe, scope_of
from breachkit.detect.model import Correlation, NotRun, Rule, RuleMeta, Skipped
from breachkit.errors import Location, Problem

SUPPORTED_CORRELATIONS = ("event_count", "value_count", "temporal", "temporal_ordered")


def line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def locate(path: Path, text: str, error: Exception) -> Location:
    """File and, where the message quotes something found in the file, its line."""
    source = getattr(error, "source", None)
    line = getattr(source, "line", None) if isinstance(source, SigmaRuleLocation) else None
    if line is None:
        for quoted in re.findall(r"'([^']{2,80})'", str(error)):
            line = line_of(text, quoted)
            if line is not None:
                break
    return Location(str(path), line)


def message(error: Exception) -> str:
    text = str(error.args[0]) if error.args else str(error)
    return re.sub(r"\s+in \S+\.ya?ml$", "", text) or type(error).__name__


def meta_of(rule: SigmaRule | SigmaCorrelationRule, path: Path | None) -> RuleMeta:
    logsource = None
    if isinstance(rule, SigmaRule):
        ls = rule.logsource
        logsource = describe(ls.product, ls.category, ls.service)
    return RuleMeta(
        id=str(rule.id) if rule.id else (rule.name or rule.title),
        title=rule.title,
        name=rule.name,
        level=str(rule.level.name).lower() if rule.level else None,
        tags=tuple(str(t) for t in rule.tags),
        path=str(path) if path else None,
        status=str(rule.status.name).lower() if rule.status else None,
        description=rule.description,
        logsource=logsource,
    )


@dataclass
class Compiled:
    """What compiling collects; `broken` parallels `problems` with the rule where it is known."""

    rules: list[Rule] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    broken: list[NotRun] = field(default_factory=list)

    def problem(self, text: str, where: Location, meta: RuleMeta | None = None) -> None:
        self.problems.append(Problem(text, where))
        self.broken.append(NotRun("broken", text, where, meta))


Parsed = tuple[Any, Path, str]  # (pySigma rule, file, file text)


def compile_rules(good: Sequence[Parsed], pipeline: ProcessingPipeline, *, strict: bool,
                  ranges: dict[int, Any], logsources: Sequence[LogsourceMap], out: Compiled) -> None:
    backend = IRBackend(processing_pipeline=pipeline, strict_fields=strict)
    rules: dict[int, Rule] = {}
    why_not: dict[int, str] = {}
    for rule, path, text in good:
        if isinstance(rule, SigmaRule):
            result = _rule(rule, path, text, backend, strict, logsources, out)
            if isinstance(result, Rule):
                rules[id(rule)] = result
                out.rules.append(result)
            else:
                why_not[id(rule)] = result
    correlations = _Correlations(rules, why_not, pipeline, ranges, out)
    correlations.where = {id(r): (p, t) for r, p, t in good}
    for rule, path, text in good:
        if isinstance(rule, SigmaCorrelationRule):
            correlations.compile(rule, path, text)


def _rule(rule: SigmaRule, path: Path, text: str, backend: IRBackend, strict: bool,
          logsources: Sequence[LogsourceMap], out: Compiled) -> Rule | str:
    """The compiled rule, or the reason it does not run (already recorded as skipped or broken)."""
    error: SigmaError | None = None
    try:
        backend.convert_rule(rule)  # returns [] for rules only correlations use: read the result instead
        queries = rule.get_conversion_result()
    except SigmaError as exc:
        error = exc
    meta = meta_of(rule, path)  # after the pipelines: the logsource they left
    scope = scope_of(rule.logsource, logsources)
    if scope.error:
        out.problem(scope.reason or "", Location(str(path), line_of(text, "logsource")), meta)
        return scope.reason or ""
    if not scope.runs:
        out.skipped.append(Skipped(meta, scope.reason or ""))
        return scope.reason or ""
    if error is not None:
        if strict and "event schema" in str(error):
            out.problem(message(error), locate(path, text, error), meta)
        else:
            out.skipped.append(Skipped(meta, message(error)))
        return message(error)
    query = ir.expand_derived(ir.or_(list(queries)))
    if scope.datasets is not None:
        # exact: dataset names are breachkit's own vocabulary (and a plain equality lets DuckDB skip row groups)
        query = ir.and_([ir.or_([ir.Str("event.dataset", "eq", d, cased=True) for d in scope.datasets]), query])
    return Rule(meta, query, tuple(backend.warnings), generate=bool(rule._output), datasets=scope.datasets)


class _Correlations:
    """Compiles correlations depth-first along their references (chains), each once."""

    def __init__(self, rules: dict[int, Rule], why_not: dict[int, str], pipeline: ProcessingPipeline,
                 ranges: dict[int, Any], out: Compiled) -> None:
        self.rules, self.why_not, self.pipeline, self.ranges, self.out = rules, why_not, pipeline, ranges, out
        self.done: dict[int, Correlation | str] = {}  # compiled, or why not
        self.active: set[int] = set()
        self.where: dict[int, tuple[Path, str]] = {}

    def compile(self, rule: SigmaCorrelationRule, path: Path, text: str) -> Correlation | str:
        key = id(rule)
        if key in self.done:
            return self.done[key]
        meta = meta_of(rule, path)
        if key in self.active:
            reason = "the correlation chain refers back to this correlation (a cycle)"
            self.out.problem(reason, Location(str(path), line_of(text, "rules:")), meta)
            self.done[key] = reason
            return reason
        self.active.add(key)
        try:
            result = self._compile(rule, path, text, meta)
        finally:
            self.active.discard(key)
        if isinstance(result, Correlation):
            self.out.correlations.append(result)
            self.done[key] = result
        else:
            self.done[key] = result
        return self.done[key]

    def _fail(self, meta: RuleMeta, reason: str, where: Location | None = None) -> str:
        if where is None:
            self.out.skipped.append(Skipped(meta, reason))
        else:
            self.out.problem(reason, where, meta)
        return reason

    def _compile(self, rule: SigmaCorrelationRule, path: Path, text: str, meta: RuleMeta) -> Correlation | str:
        kind = rule.type.name.lower()
        if kind not in SUPPORTED_CORRELATIONS:
            supported = ", ".join(SUPPORTED_CORRELATIONS)
            return self._fail(meta, f"correlation type {kind} is not supported (supported: {supported})")
        refs: list[tuple[Any, Rule | Correlation]] = []
        for ref in rule.rules or []:
            target = getattr(ref, "rule", None)
            if target is None:
                where = locate(path, text, ValueError(f"'{ref.reference}'"))
                return self._fail(meta, f"correlation refers to {ref.reference!r}, which is not loaded", where)
            if isinstance(target, SigmaCorrelationRule):
                inner_path, inner_text = self.where.get(id(target), (path, text))
                inner = self.compile(target, inner_path, inner_text)
                if not isinstance(inner, Correlation):
                    return self._fail(meta, f"referenced correlation {ref.reference!r} does not run: {inner}")
                refs.append((ref, inner))
            elif id(target) in self.rules:
                refs.append((ref, self.rules[id(target)]))
            else:
                reason = self.why_not.get(id(target), "it is not runnable here")
                return self._fail(meta, f"referenced rule {ref.reference!r} does not run: {reason}")
        try:
            self.pipeline.apply(rule)  # maps group-by, alias and condition fields, as for the referenced rules
        except SigmaError as exc:
            return self._fail(meta, message(exc), locate(path, text, exc))
        return self._build(rule, kind, refs, meta, Location(str(path)))

    def _build(self, rule: SigmaCorrelationRule, kind: str, refs: list[tuple[Any, Rule | Correlation]],
               meta: RuleMeta, where: Location) -> Correlation | str:
        cond: Any = rule.condition
        bounds: Any = self.ranges.get(id(rule))
        if bounds is None:
            if cond is None or not hasattr(cond, "op"):
                bounds = (("gte", len(refs)),) if kind.startswith("temporal") else None
            else:
                bounds = ((cond.op.name.lower(), cond.count),)
        if not bounds:
            return self._fail(meta, "correlation has no condition", where)
        condition_field = getattr(cond, "fieldref", None)
        if kind == "value_count" and not isinstance(condition_field, str):
            return self._fail(meta, "value_count needs condition.field", where)
        group_by: dict[str, tuple[str, ...]] = {}
        value_field: dict[str, str] = {}
        chained: dict[str, tuple[int, ...]] = {}
        for ref, target in refs:
            fields = []
            for name in rule.group_by or []:
                alias = rule.aliases.aliases.get(name) if rule.aliases else None
                if alias is not None:
                    mapped = next((f for r, f in alias.mapping.items() if getattr(r, "rule", None) is ref.rule), None)
                    if mapped is None:
                        return self._fail(meta, f"alias {name!r} has no field for rule {ref.reference!r}", where)
                    fields.append(mapped)
                else:
                    fields.append(name)
            rid = target.meta.id
            group_by[rid] = tuple(fields)
            if kind == "value_count":
                value_field[rid] = str(condition_field)
            if isinstance(target, Correlation):
                wanted = [*fields, *([str(condition_field)] if kind == "value_count" else [])]
                projection = _projection(target, wanted)
                if isinstance(projection, str):
                    return self._fail(meta, f"referenced correlation {ref.reference!r} {projection}")
                chained[rid] = projection
        lookback = rule.timespan.seconds + max((t.reach for _, t in refs if isinstance(t, Correlation)), default=0)
        return Correlation(meta, kind, tuple(group_by), group_by, rule.timespan.seconds,  # type: ignore[arg-type]
                           tuple(bounds), value_field, generate=bool(rule._output),
                           group_names=tuple(rule.group_by or ()), chained=chained, lookback=lookback)


def _projection(inner: Correlation, wanted: Sequence[str]) -> tuple[int, ...] | str:
    """Indexes into `inner`'s group of the fields a chaining correlation uses, or why they are not there.

    A firing of `inner` carries only its group's values: by its own group-by names, and by the field names
    they resolve to where all its referenced rules agree."""
    names: dict[str, int] = {n: i for i, n in enumerate(inner.group_names)}
    per_rule: list[tuple[str, ...]] = list(inner.group_by.values())
    for i in range(len(inner.group_names)):
        resolved = {fields[i] for fields in per_rule if i < len(fields)}
        if len(resolved) == 1:
            names.setdefault(resolved.pop(), i)
    missing = [w for w in wanted if w not in names]
    if missing:
        have = ", ".join(inner.group_names) or "nothing"
        return f"groups by {have}; its firings carry no {', '.join(missing)}"
    return tuple(names[w] for w in wanted)

