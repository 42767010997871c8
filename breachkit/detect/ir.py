"""The detection IR: a small typed expression tree that carries Sigma's matching semantics.

pySigma parses a rule and applies the processing pipelines; `backend.IRBackend` (a pySigma `Backend`)
turns the parsed condition into this IR, deciding every semantic question once: case-insensitive
matching unless `|cased`, wildcard patterns, a condition on a missing field is false (so `not` of it is
true), numbers against keyword fields, CIDR on IP fields.

Case-insensitive means ASCII letters fold (A-Z = a-z) and every other character matches itself, on every
engine: Elasticsearch's `case_insensitive` option folds ASCII only, so the embedded engine and the
reference do the same (`fold`). "CAFÉ" matches "cafÉ" but not "café".

Values: an empty string is a value (`''` matches it, `'*'` matches it, `|exists` sees it); a missing
field and a JSON null are the same (`null` matches them, `not <anything on the field>` matches them).

The engine compilers (`sqlgen` for DuckDB, `esquery` for Elasticsearch) then translate the IR
mechanically, and `evaluate` here is the reference semantics in plain Python, used as the oracle in tests
and for the parts Elasticsearch cannot evaluate server-side (`FieldRef`).
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from breachkit.detect.regex import analyze

StrKind = Literal["eq", "prefix", "suffix", "contains", "glob"]
CmpOp = Literal["lt", "lte", "gt", "gte"]


class Wild:
    """Wildcard markers inside a glob pattern."""

    MULTI = "\x00*"  # any run of characters
    SINGLE = "\x00?"  # exactly one character


Pattern = tuple[str, ...]  # literal text parts and Wild markers


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class And:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    arg: Node


@dataclass(frozen=True)
class Str:
    """String match. For `eq/prefix/suffix/contains`, `value` is the literal (lower-cased unless cased);
    for `glob`, `pattern` holds literal parts and wildcards (literals lower-cased unless cased)."""

    field: str
    kind: StrKind
    value: str
    cased: bool = False
    pattern: Pattern = ()


@dataclass(frozen=True)
class Num:
    """Numeric comparison on a numeric field; op None means equality."""

    field: str
    value: int | float
    op: CmpOp | None = None


@dataclass(frozen=True)
class Regex:
    """Unanchored regular-expression search (Sigma `|re`), in the common subset of RE2 and Lucene."""

    field: str
    pattern: str
    ignore_case: bool = False
    multiline: bool = False
    dotall: bool = False


@dataclass(frozen=True)
class Cidr:
    field: str
    network: str  # canonical, e.g. "10.0.0.0/8" or "2001:db8::/32"


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class FieldRef:
    """Field equals another field of the same event (case-insensitive unless cased)."""

    field: str
    other: str
    cased: bool = False


Node = Const | And | Or | Not | Str | Num | Regex | Cidr | Exists | FieldRef
TRUE = Const(True)
FALSE = Const(False)


def and_(args: list[Node]) -> Node:
    flat: list[Node] = []
    for a in args:
        if a == TRUE:
            continue
        if a == FALSE:
            return FALSE
        flat.extend(a.args if isinstance(a, And) else (a,))
    if not flat:
        return TRUE
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def or_(args: list[Node]) -> Node:
    flat: list[Node] = []
    for a in args:
        if a == FALSE:
            continue
        if a == TRUE:
            return TRUE
        flat.extend(a.args if isinstance(a, Or) else (a,))
    if not flat:
        return FALSE
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def not_(arg: Node) -> Node:
    if isinstance(arg, Const):
        return Const(not arg.value)
    if isinstance(arg, Not):
        return arg.arg
    return Not(arg)


def fields(node: Node) -> Iterator[str]:
    """Every field the expression reads."""
    match node:
        case And(args) | Or(args):
            for a in args:
                yield from fields(a)
        case Not(arg):
            yield from fields(arg)
        case FieldRef(field=f, other=o):
            yield f
            yield o
        case Str(field=f) | Num(field=f) | Regex(field=f) | Cidr(field=f) | Exists(field=f):
            yield f
        case _:
            pass


def has_fieldref(node: Node) -> bool:
    match node:
        case FieldRef():
            return True
        case And(args) | Or(args):
            return any(has_fieldref(a) for a in args)
        case Not(arg):
            return has_fieldref(arg)
        case _:
            return False


def relax_fieldrefs(node: Node, positive: bool = True) -> Node:
    """A superset filter without FieldRef (TRUE where it counts for the match, FALSE under negation),
    for engines that evaluate field-to-field comparisons after fetching the candidates."""
    match node:
        case FieldRef():
            return Const(positive)
        case And(args):
            return and_([relax_fieldrefs(a, positive) for a in args])
        case Or(args):
            return or_([relax_fieldrefs(a, positive) for a in args])
        case Not(arg):
            return not_(relax_fieldrefs(arg, not positive))
        case _:
            return node


# ------------------------------------------------------------------------------------------- evaluation


def render(pattern: Sequence[str], multi: str, single: str, escape: Callable[[str], str] = str) -> str:
    """A glob pattern in some engine's syntax: its wildcards, and its literals escaped."""
    return "".join(multi if p == Wild.MULTI else single if p == Wild.SINGLE else escape(p) for p in pattern)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """Case folding for case-insensitive matching: ASCII letters only (see the module docs)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


@lru_cache(maxsize=4096)
def glob_regex(pattern: Pattern, cased: bool) -> re.Pattern[str]:
    # re.ASCII: IGNORECASE folds ASCII letters only, as everywhere else
    flags = re.DOTALL | re.ASCII if cased else re.DOTALL | re.IGNORECASE | re.ASCII
    return re.compile(render(pattern, ".*", ".", re.escape), flags)


@lru_cache(maxsize=4096)
def _regex(node: Regex) -> re.Pattern[str]:
    # re.ASCII: \w, \d, \s and case folding are ASCII-only, as in RE2 and Lucene
    flags = re.ASCII | (re.IGNORECASE if node.ignore_case else 0) | (re.MULTILINE if node.multiline else 0)
    flags |= re.DOTALL if node.dotall else 0
    pattern = node.pattern
    if not node.multiline and analyze(pattern).anchored_end:
        pattern = pattern[:-1] + r"\Z"  # RE2's and Lucene's `$`: the very end, not before a final newline
    return re.compile(pattern, flags)


@lru_cache(maxsize=4096)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


Event = Mapping[str, Any]
Matcher = Callable[[Event], bool]


def evaluate(node: Node, event: Event) -> bool:
    """The reference semantics: does `event` (ECS name → value, missing = absent or None) match? To test many
    events against one node, take `matcher(node)` once."""
    return matcher(node)(event)


@lru_cache(maxsize=1024)
def matcher(node: Node) -> Matcher:
    """`node` as a function of an event: the tree is walked once here, not once per event (the reference
    evaluator tests every stored event against every rule)."""
    match node:
        case Const(constant):
            return lambda _event: constant
        case And(args):
            parts = tuple(matcher(a) for a in args)

            def all_of(event: Event) -> bool:
                for part in parts:  # noqa: SIM110 - a loop: no generator object per event
                    if not part(event):
                        return False
                return True
            return all_of
        case Or(args):
            parts = tuple(matcher(a) for a in args)

            def any_of(event: Event) -> bool:
                for part in parts:  # noqa: SIM110 - a loop: no generator object per event
                    if part(event):
                        return True
                return False
            return any_of
        case Not(arg):
            inner = matcher(arg)
            return lambda event: not inner(event)
        case Exists(field):
            return lambda event: event.get(field) is not None
        case Str() | Num() | Regex() | Cidr() | FieldRef():
            field, test = node.field, _leaf(node)

            def leaf(event: Event) -> bool:
                value = event.get(field)
                return value is not None and test(value, event)
            return leaf
    raise TypeError(f"unknown IR node {node!r}")  # pragma: no cover


_STR_TESTS: dict[str, Callable[[str, str], bool]] = {
    "eq": str.__eq__, "prefix": str.startswith, "suffix": str.endswith, "contains": str.__contains__}
_NUM_TESTS: dict[CmpOp | None, Callable[[Any, Any], bool]] = {
    None: operator.eq, "lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}


def _leaf(node: Str | Num | Regex | Cidr | FieldRef) -> Callable[[Any, Event], bool]:
    """The test of a present value (not None) of the node's field."""
    match node:
        case Str(kind="glob", cased=cased, pattern=pattern):
            glob = glob_regex(pattern, cased)  # folds through its flags
            return lambda value, _event: glob.fullmatch(_text(value)) is not None
        case Str(kind=kind, value=lit, cased=True):
            compare = _STR_TESTS[kind]
            return lambda value, _event: compare(_text(value), lit)
        case Str(kind=kind, value=lit):
            compare = _STR_TESTS[kind]
            return lambda value, _event: compare(fold(_text(value)), lit)
        case Num(value=number, op=op):
            compare = _NUM_TESTS[op]
            return lambda value, _event: (not isinstance(value, bool) and isinstance(value, int | float)
                                          and compare(value, number))
        case Regex():
            regex = _regex(node)
            return lambda value, _event: regex.search(_text(value)) is not None
        case Cidr(network=text):
            network = _network(text)

            def in_network(value: Any, _event: Event) -> bool:
                try:
                    return ipaddress.ip_address(_text(value)) in network
                except ValueError:
                    return False
            return in_network
        case FieldRef(other=other, cased=cased):
            def same(value: Any, event: Event) -> bool:
                second = event.get(other)
                if second is None:
                    return False
                a, b = _text(value), _text(second)
                return a == b if cased else fold(a) == fold(b)
            return same
    raise TypeError(f"unknown IR node {node!r}")  # pragma: no cover


# ------------------------------------------------------------------------------------------- derived fields

# Sigma keywords (values without a field) search the event's text: this pseudo-field, which
# `expand_derived` resolves to log.decoded where an event has it and log.original elsewhere.
TEXT = "@text"
TEXT_DECODED = "log.decoded"
TEXT_RAW = "log.original"
# URL conditions match the logged or the once-decoded form (breachkit.logs.derive).
URL_DECODED = {"url.original": "url.original_decoded", "url.path": "url.path_decoded",
               "url.query": "url.query_decoded"}


def rename(node: Node, old: str, new: str) -> Node:
    """The same expression reading field `new` wherever it read `old`."""
    match node:
        case And(args):
            return And(tuple(rename(a, old, new) for a in args))
        case Or(args):
            return Or(tuple(rename(a, old, new) for a in args))
        case Not(arg):
            return Not(rename(arg, old, new))
        case FieldRef(field=f, other=o):
            return replace(node, field=new if f == old else f, other=new if o == old else o)
        case Str(field=f) | Num(field=f) | Regex(field=f) | Cidr(field=f) | Exists(field=f) if f == old:
            return replace(node, field=new)
        case _:
            return node


def expand_derived(node: Node) -> Node:
    """Resolve the keyword pseudo-field and test URL conditions on both URL forms (see module docs).

    Keywords: every largest sub-expression that reads only `TEXT` becomes "if log.decoded exists, the
    expression on it, else on log.original" — exactly one of the two texts is an event's text, so `not`
    over keywords keeps its meaning. URLs: each string or regex test of a URL field becomes "on the logged
    form, or on the decoded one" (the decoded field exists only where it differs, so no event matches
    twice and an unencoded URL is tested once)."""
    used = set(fields(node))
    if used and used <= {TEXT}:
        has_text = Exists(TEXT_DECODED)
        return or_([and_([has_text, rename(node, TEXT, TEXT_DECODED)]),
                    and_([not_(has_text), rename(node, TEXT, TEXT_RAW)])])
    match node:
        case And(args):
            return and_([expand_derived(a) for a in args])
        case Or(args):
            # the decoded tests of an OR are grouped behind one "decoded form present" guard per field: the
            # guard is implied (a test on a missing field is false) but lets an engine skip them on the many
            # events whose URL has nothing to decode
            kept: list[Node] = []
            on_decoded: dict[str, list[Node]] = {}
            for a in args:
                if isinstance(a, Str | Regex) and a.field in URL_DECODED:
                    kept.append(a)
                    on_decoded.setdefault(URL_DECODED[a.field], []).append(replace(a, field=URL_DECODED[a.field]))
                else:
                    kept.append(expand_derived(a))
            kept += [and_([Exists(field), or_(tests)]) for field, tests in on_decoded.items()]
            return or_(kept)
        case Not(arg):
            return not_(expand_derived(arg))
        case Str(field=f) | Regex(field=f) if f in URL_DECODED:
            return or_([node, and_([Exists(URL_DECODED[f]), replace(node, field=URL_DECODED[f])])])
        case _:
            return node
