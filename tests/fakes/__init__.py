"""Local stand-ins for remote services (each speaking a published contract), and sample bundles."""

from __future__ import annotations

from flinksql_gen.bundle import Bundle, PipelineBundle, Statement, TableInfo, UdfInfo
from flinksql_gen.errors import Location


def sample_pipeline(
    name: str = "cpu_alerts",
    *,
    inserts: int = 1,
    signatures: tuple[str, ...] | None = None,
    insert_sql: tuple[str, ...] | None = None,
    settings: dict[str, str] | None = None,
    udfs: tuple[UdfInfo, ...] = (),
    source_file: str = "pipelines/cpu_alerts.yaml",
) -> PipelineBundle:
    """A hand-built pipeline: SETs, a source, a sink per insert, and the inserts (line numbers fixed)."""
    f = source_file
    stmts: list[Statement] = []
    for i, (key, value) in enumerate(
        (settings or {"parallelism.default": "1", "execution.checkpointing.interval": "10 s"}).items()
    ):
        stmts.append(Statement.set_option(key, value, Location(f, 2, 3 + i)))
    stmts.append(
        Statement(
            "create_table",
            "cpu_metrics",
            "CREATE TABLE cpu_metrics (host STRING, cpu DOUBLE, ts TIMESTAMP(3)) WITH ("
            "'connector' = 'kafka', 'topic' = 'cpu', "
            "'properties.bootstrap.servers' = '${env:FLINKSQL_KAFKA_BOOTSTRAP:-127.0.0.1:9092}', "
            "'properties.sasl.jaas.config' = '${env:FLINKSQL_TEST_SECRET:-none}', 'format' = 'json')",
            Location(f, 5, 3),
        )
    )
    for u in udfs:
        module, attr = u.python.split(":")
        stmts.append(
            Statement(
                "create_function",
                u.name,
                f"CREATE TEMPORARY FUNCTION {u.name} AS '{module}.{attr}' LANGUAGE PYTHON",
                Location(f, 30, 3),
            )
        )
    for i in range(inserts):
        sink = f"sink_{i}"
        stmts.append(
            Statement(
                "create_table",
                sink,
                f"CREATE TABLE {sink} (host STRING, avg_cpu DOUBLE) WITH ('connector' = 'blackhole')",
                Location(f, 12 + i, 5),
            )
        )
    for i in range(inserts):
        sql = (
            insert_sql[i]
            if insert_sql
            else f"INSERT INTO sink_{i} SELECT host, AVG(cpu) FROM cpu_metrics GROUP BY host, {i}"
        )
        sig = signatures[i] if signatures else f"sig{i}"
        stmts.append(Statement("insert", f"sink_{i}", sql, Location(f, 20 + i * 4, 5), state_signature=sig,
                               reads=("cpu_metrics",), writes=(f"sink_{i}",)))  # fmt: skip
    script = ";\n".join(s.sql for s in stmts) + ";\n"
    return PipelineBundle(
        name=name,
        source_file=f,
        target="gateway",
        statements=tuple(stmts),
        tables=(TableInfo("cpu_metrics", "source", "kafka", topic="cpu"),),
        udfs=udfs,
        env=("FLINKSQL_KAFKA_BOOTSTRAP", "FLINKSQL_TEST_SECRET"),
        script=script,
    )


def sample_bundle(*pipelines: PipelineBundle) -> Bundle:
    return Bundle(target="gateway", pipelines=pipelines or (sample_pipeline(),))
