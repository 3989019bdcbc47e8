"""Stream any PostgreSQL table as JSON records, row by row, ordered by a timestamp column.

Timestamps are written the way Flink's JSON format reads them ('SQL' standard):
`2024-01-31 12:00:00.123` (and a trailing `Z` for timestamptz, in UTC). The Kafka record
timestamp is the row's timestamp column.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterator
from typing import Any

from flinksql_gen.errors import UsageError
from flinksql_gen.produce.events import Event


def _ts_text(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="milliseconds") + "Z"
    return value.isoformat(sep=" ", timespec="milliseconds")


def json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _ts_text(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def epoch_ms(value: Any) -> int | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    if isinstance(value, (int, float)):
        return int(value)
    return None


def table_rows(dsn: str, table: str, timestamp_column: str, key_column: str | None = None,
               batch: int = 1000) -> Iterator[Event]:
    """Rows of `table` (schema.table allowed) ordered by `timestamp_column`, via a server-side cursor."""
    from psycopg2 import Error as PgError
    from psycopg2 import sql

    from flinksql_gen.stack.postgres import connect

    ident = sql.Identifier(*table.split(".", 1))
    conn = connect(dsn)
    try:
        with conn.cursor() as probe:
            try:
                probe.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(ident))
            except PgError as exc:
                raise UsageError(f"cannot read table {table!r}: {str(exc).strip().splitlines()[0]}") from None
            columns = [d.name for d in probe.description]
        conn.rollback()
        for needed in filter(None, (timestamp_column, key_column)):
            if needed not in columns:
                raise UsageError(f"table {table!r} has no column {needed!r} (columns: {', '.join(columns)})")
        with conn.cursor(name="flinksql_gen_produce") as cur:
            cur.itersize = batch
            cur.execute(sql.SQL("SELECT * FROM {} ORDER BY {}").format(ident, sql.Identifier(timestamp_column)))
            for row in cur:
                record = dict(zip(columns, row, strict=True))
                key = record.get(key_column) if key_column else None
                yield Event(None if key is None else str(key), json_value(record),
                            epoch_ms(record[timestamp_column]) or 0)
    finally:
        conn.close()
