"""Sigma `|re` patterns: which ones both engines can run identically, and their Lucene form.

DuckDB runs RE2 (unanchored search); Elasticsearch runs Lucene's RegExp, which is anchored to the whole
value and lacks lookaround, backreferences, inline flags, `^`/`$` and `\\b`. Instead of a hand-written
regex parser, the pattern is parsed with CPython's own `re` parser (`re._parser`, the one `re.compile`
uses) and the Lucene form is generated from that tree. Patterns outside the common subset are refused
with the reason, so a rule never silently behaves differently on the two engines.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# CPython's regex parser and its opcode constants (private modules without type stubs).
P: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

_LUCENE_SPECIAL = set('.?+*|{}[]()"\\#@&<>~^$')
_CATEGORIES = {
    C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
    C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W",
}
_CLASS_CATEGORIES = {C.CATEGORY_DIGIT: "0-9", C.CATEGORY_WORD: "0-9A-Za-z_", C.CATEGORY_SPACE: " \t\n\r\f\v"}


RE2_MAX_REPEAT = 1000  # RE2 (DuckDB) refuses {n} with n above this


class NotPortable(ValueError):
    pass


@dataclass(frozen=True)
class RegexInfo:
    ignore_case: bool
    multiline: bool
    dotall: bool
    anchored_start: bool
    anchored_end: bool


@lru_cache(maxsize=2048)
def analyze(pattern: str) -> RegexInfo:
    """Parse and check `pattern`; raise NotPortable with the reason when it is outside the common subset."""
    try:
        parsed = P.parse(pattern)
    except re.error as exc:
        raise NotPortable(f"invalid: {exc}") from None
    flags = parsed.state.flags
    items = list(parsed)
    start = bool(items) and items[0] == (C.AT, C.AT_BEGINNING)
    end = bool(items) and items[-1] == (C.AT, C.AT_END)
    if flags & re.MULTILINE and (start or end):
        raise NotPortable("^ or $ with the multiline flag")
    if flags & re.IGNORECASE:
        check_ascii_letters(pattern)
    _check(items[int(start): len(items) - int(end)])
    return RegexInfo(bool(flags & re.IGNORECASE), bool(flags & re.MULTILINE), bool(flags & re.DOTALL), start, end)


def check_ascii_letters(pattern: str) -> None:
    """Case-insensitive matching folds ASCII letters only on Elasticsearch; RE2 folds every script."""
    letters = sorted({c for c in pattern if not c.isascii() and c.isalpha()})
    if letters:
        raise NotPortable(f"non-ASCII letters ({''.join(letters)}) with the ignore-case flag: engines fold case "
                          "differently outside ASCII (use |cased alternatives, e.g. [éÉ])")


def _check(items: list[tuple[Any, Any]]) -> None:
    for op, av in items:
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY):
            continue
        if op is C.IN:
            for cop, _cav in av:
                if cop not in (C.LITERAL, C.RANGE, C.NEGATE, C.CATEGORY):
                    raise NotPortable(f"character class item {cop}")
                if cop is C.CATEGORY and _cav not in _CLASS_CATEGORIES:
                    raise NotPortable("negated category (\\D, \\S, \\W) inside [...]")
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high = av[0], av[1]
            if low > RE2_MAX_REPEAT or (high != C.MAXREPEAT and high > RE2_MAX_REPEAT):
                raise NotPortable(f"a repetition count over {RE2_MAX_REPEAT} (RE2's limit)")
            _check(list(av[2]))
        elif op is C.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise NotPortable("scoped inline flags (?i:...)")
            _check(list(sub))
        elif op is C.BRANCH:
            for branch in av[1]:
                _check(list(branch))
        elif op is C.AT:
            raise NotPortable("anchors or word boundaries inside the pattern (^, $, \\b, \\A, \\Z)")
        elif op in (C.ASSERT, C.ASSERT_NOT):
            raise NotPortable("lookaround (?=...), (?!...), (?<=...), (?<!...)")
        elif op in (C.GROUPREF, C.GROUPREF_EXISTS):
            raise NotPortable("backreferences")
        else:
            raise NotPortable(f"unsupported construct {op}")


def _lit(code: int) -> str:
    ch = chr(code)
    return "\\" + ch if ch in _LUCENE_SPECIAL else ch


def _class_lit(code: int) -> str:
    ch = chr(code)
    return "\\" + ch if ch in "]\\^-[" else ch


def _cases(code: int) -> list[int]:
    """The ASCII case variants of a character (itself only for anything but an ASCII letter)."""
    ch = chr(code)
    if ch.isascii() and ch.isalpha():
        return sorted({ord(ch.lower()), ord(ch.upper())})
    return [code]


def _emit(items: list[tuple[Any, Any]], dotall: bool = False, fold: bool = False) -> str:
    """Lucene syntax for the parsed pattern. With `fold`, every ASCII letter stands for both its cases
    (`k` → `[kK]`, `[a-f]` → `[a-fA-F]`): Lucene's own case-insensitive option leaves character classes
    alone and folds some non-ASCII letters (the Kelvin sign with k), so ASCII folding is spelt out."""
    out: list[str] = []
    for op, av in items:
        if op is C.LITERAL:
            variants = _cases(av) if fold else [av]
            out.append(_lit(av) if len(variants) == 1 else "[" + "".join(_class_lit(v) for v in variants) + "]")
        elif op is C.NOT_LITERAL:
            variants = _cases(av) if fold else [av]
            out.append("[^" + "".join(_class_lit(v) for v in variants) + "]")
        elif op is C.ANY:  # Lucene's `.` matches a newline too; RE2's only with the s flag
            out.append("." if dotall else "[^\n]")
        elif op is C.IN:
            out.append(_emit_class(av, fold))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high, sub = av
            body = _emit(list(sub), dotall, fold)
            if len(sub) != 1 or sub[0][0] in (C.SUBPATTERN, C.BRANCH):
                body = f"({body})" if not body.startswith("(") else body
            elif len(body) > 1 and not body.startswith(("[", "\\")):
                body = f"({body})"
            if (low, high) == (0, C.MAXREPEAT):
                out.append(body + "*")
            elif (low, high) == (1, C.MAXREPEAT):
                out.append(body + "+")
            elif (low, high) == (0, 1):
                out.append(body + "?")
            elif high == C.MAXREPEAT:
                out.append(f"{body}{{{low},}}")
            elif low == high:
                out.append(f"{body}{{{low}}}")
            else:
                out.append(f"{body}{{{low},{high}}}")
        elif op is C.SUBPATTERN:
            out.append("(" + _emit(list(av[3]), dotall, fold) + ")")
        elif op is C.BRANCH:
            out.append("(" + "|".join(_emit(list(b), dotall, fold) for b in av[1]) + ")")
        else:  # pragma: no cover - _check refused everything else
            raise NotPortable(f"unsupported construct {op}")
    return "".join(out)


def _swapped_ranges(low: int, high: int) -> list[tuple[int, int]]:
    """The other-case counterparts of the ASCII letters in low..high, as ranges."""
    out = []
    for first, last, shift in ((ord("a"), ord("z"), -32), (ord("A"), ord("Z"), 32)):
        a, b = max(low, first), min(high, last)
        if a <= b:
            out.append((a + shift, b + shift))
    return out


def _emit_class(items: list[tuple[Any, Any]], fold: bool = False) -> str:
    negate = False
    parts: list[str] = []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            parts.extend(_class_lit(v) for v in (_cases(av) if fold else [av]))
        elif op is C.RANGE:
            parts.append(_class_lit(av[0]) + "-" + _class_lit(av[1]))
            if fold:
                parts.extend(_class_lit(a) + "-" + _class_lit(b) for a, b in _swapped_ranges(av[0], av[1]))
        elif op is C.CATEGORY:
            if av in _CATEGORIES and len(items) == 1:
                return _CATEGORIES[av]
            parts.append(_CLASS_CATEGORIES[av])
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


@lru_cache(maxsize=2048)
def to_lucene(pattern: str, dotall: bool = False, ignore_case: bool = False) -> str:
    """Lucene RegExp matching a whole value iff `pattern` (a search) matches somewhere in it; with
    `ignore_case` (or an inline `(?i)`), ASCII letters match either case."""
    info = analyze(pattern)
    items = list(P.parse(pattern))
    body = _emit(items[int(info.anchored_start): len(items) - int(info.anchored_end)], dotall or info.dotall,
                 ignore_case or info.ignore_case)
    return ("" if info.anchored_start else ".*") + f"({body})" + ("" if info.anchored_end else ".*")
