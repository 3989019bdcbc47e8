"""Per-key detector settings from a PostgreSQL lookup (`per_key:` on a pure-SQL detector).

The metric's rows get a processing-time attribute and a LEFT lookup join; each setting becomes a
column `__<setting>` = COALESCE(the key's value, the detector's own setting), so a key without a
row (or with NULL) is judged with the default. The detector's SQL then reads the column where it
would have written the number.
"""

from __future__ import annotations

from flinksql_gen.detectors.registry import detector_class
from flinksql_gen.models.types import DOUBLE, TIMESTAMP3
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.expressions import require_column
from flinksql_gen.plan.plan import Column, PlannedTable, PlannedView, Schema, Select
from flinksql_gen.sql.quoting import number_literal
from flinksql_gen.sql.quoting import quote_identifier as q


def param_column(setting: str) -> str:
    return f"__{setting}"


def plan_per_key(
    ctx: PlanContext, name: str, d, metric, lookup: PlannedTable, defaults: dict[str, tuple[str, float | None]]
) -> tuple[list[PlannedView], PlannedView] | None:
    """(views, the keyed view) whose rows carry one `__<parameter>` column per SQL parameter.

    `defaults` is the detector's `sql_parameters`: each parameter (`threshold`, `k_lower`, ...)
    with the per-key setting it reads (mean_variance's `k_lower` and `k_upper` both read
    `multiplier`) and the detector's own value."""
    path = ("detectors", name, "per_key")
    pk = d.per_key
    allowed = detector_class(d.type).per_key_settings
    for setting in pk.settings:
        if setting not in allowed:
            ctx.error((*path, "settings", setting), f"{d.type} has no per-key setting {setting!r}",
                      f"per-key settings of {d.type}: {', '.join(allowed) or 'none'}")  # fmt: skip
            return None
    schema, lk = metric.view.schema, lookup.schema
    on_sql = []
    for mcol, lcol in pk.on.items():
        mt = require_column(ctx, schema, mcol, (*path, "on", mcol))
        lt = require_column(ctx, lk, lcol, (*path, "on", mcol), f"column of lookup {lookup.raw_name!r}")
        if mt is None or lt is None:
            return None
        if lcol not in lookup.info.key:
            ctx.error((*path, "on", mcol), f"{lcol!r} is not a key column of lookup {lookup.raw_name!r}",
                      f"key: {', '.join(lookup.info.key)}")  # fmt: skip
            return None
        on_sql.append(f"{q('m')}.{q(mcol)} = {q('t')}.{q(lcol)}")
    for setting, lcol in pk.settings.items():
        lt = require_column(ctx, lk, lcol, (*path, "settings", setting), f"column of lookup {lookup.raw_name!r}")
        if lt is None:
            return None
        if not lt.is_numeric:
            ctx.error((*path, "settings", setting), f"lookup column {lcol!r} has type {lt}; a setting is a number")
            return None
    proc = "proc_time"
    while schema.get(proc):
        proc = f"_{proc}"
    own = tuple(q(c.name) for c in schema.columns if not c.proctime)
    proc_name = f"{name}__proc"
    proc_view = PlannedView(q(proc_name), proc_name, Select((*own, f"PROCTIME() AS {q(proc)}"), metric.view.name),
                            ctx.loc(path), Schema((*schema.columns, Column(proc, TIMESTAMP3, proctime=True))),
                            depends_on=(metric.view.raw_name,))  # fmt: skip
    params = []
    for column, (setting, default) in defaults.items():
        source = pk.settings.get(setting)
        fallback = number_literal(float(default)) if default is not None else "CAST(NULL AS DOUBLE)"
        value = f"COALESCE(CAST({q('t')}.{q(source)} AS DOUBLE), {fallback})" if source else fallback
        params.append(f"{value} AS {q(param_column(column))}")
    join = (f"LEFT JOIN {lookup.name} FOR SYSTEM_TIME AS OF {q('m')}.{q(proc)} AS {q('t')} "
            f"ON {' AND '.join(on_sql)}")  # fmt: skip
    keyed_name = f"{name}__keyed"
    keyed_schema = Schema(tuple(c for c in schema.columns if not c.proctime)
                          + tuple(Column(param_column(c), DOUBLE) for c in defaults))  # fmt: skip
    keyed = PlannedView(q(keyed_name), keyed_name,
                        Select((*(f"{q('m')}.{c}" for c in own), *params), f"{proc_view.name} AS {q('m')}", (join,)),
                        ctx.loc(path), keyed_schema, depends_on=(proc_name,), tables=(lookup.raw_name,))  # fmt: skip
    return [proc_view, keyed], keyed
