"""Walking expression trees (plan/expr_parse.py): children, aggregates, referenced columns."""

from __future__ import annotations

from flinksql_gen.plan.expr_parse import Between, Binary, Call, Case, Column, InList, IsNull, Node, Unary

# The aggregate functions (plan/expr_render.py renders them); here to tell them apart in a tree.
AGGREGATE_NAMES = frozenset({
    "count", "count_distinct", "count_if", "sum", "sum_if", "avg", "min", "max", "stddev", "variance",
    "stddev_pop", "stddev_samp", "var_pop", "var_samp", "percentile", "p50", "p75", "p90", "p95", "p99",
    "listagg", "first_value", "last_value",
})  # fmt: skip


def is_aggregate(node: Node) -> bool:
    """Whether the expression contains an aggregate call anywhere."""
    if isinstance(node, Call) and node.name in AGGREGATE_NAMES:
        return True
    return any(is_aggregate(child) for child in children(node))


def columns_outside_aggregates(node: Node) -> list[str]:
    """The column names an expression refers to outside any aggregate's argument, in order."""
    if isinstance(node, Column):
        return [node.name]
    if isinstance(node, Call) and node.name in AGGREGATE_NAMES:
        return []
    out: list[str] = []
    for child in children(node):
        out.extend(c for c in columns_outside_aggregates(child) if c not in out)
    return out


def children(node: Node) -> list[Node]:
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, IsNull):
        return [node.operand]
    if isinstance(node, InList):
        return [node.operand, *node.items]
    if isinstance(node, Between):
        return [node.operand, node.low, node.high]
    if isinstance(node, Case):
        return [n for pair in node.whens for n in pair] + ([node.otherwise] if node.otherwise else [])
    if isinstance(node, Call):
        return [*node.args, *([node.filter] if node.filter else [])]
    return []
