"""The resolved plan: everything decided, quoted and ordered; templates only lay it out.

Every string here that ends up in SQL is already rendered safely (identifiers quoted,
literals escaped) by the planner through `flinksql_gen.sql.quoting`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flinksql_gen.bundle import TableInfo, UdfInfo
from flinksql_gen.errors import Location
from flinksql_gen.models.types import FlinkType
from flinksql_gen.sql.quoting import option_string, set_statement


@dataclass(frozen=True)
class Column:
    name: str
    type: FlinkType
    rowtime: bool = False
    proctime: bool = False


@dataclass(frozen=True)
class Schema:
    columns: tuple[Column, ...]

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def get(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    @property
    def rowtime(self) -> Column | None:
        return next((c for c in self.columns if c.rowtime), None)


@dataclass(frozen=True)
class Setting:
    """A SET option (raw; the value may hold ${env:NAME} references). Templates see `key` and
    `value` as quoted literals and `sql` as the whole statement (sql/quoting.set_statement)."""

    name: str
    raw_value: str

    @property
    def key(self) -> str:
        return option_string(self.name)

    @property
    def value(self) -> str:
        return option_string(self.raw_value)

    @property
    def sql(self) -> str:
        return set_statement(self.name, self.raw_value)


@dataclass(frozen=True)
class PlannedTable:
    name: str  # quoted identifier
    raw_name: str
    lines: tuple[str, ...]  # column definitions, watermark, primary key
    options: tuple[tuple[str, str], ...]  # (quoted key, quoted value)
    origin: Location
    info: TableInfo
    schema: Schema


@dataclass(frozen=True)
class Select:
    columns: tuple[str, ...]
    from_: str
    joins: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    having: tuple[str, ...] = ()
    with_: tuple[tuple[str, str], ...] = ()  # (quoted name, rendered query) for inlined views


@dataclass(frozen=True)
class MatchRecognize:
    source: str
    partition_by: tuple[str, ...]
    order_by: str
    measures: tuple[str, ...]
    pattern: str
    defines: tuple[str, ...]
    within: str | None = None
    with_: tuple[tuple[str, str], ...] = ()


Query = Select | MatchRecognize


@dataclass(frozen=True)
class PlannedView:
    name: str  # quoted identifier
    raw_name: str
    query: Query
    origin: Location
    schema: Schema
    stateful: bool = False
    depends_on: tuple[str, ...] = ()  # raw names of views this one reads
    # Raw names of the other relations its query reads: tables (sources, lookups), or the
    # `__valid` view that stands in for a checked source. The bundle records both as `reads`.
    tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedInsert:
    name: str  # raw: "<producer>__<sink>"
    sink: str  # quoted identifier
    query: Query
    origin: Location
    depends_on: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()  # raw names of the tables its query reads itself (not through a view)


@dataclass(frozen=True)
class PlannedPipeline:
    name: str
    source_file: str
    target: str
    description: str
    settings: tuple[Setting, ...]
    tables: tuple[PlannedTable, ...]
    views: tuple[PlannedView, ...]
    inserts: tuple[PlannedInsert, ...]
    udfs: tuple[UdfInfo, ...] = ()
    inline_views: bool = False  # aiven: no views; inline them as WITH clauses
    notes: tuple[str, ...] = field(default_factory=tuple)
