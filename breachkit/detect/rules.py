"""Loading Sigma rules: parse with pySigma, collect every problem with its location, compile to the IR.

Files are parsed one by one (a YAML error in one file must not hide the problems of the others) and
put into one collection, whose correlation references are then resolved rule by rule. Every problem —
YAML syntax, unknown modifiers, invalid conditions, references to missing rules, fields unknown to a
strict pipeline — is reported with its file and, where it can be found, its line.

Sigma v2 allows a correlation condition with two bounds (a range, e.g. `{gte: 10, lte: 100}`);
pySigma 1.x accepts only one, so the second bound is taken off before pySigma sees the rule and kept
here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation, SigmaRuleNotFoundError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from breachkit.detect import ir
from breachkit.detect.backend import IRBackend
from breachkit.detect.pipelines import load_pipeline, logsource_scope
from breachkit.errors import InputError, Location, Problem

CorrelationType = Literal["event_count", "value_count", "temporal", "temporal_ordered"]
Op = Literal["gt", "gte", "lt", "lte", "eq", "neq"]
SUPPORTED_CORRELATIONS = ("event_count", "value_count", "temporal", "temporal_ordered")
RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class RuleMeta:
    id: str
    title: str
    name: str | None
    level: str | None
    tags: tuple[str, ...]
    path: str | None
    status: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Rule:
    """A single-event rule, compiled: `query` includes the logsource's dataset scope."""

    meta: RuleMeta
    query: ir.Node
    warnings: tuple[str, ...] = ()
    generate: bool = True  # False: only used by correlations (Sigma's `generate: false` default)
    datasets: tuple[str, ...] | None = None  # the event.dataset values its logsource covers (None: all)


@dataclass(frozen=True)
class Correlation:
    meta: RuleMeta
    type: CorrelationType
    rules: tuple[str, ...]  # ids of the referenced rules, in the rule's order
    group_by: dict[str, tuple[str, ...]]  # rule id → its group-by fields (aliases resolved)
    timespan: int  # seconds
    bounds: tuple[tuple[Op, int], ...]  # all must hold
    value_field: dict[str, str] = field(default_factory=dict)  # value_count: rule id → counted field


@dataclass(frozen=True)
class Skipped:
    meta: RuleMeta
    reason: str


@dataclass(frozen=True)
class RuleCheck:
    """A rule that cannot run on an engine's indices (a field missing or unusable there), with why."""

    rule_id: str
    title: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    correlations: tuple[Correlation, ...]
    skipped: tuple[Skipped, ...]
    problems: tuple[Problem, ...]
    files: tuple[Path, ...]
    lint: tuple[Problem, ...] = ()  # findings of SigmaHQ's validators (style, not errors)

    def by_id(self) -> dict[str, Rule]:
        return {r.meta.id: r for r in self.rules}


def rule_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()
                                and "tests" not in p.relative_to(path).parts))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError("no such rule file or folder", path=path)
    return files


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _locate(path: Path, text: str, error: Exception) -> Location:
    """File and, where the message quotes something found in the file, its line."""
    source = getattr(error, "source", None)
    line = getattr(source, "line", None) if isinstance(source, SigmaRuleLocation) else None
    if line is None:
        for quoted in re.findall(r"'([^']{2,80})'", str(error)):
            line = _line_of(text, quoted)
            if line is not None:
                break
    return Location(str(path), line)


def _message(error: Exception) -> str:
    text = str(error.args[0]) if error.args else str(error)
    return re.sub(r"\s+in \S+\.ya?ml$", "", text) or type(error).__name__


def _split_range(doc: dict[str, Any]) -> tuple[dict[str, Any], tuple[tuple[Op, int], ...] | None]:
    corr = doc.get("correlation")
    if not isinstance(corr, dict) or not isinstance(corr.get("condition"), dict):
        return doc, None
    cond = dict(corr["condition"])
    ops = [k for k in ("gt", "gte", "lt", "lte", "eq", "neq") if k in cond]
    if len(ops) < 2:
        return doc, None
    bounds: list[tuple[Op, int]] = []
    for op in ops:
        try:
            bounds.append((op, int(cond[op])))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return doc, None  # let pySigma report it
    for op in ops[1:]:
        del cond[op]
    return {**doc, "correlation": {**corr, "condition": cond}}, tuple(bounds)


def _meta(rule: SigmaRule | SigmaCorrelationRule, path: Path | None) -> RuleMeta:
    return RuleMeta(
        id=str(rule.id) if rule.id else (rule.name or rule.title),
        title=rule.title,
        name=rule.name,
        level=str(rule.level.name).lower() if rule.level else None,
        tags=tuple(str(t) for t in rule.tags),
        path=str(path) if path else None,
        status=str(rule.status.name).lower() if rule.status else None,
        description=rule.description,
    )


def _parse_files(files: Sequence[Path]) -> tuple[list[tuple[Any, Path, str]], list[Problem], dict[int, Any]]:
    parsed: list[tuple[Any, Path, str]] = []
    problems: list[Problem] = []
    ranges: dict[int, Any] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(f"cannot read: {exc}", Location(str(path))))
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problems.append(Problem(f"YAML syntax: {getattr(exc, 'problem', None) or exc}", Location(str(path), line)))
            continue
        fixed = []
        for doc in docs:
            if not isinstance(doc, dict):
                problems.append(Problem("a rule must be a YAML mapping", Location(str(path))))
                continue
            doc, bounds = _split_range(doc)
            fixed.append(doc)
            if bounds is not None:
                ranges[id(doc)] = bounds
        try:
            collection = SigmaCollection.from_dicts(fixed, collect_errors=True, source=SigmaRuleLocation(path),
                                                    resolve_references=False)
        except SigmaError as exc:
            problems.append(Problem(_message(exc), _locate(path, text, exc)))
            continue
        for rule, doc in zip(collection.rules, fixed, strict=False):
            parsed.append((rule, path, text))
            if id(doc) in ranges:
                ranges[id(rule)] = ranges.pop(id(doc))
    return parsed, problems, ranges


def load_rules(paths: Sequence[Path], *, pipelines: Sequence[Path] = (), strict_fields: bool = False) -> RuleSet:
    """Load, validate and compile every rule under `paths`. Problems are collected, never raised."""
    files = rule_files(paths)
    parsed, problems, ranges = _parse_files(files)
    for rule, path, text in parsed:
        for error in rule.errors:
            problems.append(Problem(_message(error), _locate(path, text, error)))
    good = [(r, p, t) for r, p, t in parsed if not r.errors]
    ids: dict[str, Path] = {}
    for rule, path, _ in good:
        key = str(rule.id) if rule.id else None
        if key and key in ids:
            problems.append(Problem(f"duplicate rule id {key} (also in {ids[key]})", Location(str(path))))
        elif key:
            ids[key] = path
    collection = SigmaCollection([r for r, _, _ in good], resolve_references=False)
    unresolved = []
    for rule, path, text in good:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(collection)
            except SigmaRuleNotFoundError as exc:
                problems.append(Problem(_message(exc), _locate(path, text, exc)))
                unresolved.append(rule)
    good = [g for g in good if g[0] not in unresolved]
    pipeline = load_pipeline(pipelines)
    ruleset = _compile(good, pipeline, strict_fields, ranges, problems, tuple(files))
    return dataclasses.replace(ruleset, lint=tuple(lint([r for r, _, _ in good])))


# SigmaHQ's validators that need the network (they download MITRE ATT&CK / D3FEND data) are left out.
_OFFLINE_EXCLUDED = frozenset({"attacktag", "d3_fendtag"})


def lint(rules: Sequence[Any]) -> list[Problem]:
    """SigmaHQ's rule validators (pySigma's installed validator plugins), as located findings."""
    from sigma.plugins import InstalledSigmaPlugins
    from sigma.validation import SigmaValidator

    validators: list[Any] = [v for name, v in InstalledSigmaPlugins.autodiscover().validators.items()
                             if name not in _OFFLINE_EXCLUDED]
    validator = SigmaValidator(validators)
    issues = []
    for rule in rules:
        try:
            issues.extend(validator.validate_rule(rule))
        except SigmaError:
            continue  # a rule the validators cannot parse is already reported as skipped or broken
    issues.extend(validator.finalize())  # cross-rule findings (duplicate ids, titles, file names)
    counts: dict[Problem, int] = {}
    for issue in issues:
        paths = sorted({str(r.source.path) for r in issue.rules if r.source is not None and r.source.path})
        severity = issue.severity.name.lower()
        finding = Problem(f"{severity}: {issue.description} ({type(issue).__name__})",
                          Location(", ".join(paths) or None))
        counts[finding] = counts.get(finding, 0) + 1
    return [p if n == 1 else dataclasses.replace(p, message=f"{p.message} ×{n}") for p, n in counts.items()]


def _compile(good: list[tuple[Any, Path, str]], pipeline: ProcessingPipeline, strict: bool,
             ranges: dict[int, Any], problems: list[Problem], files: tuple[Path, ...]) -> RuleSet:
    backend = IRBackend(processing_pipeline=pipeline, strict_fields=strict)
    rules: list[Rule] = []
    skipped: list[Skipped] = []
    compiled: dict[int, Rule] = {}
    for rule, path, text in good:
        if not isinstance(rule, SigmaRule):
            continue
        meta = _meta(rule, path)
        scope = logsource_scope(rule.logsource)
        if isinstance(scope, str):
            skipped.append(Skipped(meta, scope))
            continue
        try:
            backend.convert_rule(rule)  # returns [] for rules only correlations use: read the result instead
            queries = rule.get_conversion_result()
        except SigmaError as exc:
            if strict and "event schema" in str(exc):
                problems.append(Problem(_message(exc), _locate(path, text, exc)))
            else:
                skipped.append(Skipped(meta, _message(exc)))
            continue
        query = ir.or_(list(queries))
        if scope is not None:
            query = ir.and_([ir.or_([ir.Str("event.dataset", "eq", d) for d in scope]), query])
        warnings = tuple(backend.warnings)
        compiled[id(rule)] = Rule(meta, query, warnings, generate=bool(rule._output), datasets=scope)
        rules.append(compiled[id(rule)])
    correlations = []
    for rule, path, text in good:
        if isinstance(rule, SigmaCorrelationRule):
            result = _correlation(rule, path, text, compiled, ranges.get(id(rule)), pipeline)
            if isinstance(result, Correlation):
                correlations.append(result)
            elif isinstance(result, Skipped):
                skipped.append(result)
            else:
                problems.append(result)
    return RuleSet(tuple(rules), tuple(correlations), tuple(skipped), tuple(problems), files)


def _correlation(rule: SigmaCorrelationRule, path: Path, text: str, compiled: dict[int, Rule],
                 bounds: Any, pipeline: ProcessingPipeline) -> Correlation | Skipped | Problem:
    meta = _meta(rule, path)
    kind = rule.type.name.lower()
    if kind not in SUPPORTED_CORRELATIONS:
        supported = ", ".join(SUPPORTED_CORRELATIONS)
        return Skipped(meta, f"correlation type {kind} is not supported (supported: {supported})")
    refs = []
    for ref in rule.rules or []:
        target = getattr(ref, "rule", None)
        if target is None:
            where = _locate(path, text, ValueError(f"'{ref.reference}'"))
            return Problem(f"correlation refers to {ref.reference!r}, which is not loaded", where)
        if not isinstance(target, SigmaRule) or id(target) not in compiled:
            return Skipped(meta, f"referenced rule {ref.reference!r} is not runnable here")
        refs.append((ref, target))
    try:
        pipeline.apply(rule)  # maps group-by, alias and condition fields, as for the referenced rules
    except SigmaError as exc:
        return Problem(_message(exc), _locate(path, text, exc))
    cond: Any = rule.condition
    if bounds is None:
        if cond is None or not hasattr(cond, "op"):
            bounds = (("gte", len(refs)),) if kind.startswith("temporal") else None
        else:
            bounds = ((cond.op.name.lower(), cond.count),)
    if not bounds:
        return Problem("correlation has no condition", Location(str(path)))
    group_by: dict[str, tuple[str, ...]] = {}
    value_field: dict[str, str] = {}
    for ref, target in refs:
        rid = compiled[id(target)].meta.id
        fields = []
        for name in rule.group_by or []:
            alias = rule.aliases.aliases.get(name) if rule.aliases else None
            if alias is not None:
                mapped = next((f for r, f in alias.mapping.items() if getattr(r, "rule", None) is target), None)
                if mapped is None:
                    return Problem(f"alias {name!r} has no field for rule {ref.reference!r}", Location(str(path)))
                fields.append(mapped)
            else:
                fields.append(name)
        group_by[rid] = tuple(fields)
        if kind == "value_count":
            condition_field = getattr(cond, "fieldref", None)
            if not isinstance(condition_field, str):
                return Problem("value_count needs condition.field", Location(str(path)))
            value_field[rid] = condition_field
    return Correlation(meta, kind, tuple(group_by), group_by, rule.timespan.seconds, tuple(bounds), value_field)  # type: ignore[arg-type]
