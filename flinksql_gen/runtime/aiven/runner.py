"""Runs inside the isolated PyFlink (1.20) virtualenv: stdlib and pyflink only, never flinksql_gen.

Started as `python runner.py '<json settings>'`; reads one JSON request per line on stdin and
answers one JSON line each on the stdout it was started with. Everything else that would print
to stdout (PyFlink, the JVM it starts) is sent to stderr, so answers are never mixed with logs.
One TableEnvironment serves every request (each costs ~1 GB and seconds to create).

Requests: {"op": "plan", "apps": [{"name", "tables": [CREATE TABLE...], "statement"}]},
{"op": "run", "app": {...}}, {"op": "status" | "cancel", "job_id"}, {"op": "version"}, {"op": "exit"}.
Each application gets a fresh database, as each Aiven application has its own catalog.
"""

import contextlib
import json
import os
import sys

_COUNTER = [0]


def _root_cause(exc):
    """'<Java class>: <message>' of the deepest cause of a Py4J/PyFlink exception."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            node = java
            for _ in range(64):
                nxt = node.getCause()
                if nxt is None or nxt.equals(node):
                    break
                node = nxt
            return f"{node.getClass().getName()}: {node.getMessage() or node.toString()}"
        except Exception:
            pass
    trace = getattr(exc, "stack_trace", None)
    if isinstance(trace, str):
        causes = [ln.strip()[len("Caused by:"):].strip() for ln in trace.splitlines()
                  if ln.strip().startswith("Caused by:")]
        if causes:
            return causes[-1]
    return f"{type(exc).__name__}: {exc}"


def _open(settings):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    table_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = table_env.get_config()
    if settings.get("jars"):
        conf.set("pipeline.jars", ";".join("file://" + j for j in settings["jars"]))
    for key, value in (settings.get("config") or {}).items():
        conf.set(key, value)
    return table_env


def _fresh_database(table_env, name):
    _COUNTER[0] += 1
    safe = "".join(c if c.isalnum() else "_" for c in name)
    database = f"app_{_COUNTER[0]}_{safe}"
    table_env.execute_sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    table_env.use_database(database)


def _create_tables(table_env, app):
    """None, or the error of the first table Flink refuses."""
    for index, sql in enumerate(app["tables"]):
        try:
            table_env.execute_sql(sql)
        except Exception as exc:  # Py4J and PyFlink raise many types
            return {"part": "table", "index": index, "message": _root_cause(exc)}
    return None


def plan(table_env, apps):
    results = []
    for app in apps:
        _fresh_database(table_env, app["name"])
        error = _create_tables(table_env, app)
        if error is None:
            try:
                table_env.explain_sql(app["statement"])
            except Exception as exc:
                error = {"part": "statement", "index": 0, "message": _root_cause(exc)}
        table_env.use_database("default_database")
        results.append({"name": app["name"], "error": error})
    return {"ok": True, "results": results}


def run(table_env, app, jobs):
    _fresh_database(table_env, app["name"])
    try:
        error = _create_tables(table_env, app)
        if error is not None:
            return {"ok": False, "error": error}
        table_env.get_config().set("pipeline.name", app["name"])
        try:
            result = table_env.execute_sql(app["statement"])
        except Exception as exc:
            return {"ok": False, "error": {"part": "statement", "index": 0, "message": _root_cause(exc)}}
        client = result.get_job_client()
        job_id = str(client.get_job_id())
        jobs[job_id] = client
        return {"ok": True, "job_id": job_id}
    finally:
        table_env.use_database("default_database")


def main():
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed (PyFlink, the JVM) goes to stderr
    sys.stdout = sys.stderr
    settings = json.loads(sys.argv[1])
    table_env = _open(settings)
    jobs = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "plan":
                answer = plan(table_env, request["apps"])
            elif op == "run":
                answer = run(table_env, request["app"], jobs)
            elif op == "status":
                status = jobs[request["job_id"]].get_job_status().result()
                answer = {"ok": True, "status": getattr(status, "name", str(status))}
            elif op == "cancel":
                client = jobs.pop(request["job_id"], None)
                if client is not None:
                    client.cancel().result()
                answer = {"ok": True}
            elif op == "version":
                from pyflink.version import __version__

                answer = {"ok": True, "version": __version__}
            elif op == "exit":
                for client in jobs.values():
                    with contextlib.suppress(Exception):  # the process ends anyway
                        client.cancel().result()
                answers.write(json.dumps({"ok": True}) + "\n")
                answers.flush()
                return
            else:
                answer = {"ok": False, "error": {"message": f"unknown op {op!r}"}}
        except Exception as exc:
            answer = {"ok": False, "error": {"message": _root_cause(exc)}}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
