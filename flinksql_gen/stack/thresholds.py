"""Load a thresholds folder into PostgreSQL: `*.sql` files (schema) then `*.csv` files (seed rows,
one table per file named after it, header row = column names). All in one transaction: a bad
file loads nothing and raises a DefinitionError naming file:line.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.errors import DefinitionError, Location, Problem, UsageError, relative
from flinksql_gen.stack.postgres import connect


@dataclass(frozen=True)
class SeedFile:
    path: Path
    table: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str | None, ...]], ...]  # (line, values)


def folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted([*Path(folder).glob("*.sql"), *Path(folder).glob("*.csv")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def read_seed(path: Path) -> tuple[SeedFile | None, list[Problem]]:
    """Parse one CSV; empty fields are NULL. Returns the rows or the problems found."""
    problems: list[Problem] = []
    name = relative(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header: list[str] | None = None
        rows: list[tuple[int, tuple[str | None, ...]]] = []
        try:
            for record in reader:
                line = reader.line_num
                if not record or all(not c.strip() for c in record):
                    continue
                if header is None:
                    header = [c.strip() for c in record]
                    if any(not c for c in header) or len(set(header)) != len(header):
                        problems.append(Problem(Location(name, line), "", "header needs unique, non-empty column names"))
                    continue
                if len(record) != len(header):
                    problems.append(Problem(Location(name, line), "",
                                            f"row has {len(record)} fields but the header has {len(header)}"))
                    continue
                rows.append((line, tuple(c if c != "" else None for c in record)))
        except csv.Error as exc:
            problems.append(Problem(Location(name, reader.line_num), "", f"malformed CSV: {exc}"))
    if header is None:
        problems.append(Problem(Location(name, 1), "", "no header row (column names) found"))
    if problems:
        return None, problems
    assert header is not None
    return SeedFile(path, path.stem, tuple(header), tuple(rows)), []


def _pg_problem(path: Path, text: str | None, exc: Exception, line: int = 0) -> Problem:
    message = (getattr(exc, "pgerror", None) or str(exc)).strip().splitlines()[0]
    message = message.removeprefix("ERROR:").strip()
    position = getattr(getattr(exc, "diag", None), "statement_position", None)
    if text is not None and position:
        line = text[: int(position)].count("\n") + 1
    return Problem(Location(relative(path), line), "", message)


def load_thresholds(dsn: str, folder: Path, replace: tuple[str, ...] = ()) -> list[str]:
    """Load the folder; first drops the tables named in `replace` (a previous load).

    Returns the tables the schema files created (to pass as `replace` on a reload).
    """
    from psycopg2 import Error as PgError
    from psycopg2 import sql

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"thresholds folder {folder} does not exist")
    schema_files = sorted(folder.glob("*.sql"))
    seeds: list[SeedFile] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.csv")):
        seed, found = read_seed(path)
        problems += found
        if seed:
            seeds.append(seed)
    if problems:
        raise DefinitionError(problems)

    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:  # one transaction: commit on success, rollback on error
            for table in replace:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))
            before = _tables(cur)
            for path in schema_files:
                text = path.read_text(encoding="utf-8")
                if not text.strip():
                    continue
                try:
                    cur.execute(text)
                except PgError as exc:
                    raise DefinitionError([_pg_problem(path, text, exc)]) from None
            created = sorted(_tables(cur) - before)
            for seed in seeds:
                stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(seed.table),
                    sql.SQL(", ").join(map(sql.Identifier, seed.columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(seed.columns)),
                )
                for line, values in seed.rows:
                    try:
                        cur.execute(stmt, values)
                    except PgError as exc:
                        raise DefinitionError([_pg_problem(seed.path, None, exc, line)]) from None
                if not seed.rows:
                    try:
                        cur.execute(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(sql.Identifier(seed.table)))
                    except PgError as exc:
                        raise DefinitionError([_pg_problem(seed.path, None, exc, 1)]) from None
    finally:
        conn.close()
    return created


def _tables(cur) -> set[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {r[0] for r in cur.fetchall()}
