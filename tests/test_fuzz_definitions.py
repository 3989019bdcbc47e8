"""Fuzzing: mutated example definitions and targets.yaml never crash the tool or touch other files.

Hypothesis mutates the real example project: raw bytes (control characters, invalid UTF-8, NUL),
YAML values (NaN, infinities, tags, aliases, bombs, secret references, paths), keys, and the
output path. `validate` and `render` must answer with exit 0 (valid) or 1 (problems reported),
never 2 (an internal error), and nothing outside the output folder may change.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flinksql_gen.cli import main

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(p.relative_to(ROOT).as_posix() for folder in ("pipelines", "examples")
               for p in (ROOT / folder).glob("*.yaml")) + ["targets.yaml"]  # fmt: skip

# Values a careless or hostile user may write where a scalar stands.
NASTY_VALUES = [
    ".nan", "-.inf", "1e400", "010", "1:30", "0x1F", "true", "null", "~", "''", '""', "[]", "{}",
    "!!binary aGVsbG8=", "!custom x", "!!python/object/new:os.system [id]", "!!int 1:30", "!!float x",
    "&a [1, 2]", "*a", "*undefined", "${env:HOME}", "${env:AWS_SECRET_ACCESS_KEY}", "'${env:X:-y}'",
    "../../etc/passwd", "/etc/passwd", "'a`b'", "\"a'b\"", "\"x\\ny\"", "\"\\u0000\"", "\"\\t\"",
    "\"\\x1b[31m\"", "'-- comment'", "\"*/ DROP TABLE t; /*\"", "0s", "-5s", "99999999d", "1e-400",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "'" + "x" * 5000 + "'",
    "{a: &a [*a]}", "|\n  multi\n  line", ">-\n  folded", "99999999999999999999999999999", "-0", "1e308",
    "-1", "0", "2147483648", "ARRAY<", "ROW<a INT", "DECIMAL(99, 99)", "count(*", "avg(x) + 1", "'%'",
    "sum(amount) / 0", "p95(region)", "count_if(1)", "\"a; DROP TABLE x; --\"", "\"status = 'x' -- c\"",
    "CASE WHEN", "\"(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1\"", "percentile(amount, 2)",
]  # fmt: skip
NASTY_KEYS = ["<<", "? [a]", "'${env:HOME}'", "\"a\\nb\"", "'a`b'", "'*'", "type", "0", "''", "'-- x'"]

_SCALAR_LINE = re.compile(r"^(\s*(?:- )?[^#:\n]+:[ \t]+)(\S.*)$")
_KEY_LINE = re.compile(r"^(\s*(?:- )?)([^#:\s][^#:\n]*)(:.*)$")


@pytest.fixture(scope="module")
def originals() -> dict[str, bytes]:
    return {f: (ROOT / f).read_bytes() for f in FILES}


def _snapshot(folder: Path, skip: str) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel.startswith(skip):  # the output folder(s): out, out/..., out_examples
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else "dir"
    return out


def _project(tmp_path: Path, originals: dict[str, bytes], file: str, data: bytes) -> Path:
    project = tmp_path / "project"
    if project.exists():
        shutil.rmtree(project)
    for name, content in originals.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(data if name == file else content)
    return project


def _run_and_check(project: Path, monkeypatch, output: str = "out", allowed=(0, 1)) -> None:
    monkeypatch.chdir(project)
    before = _snapshot(project, output)
    commands = (["validate", "pipelines"], ["render", "pipelines", "-o", output], ["validate", "pipelines", "-t", "aiven"],
                ["validate", "examples"], ["render", "examples", "-o", output + "_examples"])  # fmt: skip
    for args in commands:
        result = CliRunner().invoke(main, args)
        assert "internal error" not in result.output, result.output
        assert result.exit_code in allowed, (args, result.exit_code, result.output)
        assert _snapshot(project, output) == before


def _mutate_value(text: str, line_index: int, value: str) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _SCALAR_LINE.match(line)]
    i = candidates[line_index % len(candidates)]
    lines[i] = _SCALAR_LINE.sub(lambda m: m.group(1) + value, lines[i])
    return "\n".join(lines)


def _mutate_key(text: str, line_index: int, key: str) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    i = candidates[line_index % len(candidates)]
    lines[i] = _KEY_LINE.sub(lambda m: m.group(1) + key + m.group(3), lines[i])
    return "\n".join(lines)


FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


@FUZZ
@given(file=st.sampled_from(FILES), line=st.integers(0, 500), value=st.sampled_from(NASTY_VALUES))
def test_nasty_values(tmp_path, monkeypatch, originals, file, line, value):
    text = _mutate_value(originals[file].decode(), line, value)
    _run_and_check(_project(tmp_path, originals, file, text.encode()), monkeypatch)


@FUZZ
@given(file=st.sampled_from(FILES), line=st.integers(0, 500), key=st.sampled_from(NASTY_KEYS))
def test_nasty_keys(tmp_path, monkeypatch, originals, file, line, key):
    text = _mutate_key(originals[file].decode(), line, key)
    _run_and_check(_project(tmp_path, originals, file, text.encode()), monkeypatch)


@FUZZ
@given(
    file=st.sampled_from(FILES),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.binary(min_size=0, max_size=4)),
                   min_size=1, max_size=4),
)  # fmt: skip
def test_random_bytes(tmp_path, monkeypatch, originals, file, edits):
    data = bytearray(originals[file])
    for position, deleted, inserted in edits:
        at = position % (len(data) + 1)
        data[at : at + deleted] = inserted
    _run_and_check(_project(tmp_path, originals, file, bytes(data)), monkeypatch)


@FUZZ
@given(text=st.text(min_size=1, max_size=40))
def test_random_unicode_values(tmp_path, monkeypatch, originals, text):
    quoted = '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    for file in ("pipelines/cpu.yaml", "targets.yaml"):
        mutated = _mutate_value(originals[file].decode(), len(text) * 7, quoted)
        _run_and_check(_project(tmp_path, originals, file, mutated.encode()), monkeypatch)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(output=st.sampled_from([".", "..", "pipelines", "pipelines/cpu.yaml", "targets.yaml", "out/../pipelines",
                               "out", "out/deeper", "./out/", "pipelines/..", "out\nx", "-", "~"]))  # fmt: skip
def test_output_paths(tmp_path, monkeypatch, originals, output):
    """A refused output folder is a usage error (exit 2) with a message, never an internal error."""
    project = _project(tmp_path, originals, "", b"")
    monkeypatch.chdir(project)
    before = _snapshot(project, "out")
    result = CliRunner().invoke(main, ["render", "pipelines", "-o", output])
    assert "internal error" not in result.output and result.exit_code in (0, 2), result.output
    after = _snapshot(project, output.strip("./") if result.exit_code == 0 else "out")
    assert {k: v for k, v in after.items() if not k.startswith("out")} == {
        k: v for k, v in before.items() if not k.startswith("out")
    }
