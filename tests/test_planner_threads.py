"""Planning stays valid after other Python threads have called into the JVM (FLINK-23020).

Py4J serves Python calls from a pool of Java threads; once several Python threads have used the
gateway, a plan can run on a Java thread where Calcite's metadata provider was never set, and
every later plan of that TableEnvironment fails with `NullPointerException: metadataHandlerProvider`.
This broke most end-to-end tests of a long session. The check runs in its own process, so the
shared test TableEnvironment is never put in that state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.flink

SCRIPT = textwrap.dedent("""
    import threading
    from pyflink.table import EnvironmentSettings, TableEnvironment
    from flinksql_gen.runtime.table_env import reset_planner_metadata

    t = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t.execute_sql("CREATE TABLE src (k STRING, v DOUBLE) WITH ('connector' = 'datagen')")
    t.execute_sql("CREATE TABLE snk (k STRING, v DOUBLE) WITH ('connector' = 'blackhole')")
    query = "INSERT INTO snk SELECT k, v FROM src WHERE v > 1 AND k <> 'x'"
    stop = []

    def busy():
        while not stop:
            t.get_config().get("parallelism.default", "1")

    threads = [threading.Thread(target=busy) for _ in range(3)]
    for th in threads:
        th.start()

    def failures(reset):
        bad = 0
        for _ in range(5):
            try:
                if reset:
                    reset_planner_metadata(t)
                t.explain_sql(query)
            except Exception as exc:  # during the concurrent calls other errors may occur too
                bad += 1
                if reset:
                    print("error", str(exc).splitlines()[0][:300])
        return bad

    print("without", failures(False))
    stop.append(True)
    for th in threads:
        th.join()
    print("with", failures(True))
""")


def test_plans_succeed_after_concurrent_gateway_calls():
    # A fresh PyFlink process: earlier tests of the session may leave PyFlink's own variables
    # (e.g. PYFLINK_GATEWAY_DISABLED, set while Python UDFs ran in-process) that would refuse it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYFLINK", "_PYFLINK"))}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = dict(line.split() for line in done.stdout.splitlines() if line.startswith(("without ", "with ")))
    # Without the reset, plans during and after the concurrent calls fail (how many depends on
    # which pooled Java thread serves each call); after the threads are gone, with the reset
    # that run and check make before planning, none does.
    assert int(counts["with"]) == 0, done.stdout
