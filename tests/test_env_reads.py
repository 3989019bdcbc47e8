"""The library never reads FLINKSQL_* environment variables behind the caller's back (issue 16).

flinksql_gen.machine is the one reader of the machine's settings (FLINKSQL_WORKDIR, the Maven
mirror and cache, ...), and the CLI (cli/, project.py) the one place that resolves the others
(FLINKSQL_PROJECT_DIR, FLINKSQL_JOBMANAGER, ...); every other module takes values as parameters.
Found by an AST walk: os.environ / os.getenv reads and writes (get, [], in, pop, setdefault) of a
FLINKSQL_* name, given as text, an f-string or a module constant holding such a name. Mappings
passed in (`env.get("FLINKSQL_KAFKA_BOOTSTRAP")`) are the caller's choice and are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from source_ast import parse_source

import flinksql_gen
from flinksql_gen.machine import ENVIRONMENT, Machine
from flinksql_gen.runtime.aiven.versions import FLINK_VERSIONS

ROOT = Path(flinksql_gen.__file__).parent
ALLOWED = ("machine.py", "project.py", "cli/")
PREFIX = "FLINKSQL_"


def _is_environ(node: ast.AST) -> bool:
    """`os.environ`, or `environ` imported from os."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _is_getenv(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "getenv" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "getenv"


def _constants(trees: list[ast.Module]) -> set[str]:
    """Names bound anywhere at module level to a FLINKSQL_* text (e.g. REPOSITORY_ENV = "...")."""
    names: set[str] = set()
    for tree in trees:
        for node in tree.body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.startswith(PREFIX):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _names_flinksql(node: ast.AST | None, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value.startswith(PREFIX)
    if isinstance(node, ast.JoinedStr):  # f"FLINKSQL_{x}"
        return _names_flinksql(node.values[0] if node.values else None, constants)
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.Attribute):  # module.CONSTANT
        return node.attr in constants
    return False


def env_reads(tree: ast.Module, constants: set[str]) -> list[int]:
    """Lines of `tree` that touch os.environ / os.getenv for a FLINKSQL_* name."""
    lines: list[int] = []
    for node in ast.walk(tree):
        key: ast.AST | None = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if _is_getenv(func) or (isinstance(func, ast.Attribute) and _is_environ(func.value)):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            key = node.left
        if _names_flinksql(key, constants):
            lines.append(node.lineno)
    return lines


def _modules() -> dict[str, ast.Module]:
    return {path.relative_to(ROOT).as_posix(): parse_source(path.read_text(encoding="utf-8"))
            for path in sorted(ROOT.rglob("*.py"))}  # fmt: skip


def test_only_the_machine_settings_and_the_cli_read_flinksql_variables():
    modules = _modules()
    constants = _constants(list(modules.values()))
    found = [f"flinksql_gen/{name}:{line}" for name, tree in modules.items() if not name.startswith(ALLOWED)
             for line in env_reads(tree, constants)]  # fmt: skip
    assert not found, ("these library modules read FLINKSQL_* variables from the environment; take the value "
                       f"as a parameter and resolve it in flinksql_gen.machine (or the CLI): {found}")


@pytest.mark.parametrize("source", [
    'import os\nx = os.environ.get("FLINKSQL_WORKDIR")',
    'import os\nx = os.environ["FLINKSQL_PG_BIN"]',
    'import os\nx = os.getenv("FLINKSQL_GEN_CACHE", "")',
    'import os\nx = "FLINKSQL_X" in os.environ',
    'import os\nNAME = "FLINKSQL_GEN_MAVEN_REPO"\nx = os.environ.get(NAME)',
    'from os import environ\nx = environ.pop(f"FLINKSQL_{1}")',
])
def test_each_way_of_reading_is_found(source):
    tree = parse_source(source)
    assert env_reads(tree, _constants([tree])) == [len(source.splitlines())]


@pytest.mark.parametrize("source", [
    'import os\nx = os.environ.get("JAVA_HOME")',
    'def f(env):\n    return env.get("FLINKSQL_KAFKA_BOOTSTRAP")',  # a mapping the caller passed
    'import os\nenv = dict(os.environ)',
])
def test_other_reads_are_not_flagged(source):
    tree = parse_source(source)
    assert env_reads(tree, _constants([tree])) == []


def test_the_machine_settings_come_from_the_given_mapping_only(monkeypatch):
    for var in ENVIRONMENT.values():
        monkeypatch.setenv(var, "/from/os/environ")  # never consulted: only the mapping given is
    machine = Machine.from_environ({"FLINKSQL_WORKDIR": "/w", "FLINKSQL_GEN_MAVEN_REPO": "https://m/",
                                    "FLINKSQL_GEN_CACHE": "", "FLINKSQL_PG_BIN": "/pg",
                                    "FLINKSQL_PYTHON_EXECUTABLE": "/py", "FLINKSQL_GEN_AIVEN_PYTHON": "/py311"})
    assert machine == Machine(workdir=Path("/w"), maven_repository="https://m/", cache=None, pg_bin=Path("/pg"),
                              udf_python="/py", aiven_python="/py311")  # an empty variable counts as unset
    assert Machine.from_environ({}) == Machine()
    assert machine.stack_workdir() == Path("/w")
    assert machine.stack_workdir(Path("/given")) == Path("/given")  # --workdir wins
    assert Machine().stack_workdir() == (Path.cwd() / ".flinksql")


# ---------------------------------------------------------------- the CLI still honours each variable


def test_setup_honours_the_workdir_mirror_cache_pg_bin_and_aiven_python(tmp_path):
    """One `setup --aiven` with every machine variable set: each shows in what it did."""
    from click.testing import CliRunner

    from flinksql_gen.cli import main
    from flinksql_gen.stack import procs

    pg_bin = tmp_path / "pg-bin"
    pg_bin.mkdir()
    for name in ("initdb", "pg_ctl"):
        (pg_bin / name).write_text("#!/bin/sh\n")
    dead = f"http://127.0.0.1:{procs.free_port()}/m2"  # nothing listens: downloads fail, naming it
    env = {"FLINKSQL_WORKDIR": str(tmp_path / "wd"), "FLINKSQL_GEN_MAVEN_REPO": dead,
           "FLINKSQL_GEN_CACHE": str(tmp_path / "cache"), "FLINKSQL_PG_BIN": str(pg_bin),
           "FLINKSQL_GEN_AIVEN_PYTHON": "/bin/false"}
    result = CliRunner().invoke(main, ["setup", "--aiven"], env=env)
    assert result.exit_code == 2 and "setup incomplete" in result.output, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith(("ok", "missing"))}
    assert (tmp_path / "wd").is_dir()  # FLINKSQL_WORKDIR
    assert lines["broker"].startswith("missing") and f"from {dead}" in lines["broker"]  # the mirror
    assert lines["postgres"] == f"ok      postgres  PostgreSQL binaries in {pg_bin}"  # FLINKSQL_PG_BIN
    assert lines["aiven"].startswith("missing") and "creating the virtualenv failed" in result.output
    assert "$ /bin/false -m venv" in result.output  # FLINKSQL_GEN_AIVEN_PYTHON
    pyflink = FLINK_VERSIONS["1.20"].pyflink
    assert (tmp_path / "cache" / f"flink-{pyflink}" / "install.log").is_file()  # FLINKSQL_GEN_CACHE


def test_a_gateway_target_gets_the_udf_python_of_the_environment(tmp_path):
    from flinksql_gen.cli.cluster import build_target
    from flinksql_gen.project import Project

    project = Project.at(None, "none", machine=Machine.from_environ({"FLINKSQL_PYTHON_EXECUTABLE": "/opt/py"}))
    assert build_target("http://127.0.0.1:1", None, None, project).python_executable == "/opt/py"
    assert build_target("http://127.0.0.1:1", None, None, Project.at(None, "none")).python_executable is None


def test_an_aiven_python_that_does_not_exist_is_a_clear_error(tmp_path):
    from flinksql_gen.errors import UsageError
    from flinksql_gen.runtime.aiven.install import _base_python

    with pytest.raises(UsageError, match=r"FLINKSQL_GEN_AIVEN_PYTHON=.*not a program this machine can run"):
        _base_python(str(tmp_path / "no-such-python"))
    assert _base_python("/bin/false") == "/bin/false"
