"""The bundle's manifest.json as a typed, versioned model: what `render` writes (Bundle.manifest
builds it) and what run, submit, plan and deploy read back (Bundle.load, deploy/upgrade.load_manifest).

Reading checks the schema version first, so a bundle written by an older or newer flinksql-gen
gets a message saying which and what to do, instead of a KeyError somewhere later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flinksql_gen.bundle_writer import MANIFEST
from flinksql_gen.errors import UsageError

# 2: statements carry what they read, write and create, and SETs their (key, value).
MANIFEST_VERSION = 2

StatementKind = Literal["set", "create_function", "create_table", "create_view", "insert"]
TableRole = Literal["source", "sink", "lookup"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SetOption:
    """A SET statement's option, as the planner decided it (the value keeps ${env:NAME} references)."""

    key: str
    value: str


class StatementEntry(_Model):
    kind: StatementKind
    name: str
    sql: str = Field(description="the statement, with ${env:NAME} references left in")
    origin: str = Field(description="file:line:col of the definition that produced it")
    state_signature: str = Field(default="", description="digest of what shapes an insert's state")
    setting: SetOption | None = Field(default=None, description="a SET's key and value")
    creates: tuple[str, ...] = Field(default=(), description="the table, view or function a CREATE makes")
    reads: tuple[str, ...] = Field(default=(), description="tables and views the query reads (views inlined: "
                                                           "only tables)")
    writes: tuple[str, ...] = Field(default=(), description="the table an INSERT writes")

    @model_validator(mode="after")
    def _set_carries_its_option(self) -> StatementEntry:
        if (self.kind == "set") != (self.setting is not None):
            raise ValueError("a SET statement carries its setting, and only a SET does")
        return self


@dataclass(frozen=True)
class TableInfo:
    """A table of a pipeline as the manifest lists it (pydantic validates it as it is)."""

    name: str
    role: TableRole
    # the system the table reads or writes: kafka, upsert-kafka, jdbc, ... (a checked source's
    # `flinksql-gen-kafka` connector is Flink's Kafka source: "kafka")
    connector: str
    topic: str | None = None
    key: tuple[str, ...] = ()
    # "append" or "upsert" for sinks; what the table accepts.
    changelog: str = "append"


@dataclass(frozen=True)
class UdfInfo:
    """A Python UDF the pipeline registers: SQL name and `module:attribute` of its definition."""

    name: str
    python: str


class PipelineEntry(_Model):
    name: str
    source_file: str
    sql_file: str
    sha256: str
    tables: tuple[TableInfo, ...] = ()
    topics: tuple[str, ...] = ()
    udfs: tuple[UdfInfo, ...] = ()
    env: tuple[str, ...] = Field(default=(), description="the ${env:NAME} names the statements reference")
    statements: tuple[StatementEntry, ...]


class Manifest(_Model):
    manifest_version: int
    generator: str
    target: str
    pipelines: tuple[PipelineEntry, ...]


def read_manifest(path: Path | str) -> Manifest:
    """The manifest at `path` (a bundle folder or its manifest.json), checked and typed."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such manifest (give a bundle folder or its {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a JSON manifest ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("pipelines"), list):
        raise UsageError(f"{path}: not a flinksql-gen manifest (no 'pipelines' list)")
    version = data.get("manifest_version")
    if version != MANIFEST_VERSION:
        newer = isinstance(version, int) and version > MANIFEST_VERSION
        raise UsageError(
            f"{path}: manifest version {version!r} is {'newer than' if newer else 'not'} the version "
            f"{MANIFEST_VERSION} this flinksql-gen reads; "
            + ("upgrade flinksql-gen, or render the bundle again with this one" if newer
               else "render the bundle again with this flinksql-gen")
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{path}: {where}: {first['msg']} (the manifest was edited or is damaged; "
                         "render the bundle again)") from None
