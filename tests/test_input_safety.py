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
