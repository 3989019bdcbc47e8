"""Find and load `*.test.yaml` files: shape (pydantic), then every name, column and input file
checked against the pipeline under test, all problems at once with file:line:col.

Inputs become exact Kafka records here (value bytes, key, timestamp), so that a test that loads
runs exactly what it says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from flinksql_gen.bundle import PipelineBundle
from flinksql_gen.errors import DefinitionError, Location, Problem, UsageError, relative
from flinksql_gen.load.validate import validate_model
from flinksql_gen.load.yaml_loader import LoadedYaml, Positions, dotted, load_yaml
from flinksql_gen.models.pipeline import KafkaSource, Pipeline
from flinksql_gen.project import Project, Selection
from flinksql_gen.testing.inputs import InputRecord, listing, read_rows, to_record
from flinksql_gen.testing.models import PipelineTest, TestFile
from flinksql_gen.testing.times import parse_time

SUFFIXES = (".test.yaml", ".test.yml")
READABLE = ("kafka", "upsert-kafka")
# The columns of a dead-letter or late-events record as a test sees them: the record's key and
# value text, and its flinksql-gen.* headers without the prefix.
RECORD_COLUMNS = ("key", "value", "reason", "topic", "partition", "offset", "pipeline", "source")
_COLUMN_LINE = re.compile(r"^  `((?:[^`]|``)+)` ", re.MULTILINE)


@dataclass
class Suite:
    """One loaded test file and the rendered pipeline it tests."""

    file: Path
    display: str
    model: TestFile
    positions: Positions
    pipeline: Pipeline
    bundle: PipelineBundle
    base_ms: int


@dataclass
class Case:
    suite: Suite
    name: str
    spec: PipelineTest
    inputs: dict[str, list[InputRecord]] = field(default_factory=dict)  # source table -> records, in order

    @property
    def id(self) -> str:
        return f"{self.suite.display}::{self.name}"

    def where(self, *path: Any) -> Location:
        return self.suite.positions.of(("tests", self.name, *path))


def is_test_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def find_test_files(path: Path | None, project: Project) -> list[Path]:
    """A test file, every test file under a folder, or (no PATH) those under the project's
    tests/ and pipelines/ folders (the current folder without a project)."""
    if path is not None:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        if path.is_file():
            if not is_test_file(path):
                raise UsageError(f"{path}: a test file's name ends in .test.yaml")
            return [path]
        roots = [path]
    elif project.root is not None:
        roots = [d for d in (project.root / "tests", project.root / "pipelines") if d.is_dir()]
    else:
        roots = [Path.cwd()]
    found: list[Path] = []
    for root in roots:
        for p in sorted(root.rglob("*.test.y*ml")):
            rel = p.relative_to(root).parts
            if is_test_file(p) and not any(part.startswith(".") or part in ("node_modules", "target") for part in rel[:-1]):
                found.append(p)
    if not found:
        where = path or (", ".join(str(r) for r in roots) or "this project")
        raise UsageError(f"no *.test.yaml files in {where} (see docs/testing.md for the format)")
    return found


def load_suites(files: Iterable[Path], project: Project, selection: Selection) -> list[Case]:
    """Every selected test of every file; raises DefinitionError with all problems at once."""
    problems: list[Problem] = []
    cases: list[Case] = []
    names: list[str] = []
    for file in files:
        suite, file_problems = _load_suite(file, project)
        problems.extend(file_problems)
        if suite is None:
            continue
        for name, spec in suite.model.tests.items():
            names += [name, f"{suite.display}::{name}", suite.bundle.name]
            if not (selection.matches(name) or selection.matches(f"{suite.display}::{name}")
                    or selection.matches(suite.bundle.name)):
                continue
            case = Case(suite, name, spec)
            problems.extend(_check_case(case))
            cases.append(case)
    if problems:
        raise DefinitionError(problems)
    selection.check_used(names)
    return cases


def _load_suite(file: Path, project: Project) -> tuple[Suite | None, list[Problem]]:
    loaded, problems = load_yaml(file)
    if loaded is None:
        return None, problems
    model, shape = _validate(loaded)
    problems = problems + shape
    if model is None:
        return None, problems
    display = relative(file)
    pos = loaded.positions
    pipeline_file = (file.parent / model.pipeline)
    if not pipeline_file.is_file():
        return None, problems + [Problem(pos.of(("pipeline",), prefer_value=True), "pipeline",
                              f"no such pipeline file: {relative(pipeline_file)}",
                              "give the pipeline's path relative to this test file")]  # fmt: skip
    from flinksql_gen.api import render_pipeline

    pipeline_project = project if project.root is not None else Project.discover(pipeline_file)
    try:
        bundle = render_pipeline(pipeline_file, model.target, project=pipeline_project)
    except DefinitionError as exc:  # the pipeline's own problems, at its own lines
        return None, problems + list(exc.problems)
    except UsageError as exc:
        return None, problems + [Problem(pos.of(("target",), prefer_value=True), "target", str(exc))]
    pipe_loaded, _ = load_yaml(pipeline_file)
    pipeline, _ = validate_model(Pipeline, pipe_loaded) if pipe_loaded else (None, [])
    if pipeline is None:  # rendered, so it validates; this guards the impossible
        raise UsageError(f"{relative(pipeline_file)}: cannot be read back after rendering")
    base = parse_time(model.base, 0)
    return Suite(file, display, model, pos, pipeline, bundle, base), problems


def _validate(loaded: LoadedYaml) -> tuple[TestFile | None, list[Problem]]:
    """The file's shape, each test on its own: a typo in one test does not hide the problems of
    the others (their names, columns and files are still checked against the pipeline)."""
    data = loaded.data
    raw_tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(raw_tests, dict) or not raw_tests:
        return validate_model(TestFile, loaded)
    head, problems = validate_model(_Head, loaded)
    tests: dict[str, PipelineTest] = {}
    for name, raw in raw_tests.items():
        prefix = ("tests", name)
        sub = Positions(loaded.positions.file)
        for table, whole in ((sub.keys, loaded.positions.keys), (sub.values, loaded.positions.values)):
            table.update({k[2:]: v for k, v in whole.items() if k[:2] == prefix})
        model, shape = validate_model(PipelineTest, LoadedYaml(raw, sub))
        for p in shape:
            path = dotted(prefix) + ("." + p.path if p.path else "")
            problems.append(Problem(p.location, path, p.message, p.hint))
        if model is not None and _name_ok(name):
            tests[name] = model
    if head is None:
        return None, problems
    return TestFile.model_construct(**{**dict(head), "tests": tests}), problems


class _Head(TestFile):
    """The file without its tests (validated one by one)."""

    tests: dict[str, Any] = Field(min_length=1)  # type: ignore[assignment]


def _name_ok(name: str) -> bool:
    return bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name))


# ---------------------------------------------------------------------------- checks


def _problem(case: Case, path: tuple, message: str, hint: str = "", value: bool = False) -> Problem:
    full = ("tests", case.name, *path)
    return Problem(case.suite.positions.of(full, prefer_value=value), dotted(full), message, hint)


def _listing(what: str, names: Iterable[str]) -> str:
    return listing(what, names).replace("there are no", "the pipeline has no")


def _check_case(case: Case) -> list[Problem]:
    """Every problem of one test case, each at its YAML position; fills `case.inputs`."""
    problems: list[Problem] = []
    _check_inputs(case, problems)
    _check_advance(case, problems)
    _check_lookups(case, problems)
    _check_expect(case, problems)
    return problems


def _check_inputs(case: Case, problems: list[Problem]) -> None:
    pipeline, spec = case.suite.pipeline, case.spec
    for name, given in spec.inputs.items():
        if name not in pipeline.sources:
            problems.append(_problem(case, ("inputs", name), f"unknown source {name!r}", _listing("sources", pipeline.sources)))
            continue
        src = pipeline.sources[name]
        records: list[InputRecord] = []
        if given.key is not None and given.key not in src.columns:
            problems.append(_problem(case, ("inputs", name, "key"), f"{given.key!r} is not a column of source {name}",
                                     _listing("columns", src.columns), value=True))  # fmt: skip
        if given.file is not None:
            rows, file_problems = _read_file(case, ("inputs", name, "file"), given.file, src)
            problems.extend(file_problems)
            for loc, row in rows:
                records.append(_record(case, loc, (), row, src, given.key, problems))
        for i, row in enumerate(given.rows):
            path = ("inputs", name, "rows", i)
            records.append(_record(case, case.where(*path), path, row, src, given.key, problems))
        case.inputs[name] = records


def _check_advance(case: Case, problems: list[Problem]) -> None:
    """Each `advance` step is one more record of its source, at the time it moves to."""
    pipeline, spec = case.suite.pipeline, case.spec
    for i, step in enumerate(spec.advance):
        path = ("advance", i)
        if step.source not in pipeline.sources:
            problems.append(_problem(case, (*path, "source"), f"unknown source {step.source!r}",
                                     _listing("sources", pipeline.sources), value=True))  # fmt: skip
            continue
        src = pipeline.sources[step.source]
        row = dict(step.row)
        et = src.event_time
        if et is not None and et.column:
            row[et.column] = step.to
        else:
            row["_at"] = step.to
        case.inputs.setdefault(step.source, []).append(_record(case, case.where(*path), (*path, "row"), row, src, None, problems))


def _check_lookups(case: Case, problems: list[Problem]) -> None:
    pipeline, spec = case.suite.pipeline, case.spec
    for name, given in spec.lookups.items():
        if name not in pipeline.lookups:
            problems.append(_problem(case, ("lookups", name), f"unknown lookup {name!r}", _listing("lookups", pipeline.lookups)))
            continue
        columns = pipeline.lookups[name].columns
        for i, row in enumerate(given.rows):
            for col in row:
                if col not in columns:
                    problems.append(_problem(case, ("lookups", name, "rows", i, col), f"{col!r} is not a column of lookup {name}",
                                             _listing("columns", columns)))  # fmt: skip
            missing = [k for k in pipeline.lookups[name].key if row.get(k) is None]
            if missing:
                problems.append(_problem(case, ("lookups", name, "rows", i), f"the row has no value for key column(s) {', '.join(missing)}"))


def _check_expect(case: Case, problems: list[Problem]) -> None:
    bundle, spec = case.suite.bundle, case.spec
    tables = {t.name: t for t in bundle.tables if t.role == "sink"}
    for name, exp in spec.expect.items():
        table = tables.get(name)
        if table is None:
            readable = [t.name for t in tables.values() if t.connector in READABLE]
            problems.append(_problem(case, ("expect", name), f"{name!r} is not a sink of pipeline {bundle.name}",
                                     _listing("sinks", readable)))  # fmt: skip
            continue
        if table.connector not in READABLE:
            problems.append(_problem(case, ("expect", name), f"sink {name} is a {table.connector} sink: a test reads Kafka sinks only",
                                     "test the metric or detector through a Kafka sink"))  # fmt: skip
            continue
        columns = sink_columns(bundle, name)
        for kind in ("rows", "contains"):
            for i, row in enumerate(getattr(exp, kind) or []):
                problems.extend(_unknown_columns(case, ("expect", name, kind, i), row, columns, name))
        problems.extend(_unknown_columns(case, ("expect", name, "where"), exp.where, columns, name))


def _unknown_columns(case: Case, path: tuple, row: dict, columns: tuple[str, ...], sink: str) -> list[Problem]:
    return [_problem(case, (*path, col), f"sink {sink} has no column {col!r}", _listing("columns", columns))
            for col in row if col not in columns]


def sink_columns(bundle: PipelineBundle, table: str) -> tuple[str, ...]:
    """The columns a test sees of a sink: its CREATE TABLE columns, or for raw record sinks
    (dead letters, late events) the record's key, value and headers."""
    sql = bundle.statement(table, "create_table").sql
    if "'value.format' = 'raw'" in sql:
        return RECORD_COLUMNS
    body = sql.split(") WITH (", 1)[0]
    return tuple(c.replace("``", "`") for c in _COLUMN_LINE.findall(body))


# ---------------------------------------------------------------------------- input records


def _read_file(case: Case, path: tuple, name: str, src: KafkaSource) -> tuple[list[tuple[Location, dict]], list[Problem]]:
    file = case.suite.file.parent / name
    shown = relative(file)
    if not file.is_file():
        return [], [_problem(case, path, f"no such input file: {shown}", "give the path relative to the test file", value=True)]
    if file.suffix not in (".jsonl", ".csv"):
        return [], [_problem(case, path, f"{shown}: input files are .csv or .jsonl", value=True)]
    try:
        return read_rows(file, shown, src)
    except (OSError, UnicodeDecodeError) as exc:
        return [], [_problem(case, path, f"cannot read {shown}: {exc}", value=True)]


def _record(case: Case, loc: Location, path: tuple, row: dict, src: KafkaSource, key_column: str | None,
            problems: list[Problem]) -> InputRecord:
    """One input row -> its record; problems at the row's key in the test file, or its file line."""

    def bad(col: str | None, message: str, hint: str) -> None:
        if path:
            problems.append(_problem(case, (*path, col) if col else path, message, hint))
        else:
            problems.append(Problem(loc, col or "", message, hint))

    return to_record(row, src, key_column, case.suite.base_ms, bad)
