"""Thresholds folders: schema files then CSV seeds, one transaction, errors at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from flinksql_gen.errors import DefinitionError
from flinksql_gen.stack.postgres import connect
from flinksql_gen.stack.thresholds import load_thresholds

pytestmark = pytest.mark.slow

SCHEMA = """-- thresholds per host
CREATE TABLE {t} (
    hostname    TEXT PRIMARY KEY,
    allowed_top DOUBLE PRECISION NOT NULL,
    note        TEXT
);
"""


def folder(tmp_path: Path, table: str, csv: str) -> Path:
    d = tmp_path / table
    d.mkdir()
    (d / f"{table}.sql").write_text(SCHEMA.format(t=table))
    (d / f"{table}.csv").write_text(csv)
    return d


def rows(dsn: str, table: str):
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT hostname, allowed_top, note FROM {table} ORDER BY hostname")
            return cur.fetchall()
    finally:
        conn.close()


def exists(dsn: str, table: str) -> bool:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (table,))
            return cur.fetchone()[0] is not None
    finally:
        conn.close()


def test_load_schema_and_seed_rows_then_reload(stack, tmp_path):
    d = folder(tmp_path, "th_ok", "hostname,allowed_top,note\ndoc,20,\n\ngrumpy,30.5,\"a, b\"\n")
    assert load_thresholds(stack.dsn, d) == ["th_ok"]
    assert rows(stack.dsn, "th_ok") == [("doc", 20.0, None), ("grumpy", 30.5, "a, b")]
    (d / "th_ok.csv").write_text("hostname,allowed_top,note\nsleepy,40,x\n")
    assert load_thresholds(stack.dsn, d, replace=("th_ok",)) == ["th_ok"]
    assert rows(stack.dsn, "th_ok") == [("sleepy", 40.0, "x")]


def test_malformed_csv_row_names_file_and_line_and_loads_nothing(stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = folder(tmp_path, "th_bad", "hostname,allowed_top,note\ndoc,20,\ngrumpy,30\nsleepy,40,\n")
    with pytest.raises(DefinitionError) as err:
        load_thresholds(stack.dsn, d)
    assert str(err.value) == "th_bad/th_bad.csv:3: row has 2 fields but the header has 3"
    assert not exists(stack.dsn, "th_bad")


def test_bad_value_or_schema_rolls_back_everything(stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = folder(tmp_path, "th_type", "hostname,allowed_top,note\ndoc,20,\ngrumpy,lots,\n")
    with pytest.raises(DefinitionError, match=r"^th_type/th_type\.csv:3: invalid input syntax for type double"):
        load_thresholds(stack.dsn, d)
    assert not exists(stack.dsn, "th_type")
    e = tmp_path / "th_sql"
    e.mkdir()
    (e / "a.sql").write_text("CREATE TABLE th_sql_a (x INT);\n")
    (e / "b.sql").write_text("-- broken\nCREATE TABLE th_sql_b (x INT,\n  y NOPE);\n")
    with pytest.raises(DefinitionError, match=r"^th_sql/b\.sql:3: type \"nope\" does not exist"):
        load_thresholds(stack.dsn, e)
    assert not exists(stack.dsn, "th_sql_a")
