"""Compare what a sink holds with what a test expects: missing, unexpected and changed rows.

An expected row names only the columns it checks. Rows are matched as a multiset (a maximum
bipartite matching, so overlapping expectations such as `{host: a}` and `{host: a, cpu: 1}`
cannot steal each other's rows); then each missing row is paired with the unmatched sink row
that agrees with it on most columns, and shown as changed when they share at least half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flinksql_gen.errors import Location
from flinksql_gen.testing.models import Expectation
from flinksql_gen.testing.times import flink_ts_ms, looks_like_time, parse_time

Row = dict[str, Any]


@dataclass
class Changed:
    expected: Row
    actual: Row
    fields: dict[str, tuple[Any, Any]]  # column -> (expected, actual)
    location: Location


@dataclass
class Mismatch:
    """One failing expectation of one sink."""

    sink: str
    location: Location
    message: str
    missing: list[tuple[Row, Location]] = field(default_factory=list)
    unexpected: list[Row] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"sink": self.sink, "file": self.location.file, "line": self.location.line, "col": self.location.col,
                "message": self.message,
                "missing": [{"row": r, "line": loc.line} for r, loc in self.missing],
                "unexpected": self.unexpected,
                "changed": [{"expected": c.expected, "actual": c.actual, "line": c.location.line,
                             "fields": {k: {"expected": e, "actual": a} for k, (e, a) in c.fields.items()}}
                            for c in self.changed]}  # fmt: skip


def value_matches(expected: Any, actual: Any, base_ms: int, tolerance: float) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or (isinstance(expected, bool) and isinstance(actual, bool) and expected == actual)
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if isinstance(expected, int) and isinstance(actual, int):
            return expected == actual
        if not (math.isfinite(expected) and math.isfinite(actual)):
            return expected == actual
        return abs(expected - actual) <= tolerance * max(1.0, abs(expected), abs(actual))
    if looks_like_time(expected) and isinstance(actual, str):
        got = flink_ts_ms(actual)
        if got is not None:
            try:
                return parse_time(expected, base_ms) == got
            except ValueError:
                return False
    return expected == actual


def row_matches(expected: Row, actual: Row, base_ms: int, tolerance: float) -> bool:
    return all(col in actual and value_matches(v, actual[col], base_ms, tolerance) for col, v in expected.items())


def _matching(expected: list[Row], actual: list[Row], base_ms: int, tolerance: float) -> dict[int, int]:
    """expected index -> actual index, a maximum matching (Kuhn's augmenting paths)."""
    edges = [[j for j, a in enumerate(actual) if row_matches(e, a, base_ms, tolerance)] for e in expected]
    owner: dict[int, int] = {}  # actual -> expected

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    # The most specific expectations first: fewer augmenting searches on typical inputs.
    for i in sorted(range(len(expected)), key=lambda k: -len(expected[k])):
        augment(i, set())
    return {i: j for j, i in owner.items()}


def _changed_fields(expected: Row, actual: Row, base_ms: int, tolerance: float) -> dict[str, tuple[Any, Any]]:
    return {c: (v, actual.get(c, "<absent>")) for c, v in expected.items()
            if not (c in actual and value_matches(v, actual[c], base_ms, tolerance))}


def compare(sink: str, exp: Expectation, actual: list[Row], base_ms: int, location: Location,
            row_locations: list[Location]) -> Mismatch | None:
    """None when the sink's rows meet the expectation, else what differs."""
    tol = exp.tolerance
    rows = [a for a in actual if row_matches(exp.where, a, base_ms, tol)] if exp.where else list(actual)
    problems: list[str] = []
    out = Mismatch(sink, location, "")
    if exp.count is not None and len(rows) != exp.count:
        problems.append(f"{exp.count} row(s) expected, {len(rows)} received")
    wanted = exp.rows if exp.rows is not None else exp.contains
    if wanted is not None:
        if exp.ordered:
            for i in range(max(len(wanted), len(rows))):
                if i >= len(rows):
                    out.missing.append((wanted[i], row_locations[i]))
                elif i >= len(wanted):
                    out.unexpected.append(rows[i])
                elif not row_matches(wanted[i], rows[i], base_ms, tol):
                    out.changed.append(Changed(wanted[i], rows[i], _changed_fields(wanted[i], rows[i], base_ms, tol),
                                               row_locations[i]))  # fmt: skip
        else:
            matched = _matching(wanted, rows, base_ms, tol)
            used = set(matched.values())
            spare = [j for j in range(len(rows)) if j not in used]
            for i, e in enumerate(wanted):
                if i in matched:
                    continue
                best, best_score = None, 0
                for j in spare:
                    score = sum(1 for c, v in e.items() if c in rows[j] and value_matches(v, rows[j][c], base_ms, tol))
                    if score > best_score:
                        best, best_score = j, score
                if best is not None and best_score * 2 >= len(e) and exp.rows is not None:
                    spare.remove(best)
                    out.changed.append(Changed(e, rows[best], _changed_fields(e, rows[best], base_ms, tol), row_locations[i]))
                else:
                    out.missing.append((e, row_locations[i]))
            if exp.rows is not None:
                out.unexpected = [rows[j] for j in spare]
        if out.missing or out.unexpected or out.changed:
            kind = "exactly" if exp.rows is not None else "at least"
            parts = [f"{len(out.missing)} missing"] + ([f"{len(out.unexpected)} unexpected"] if exp.rows is not None else [])
            parts.append(f"{len(out.changed)} changed")
            order = " in this order" if exp.ordered else ""
            problems.append(f"{kind} {len(wanted)} row(s) expected{order}, {len(rows)} received: {', '.join(parts)}")
    if not problems:
        return None
    where = f" (of the rows where {', '.join(f'{k} = {v!r}' for k, v in exp.where.items())})" if exp.where else ""
    out.message = "; ".join(problems) + where
    return out
