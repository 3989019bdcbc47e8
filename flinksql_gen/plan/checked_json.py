"""How a checked Kafka source reads and checks each column, in its two forms.

- The `flinksql-gen-json` value format (local, cluster and gateway targets): in typed mode it
  emits the typed columns and every reason itself (`typed_fields`); otherwise each field's text,
  which SQL casts (`text_columns`, `from_text`) and checks (`format_checks`, `case_sql`).
- The `raw` format (aiven, no custom jars): a JSON function per column (`extract`) and per check
  (`checks`, `error_sql`).

Both give the same reasons in the same order, so a record fails the same first check either way;
`tests/test_checked_format.py` throws random bytes and JSON at both to hold them to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flinksql_gen.models.types import BIGINT, STRING, TIMESTAMP_LTZ3, FlinkType
from flinksql_gen.plan.plan import Column
from flinksql_gen.plan.tables import EventTimeSpec
from flinksql_gen.sql.formats import CHECKED_JSON as FORMAT
from flinksql_gen.sql.quoting import quote_identifier as q
from flinksql_gen.sql.quoting import quote_string

SCALARS = {"STRING", "CHAR", "VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE",
           "DECIMAL", "DATE", "TIME", "TIMESTAMP", "TIMESTAMP_LTZ"}  # fmt: skip
BYTES, INT = FlinkType("BYTES"), FlinkType("INT")


@dataclass(frozen=True)
class RecordColumns:
    """Names of the columns that hold the Kafka record itself: `__key`, `__value`, ... unless a
    declared column already has that name (then `__value_1`, ...)."""

    key: str = "__key"
    value: str = "__value"
    topic: str = "__topic"
    partition: str = "__partition"
    offset: str = "__offset"
    timestamp: str = "__timestamp"
    error: str = "__error"

    @staticmethod
    def avoiding(taken: set[str]) -> RecordColumns:
        names = {}
        for role, default in vars(RecordColumns()).items():
            name, n = default, 0
            while name in taken:
                n += 1
                name = f"{default}_{n}"
            names[role] = name
        return RecordColumns(**names)

    # the quoted identifiers
    q_key = property(lambda self: q(self.key))
    q_value = property(lambda self: q(self.value))
    q_topic = property(lambda self: q(self.topic))
    q_partition = property(lambda self: q(self.partition))
    q_offset = property(lambda self: q(self.offset))
    q_timestamp = property(lambda self: q(self.timestamp))
    q_error = property(lambda self: q(self.error))

    @property
    def json(self) -> str:
        return f"CAST({self.q_value} AS STRING)"

    def columns(self) -> tuple[Column, ...]:
        """In the order of the checked view."""
        return (Column(self.key, BYTES), Column(self.value, BYTES), Column(self.topic, STRING),
                Column(self.partition, INT), Column(self.offset, BIGINT), Column(self.timestamp, TIMESTAMP_LTZ3),
                Column(self.error, STRING))  # fmt: skip


def checkable(t: FlinkType) -> bool:
    """Can SQL build this type from JSON text (and so tell a wrong value from a right one)?"""
    if t.name == "ARRAY":
        return t.element is not None and t.element.name in SCALARS
    return t.name in SCALARS


def json_path(column: str) -> str:
    """The SQL literal of the JSON path of a top-level field (bracket form for unusual names)."""
    if column.isidentifier() and column.isascii():
        return quote_string(f"$.{column}")
    return quote_string("$['" + column.replace("\\", "\\\\").replace("'", "\\'") + "']")


def _text(r: RecordColumns, column: str) -> str:
    """A top-level field as text: a scalar's value, or (like Flink's JSON format) an object's or array's JSON."""
    p = json_path(column)
    return f"COALESCE(JSON_VALUE({r.json}, {p} RETURNING STRING NULL ON ERROR), JSON_QUERY({r.json}, {p} NULL ON ERROR))"


def extract(r: RecordColumns, column: str, t: FlinkType) -> str:
    """The typed value of a top-level JSON field; NULL when missing, null or not of type `t` (CAST's rules)."""
    p = json_path(column)
    plain = t.nullable()
    if t.name == "ARRAY":
        arr = f"JSON_QUERY({r.json}, {p} RETURNING ARRAY<STRING> NULL ON ERROR)"
        return arr if plain.element.name == "STRING" else f"TRY_CAST({arr} AS {plain.sql()})"
    if t.is_string:
        return _text(r, column) if t.name == "STRING" else f"TRY_CAST({_text(r, column)} AS {plain.sql()})"
    return f"TRY_CAST(JSON_VALUE({r.json}, {p} RETURNING STRING NULL ON ERROR) AS {plain.sql()})"


# Targets whose checked sources use the pure-SQL form. Aiven runs no custom jars; benchmarks and tests
# add "local" to run that form here.
def text_columns(r: RecordColumns, columns: list[Column], taken: set[str]) -> dict[str, str]:
    """The physical STRING column holding each declared column's JSON text: `__json_<name>`."""
    out: dict[str, str] = {}
    used = set(taken) | {v for v in vars(r).values()}
    for c in columns:
        name, n = f"__json_{c.name}", 0
        while name in used:
            n += 1
            name = f"__json_{c.name}_{n}"
        used.add(name)
        out[c.name] = name
    return out


def from_text(text: str, t: FlinkType) -> str:
    """The typed value of a column from its JSON text (what `extract` gives from the whole document)."""
    plain = t.nullable()
    if t.name == "ARRAY":
        arr = f"JSON_QUERY({text}, '$' RETURNING ARRAY<STRING> NULL ON ERROR)"
        return arr if plain.element.name == "STRING" else f"TRY_CAST({arr} AS {plain.sql()})"
    if t.name == "STRING":
        return text
    return f"TRY_CAST({text} AS {plain.sql()})"


def format_options(r: RecordColumns, columns: list[Column], texts: dict[str, str],
                   fields: list[list[str | int | None]] | None = None, bad_only: bool = False) -> list[tuple[str, str]]:  # fmt: skip
    """The value format's options. The format sets the topic column from the table's topic (no string
    per record from Kafka's metadata); with `bad_only` (typed mode, where the format names every reason,
    and no path that copies valid records) it sets the raw and topic columns on bad rows only, so that a
    valid row carries nothing wide into the branches, which copy each row."""
    import json

    if fields is None:
        fields = [[texts[c.name], c.name, "json" if c.type.name == "ARRAY" else "text"] for c in columns]
    prefix = f"value.{FORMAT}."
    return [("value.format", FORMAT), (prefix + "raw-column", r.value), (prefix + "error-column", r.error),
            (prefix + "topic-column", r.topic),
            (prefix + "fields", json.dumps(fields, ensure_ascii=False, separators=(",", ":"))),
            *([(prefix + "record-columns", "bad")] if bad_only else [])]  # fmt: skip


# Column types the format converts itself (TypedValue.java): a source whose columns are all of these is
# read in typed mode, where the format emits the typed columns and the full reason of a bad record.
TYPED = frozenset({"STRING", "BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL"})


def typed_mode(columns: list[Column], et: EventTimeSpec | None) -> bool:
    return all(c.type.name in TYPED for c in columns) and (et is None or et.origin != "column")


def typed_fields(columns: list[Column], et: EventTimeSpec | None) -> list[list[str | int | None]]:
    """The format's `fields` in typed mode: [column, field, "value", missing, not-a-type, not-finite]
    with the reasons of the checks the format runs (the same words and order as `format_checks`); the
    epoch event-time column adds [out-of-range, precision] (TO_TIMESTAMP_LTZ's range, the last check)."""
    out: list[list[str | int | None]] = []
    for c in columns:
        kind = c.type.nullable().sql()
        required = c.type.not_null or (et is not None and c.name == et.column)
        field: list[str | int | None] = [
            c.name, c.name, "value", f'missing or null field "{c.name}"' if required else None,
            None if c.type.name == "STRING" else f'field "{c.name}" is not {_article(kind)} {kind}',
            f'field "{c.name}" is not a finite {kind}' if c.type.name in ("FLOAT", "DOUBLE") else None]  # fmt: skip
        if et is not None and et.origin == "epoch" and c.name == et.column:
            field += [f'event time "{c.name}" is out of range', et.precision]
        out.append(field)
    return out


def format_checks(r: RecordColumns, columns: list[Column], typed: dict[str, str], texts: dict[str, str],
                  et: EventTimeSpec | None) -> list[tuple[str, str]]:  # fmt: skip
    """`checks` over the format's columns: (condition, SQL of the reason). A field exists (JSON_EXISTS)
    exactly when its text is not NULL; the format names the structural reasons itself."""
    out = [(f"{r.q_error} IS NOT NULL", r.q_error)]
    required = [c for c in columns if c.type.not_null or (et is not None and c.name == et.column)]
    out += [(f"{q(texts[c.name])} IS NULL", quote_string(f'missing or null field "{c.name}"')) for c in required]
    for c in columns:
        kind = c.type.nullable().sql()
        if c.type.name != "STRING":  # a STRING column is NULL only when its field is missing or null
            out.append((f"{typed[c.name]} IS NULL AND {q(texts[c.name])} IS NOT NULL",
                        quote_string(f'field "{c.name}" is not {_article(kind)} {kind}')))  # fmt: skip
        if c.type.name in ("CHAR", "VARCHAR") and c.type.params:
            out.append((f"CHAR_LENGTH({q(texts[c.name])}) > {c.type.params[0]}",
                        quote_string(f'field "{c.name}" is longer than {kind}')))  # fmt: skip
        if c.type.name in ("FLOAT", "DOUBLE"):
            out.append((f"{typed[c.name]} * 0 <> 0", quote_string(f'field "{c.name}" is not a finite {kind}')))
    if et is not None and et.origin == "epoch":
        out.append((f"TO_TIMESTAMP_LTZ({typed[et.column]}, {et.precision}) IS NULL",
                    quote_string(f'event time "{et.column}" is out of range')))  # fmt: skip
    return out


def case_sql(r: RecordColumns, checks: list[tuple[str, str]]) -> str:
    whens = "\n".join(f"    WHEN {cond} THEN {then}" for cond, then in checks)
    return f"CASE\n{whens}\n  END AS {r.q_error}"


def time_floor(t: FlinkType) -> str:
    """The event time a bad record gets: never NULL, never moves the watermark."""
    if t.name == "TIMESTAMP_LTZ":
        return "TO_TIMESTAMP_LTZ(0, 3)"
    return f"CAST(TIMESTAMP '1970-01-01 00:00:00' AS {t.nullable().sql()})"


def checks(r: RecordColumns, columns: list[Column], typed: dict[str, str],
           et: EventTimeSpec | None) -> list[tuple[str, str | None]]:  # fmt: skip
    """(condition, reason) pairs in order; a record's error is the reason of the first that holds."""
    j = r.json
    out: list[tuple[str, str | None]] = [
        (f"{r.q_value} IS NULL", "no value (tombstone)"),
        (f"{j} = ''", "empty message"),
        (f"CAST({j} AS BYTES) <> {r.q_value}", "not UTF-8 text"),
        (f"{j} IS NOT JSON OBJECT", None),  # malformed JSON, or JSON that is not an object
    ]
    required = [c for c in columns if c.type.not_null or (et is not None and c.name == et.column)]
    out += [(f"NOT JSON_EXISTS({j}, {json_path(c.name)})", f'missing or null field "{c.name}"') for c in required]
    for c in columns:
        kind = c.type.nullable().sql()
        out.append((f"{typed[c.name]} IS NULL AND JSON_EXISTS({j}, {json_path(c.name)})",
                    f'field "{c.name}" is not {_article(kind)} {kind}'))  # fmt: skip
        if c.type.name in ("CHAR", "VARCHAR") and c.type.params:  # CAST would cut the text short
            out.append((f"CHAR_LENGTH({_text(r, c.name)}) > {c.type.params[0]}",
                        f'field "{c.name}" is longer than {kind}'))  # fmt: skip
        if c.type.name in ("FLOAT", "DOUBLE"):
            # NaN and +-Infinity (from "NaN", "Infinity" or 1e400) times 0 is NaN, which is <> 0. (The planner
            # rewrites NOT(ABS(x) <= max) to ABS(x) > max, which NaN passes.)
            out.append((f"{typed[c.name]} * 0 <> 0", f'field "{c.name}" is not a finite {kind}'))
    if et is not None and et.origin == "epoch":
        out.append((f"TO_TIMESTAMP_LTZ({typed[et.column]}, {et.precision}) IS NULL",
                    f'event time "{et.column}" is out of range'))  # fmt: skip
    return out


def _article(word: str) -> str:
    return "an" if word[:1] in "AEIOU" else "a"


def error_sql(r: RecordColumns, checks: list[tuple[str, str | None]]) -> str:
    """`CASE WHEN <check> THEN <reason> ... END AS <error>`: NULL for a valid record."""
    whens = []
    for cond, reason in checks:
        if reason is None:
            then = f"CASE WHEN {r.json} IS JSON THEN 'not a JSON object' ELSE 'malformed JSON' END"
        else:
            then = quote_string(reason)
        whens.append(f"    WHEN {cond} THEN {then}")
    return "CASE\n" + "\n".join(whens) + f"\n  END AS {r.q_error}"
