"""up / status / down of the real local stack, in a work dir of its own."""

from __future__ import annotations

import shutil
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from flinksql_gen.errors import UsageError
from flinksql_gen.machine import Machine
from flinksql_gen.runtime.jars import CONNECTORS
from flinksql_gen.stack import down, load_state, procs, stack_env, status, up

pytestmark = pytest.mark.slow


def test_up_is_idempotent_and_down_stops_exactly_what_up_started(tmp_path):
    state = up(tmp_path, topics=["events:2"])
    try:
        info = status(tmp_path)
        assert info["broker"]["running"] and info["postgres"]["running"]
        assert info["topics"] == ["events"]
        assert state.bootstrap.startswith("127.0.0.1:")
        env = stack_env(state)
        assert env["FLINKSQL_KAFKA_BOOTSTRAP"] == state.bootstrap
        assert env["FLINKSQL_JDBC_URL"] == f"jdbc:postgresql://127.0.0.1:{state.postgres.port}/postgres"
        assert {"FLINKSQL_JDBC_USER", "FLINKSQL_JDBC_PASSWORD"} <= env.keys()
        assert "FLINKSQL_JOBMANAGER" not in env  # no cluster
        assert (tmp_path / "state.json").is_file()
        assert {Path(j).name for j in state.jars} >= {a.file_name for a in CONNECTORS}

        again = up(tmp_path, topics=["more"])
        assert again.broker == state.broker and again.postgres == state.postgres
        assert again.topics == ("events", "more")
        with pytest.raises(UsageError, match="already running on port"):
            up(tmp_path, kafka_port=procs.free_port())
    finally:
        stopped = down(tmp_path)
    assert stopped == ["postgres", "broker"]
    assert not procs.alive(state.broker.pid) and not procs.alive(state.postgres.pid)
    assert status(tmp_path) is None and load_state(tmp_path) is None
    assert down(tmp_path) == []


def test_a_taken_port_is_one_clear_sentence_and_leaves_nothing_running(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError) as err:
            up(tmp_path / "a", kafka_port=port)
        assert str(err.value) == f"port 127.0.0.1:{port} is already in use: pick another Kafka port or free it"
        with pytest.raises(UsageError, match=f"port 127.0.0.1:{port} is already in use"):
            up(tmp_path / "b", pg_port=port)
    # the broker that started before PostgreSQL failed was stopped again
    assert load_state(tmp_path / "b") is None


def test_broken_postgresql_binaries_give_a_clear_error(tmp_path):
    # outside pytest's 0700 tmp dir: as root, PostgreSQL runs as nobody, who must reach the binaries
    fake = Path(tempfile.mkdtemp(prefix="flinksql-fake-pg-"))
    fake.chmod(0o755)
    for name in ("initdb", "pg_ctl"):
        script = fake / name
        script.write_text("#!/bin/sh\necho 'initdb: error: could not load library' >&2\nexit 1\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    try:
        with pytest.raises(UsageError, match="PostgreSQL initdb failed: initdb: error: could not load library"):
            up(tmp_path / "wd", machine=Machine(pg_bin=fake))
    finally:
        shutil.rmtree(fake)
    assert load_state(tmp_path / "wd") is None


def test_kafka_restarts_on_its_data_and_down_removes_it(tmp_path):
    """A broker that died is started again by `up` on the same data dir (topics and records
    stay); `down` removes the data; the process is Apache Kafka in KRaft mode with a small heap."""
    from flinksql_gen.kafka.client import consume, list_topics, produce_json

    state = up(tmp_path, topics=["kept:2"])
    try:
        cmdline = Path(f"/proc/{state.broker.pid}/cmdline").read_bytes().split(b"\0")
        assert b"kafka.Kafka" in cmdline and b"-Xmx512m" in cmdline
        assert produce_json("kept", [{"i": i} for i in range(10)], bootstrap=state.bootstrap) == 10
        procs.kill(state.broker.pid, state.broker.start_time)
        again = up(tmp_path)
        assert again.broker.pid != state.broker.pid and again.broker.data_dir == state.broker.data_dir
        assert "kept" in list_topics(bootstrap=again.bootstrap)
        assert sorted(r.value["i"] for r in consume("kept", bootstrap=again.bootstrap)) == list(range(10))
    finally:
        down(tmp_path)
    assert not Path(state.broker.data_dir).exists()


def test_kafka_start_failure_names_its_log(tmp_path):
    data = tmp_path / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("version=1\ncluster.id=broken\n")  # no node.id: Kafka refuses it
    with pytest.raises(UsageError, match=r"Kafka stopped at start-up \(exit \d+\): .*\(log: .*kafka\.log"):
        up(tmp_path)
    assert load_state(tmp_path) is None


def test_kafka_cluster_ids_never_start_with_a_dash():
    # StorageTool's argument parser reads `-t -abc...` as an option: 1 start in 64 failed
    from flinksql_gen.stack.broker import _cluster_id

    ids = [_cluster_id() for _ in range(5000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids) and len(set(ids)) == len(ids)
