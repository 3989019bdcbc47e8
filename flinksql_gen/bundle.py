"""The compiled bundle: what `render` writes and what run / submit / deploy consume.

A bundle directory holds one `<pipeline>.sql` script per pipeline and a `manifest.json`
that lists every pipeline with its tables, topics, statements (each with the YAML
location that produced it) and the sha256 of each file. The same input always gives
byte-identical output. Statements keep `${env:NAME}` placeholders for secrets and
connection values; `flinksql_gen.secrets.resolve` fills them in at run time only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flinksql_gen.bundle_writer import MANIFEST, write_files
from flinksql_gen.errors import Location
from flinksql_gen.manifest import (
    MANIFEST_VERSION,
    Manifest,
    PipelineEntry,
    SetOption,
    StatementEntry,
    StatementKind,
    TableInfo,
    TableRole,
    UdfInfo,
    read_manifest,
)
from flinksql_gen.secrets import resolve
from flinksql_gen.sql.quoting import set_statement

__all__ = ["Bundle", "PipelineBundle", "SetOption", "Statement", "StatementKind", "TableInfo", "TableRole",
           "UdfInfo"]


@dataclass(frozen=True)
class Statement:
    """One Flink SQL statement (no trailing semicolon) and the definition that produced it."""

    kind: StatementKind
    name: str
    sql: str
    origin: Location
    # For inserts: a digest of everything that shapes the job's state (see plan/upgrade.py).
    state_signature: str = ""
    # What the planner knows about the statement, so consumers never parse `sql` back: a SET's
    # option; the table, view or function a CREATE makes; the tables and views a query reads
    # (only tables when views are inlined) and the table an INSERT writes (raw names).
    setting: SetOption | None = None
    creates: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.kind == "set") != (self.setting is not None):
            raise ValueError(f"statement {self.name!r}: a SET carries its option and only a SET does "
                             "(build SETs with Statement.set_option)")

    @classmethod
    def set_option(cls, key: str, value: str, origin: Location) -> Statement:
        """A SET statement, rendered the one way (sql/quoting.set_statement)."""
        return cls("set", key, set_statement(key, value), origin, setting=SetOption(key, value))


@dataclass(frozen=True)
class PipelineBundle:
    name: str
    source_file: str
    target: str
    statements: tuple[Statement, ...]
    tables: tuple[TableInfo, ...] = ()
    udfs: tuple[UdfInfo, ...] = ()
    env: tuple[str, ...] = ()
    script: str = ""

    @property
    def sql_file(self) -> str:
        return f"{self.name}.sql"

    @property
    def settings(self) -> dict[str, str]:
        """The SET options, ${env:NAME} references left in (a later SET of a key wins)."""
        return {s.setting.key: s.setting.value for s in self.statements if s.setting is not None}

    def resolved_settings(self, env: Mapping[str, str] | None = None, allowed: Iterable[str] | None = None
                          ) -> dict[str, str]:  # fmt: skip
        """The SET options with references filled in from `env` (default os.environ), see secrets.resolve."""
        return {k: resolve(v, env, allowed) for k, v in self.settings.items()}

    @property
    def udfs_without_ddl(self) -> tuple[UdfInfo, ...]:
        """UDFs the script does not create itself (bundles rendered before it declared them with
        CREATE FUNCTION): these are registered through the PyFlink API."""
        declared = {s.name for s in self.statements if s.kind == "create_function"}
        return tuple(u for u in self.udfs if u.name not in declared)

    @property
    def ddl(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.kind in ("create_function", "create_table", "create_view"))

    @property
    def inserts(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.kind == "insert")

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({t.topic for t in self.tables if t.topic}))

    def statement(self, name: str, kind: StatementKind = "insert") -> Statement:
        for s in self.statements:
            if s.name == name and s.kind == kind:
                return s
        raise KeyError(f"pipeline {self.name!r} has no {kind} statement {name!r}")


@dataclass(frozen=True)
class Bundle:
    target: str
    pipelines: tuple[PipelineBundle, ...]
    generator: str = field(default="flinksql-gen")

    def pipeline(self, name: str) -> PipelineBundle:
        for p in self.pipelines:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.pipelines) or "none"
        raise KeyError(f"no pipeline named {name!r} (pipelines: {known})")

    def files(self) -> dict[str, bytes]:
        """Every file of the bundle, by relative name, in deterministic form."""
        out = {p.sql_file: p.script.encode() for p in self.pipelines}
        out[MANIFEST] = (json.dumps(self.manifest(out), indent=2, sort_keys=True) + "\n").encode()
        return out

    def manifest(self, files: dict[str, bytes] | None = None) -> dict:
        files = files if files is not None else {p.sql_file: p.script.encode() for p in self.pipelines}
        # model_construct: the values are already typed here; the model gives the shape, and
        # read_manifest validates what comes back (validating on write doubled Bundle.write's time).
        manifest = Manifest.model_construct(
            manifest_version=MANIFEST_VERSION,
            generator=self.generator,
            target=self.target,
            pipelines=tuple(
                PipelineEntry.model_construct(
                    name=p.name,
                    source_file=p.source_file,
                    sql_file=p.sql_file,
                    sha256=hashlib.sha256(files[p.sql_file]).hexdigest(),
                    tables=p.tables,
                    topics=p.topics,
                    udfs=p.udfs,
                    env=p.env,
                    statements=tuple(_entry(s) for s in p.statements),
                )
                for p in self.pipelines
            ),
        )
        return manifest.model_dump(mode="json")

    def write(self, out_dir: Path, protected: Iterable[Path] = ()) -> dict[str, bytes]:
        """Write the bundle into `out_dir` (see bundle_writer: only files the bundle owns change).

        `protected` are paths the folder may not be or contain (the project, its definitions)."""
        files = self.files()
        write_files(files, Path(out_dir), protected)
        return files

    @classmethod
    def load(cls, directory: Path) -> Bundle:
        """Read a bundle written by `write` (the manifest carries every statement; see manifest.py)."""
        directory = Path(directory)
        data = read_manifest(directory)
        pipelines = []
        for p in data.pipelines:
            script = (directory / p.sql_file).read_text()
            statements = tuple(
                Statement(kind=s.kind, name=s.name, sql=s.sql, origin=_parse_location(s.origin),
                          state_signature=s.state_signature, setting=s.setting, creates=s.creates,
                          reads=s.reads, writes=s.writes)
                for s in p.statements
            )
            pipelines.append(
                PipelineBundle(
                    name=p.name,
                    source_file=p.source_file,
                    target=data.target,
                    statements=statements,
                    tables=p.tables,
                    udfs=p.udfs,
                    env=p.env,
                    script=script,
                )
            )
        return cls(target=data.target, pipelines=tuple(pipelines), generator=data.generator)


def _entry(s: Statement) -> StatementEntry:
    return StatementEntry.model_construct(kind=s.kind, name=s.name, sql=s.sql, origin=str(s.origin),
                                          state_signature=s.state_signature, setting=s.setting,
                                          creates=s.creates, reads=s.reads, writes=s.writes)


def _parse_location(text: str) -> Location:
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return Location(parts[0], int(parts[1]), int(parts[2]))
    if len(parts) >= 2 and parts[-1].isdigit():
        return Location(":".join(parts[:-1]), int(parts[-1]))
    return Location(text)
