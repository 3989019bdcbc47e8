"""The pure-SQL form of a detector: what it computes per row, as Flink SQL expressions.

A detector type that can be expressed in SQL (`Detector.sql_form_available`) returns a `SqlBand`
from `Detector.sql_band`: the baseline and band of one row of its metric, and when the row can be
judged. The planner (flinksql_gen.plan.statistical) wraps the band into views the same way for
every type: optional helper columns in an input view, then the result columns below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flinksql_gen.sql.quoting import number_literal

# The columns every detector adds to its metric's rows, in this order, in both forms (the SQL
# views and the `fsg_detect` UDF's judgement rows), with their Flink SQL types.
RESULT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("expected", "DOUBLE"),
    ("lower", "DOUBLE"),
    ("upper", "DOUBLE"),
    ("score", "DOUBLE"),
    ("is_anomaly", "BOOLEAN"),
)
RESULT_NAMES: tuple[str, ...] = tuple(name for name, _ in RESULT_COLUMNS)

NULL_DOUBLE = "CAST(NULL AS DOUBLE)"


@dataclass(frozen=True)
class SqlRow:
    """What the planner tells a detector about the rows it judges (all identifiers quoted).

    value: the judged value as a DOUBLE expression; value_column: its column;
    keys: the dimension columns (one series per key); order: the column that orders a key's rows;
    stamp: the row's timestamp column (for seasonal phases); params: a per-key lookup's columns,
    by the parameter names of `Detector.sql_parameters`.
    """

    value: str
    value_column: str
    keys: tuple[str, ...]
    order: str
    stamp: str
    params: Mapping[str, str] = field(default_factory=dict)

    def number(self, parameter: str, own: float) -> str:
        """The per-key column of `parameter` if a lookup gives it, else the detector's own value."""
        return self.params.get(parameter) or number_literal(float(own))


@dataclass(frozen=True)
class SqlBand:
    """One row's judgement as SQL expressions.

    expected/lower/upper: the baseline and the band; ready: when the row can be judged at all.
    helpers: `expr AS name` columns computed in an input view over the key's rows (window sums, a
    LAG baseline), which the band's expressions name; without helpers there is no input view.
    offset: the helpers read the same key's row at exactly `t - offset` (an SQL interval),
    joined as alias `b` to the current row `a` (a LEFT interval self-join keeps state bounded).
    anomaly: the anomaly condition; None means the pattern check of the value against the band.
    score: the score when the band's own formula differs from the generic distance-to-the-edge
    ratio (a threshold's expected value sits on the edge it is judged against).
    """

    expected: str
    lower: str
    upper: str
    ready: str = "TRUE"
    helpers: tuple[str, ...] = ()
    offset: str | None = None
    anomaly: str | None = None
    score: str | None = None

    def is_anomalous(self, value: str, pattern: str) -> str:
        if self.anomaly is not None:
            return self.anomaly
        up, down = f"{value} > {self.upper}", f"{value} < {self.lower}"
        return {"up": up, "down": down, "both": f"({up} OR {down})"}[pattern]
