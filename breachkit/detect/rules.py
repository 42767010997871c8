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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation, SigmaRuleNotFoundError

from breachkit.detect.compile import SUPPORTED_CORRELATIONS, Compiled, compile_rules, locate, message, meta_of
from breachkit.detect.logsources import LogsourceMap
from breachkit.detect.model import (
    Correlation,
    CorrelationType,
    NotRun,
    NotRunKind,
    Op,
    Rule,
    RuleMeta,
    RuleSet,
    Skipped,
)
from breachkit.detect.pipelines import load_pipeline
from breachkit.errors import InputError, Location, Problem

__all__ = ["SUPPORTED_CORRELATIONS", "Correlation", "CorrelationType", "NotRun", "NotRunKind", "Op", "Rule",
           "RuleMeta", "RuleSet", "Skipped", "load_rules", "rule_files"]
RULE_SUFFIXES = (".yml", ".yaml")


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


def locate_key(path: Path, text: str, key: str) -> Location:
    """The line of a top-level `key:` in a rule file (the first one), for problems found before pySigma."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(f"{key}:"):
            return Location(str(path), number, field=key)
    return Location(str(path), field=key)


def _parse_files(files: Sequence[Path], out: Compiled) -> tuple[list[tuple[Any, Path, str]], dict[int, Any]]:
    parsed: list[tuple[Any, Path, str]] = []
    ranges: dict[int, Any] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out.problem(f"cannot read: {exc}", Location(str(path)))
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            out.problem(f"YAML syntax: {getattr(exc, 'problem', None) or exc}", Location(str(path), line))
            continue
        fixed = []
        for doc in docs:
            if not isinstance(doc, dict):
                out.problem("a rule must be a YAML mapping", Location(str(path)))
                continue
            if "id" in doc and not isinstance(doc["id"], str):
                out.problem(f"id must be a UUID string, not {doc['id']!r}", locate_key(path, text, "id"))
                continue
            doc, bounds = _split_range(doc)
            fixed.append(doc)
            if bounds is not None:
                ranges[id(doc)] = bounds
        try:
            collection = SigmaCollection.from_dicts(fixed, collect_errors=True, source=SigmaRuleLocation(path),
                                                    resolve_references=False)
        except SigmaError as exc:
            out.problem(message(exc), locate(path, text, exc))
            continue
        except (AttributeError, TypeError, ValueError) as exc:  # pySigma trips over a field of the wrong type
            out.problem(f"not a valid Sigma rule ({type(exc).__name__}: {exc}); check the fields' types",
                        Location(str(path)))
            continue
        for rule, doc in zip(collection.rules, fixed, strict=False):
            parsed.append((rule, path, text))
            if id(doc) in ranges:
                ranges[id(rule)] = ranges.pop(id(doc))
    return parsed, ranges


def _meta_or_none(rule: Any, path: Path) -> RuleMeta | None:
    try:
        return meta_of(rule, path) if rule.title else None
    except (AttributeError, TypeError, ValueError):  # a rule too broken to describe
        return None


def load_rules(paths: Sequence[Path], *, pipelines: Sequence[Path] = (), strict_fields: bool = False,
               logsources: Sequence[LogsourceMap] = ()) -> RuleSet:
    """Load, validate and compile every rule under `paths`. Problems are collected, never raised: a broken
    file or rule is listed (`RuleSet.problems`, `RuleSet.broken`) and every other rule still compiles.
    `logsources`: the configured logsource → dataset mapping, looked up before the defaults."""
    files = rule_files(paths)
    pipeline = load_pipeline(pipelines)
    out = Compiled()
    parsed, ranges = _parse_files(files, out)
    for rule, path, text in parsed:
        for error in rule.errors:
            out.problem(message(error), locate(path, text, error), _meta_or_none(rule, path))
    good = [(r, p, t) for r, p, t in parsed if not r.errors]
    ids: dict[str, Path] = {}
    duplicates = []
    for rule, path, _ in good:
        key = str(rule.id) if rule.id else None
        if key and key in ids:
            out.problem(f"duplicate rule id {key} (also in {ids[key]})", Location(str(path)), meta_of(rule, path))
            duplicates.append(rule)
        elif key:
            ids[key] = path
    good = [g for g in good if g[0] not in duplicates]
    collection = SigmaCollection([r for r, _, _ in good], resolve_references=False)
    unresolved = []
    for rule, path, text in good:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(collection)
            except SigmaRuleNotFoundError as exc:
                out.problem(message(exc), locate(path, text, exc), meta_of(rule, path))
                unresolved.append(rule)
    good = [g for g in good if g[0] not in unresolved]
    compile_rules(good, pipeline, strict=strict_fields, ranges=ranges, logsources=logsources, out=out)
    return RuleSet(tuple(out.rules), tuple(out.correlations), tuple(out.skipped), tuple(out.problems),
                   tuple(files), tuple(lint([r for r, _, _ in good])), tuple(out.broken))


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
