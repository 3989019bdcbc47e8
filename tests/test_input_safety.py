"""Untrusted input cannot hurt: output folders, comments, ${env:...} references, secrets, JDBC names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from flinksql_gen import api
from flinksql_gen.cli import main
from flinksql_gen.errors import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"


@pytest.fixture()
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the example project, as the working directory."""
    shutil.copytree(PIPELINES, tmp_path / "pipelines")
    shutil.copy(ROOT / "targets.yaml", tmp_path / "targets.yaml")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("mine\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _render(*args: str):
    return CliRunner().invoke(main, ["render", "pipelines", *args])


# ---------------------------------------------------------------------------- the output folder


@pytest.mark.parametrize("out", ["pipelines", ".", "..", "docs", "targets.yaml"])
def test_render_never_replaces_a_folder_it_did_not_write(project, out):
    before = _snapshot(project)
    mode = project.stat().st_mode
    result = _render("-o", out)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert any(w in result.output.lower() for w in ("choose", "nothing was changed", "is a file"))
    assert _snapshot(project) == before
    assert project.stat().st_mode == mode


def test_render_into_a_previous_bundle_replaces_only_its_own_files(project):
    out = project / "target"
    assert _render("-o", "target").exit_code == 0
    out.chmod(0o750)
    (out / "README.txt").write_text("kept")
    (out / "stale.sql").write_text("not listed in the manifest: kept")
    # A pipeline that goes away takes its script with it; the rest is rewritten.
    (project / "pipelines" / "pizza_drilldown.yaml").unlink()
    result = _render("-o", "target")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.txt", "cpu.sql", "cpu_anomalies.sql", "manifest.json", "pizza.sql", "stale.sql"]
    assert (out / "README.txt").read_text() == "kept"
    assert out.stat().st_mode & 0o777 == 0o750
    assert not [p for p in project.iterdir() if p.name.startswith(".")]  # nothing left behind


def test_render_refuses_a_foreign_manifest_and_never_follows_its_names(project):
    out = project / "elsewhere"
    out.mkdir()
    victim = project / "victim.sql"
    victim.write_text("keep me")
    (out / "manifest.json").write_text(json.dumps({"generator": "flinksql-gen x", "pipelines": [{"sql_file": "../victim.sql"}]}))
    assert _render("-o", "elsewhere").exit_code == 0
    assert victim.read_text() == "keep me"
    (out / "manifest.json").write_text(json.dumps({"pipelines": []}))
    result = _render("-o", "elsewhere")
    assert result.exit_code == 2 and "not written by flinksql-gen" in result.output


def test_render_through_a_symlinked_output_folder(project, tmp_path_factory):
    real = tmp_path_factory.mktemp("real")
    (project / "link").symlink_to(real)
    assert _render("-o", "link").exit_code == 0
    assert (real / "manifest.json").is_file()
    assert _render("-o", "link").exit_code == 0
    assert sorted(p.name for p in project.iterdir()) == ["docs", "link", "pipelines", "targets.yaml"]


def test_render_json_output(project):
    result = _render("-o", "target", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["files"] == ["cpu.sql", "cpu_anomalies.sql", "manifest.json", "pizza.sql",
                                                  "pizza_drilldown.sql"]  # fmt: skip


# ---------------------------------------------------------------------------- inert comments


def test_file_names_and_descriptions_cannot_start_a_statement(project):
    hostile = project / "pipelines" / "x\nDROP TABLE cpu_thresholds;\n-- .yaml"
    text = (project / "pipelines" / "cpu.yaml").read_text()
    hostile.write_text(text.replace("pipeline: cpu", "pipeline: cpu2", 1) if "pipeline: cpu" in text else
                       "pipeline: cpu2\n" + text)  # fmt: skip
    bundle = api.render(hostile, "local")
    script = bundle.pipelines[0].script
    assert "\nDROP TABLE" not in script
    assert "x\\u000ADROP TABLE cpu_thresholds;\\u000A-- .yaml" in script.splitlines()[0]


# ---------------------------------------------------------------------------- ${env:...} references


def _write(project: Path, name: str, text: str) -> Path:
    path = project / "pipelines" / name
    path.write_text(text)
    return path


ALERTS = """\
sources:
  readings:
    topic: readings
    columns: {host: STRING, usage: DOUBLE}
metrics:
  high:
    source: readings
    filter: [{column: host, op: like, value: "%s"}]
    select: [host, usage]
    sinks: [alerts]
sinks:
  alerts: {type: slack, token: "${env:SLACK_TOKEN}", channel_id: "%s", message: "%s"}
"""


@pytest.mark.parametrize(
    "pattern, channel, message",
    [
        ("${env:AWS_SECRET_ACCESS_KEY}", "C1", "hi"),
        ("%", "${env:AWS_SECRET_ACCESS_KEY}", "hi"),
        ("%", "C1", "leak ${env:AWS_SECRET_ACCESS_KEY}"),
    ],
)
def test_env_references_outside_connection_settings_are_refused(project, pattern, channel, message):
    path = _write(project, "leak.yaml", ALERTS % (pattern, channel, message))
    with pytest.raises(DefinitionError) as err:
        api.validate(path)
    text = str(err.value)
    assert "allowed only in connection settings" in text and "leak.yaml:" in text


def test_env_reference_in_a_column_name_is_refused(project):
    text = ALERTS % ("%", "C1", "hi")
    path = _write(project, "leak.yaml", text.replace("{host: STRING,", "{host: STRING, '${env:HOME}': STRING,"))
    with pytest.raises(DefinitionError, match="a key cannot hold an"):
        api.validate(path)


@pytest.mark.parametrize(
    "section",
    [
        "    postgres:\n      password: hunter2\n",
        "    postgres:\n      password: ${env:PG_PASSWORD:-hunter2}\n",
        "    kafka:\n      properties:\n        sasl.jaas.config: 'PlainLoginModule required password=\"hunter2\";'\n",
        "    settings:\n      s3.secret-key: hunter2\n",
        "    token: hunter2\n",
    ],
)
def test_plaintext_secrets_in_targets_are_refused_without_echoing_them(project, section):
    kind = "aiven" if "token" in section else "local"
    (project / "targets.yaml").write_text(f"targets:\n  mine:\n    type: {kind}\n{section}")
    result = CliRunner().invoke(main, ["validate", "pipelines", "-t", "mine"])
    assert result.exit_code == 1, result.output
    assert "holds a secret" in result.output and "targets.yaml:" in result.output
    assert "hunter2" not in result.output


def test_secret_references_in_connection_settings_stay_references(project, monkeypatch):
    monkeypatch.setenv("PG_PASSWORD", "s3cr3t-value")
    (project / "targets.yaml").write_text(
        "targets:\n  mine:\n    type: local\n    postgres:\n      password: ${env:PG_PASSWORD}\n"
        "    kafka:\n      properties:\n        sasl.jaas.config: ${env:KAFKA_JAAS}\n"
    )
    bundle = api.render("pipelines", "mine")
    cpu = bundle.pipeline("cpu")
    assert {"PG_PASSWORD", "KAFKA_JAAS"} <= set(cpu.env)
    assert "s3cr3t-value" not in json.dumps(bundle.manifest())


# ---------------------------------------------------------------------------- JDBC names


@pytest.mark.parametrize(
    "old, new",
    [
        ("table: cpu_thresholds", 'table: "(SELECT usename FROM pg_user) AS t"'),
        ("allowed_top: DOUBLE", "'(SELECT passwd FROM pg_shadow LIMIT 1)': DOUBLE"),
    ],
)
def test_jdbc_lookup_names_must_be_identifiers(project, old, new):
    path = project / "pipelines" / "cpu.yaml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(DefinitionError) as err:
        api.validate(path)
    assert "lookups.cpu_thresholds" in str(err.value) and "cpu.yaml:" in str(err.value)


def test_jdbc_sink_table_must_be_an_identifier(project):
    text = (ALERTS % ("%", "C1", "hi")).replace(
        'alerts: {type: slack, token: "${env:SLACK_TOKEN}", channel_id: "C1", message: "hi"}',
        'alerts: {type: jdbc, table: "alerts(a) VALUES (1); DROP TABLE x; --"}',
    )
    with pytest.raises(DefinitionError, match=r"sinks\.alerts\.table"):
        api.validate(_write(project, "sink.yaml", text))


# ---------------------------------------------------------------------------- the crash log


def test_crash_log_is_private_and_cannot_be_planted(tmp_path, monkeypatch):
    from flinksql_gen.cli import _crash_log

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = Path(_crash_log("trace one"))
    second = Path(_crash_log("trace two"))
    assert first != second and first.parent == tmp_path / "flinksql-gen"
    assert first.read_text() == "trace one"
    assert os.stat(first).st_mode & 0o777 == 0o600


# ---------------------------------------------------------------------------- resolved values


@pytest.mark.parametrize("value", ["a'b", "a`b", "a\nb", "a\rb"])
def test_a_resolved_value_that_could_change_a_statement_is_refused(value):
    from flinksql_gen.errors import UsageError
    from flinksql_gen.secrets import resolve

    with pytest.raises(UsageError) as err:
        resolve("'password' = '${env:PW}'", {"PW": value}, allowed=["PW"])
    assert "PW" in str(err.value) and value not in str(err.value)
    assert resolve("'password' = '${env:PW}'", {"PW": 'a"b;c'}, allowed=["PW"]) == "'password' = 'a\"b;c'"


# ---------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "template, message",
    [
        ("{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}", "SecurityError"),
        ("SET {{ setting.key }}\n{% if %}", "template syntax error"),
        ("SET\n{{ setting.nope }}", "UndefinedError"),
    ],
)
def test_template_overrides_cannot_run_code_and_errors_name_the_line(project, template, message):
    (project / "sql_templates").mkdir()
    (project / "sql_templates" / "set.sql.j2").write_text(template)
    result = CliRunner().invoke(main, ["render", "pipelines", "-o", "target", "--format", "json"])
    assert result.exit_code == 1, result.output
    error = json.loads(result.output)["errors"][0]
    assert error["file"] == "sql_templates/set.sql.j2" and message in error["message"]
    assert error["line"] == template.count("\n") + 1
    assert not (project / "pwned").exists() and not (project / "target").exists()


def test_template_that_is_not_utf8(project):
    (project / "sql_templates").mkdir()
    (project / "sql_templates" / "set.sql.j2").write_bytes(b"SET \xff\xfe")
    result = CliRunner().invoke(main, ["render", "pipelines", "-o", "target"])
    assert result.exit_code == 1 and "sql_templates/set.sql.j2: the template is not UTF-8 text" in result.output


# ---------------------------------------------------------------------------- YAML


def _problems(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(DefinitionError) as err:
        api.validate(path)
    return str(err.value)


BOMB = "\n".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
])  # fmt: skip


def _measured(code: str) -> tuple[float, int, str]:
    """Run Python code in a fresh process: (seconds, peak RSS in MiB, what it printed)."""
    import subprocess
    import sys

    # Peak RSS from VmHWM, the high-water mark of this process image: ru_maxrss would carry over
    # the (large) pytest process that forked it.
    wrapper = ("import re, time\nstart = time.perf_counter()\n" + code +
               "\nprint('SECONDS', time.perf_counter() - start)"
               "\nhwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)"
               "\nprint('PEAK', int(hwm) // 1024)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=300, check=True).stdout
    values = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("SECONDS", "PEAK")))
    return float(values["SECONDS"]), int(values["PEAK"]), out


def test_alias_bomb_is_refused_quickly(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(BOMB)
    seconds, peak_mib, out = _measured(
        "from flinksql_gen import api\n"
        f"try:\n    api.validate({str(path)!r})\nexcept api.DefinitionError as e:\n    print(e)"
    )
    assert seconds < 10 and peak_mib < 300, out  # 9**8 strings were never built (that took 22 s, 2.9 GB)
    assert "p.yaml:2:1: b[0]: YAML anchors and aliases" in out
    assert "anchors and aliases" in _problems(tmp_path, "a: &a [*a]\n")


def _wide_source(path: Path, columns: int) -> None:
    lines = "".join(f"      c{i}: DOUBLE\n" for i in range(columns))
    path.write_text(f"pipeline: wide\nsources:\n  s:\n    topic: t\n    columns:\n{lines}"
                    "metrics:\n  m: {source: s, columns: [c1, c2], sinks: [out]}\n"
                    "sinks:\n  out: {type: kafka, topic: o}\n")  # fmt: skip


def test_planning_is_linear_in_the_number_of_columns(tmp_path):
    """A 100k-column source renders in time and memory proportional to its size (a quadratic
    planner took 5.9 s for 20k columns and was killed at 1M)."""
    timings = {}
    for columns in (20_000, 100_000):
        path = tmp_path / f"wide{columns}.yaml"
        _wide_source(path, columns)
        seconds, peak_mib, out = _measured(
            f"from flinksql_gen import api\nb = api.render({str(path)!r}, 'local')\nprint(len(b.pipelines[0].script))"
        )
        timings[columns] = seconds
        assert peak_mib < 1500, out
    assert timings[100_000] < 60
    assert timings[100_000] / timings[20_000] < 10  # 5x the columns; quadratic would be 25x


def test_oversized_and_deep_files_are_refused(tmp_path, monkeypatch):
    from flinksql_gen.load import yaml_loader

    monkeypatch.setattr(yaml_loader, "MAX_FILE_BYTES", 100)
    assert "over the 100-byte limit" in _problems(tmp_path, "pipeline: x\n" + "#" * 200)
    monkeypatch.undo()
    deep = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)) + "  " * 80 + "v: 1\n"
    assert "nested more than 64 levels deep" in _problems(tmp_path, deep)
    assert "YAML syntax error" in _problems(tmp_path, "a: " + "[" * 5000 + "]" * 5000)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x: !!binary aGVsbG8=", "YAML tag 'tag:yaml.org,2002:binary' is not supported"),
        ("x: !custom {a: 1}", "YAML tag '!custom' is not supported"),
        ("x: !!python/object/new:os.system [id]", "is not supported"),
        ("x: .nan", "x: .nan is not a finite number"),
        ("x: -.inf", "is not a finite number"),
        ("x: 1e400", "1e400 is not a finite number"),
        ("x: !!int 1:30", "'1:30' is not a valid int"),
    ],
)
def test_yaml_tags_and_non_finite_numbers_are_refused(tmp_path, text, expected):
    assert expected in _problems(tmp_path, text + "\n")


def test_numbers_follow_yaml_1_2(tmp_path):
    from flinksql_gen.load.yaml_loader import load_yaml

    path = tmp_path / "n.yaml"
    path.write_text("a: 010\nb: 1:30\nc: 0o17\nd: 0x1F\ne: 1_000\nf: 2026-01-01\ng: +5\nh: .5\ni: yes\n")
    loaded, problems = load_yaml(path)
    assert problems == []
    assert loaded.data == {"a": 10, "b": "1:30", "c": 15, "d": 31, "e": "1_000", "f": "2026-01-01", "g": 5,
                           "h": 0.5, "i": "yes"}  # fmt: skip


def test_booleans_and_text_are_not_numbers(project):
    path = project / "pipelines" / "cpu.yaml"
    text = path.read_text()
    assert "watermark: 10s" in text
    path.write_text(text.replace("watermark: 10s", "watermark: 1:30", 1))
    with pytest.raises(DefinitionError, match="watermark"):
        api.validate(path)
    anomalies = project / "pipelines" / "cpu_anomalies.yaml"
    text = anomalies.read_text()
    assert "lookback: 12" in text
    anomalies.write_text(text.replace("lookback: 12", "lookback: true", 1))
    with pytest.raises(DefinitionError, match=r"lookback: Input should be a valid integer"):
        api.validate(anomalies)


# ---------------------------------------------------------------------------- targets.yaml


def test_control_characters_in_targets_are_problems_at_their_line(project):
    (project / "targets.yaml").write_text(
        'targets:\n  local:\n    type: local\n    kafka:\n      bootstrap_servers: "a\\nb"\n'
        '      properties: {"x\\ny": "1"}\n    settings: {"d": "e\\nf"}\n'
    )
    result = CliRunner().invoke(main, ["render", "pipelines", "-o", "target"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("targets.yaml:")]
    assert [line.split(": ")[0] for line in lines] == ["targets.yaml:5:26", "targets.yaml:6:28", "targets.yaml:7:21"]
    assert "properties.x\\ny" in result.output


# ---------------------------------------------------------------------------- thresholds CSV


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"hostname,allowed_top\nh\xe9st,1\n", "bad.csv:2: not UTF-8 text"),
        (b"hostname,allowed_top\nok,1\nh\x00st,1\n", "bad.csv:3: the file holds a NUL character"),
    ],
)
def test_thresholds_csv_that_is_not_clean_utf8(tmp_path, data, expected, monkeypatch):
    from flinksql_gen.stack.thresholds import load_thresholds

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_bytes(data)
    with pytest.raises(DefinitionError) as err:  # refused before any connection is made
        load_thresholds("postgresql://nowhere.invalid/none", tmp_path)
    assert expected in str(err.value)


# ---------------------------------------------------------------------------- secrets never leak

SECRETS = {
    "FLINKSQL_JDBC_PASSWORD": "pg-pass-8f3a1",
    "KAFKA_JAAS": 'PlainLoginModule required password="kafka-jaas-71c2";',
    "SLACK_TOKEN": "xoxb-slack-5d9e0",
    "AIVEN_TOKEN": "aiven-tok-44b7c",
    "S3_SECRET": "s3-secret-0a6f9",
}
SECRET_TARGETS = """\
targets:
%s
"""
_TARGET_BODY = """\
  %s:
    type: %s
    postgres: {password: "${env:FLINKSQL_JDBC_PASSWORD}"}
    kafka: {properties: {sasl.jaas.config: "${env:KAFKA_JAAS}", security.protocol: SASL_SSL}}
    settings: {s3.secret-key: "${env:S3_SECRET}"}
"""


def test_known_secret_values_appear_in_no_file_output_or_error(project, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    bodies = "".join(_TARGET_BODY % (kind, kind) for kind in ("local", "cluster", "gateway"))
    # Integration ids (not names) and a closed local port: nothing is looked up or sent anywhere.
    bodies += _TARGET_BODY % ("aiven", "aiven") + (
        '    token: "${env:AIVEN_TOKEN}"\n    api_url: http://127.0.0.1:9\n'
        "    integrations: {kafka: 4ec23427-9e9f-4827-90fa-ea9e38c31bc3, postgres: 7d8e3f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6}\n"
    )
    (project / "targets.yaml").write_text(SECRET_TARGETS % bodies.rstrip("\n"))
    outputs = []
    for target in ("local", "cluster", "gateway"):
        result = CliRunner().invoke(main, ["render", "pipelines", "-t", target, "-o", f"out/{target}"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    for file in ("cpu_anomalies.yaml", "pizza_drilldown.yaml"):  # UDF detectors: not for aiven
        (project / "pipelines" / file).unlink()
    result = CliRunner().invoke(main, ["render", "pipelines", "-t", "aiven", "-o", "out/aiven", "--format", "json"])
    assert result.exit_code == 0, result.output
    outputs.append(result.output)
    result = CliRunner().invoke(main, ["deploy", "aiven", "pipelines", "--generate-dir", "out/bodies",
                                       "--project", "p1", "--service", "f1"],
                                env={"AIVEN_CONFIG_DIR": "/nonexistent"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert list((project / "out" / "bodies").rglob("version.json"))
    outputs.append(result.output)
    # Error paths: a definition that misuses a secret, and a secret value that cannot be passed safely.
    (project / "pipelines" / "leak.yaml").write_text(ALERTS % ("${env:SLACK_TOKEN}", "C1", "${env:AIVEN_TOKEN}"))
    outputs.append(CliRunner().invoke(main, ["validate", "pipelines", "--format", "json"]).output)
    from flinksql_gen.errors import UsageError
    from flinksql_gen.secrets import resolve

    with pytest.raises(UsageError) as err:
        resolve("'${env:FLINKSQL_JDBC_PASSWORD}'", {"FLINKSQL_JDBC_PASSWORD": SECRETS["FLINKSQL_JDBC_PASSWORD"] + "'"})
    outputs.append(str(err.value))
    written = [p for p in project.rglob("*") if p.is_file()]
    assert len([p for p in written if p.parent.name == "aiven"]) >= 3
    for value in SECRETS.values():
        for path in written:
            assert value not in path.read_text(errors="replace"), f"{value} leaked into {path}"
        for text in outputs:
            assert value not in text
    assert "${env:KAFKA_JAAS}" in (project / "out" / "local" / "cpu.sql").read_text()
