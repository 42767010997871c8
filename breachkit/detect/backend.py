"""breachkit's pySigma backend: Sigma conditions (after the processing pipelines) → detection IR.

Why an own backend instead of pySigma's ready ones (measured, design.md): the DuckDB backend is wrong in
five ways (case-sensitive equality, unescaped LIKE wildcards, `not` over a missing field, correlations),
the Elasticsearch backend's Lucene output keeps regex syntax Lucene lacks and is not case-insensitive,
and neither can produce both engines' queries from one decision about semantics. This backend decides
the semantics once (see `ir`) and the engine compilers only translate.

Fields are checked against the event schema: a condition on a field the schema does not have can never
match (Sigma: the field is missing), which is recorded as a warning and folded to FALSE — unless the
pipeline is strict, in which case it is an error.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import Backend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaValueError
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from breachkit.detect import ir
from breachkit.detect.regex import NotPortable, analyze, check_ascii_letters
from breachkit.logs.schema import FIELD_TYPES, FieldType

# Sigma keywords (values without a field) search the event's text as logged, decoded (`ir.TEXT`, resolved by
# `ir.expand_derived`: log.decoded where the ingest derived it, else the raw line).
KEYWORD_FIELD = ir.TEXT
_OPS: dict[CompareOperators, ir.CmpOp] = {
    CompareOperators.LT: "lt", CompareOperators.LTE: "lte", CompareOperators.GT: "gt", CompareOperators.GTE: "gte",
}


class Unsupported(SigmaFeatureNotSupportedByBackendError):
    """A rule uses something breachkit cannot evaluate identically on both engines."""


class IRBackend(Backend):
    """Converts each rule condition into an `ir.Node`; `convert_rule` returns one node per condition."""

    name: ClassVar[str] = "breachkit IR"
    formats: ClassVar[dict[str, str]] = {"default": "breachkit detection IR"}

    def __init__(self, *args: Any, strict_fields: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strict_fields = strict_fields
        self.warnings: list[str] = []  # of the rule converted last

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, callback: Any = None) -> list[Any]:
        self.warnings = []
        return super().convert_rule(rule, output_format, callback)

    # --------------------------------------------------------------------------------- field handling

    def _type(self, field: str, state: ConversionState) -> FieldType | None:
        ftype = FIELD_TYPES.get(field)
        if ftype is None:
            message = f"field {field!r} is not in the event schema"
            if self.strict_fields:
                raise SigmaValueError(message + " (strict field mapping)")
            if message not in self.warnings:
                self.warnings.append(message)
        return ftype

    def _typed(self, field: str, state: ConversionState, wanted: FieldType, what: str, note: str = "") -> bool:
        """True when `field` is of type `wanted`; False when the schema lacks it (the condition cannot match);
        Unsupported for a field of another type."""
        ftype = self._type(field, state)
        if ftype is None:
            return False
        if ftype is not wanted:
            raise Unsupported(f"{what} on the {ftype.value} field {field!r}{note}")
        return True

    # --------------------------------------------------------------------------------- boolean structure

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> ir.Node:
        return ir.or_([self.convert_condition(a, state) for a in cond.args])

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> ir.Node:
        return ir.and_([self.convert_condition(a, state) for a in cond.args])

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> ir.Node:
        return ir.not_(self.convert_condition(cond.args[0], state))

    def convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> Any:
        raise NotImplementedError  # never chosen: convert_or_as_in is False

    # --------------------------------------------------------------------------------- strings

    def _string(self, field: str, value: SigmaString, cased: bool, state: ConversionState) -> ir.Node:
        ftype = self._type(field, state)
        if ftype is None:
            return ir.FALSE
        parts = self._parts(value)
        if ftype is FieldType.LONG:
            return self._string_on_number(field, parts)
        if ftype is FieldType.IP:
            return self._string_on_ip(field, parts)
        if ftype is FieldType.DATE:
            raise Unsupported(f"string match on the date field {field!r}")
        return string_match(field, parts, cased)

    def _string_on_number(self, field: str, parts: list[str]) -> ir.Node:
        text = "".join(parts)
        if all(p not in (ir.Wild.MULTI, ir.Wild.SINGLE) for p in parts):
            try:
                return ir.Num(field, int(text))
            except ValueError:
                return ir.FALSE  # "abc" can never equal a number
        raise Unsupported(f"wildcard pattern {show(parts)!r} on the numeric field {field!r}")

    def _string_on_ip(self, field: str, parts: list[str]) -> ir.Node:
        literal = [p for p in parts if p not in (ir.Wild.MULTI, ir.Wild.SINGLE)]
        if len(literal) == len(parts):
            try:
                addr = ipaddress.ip_address("".join(parts))
            except ValueError:
                return ir.FALSE  # not an address: an ip field never holds it
            return ir.Cidr(field, str(ipaddress.ip_network(addr)))
        # "10.*" or "192.168.*": a prefix of whole IPv4 octets is a CIDR block.
        if len(parts) == 2 and parts[1] == ir.Wild.MULTI and parts[0].endswith("."):
            octets = parts[0].rstrip(".").split(".")
            if 1 <= len(octets) <= 3 and all(o.isdigit() and int(o) < 256 for o in octets):
                base = ".".join(octets + ["0"] * (4 - len(octets)))
                return ir.Cidr(field, f"{base}/{8 * len(octets)}")
        raise Unsupported(f"wildcard pattern {show(parts)!r} on the IP field {field!r} (use |cidr)")

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaString)
        return self._string(cond.field, cond.value, False, state)

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression,
                                                          state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaCasedString)
        return self._string(cond.field, cond.value, True, state)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaString)
        parts = [ir.Wild.MULTI, *self._parts(cond.value), ir.Wild.MULTI]  # a keyword matches anywhere
        return string_match(KEYWORD_FIELD, parts, cased=isinstance(cond.value, SigmaCasedString))

    def _parts(self, value: SigmaString) -> list[str]:
        out = []
        for part in value.iter_parts():
            if part is SpecialChars.WILDCARD_MULTI:
                out.append(ir.Wild.MULTI)
            elif part is SpecialChars.WILDCARD_SINGLE:
                out.append(ir.Wild.SINGLE)
            elif isinstance(part, Placeholder):
                raise Unsupported(f"placeholder %{part.name}% is not resolved by any pipeline")
            else:
                out.append(str(part))
        return out

    # --------------------------------------------------------------------------------- other values

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaNumber)
        ftype = self._type(cond.field, state)
        number = cond.value.number
        if ftype is None:
            return ir.FALSE
        if ftype is FieldType.LONG:
            return ir.Num(cond.field, number)
        if ftype is FieldType.KEYWORD:
            return ir.Str(cond.field, "eq", str(number))
        if ftype is FieldType.IP:
            return ir.FALSE
        raise Unsupported(f"number on the date field {cond.field!r}")

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaNumber)
        return string_match(KEYWORD_FIELD, [ir.Wild.MULTI, str(cond.value.number), ir.Wild.MULTI], cased=True)

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaBool)
        if self._type(cond.field, state) is not FieldType.KEYWORD:
            return ir.FALSE
        return ir.Str(cond.field, "eq", "true" if cond.value.boolean else "false")

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaRegularExpression)
        if not self._typed(cond.field, state, FieldType.KEYWORD, "regular expression"):
            return ir.FALSE
        return self._regex(cond.field, cond.value)

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaRegularExpression)
        return self._regex(KEYWORD_FIELD, cond.value)

    def _regex(self, field: str, value: SigmaRegularExpression) -> ir.Node:
        pattern = str(value.regexp)
        try:
            info = analyze(pattern)
            if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
                check_ascii_letters(pattern)
        except NotPortable as exc:
            raise Unsupported(f"regular expression {pattern!r}: {exc}") from None
        flags = value.flags
        return ir.Regex(field, pattern,
                        ignore_case=SigmaRegularExpressionFlag.IGNORECASE in flags or info.ignore_case,
                        multiline=SigmaRegularExpressionFlag.MULTILINE in flags or info.multiline,
                        dotall=SigmaRegularExpressionFlag.DOTALL in flags or info.dotall)

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaCIDRExpression)
        if not self._typed(cond.field, state, FieldType.IP, "|cidr", " (only IP fields hold addresses)"):
            return ir.FALSE
        return ir.Cidr(cond.field, str(cond.value.network))

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaCompareExpression)
        if not self._typed(cond.field, state, FieldType.LONG, "numeric comparison"):
            return ir.FALSE
        return ir.Num(cond.field, cond.value.number.number, _OPS[cond.value.op])

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> ir.Node:
        assert isinstance(cond.value, SigmaFieldReference)
        if cond.value.starts_with or cond.value.ends_with:
            raise Unsupported("|fieldref combined with |startswith or |endswith")
        if self._type(cond.field, state) is None or self._type(cond.value.field, state) is None:
            return ir.FALSE
        return ir.FieldRef(cond.field, cond.value.field)

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> ir.Node:
        if self._type(cond.field, state) is None:
            return ir.TRUE  # a field the schema lacks is always null
        return ir.not_(ir.Exists(cond.field))

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression,
                                       state: ConversionState) -> ir.Node:
        if self._type(cond.field, state) is None:
            return ir.FALSE
        return ir.Exists(cond.field)

    def convert_condition_field_not_exists(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> ir.Node:
        return ir.not_(self.convert_condition_field_exists(cond, state))

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression,
                                                      state: ConversionState) -> ir.Node:
        raise Unsupported("timestamp-part modifiers (|minute, |hour, …)")

    def convert_condition_field_eq_query_expr(self, cond: ConditionFieldEqualsValueExpression,
                                              state: ConversionState) -> ir.Node:
        raise Unsupported("query expressions from pipelines")

    def convert_condition_query_expr(self, cond: ConditionValueExpression, state: ConversionState) -> ir.Node:
        raise Unsupported("query expressions from pipelines")

    # --------------------------------------------------------------------------------- rule level

    def finalize_output_default(self, queries: list[Any]) -> list[Any]:
        return queries

    # Correlations are not converted to queries: breachkit evaluates their windows itself (`correlate`),
    # the same way on both engines. pySigma declares these abstract, so they exist to say so.
    def _no_correlation_query(self, *args: Any, **kwargs: Any) -> Any:
        raise Unsupported("correlation rules are evaluated by breachkit.detect.correlate, not converted")

    convert_correlation_event_count_rule = _no_correlation_query
    convert_correlation_value_count_rule = _no_correlation_query
    convert_correlation_temporal_rule = _no_correlation_query
    convert_correlation_temporal_ordered_rule = _no_correlation_query
    convert_correlation_extended_temporal_rule = _no_correlation_query
    convert_correlation_extended_temporal_ordered_rule = _no_correlation_query
    convert_correlation_value_sum_rule = _no_correlation_query
    convert_correlation_value_avg_rule = _no_correlation_query
    convert_correlation_value_percentile_rule = _no_correlation_query
    convert_correlation_value_median_rule = _no_correlation_query


def show(parts: list[str]) -> str:
    """A pattern as the rule wrote it."""
    return ir.render(parts, "*", "?")


def string_match(field: str, parts: list[str], cased: bool) -> ir.Node:
    """The cheapest IR string node for a pattern of literal parts and wildcards."""
    norm = [p if cased or p in (ir.Wild.MULTI, ir.Wild.SINGLE) else ir.fold(p) for p in parts]
    merged: list[str] = []
    for p in norm:  # join adjacent literals; collapse ** into *
        if merged and p not in (ir.Wild.MULTI, ir.Wild.SINGLE) and merged[-1] not in (ir.Wild.MULTI, ir.Wild.SINGLE):
            merged[-1] += p
        elif p == ir.Wild.MULTI and merged and merged[-1] == ir.Wild.MULTI:
            continue
        else:
            merged.append(p)
    wild = [i for i, p in enumerate(merged) if p in (ir.Wild.MULTI, ir.Wild.SINGLE)]
    if not wild:
        return ir.Str(field, "eq", "".join(merged), cased)
    if ir.Wild.SINGLE not in merged:
        literals = [p for p in merged if p != ir.Wild.MULTI]
        if not literals:
            return ir.Exists(field)  # "*" matches any value
        if len(literals) == 1:
            lit = literals[0]
            starts, ends = merged[0] == ir.Wild.MULTI, merged[-1] == ir.Wild.MULTI
            if starts and ends:
                return ir.Str(field, "contains", lit, cased)
            if ends:
                return ir.Str(field, "prefix", lit, cased)
            if starts:
                return ir.Str(field, "suffix", lit, cased)
    return ir.Str(field, "glob", "", cased, tuple(merged))
