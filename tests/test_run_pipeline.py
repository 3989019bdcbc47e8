"""run_pipeline end to end on the real stack (local mini-cluster), with hand-built bundles."""

from __future__ import annotations

import sys
import textwrap

import pytest
from stack_fixtures import fresh_topics

from flinksql_gen.bundle import PipelineBundle, Statement, TableInfo, UdfInfo
from flinksql_gen.errors import Location
from flinksql_gen.kafka.client import JsonProducer, consume
from flinksql_gen.runtime.errors import RunError
from flinksql_gen.runtime.runner import run_pipeline
from flinksql_gen.stack.postgres import connect

pytestmark = pytest.mark.slow
SOURCE = "pipelines/hand.yaml"
ENV = ("FLINKSQL_KAFKA_BOOTSTRAP", "FLINKSQL_JDBC_URL", "FLINKSQL_JDBC_USER", "FLINKSQL_JDBC_PASSWORD")
HOSTS = ("doc", "grumpy", "sleepy", "nobody")
UDF_MODULE = "flinksql_gen_test_udfs"


def at(line: int) -> Location:
    return Location(SOURCE, line)


def source(topic: str, bounded: bool = True, line: int = 3) -> Statement:
    bounded_opt = "'scan.bounded.mode' = 'latest-offset'," if bounded else ""
    return Statement("create_table", "src", f"""CREATE TABLE src (
  hostname STRING, cpu STRING, `usage` DOUBLE, occurred_at BIGINT,
  ts AS TO_TIMESTAMP_LTZ(occurred_at, 3), pt AS PROCTIME(),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'kafka', 'topic' = '{topic}',
  'properties.bootstrap.servers' = '${{env:FLINKSQL_KAFKA_BOOTSTRAP}}', 'properties.group.id' = 'test',
  'scan.startup.mode' = 'earliest-offset', {bounded_opt} 'format' = 'json')""", at(line))


def sink(topic: str, columns: str, line: int = 10) -> Statement:
    return Statement("create_table", "sink", f"""CREATE TABLE sink ({columns}) WITH ('connector' = 'kafka',
  'topic' = '{topic}', 'properties.bootstrap.servers' = '${{env:FLINKSQL_KAFKA_BOOTSTRAP}}', 'format' = 'json')""",
                     at(line))


def bundle(name: str, *statements: Statement, src: str, out: str, udfs=()) -> PipelineBundle:
    tables = (TableInfo("src", "source", "kafka", src), TableInfo("sink", "sink", "kafka", out))
    return PipelineBundle(name, SOURCE, "local", statements, tables=tables, udfs=tuple(udfs), env=ENV)


def produce_readings(state, topic: str, n: int) -> list[dict]:
    rows = [{"hostname": HOSTS[i % 4], "cpu": f"cpu{i % 2}", "usage": float((i * 37) % 100),
             "occurred_at": 1_700_000_000_000 + i * 100} for i in range(n)]
    with JsonProducer(state.bootstrap) as producer:
        for row in rows:
            producer.send(topic, row, key=row["hostname"])
    return rows


@pytest.fixture(scope="module")
def udf_module(tmp_path_factory):
    """A user's UDF module outside site-packages: the runner must ship it to the Python workers."""
    folder = tmp_path_factory.mktemp("udfs")
    (folder / f"{UDF_MODULE}.py").write_text(textwrap.dedent("""
        from pyflink.table import DataTypes
        from pyflink.table.udf import udf

        @udf(result_type=DataTypes.DOUBLE())
        def headroom(usage, top):
            return None if top is None else round(top - usage, 3)
    """))
    sys.path.insert(0, str(folder))
    yield UDF_MODULE
    sys.path.remove(str(folder))


def test_filter_to_kafka_gives_the_exact_count(stack, stack_env_vars, table_env_factory):
    src, out = fresh_topics(stack, "readings", "hot", partitions=2)
    rows = produce_readings(stack, src, 1000)
    expected = sum(r["usage"] > 90 for r in rows)
    te = table_env_factory()
    pipeline = bundle("filter",
                      Statement.set_option("pipeline.name", "hand-filter", at(1)),
                      source(src), sink(out, "hostname STRING, `usage` DOUBLE"),
                      Statement("insert", "hot", "INSERT INTO sink SELECT hostname, `usage` FROM src "
                                                 "WHERE `usage` > 90", at(14)), src=src, out=out)
    result = run_pipeline(pipeline, stack_env_vars, table_env=te, workdir=stack.workdir)
    assert result.status == "FINISHED" and result.job_id
    got = consume(out, idle_s=3, bootstrap=stack.bootstrap)
    assert len(got) == expected
    assert all(r.value["usage"] > 90 for r in got)
    # the shared environment is left as it was: no leftover SETs, tables or catalogs
    assert te.get_config().get("pipeline.name", "unset") == "unset"
    assert "src" not in te.list_tables()
    assert te.get_current_catalog() == "default_catalog"


def test_jdbc_lookup_join_gives_null_for_a_key_without_row(stack, stack_env_vars, table_env_factory):
    conn = connect(stack.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE run_thresholds (hostname TEXT PRIMARY KEY, allowed_top DOUBLE PRECISION);"
                    "INSERT INTO run_thresholds VALUES ('doc', 20), ('grumpy', 30), ('sleepy', 40)")
    conn.close()
    src, out = fresh_topics(stack, "readings", "joined")
    produce_readings(stack, src, 40)
    lookup = Statement("create_table", "th", """CREATE TABLE th (hostname STRING, allowed_top DOUBLE,
  PRIMARY KEY (hostname) NOT ENFORCED) WITH ('connector' = 'jdbc', 'url' = '${env:FLINKSQL_JDBC_URL}',
  'table-name' = 'run_thresholds', 'username' = '${env:FLINKSQL_JDBC_USER}',
  'password' = '${env:FLINKSQL_JDBC_PASSWORD}')""", at(8))
    pipeline = bundle("lookup", source(src), lookup, sink(out, "hostname STRING, allowed_top DOUBLE"),
                      Statement("insert", "joined", "INSERT INTO sink SELECT s.hostname, t.allowed_top FROM src AS s "
                                "LEFT JOIN th FOR SYSTEM_TIME AS OF s.pt AS t ON s.hostname = t.hostname", at(20)),
                      src=src, out=out)
    result = run_pipeline(pipeline, stack_env_vars, table_env=table_env_factory(), workdir=stack.workdir)
    assert result.status == "FINISHED"
    got = consume(out, expected=40, idle_s=20, bootstrap=stack.bootstrap)
    assert len(got) == 40
    tops = {r.value["hostname"]: r.value["allowed_top"] for r in got}
    assert tops == {"doc": 20.0, "grumpy": 30.0, "sleepy": 40.0, "nobody": None}


def test_python_udf_and_until_idle(stack, stack_env_vars, table_env_factory, udf_module):
    src, out = fresh_topics(stack, "readings", "scored")
    rows = produce_readings(stack, src, 30)
    pipeline = bundle("udf", source(src, bounded=False), sink(out, "hostname STRING, `usage` DOUBLE, room DOUBLE"),
                      Statement("insert", "scored", "INSERT INTO sink SELECT hostname, `usage`, "
                                "headroom(`usage`, CAST(50 AS DOUBLE)) FROM src", at(30)),
                      src=src, out=out, udfs=[UdfInfo("headroom", f"{udf_module}:headroom")])
    result = run_pipeline(pipeline, stack_env_vars, table_env=table_env_factory(), workdir=stack.workdir,
                          until_idle=3)
    assert (result.status, result.stopped_by, result.records) == ("CANCELED", "idle", 30)
    assert result.first_output_s and result.first_output_s > 0
    got = consume(out, expected=30, idle_s=5, bootstrap=stack.bootstrap)
    assert sorted(r.value["room"] for r in got) == sorted(round(50 - r["usage"], 3) for r in rows)


def test_max_records_stops_an_endless_job(stack, stack_env_vars, table_env_factory):
    src, out = fresh_topics(stack, "readings", "copied")
    produce_readings(stack, src, 200)
    pipeline = bundle("copy", source(src, bounded=False), sink(out, "hostname STRING"),
                      Statement("insert", "copy", "INSERT INTO sink SELECT hostname FROM src", at(12)),
                      src=src, out=out)
    result = run_pipeline(pipeline, stack_env_vars, table_env=table_env_factory(), workdir=stack.workdir,
                          max_records=50)
    assert result.status == "CANCELED" and result.stopped_by == "max_records"
    assert result.records >= 50


def test_statement_error_names_its_origin_and_hides_secrets(stack, stack_env_vars, table_env_factory):
    src, out = fresh_topics(stack, "readings", "never")
    secret = "s3cr3t-connector-name"
    bad_sink = Statement("create_table", "sink", "CREATE TABLE sink (hostname STRING) WITH "
                         "('connector' = '${env:TEST_SECRET}')", at(10))
    pipeline = PipelineBundle("broken", SOURCE, "local",
                              (source(src), bad_sink,
                               Statement("insert", "alerts", "INSERT INTO sink SELECT hostname FROM src", at(17))),
                              env=(*ENV, "TEST_SECRET"))
    with pytest.raises(RunError) as err:
        run_pipeline(pipeline, {**stack_env_vars, "TEST_SECRET": secret}, table_env=table_env_factory(),
                     workdir=stack.workdir)
    message = str(err.value)
    assert message.startswith(f"{SOURCE}:17: insert alerts failed: Could not find any factory for identifier '***'")
    assert secret not in message
    assert err.value.exit_code == 1
    log = err.value.log_file
    assert log.parent.name == "logs" and log.is_file()
    assert f"(full trace: {log})" in message
    text = log.read_text()
    assert "INSERT INTO sink SELECT hostname FROM src" in text and "ValidationException" in text
    assert secret not in text

    bad_insert = Statement("insert", "alerts", "INSERT INTO sink SELECT hostname, nope FROM src", at(21))
    pipeline = bundle("typo", source(src), sink(out, "hostname STRING"), bad_insert, src=src, out=out)
    with pytest.raises(RunError, match=rf"^{SOURCE}:21: insert alerts failed: Column 'nope' not found in any table"):
        run_pipeline(pipeline, stack_env_vars, table_env=table_env_factory(), workdir=stack.workdir)


def test_job_failure_reports_flinks_root_cause(stack, stack_env_vars, table_env_factory):
    src, out = fresh_topics(stack, "garbled", "never")
    with JsonProducer(stack.bootstrap) as producer:
        producer.send(src, "this is not json")
    pipeline = bundle("garbled", source(src), sink(out, "hostname STRING"),
                      Statement("insert", "copy", "INSERT INTO sink SELECT hostname FROM src", at(12)),
                      src=src, out=out)
    with pytest.raises(RunError) as err:
        run_pipeline(pipeline, stack_env_vars, table_env=table_env_factory(), workdir=stack.workdir)
    message = str(err.value)
    assert message.startswith(f"{SOURCE}:12: job ") and "failed: " in message
    assert "this is not json" in err.value.log_file.read_text() or "JSON" in message
    assert err.value.exit_code == 2
