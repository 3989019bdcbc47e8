"""Input rows -> the exact Kafka records a test produces: event-time columns written as the
source declares them, record keys and timestamps, raw (malformed) values; CSV and JSONL files.

Problems are reported through a callback (column, message, hint), so that the loader can place
them at the row's file:line:col."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flinksql_gen.errors import Location, Problem
from flinksql_gen.models.pipeline import KafkaSource
from flinksql_gen.testing.times import format_sql_timestamp, is_offset, looks_like_time, parse_time

RESERVED = ("_key", "_at", "_raw")
Report = Callable[[str | None, str, str], None]


@dataclass(frozen=True)
class InputRecord:
    key: str | None
    value: bytes
    timestamp_ms: int


def listing(what: str, names: Iterable[str]) -> str:
    names = sorted(names)
    return f"{what}: {', '.join(names)}" if names else f"there are no {what}"


def read_rows(file: Path, shown: str, src: KafkaSource) -> tuple[list[tuple[Location, dict]], list[Problem]]:
    """The rows of a .jsonl or .csv input file, each with its file:line; problems at their lines."""
    rows: list[tuple[Location, dict]] = []
    problems: list[Problem] = []
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                problems.append(Problem(Location(shown, n), "", f"not JSON: {exc}"))
                continue
            if not isinstance(row, dict):
                problems.append(Problem(Location(shown, n), "", "each line must be a JSON object of column values"))
                continue
            rows.append((Location(shown, n), row))
    else:
        reader = csv.DictReader(text.splitlines())
        for row in reader:
            loc = Location(shown, reader.line_num)
            if None in row:
                problems.append(Problem(loc, "", "more values than header columns"))
                continue
            rows.append((loc, {k: csv_value(v, src.columns.get(k, "STRING")) for k, v in row.items()
                               if v is not None and v != ""}))
    return rows, problems


def csv_value(text: str, type_text: str) -> Any:
    """CSV text -> the JSON value the column's type expects (times stay text: they are converted later)."""
    kind = type_text.strip().upper().split("(")[0].split()[0]
    if is_offset(text) or looks_like_time(text):
        return text
    try:
        if kind in ("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT"):
            return int(text)
        if kind in ("FLOAT", "DOUBLE", "DECIMAL", "NUMERIC", "REAL"):
            return float(text)
    except ValueError:
        return text  # a wrong value is the test's business (e.g. a bad record on purpose)
    if kind == "BOOLEAN" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def to_record(row: dict, src: KafkaSource, key_column: str | None, base_ms: int, bad: Report) -> InputRecord:
    """One input row -> the Kafka record it stands for."""
    et = src.event_time
    et_column = et.column if et is not None else None
    value: dict[str, Any] = {}
    event_ms: int | None = None
    for col, v in row.items():
        if col.startswith("_") and col not in src.columns:
            if col not in RESERVED:
                bad(col, f"unknown reserved key {col!r}", f"reserved keys: {', '.join(RESERVED)}")
            continue
        if col not in src.columns:
            bad(col, f"{col!r} is not a column of the source", listing("columns", src.columns))
            continue
        type_text = src.columns[col].strip().upper()
        if col == et_column and v is not None:
            try:
                event_ms = parse_time(v, base_ms)
            except ValueError as exc:
                bad(col, str(exc), "")
                continue
            fmt = et.format or ("timestamp" if type_text.startswith("TIMESTAMP") else "epoch_millis")
            if fmt == "timestamp":
                value[col] = format_sql_timestamp(event_ms)
            else:
                value[col] = event_ms // 1000 if fmt == "epoch_seconds" else event_ms
        elif type_text.startswith("TIMESTAMP") and looks_like_time(v):
            try:
                value[col] = format_sql_timestamp(parse_time(v, base_ms))
            except ValueError as exc:
                bad(col, str(exc), "")
        else:
            value[col] = v
    at = row.get("_at")
    try:
        ts = parse_time(at, base_ms) if at is not None else (event_ms if event_ms is not None else base_ms)
    except ValueError as exc:
        bad("_at", str(exc), "")
        ts = base_ms
    key = row.get("_key")
    if key is None and key_column is not None and row.get(key_column) is not None:
        key = row[key_column]
    raw = row.get("_raw")
    if raw is not None and not isinstance(raw, str):
        bad("_raw", "`_raw` is the record's value as text", "quote it")
        raw = None
    body = raw.encode() if raw is not None else json.dumps(value, separators=(",", ":")).encode()
    return InputRecord(None if key is None else str(key), body, ts)
