"""Rule SQL from DuckDB's dialect to Spark SQL with the same results, not only the same syntax.

sqlglot transpiles the syntax; where the two engines give different *values* for the same text,
this module rewrites the tree first, so a rule gives the same hit rows (and so the same alert ids)
on both engines. Each rewrite is a difference measured on the shipped rules (tests/spark compare
every rule's hits on both engines):

``array_agg(x [ORDER BY k ...])``
    DuckDB keeps NULL elements and honours the ORDER BY; Spark's ``collect_list`` drops NULLs and
    has no order. Rewritten to collect structs (a struct is never NULL, its fields may be) and sort
    them by the keys, NULLS LAST as DuckDB does, then take the value field back out. A ``FILTER``
    clause moves inside, and a group with no row left gives NULL, as in DuckDB.
``list_slice(l, b, e)`` and ``l[b:e]``
    1-based and inclusive in DuckDB; Spark's ``slice`` takes a start and a length.
``epoch(t)``
    DuckDB gives seconds as a DOUBLE (milliseconds kept); sqlglot's ``unix_timestamp`` truncates.
``strftime(t, fmt)``
    sqlglot maps the directives but leaves literal letters (the ``T`` and ``Z`` of ISO text) bare,
    which Spark's pattern language reads as fields; literals are quoted here.
``CAST(x AS INTEGER)`` (and the other integer types)
    DuckDB rounds a DOUBLE half to even; Spark truncates. ``bround`` first (a no-op on integers).
"""

from __future__ import annotations

from functools import cache

import sqlglot
import sqlglot.errors
from sqlglot import exp

_INTS = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}


def _struct(fields: list[tuple[str, exp.Expr]]) -> exp.Expr:
    return exp.func("named_struct", *[e for name, v in fields for e in (exp.Literal.string(name), v)])


def _lambda(body: exp.Expr, *names: str) -> exp.Expr:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(n) for n in names])


def _field(var: str, name: str) -> exp.Expr:
    return exp.Dot(this=exp.column(var), expression=exp.to_identifier(name))


def _compare(keys: list[exp.Ordered]) -> exp.Expr:
    """A comparator lambda ``(l, r) -> -1|0|1`` over the collected structs' key fields, for orders
    a plain struct sort cannot express (DESC keys, NULLS FIRST)."""
    ifs: list[tuple[exp.Expr, int]] = []
    for i, k in enumerate(keys):
        lk, rk = _field("_l", f"k{i}"), _field("_r", f"k{i}")
        desc = bool(k.args.get("desc"))
        nulls_first = bool(k.args.get("nulls_first"))
        lnull, rnull = exp.Is(this=lk, expression=exp.Null()), exp.Is(this=rk, expression=exp.Null())
        ifs.append((exp.and_(lnull, exp.not_(rnull)), -1 if nulls_first else 1))
        ifs.append((exp.and_(exp.not_(lnull), rnull), 1 if nulls_first else -1))
        ifs.append((exp.LT(this=lk.copy(), expression=rk.copy()), 1 if desc else -1))
        ifs.append((exp.GT(this=lk.copy(), expression=rk.copy()), -1 if desc else 1))
    case = exp.Case(
        ifs=[exp.If(this=c, true=exp.Literal.number(v)) for c, v in ifs], default=exp.Literal.number(0)
    )
    return _lambda(case, "_l", "_r")


def _array_agg(node: exp.ArrayAgg, where: exp.Expr | None) -> exp.Expr:
    inner = node.this
    distinct = isinstance(inner, exp.Distinct)
    keys: list[exp.Ordered] = []
    if isinstance(inner, exp.Order):
        keys = list(inner.expressions)
        inner = inner.this
    if isinstance(inner, exp.Distinct):
        distinct = True
        inner = inner.expressions[0]
    fields = [(f"k{i}", k.this.copy()) for i, k in enumerate(keys)]
    packed = _struct([*fields, ("v", inner.copy())])
    if where is not None:  # FILTER (WHERE c): rows failing c collect NULL, which collect_list skips
        packed = exp.If(this=where.copy(), true=packed, false=exp.Null())
    collected: exp.Expr = exp.func("collect_list", packed)
    if keys:
        plain = all(not k.args.get("desc") and not k.args.get("nulls_first") for k in keys)
        if plain:  # NULLS LAST without a comparator: a leading "is null" flag per key sorts first
            flagged = [
                (f"n{i}", exp.Is(this=k.this.copy(), expression=exp.Null())) for i, k in enumerate(keys)
            ]
            parts = [p for pair in zip(flagged, fields, strict=True) for p in pair]
            packed = _struct([*parts, ("v", inner.copy())])
            if where is not None:
                packed = exp.If(this=where.copy(), true=packed, false=exp.Null())
            collected = exp.func("sort_array", exp.func("collect_list", packed), exp.true())
        else:
            collected = exp.func("array_sort", collected, _compare(keys))
    values = exp.func("transform", collected, _lambda(_field("_s", "v"), "_s"))
    if distinct:
        values = exp.func("array_distinct", values)
    # DuckDB's array_agg over no rows (a FILTER that keeps none) is NULL, Spark's collect_list []
    return exp.func("nullif", values, exp.func("array"))


_DIRECTIVES = {
    "Y": "yyyy", "y": "yy", "m": "MM", "d": "dd", "H": "HH", "I": "hh", "M": "mm", "S": "ss",
    "f": "SSSSSS", "j": "DDD", "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE", "p": "a", "z": "xx",
}  # fmt: skip


def java_format(fmt: str) -> str:
    """A strftime format as a Spark (java.time) pattern, literal text quoted."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            out.append("'" + "".join(literal).replace("'", "''") + "'")
            literal.clear()

    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            d = fmt[i + 1]
            if d == "%":
                literal.append("%")
            elif d in _DIRECTIVES:
                flush()
                out.append(_DIRECTIVES[d])
            else:
                raise sqlglot.errors.UnsupportedError(f"strftime directive %{d} has no Spark pattern")
            i += 2
            continue
        literal.append(fmt[i])
        i += 1
    flush()
    return "".join(out)


def _slice(this: exp.Expr, begin: exp.Expr, end: exp.Expr) -> exp.Expr:
    length = exp.paren(exp.Sub(this=end.copy(), expression=begin.copy()), copy=False) + 1
    return exp.func("slice", this.copy(), begin.copy(), exp.func("greatest", length, exp.Literal.number(0)))


def _rewrite(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        where = node.expression.this if isinstance(node.expression, exp.Where) else node.expression
        return _array_agg(node.this, where)
    if isinstance(node, exp.ArrayAgg) and not isinstance(node.parent, exp.Filter):
        return _array_agg(node, None)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() in ("list_slice", "array_slice"):
        args = node.expressions
        if len(args) == 3:
            return _slice(args[0], args[1], args[2])
    if (
        isinstance(node, exp.Bracket)
        and len(node.expressions) == 1
        and isinstance(node.expressions[0], exp.Slice)
    ):
        s = node.expressions[0]
        begin = s.this if s.this is not None else exp.Literal.number(1)
        end = s.expression if s.expression is not None else exp.func("size", node.this.copy())
        return _slice(node.this, begin, end)
    if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
        return exp.func(
            "date_format", node.this.copy(), exp.Literal.string(java_format(node.args["format"].this))
        )
    if isinstance(node, exp.TimeToUnix):
        return exp.Div(
            this=exp.func("unix_micros", node.this.copy()), expression=exp.Literal.number("1000000.0")
        )
    if isinstance(node, exp.Cast) and node.to.this in _INTS and not isinstance(node, exp.TryCast):
        return exp.Cast(this=exp.func("bround", node.this.copy()), to=node.to.copy())
    return node


@cache
def to_spark(query: str) -> str:
    """``query`` (DuckDB SQL) as Spark SQL with DuckDB's results; raises sqlglot errors on SQL that
    has no Spark equivalent (``rules check`` reports them per rule)."""
    root = exp.Subquery(this=sqlglot.parse_one(query, read="duckdb"))  # a parent, so the top can be replaced
    for node in reversed(list(root.this.walk())):  # children first: a rewrite copies rewritten children
        new = _rewrite(node)
        if new is not node:
            node.replace(new)
    return str(root.this.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE))
