"""Load a thresholds folder into PostgreSQL: `*.sql` files (schema) then `*.csv` files (seed rows,
one table per file named after it, header row = column names). All in one transaction: a bad
file loads nothing and raises a DefinitionError naming file:line.
"""

from __future__ import annotations

import csv
import hashlib
import io
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


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """A seed or schema file as text: UTF-8 without NUL characters (PostgreSQL refuses them)."""
    name = relative(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(Location(name, line), "", f"not UTF-8 text (byte {exc.start})",
                              "save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`")]  # fmt: skip
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, [Problem(Location(name, line), "", "the file holds a NUL character, which PostgreSQL cannot store",
                              "remove it")]  # fmt: skip
    return text, []


def read_seed(path: Path) -> tuple[SeedFile | None, list[Problem]]:
    """Parse one CSV; empty fields are NULL. Returns the rows or the problems found."""
    name = relative(path)
    text, problems = read_text(path)
    if text is None:
        return None, problems
    reader = csv.reader(io.StringIO(text, newline=""))
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
                                        f"row has {len(record)} fields but the header has {len(header)}"))  # fmt: skip
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


def _read_folder(folder: Path) -> tuple[dict[Path, str], list[SeedFile]]:
    """The folder's schema files (*.sql, by name) and seed files (*.csv); every problem at once."""
    if not folder.is_dir():
        raise UsageError(f"thresholds folder {folder} does not exist")
    seeds: list[SeedFile] = []
    problems: list[Problem] = []
    schema_texts: dict[Path, str] = {}
    for path in sorted(folder.glob("*.sql")):
        text, found = read_text(path)
        problems += found
        schema_texts[path] = text or ""
    for path in sorted(folder.glob("*.csv")):
        seed, found = read_seed(path)
        problems += found
        if seed:
            seeds.append(seed)
    if problems:
        raise DefinitionError(problems)
    return schema_texts, seeds


def load_thresholds(dsn: str, folder: Path, replace: tuple[str, ...] = ()) -> list[str]:
    """Load the folder; first drops the tables named in `replace` (a previous load).

    Returns the tables the schema files created (to pass as `replace` on a reload).
    """
    from psycopg2 import Error as PgError
    from psycopg2 import sql

    schema_texts, seeds = _read_folder(Path(folder))
    schema_files = list(schema_texts)
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:  # one transaction: commit on success, rollback on error
            for table in replace:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))
            before = _tables(cur)
            for path in schema_files:
                text = schema_texts[path]
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
