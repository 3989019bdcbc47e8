"""Jars from a Maven repository: digests checked, cache reused, clear errors offline or on a bad
mirror. A real HTTP server on loopback plays the repository (no network needed)."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flinksql_gen.errors import UsageError
from flinksql_gen.machine import Machine
from flinksql_gen.runtime import jars, maven
from flinksql_gen.runtime.maven import Artifact
from flinksql_gen.stack import procs

ART = Artifact("org.example", "demo-lib", "1.2.3")


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    root = tmp_path / "repo"
    root.mkdir()
    requests: list[str] = []
    handler = type("H", (_Handler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/maven2", root / "maven2", requests
    finally:
        server.shutdown()


def publish(root: Path, artifact: Artifact, data: bytes, *, sha1: str | None = None,
            sha256: str | None = None) -> None:
    path = root / artifact.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.with_name(path.name + ".sha1").write_text((sha1 or hashlib.sha1(data).hexdigest()) + "  x.jar\n")
    if sha256 is not None:
        path.with_name(path.name + ".sha256").write_text(sha256)


def test_fetch_verifies_sha1_and_caches(repo, tmp_path):
    url, root, requests = repo
    publish(root, ART, b"jar bytes")
    got = maven.fetch(ART, repository=url, cache=tmp_path / "cache")
    assert got.read_bytes() == b"jar bytes"
    assert got == tmp_path / "cache" / "maven" / "org/example/demo-lib/1.2.3/demo-lib-1.2.3.jar"
    served = len(requests)
    assert maven.fetch(ART, repository=url, cache=tmp_path / "cache") == got
    assert len(requests) == served  # the second time nothing is downloaded


def test_sha256_is_preferred_when_published(repo, tmp_path):
    url, root, _ = repo
    publish(root, ART, b"jar bytes", sha256="0" * 64)  # the .sha1 is right, the .sha256 is not
    with pytest.raises(UsageError, match="does not match its published sha256"):
        maven.fetch(ART, repository=url, cache=tmp_path / "cache")
    assert not maven.is_cached(ART, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_a_corrupt_download_is_refused(repo, tmp_path):
    url, root, _ = repo
    publish(root, ART, b"jar bytes", sha1=hashlib.sha1(b"other").hexdigest())
    with pytest.raises(UsageError, match="does not match its published sha1"):
        maven.fetch(ART, repository=url, cache=tmp_path / "cache")


def test_missing_artifact_and_missing_digest(repo, tmp_path):
    url, root, _ = repo
    with pytest.raises(UsageError, match=r"no published \.sha256 or \.sha1"):
        maven.fetch(ART, repository=url, cache=tmp_path / "cache")
    path = root / ART.path
    path.parent.mkdir(parents=True)
    path.with_name(path.name + ".sha1").write_text("ab" * 20)
    with pytest.raises(UsageError, match=r"is not in .* answered 404"):
        maven.fetch(ART, repository=url, cache=tmp_path / "cache")


def test_offline_says_how_to_proceed(tmp_path):
    dead = f"http://127.0.0.1:{procs.free_port()}/maven2"
    with pytest.raises(UsageError, match=r"are you offline\?.*--repository URL"):
        maven.fetch(ART, repository=dead, cache=tmp_path / "cache")


def test_no_download_when_asked_not_to(tmp_path):
    with pytest.raises(UsageError, match="run `flinksql-gen setup` first"):
        maven.fetch_all([ART], cache=tmp_path / "cache", download=False)


def test_the_repository_is_given_never_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLINKSQL_GEN_MAVEN_REPO", "https://mirror.example/m2/")
    assert maven.repository_url() == maven.CENTRAL  # the library does not look
    mirror = Machine.from_environ(os.environ).maven_repository  # the CLI does, once
    assert maven.repository_url(mirror) == "https://mirror.example/m2"
    assert maven.repository_url("https://other/") == "https://other"


def test_coordinates_parse():
    assert Artifact.parse("org.apache.kafka:kafka_2.13:jar:4.1.1:compile") == \
        Artifact("org.apache.kafka", "kafka_2.13", "4.1.1")
    assert str(Artifact.parse("a.b:c:1")) == "a.b:c:1"
    with pytest.raises(ValueError):
        Artifact.parse("a:b")


def test_connector_jars_come_from_the_cache_into_the_workdir(repo, tmp_path, monkeypatch):
    """ensure_jars with a mirror: four official artifacts, linked into <workdir>/jars."""
    url, root, _ = repo
    for a in jars.CONNECTORS:
        publish(root, a, f"{a}".encode())
    monkeypatch.setattr(jars, "connectors_on_classpath", lambda: False)
    built = []  # the published jars are stand-ins: the real build is tested in test_checked_format

    def build(workdir, classpath=()):
        built.append(list(classpath))
        return workdir / "jars" / "flinksql-gen-formats-test.jar"

    monkeypatch.setattr(jars, "ensure_format_jar", build)
    got = jars.ensure_jars(tmp_path / "work", repository=url, cache=tmp_path / "cache")
    # our Kafka source compiles against the Kafka connector, so the format is built after the download
    assert built == [[tmp_path / "work" / "jars" / "flink-sql-connector-kafka-4.0.1-2.0.jar"]]
    assert [p.name for p in got[:4]] == ["flink-sql-connector-kafka-4.0.1-2.0.jar",
                                         "flink-connector-jdbc-core-4.0.0-2.0.jar",
                                         "flink-connector-jdbc-postgres-4.0.0-2.0.jar",
                                         "postgresql-42.7.7.jar"]
    assert got[4].name.startswith("flinksql-gen-formats-")  # built from source (stack/formats.py)
    assert all(p.parent == tmp_path / "work" / "jars" for p in got)
    assert got[0].read_bytes() == b"org.apache.flink:flink-sql-connector-kafka:4.0.1-2.0"
    assert jars.pipeline_jars_value(got).count("file:///") == 5
