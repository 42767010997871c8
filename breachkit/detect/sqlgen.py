"""Detection IR → a DuckDB SQL predicate over the `events` table of the embedded store.

Semantics come from the IR; this is a translation. `NOT x` is written `(x) IS NOT TRUE`: a predicate on
a missing (NULL) field is unknown in SQL, and Sigma wants `not` of it to match. String matching without
`|cased` compares lower-cased values; LIKE patterns escape `%`, `_` and the escape character itself.
CIDR uses the 16-byte address column the store keeps beside each IP field (`<field>#bin`).
"""

from __future__ import annotations

import ipaddress

from breachkit.detect import ir
from breachkit.logs.local import ip_bin_column, q


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _blob(data: bytes) -> str:
    return "'" + "".join(f"\\x{b:02X}" for b in data) + "'::BLOB"


def ip_range(network: str) -> tuple[bytes, bytes]:
    """First and last address of `network` as 16-byte big-endian values (IPv4 mapped into ::ffff:0:0/96)."""
    net = ipaddress.ip_network(network)
    if isinstance(net, ipaddress.IPv4Network):
        prefix = b"\x00" * 10 + b"\xff\xff"
        return prefix + net.network_address.packed, prefix + net.broadcast_address.packed
    return net.network_address.packed, net.broadcast_address.packed


def _like(pattern: ir.Pattern) -> str:
    out = []
    for part in pattern:
        if part == ir.Wild.MULTI:
            out.append("%")
        elif part == ir.Wild.SINGLE:
            out.append("_")
        else:
            out.append(part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    return literal("".join(out))


def to_sql(node: ir.Node) -> str:
    match node:
        case ir.Const(value):
            return "TRUE" if value else "FALSE"
        case ir.And(args):
            return "(" + " AND ".join(to_sql(a) for a in args) + ")"
        case ir.Or(args):
            return "(" + " OR ".join(to_sql(a) for a in args) + ")"
        case ir.Not(arg):
            return f"({to_sql(arg)}) IS NOT TRUE"
        case ir.Exists(field):
            return f"{q(field)} IS NOT NULL"
        case ir.Str(field=field, kind=kind, value=value, cased=cased, pattern=pattern):
            col = q(field) if cased else f"lower({q(field)})"
            if kind == "eq":
                return f"{col} = {literal(value)}"
            if kind == "prefix":
                return f"starts_with({col}, {literal(value)})"
            if kind == "suffix":
                return f"ends_with({col}, {literal(value)})"
            if kind == "contains":
                return f"contains({col}, {literal(value)})"
            return f"{col} LIKE {_like(pattern)} ESCAPE '\\'"
        case ir.Num(field=field, value=value, op=op):
            sign = {None: "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
            return f"{q(field)} {sign} {value!r}"
        case ir.Regex(field=field, pattern=pattern, ignore_case=i, multiline=m, dotall=s):
            flags = "".join(f for f, on in (("i", i), ("m", m), ("s", s)) if on)
            prefix = f"(?{flags})" if flags else ""
            return f"regexp_matches({q(field)}, {literal(prefix + pattern)})"
        case ir.Cidr(field=field, network=network):
            low, high = ip_range(network)
            return f"{q(ip_bin_column(field))} BETWEEN {_blob(low)} AND {_blob(high)}"
        case ir.FieldRef(field=field, other=other, cased=cased):
            a, b = f"CAST({q(field)} AS VARCHAR)", f"CAST({q(other)} AS VARCHAR)"
            return f"{a} = {b}" if cased else f"lower({a}) = lower({b})"
    raise TypeError(f"unknown IR node {node!r}")  # pragma: no cover
