"""One child process of the isolated PyFlink runtime (runner.py), driven by JSON lines.

Starting it costs ~1 GB and several seconds (a JVM and a TableEnvironment): open one and send
it every request of a session. Its stderr (PyFlink's and the JVM's output) goes to a log file,
whose tail is shown when the process dies.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flinksql_gen.errors import FlinksqlGenError
from flinksql_gen.runtime.aiven.install import Runtime
from flinksql_gen.runtime.java import java_env

RUNNER = Path(__file__).with_name("runner.py")
# Variables of this process's own PyFlink (2.0) that must not reach the other version's process.
_FOREIGN = ("PYFLINK", "_PYFLINK", "FLINK_HOME", "FLINK_CONF_DIR", "FLINK_LIB_DIR", "FLINK_PLUGINS_DIR",
            "FLINK_OPT_DIR", "PYTHONPATH", "VIRTUAL_ENV")


class RuntimeProcessError(FlinksqlGenError):
    """The runtime process died or answered something unreadable."""


@dataclass(frozen=True)
class App:
    """What one Aiven application version holds: its tables' CREATE TABLEs and its statement."""

    name: str
    tables: tuple[str, ...]
    statement: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "tables": list(self.tables), "statement": self.statement}


@dataclass(frozen=True)
class AppError:
    part: str  # "table" or "statement"
    index: int  # which table, in App.tables order
    message: str  # "<Java class>: <message>" of the root cause


class FlinkProcess:
    """A TableEnvironment of the runtime's Flink version in a child process."""

    def __init__(self, runtime: Runtime, log_dir: Path, config: Mapping[str, str] | None = None):
        self.runtime = runtime
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = log_dir / f"flink-{runtime.version.name}-runner.log"
        env = {k: v for k, v in java_env().items() if not k.startswith(_FOREIGN)}
        env["FLINK_LOG_DIR"] = str(log_dir)
        settings = {"jars": [str(Path(j).resolve()) for j in runtime.jars], "config": dict(config or {})}
        self._log = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            [str(runtime.python), str(RUNNER), json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env, cwd=str(log_dir),
        )

    def request(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(payload) + "\n").encode())
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BrokenPipeError:
            line = b""
        if not line:
            raise RuntimeProcessError(f"the Flink {self.runtime.version.name} process ended (exit "
                                      f"{proc.poll()}); its log {self.log_file} ends with:\n{self._tail()}")
        return json.loads(line)

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _ok(self, answer: dict[str, Any]) -> dict[str, Any]:
        if not answer.get("ok"):
            raise RuntimeProcessError((answer.get("error") or {}).get("message", "failed"))
        return answer

    def version(self) -> str:
        return str(self._ok(self.request({"op": "version"}))["version"])

    def plan(self, apps: Sequence[App]) -> list[AppError | None]:
        """Per application: None when Flink plans it, else where and why it refused."""
        answer = self._ok(self.request({"op": "plan", "apps": [a.as_json() for a in apps]}))
        return [AppError(**r["error"]) if r["error"] else None for r in answer["results"]]

    def run(self, app: App) -> str:
        """Submit the application's statement as a streaming job; its job id."""
        answer = self.request({"op": "run", "app": app.as_json()})
        if not answer.get("ok"):
            error = answer.get("error") or {}
            raise RuntimeProcessError(f"{app.name}: Flink {self.runtime.version.name} refused "
                                      f"{error.get('part', '')} {error.get('index', '')}: {error.get('message')}")
        return str(answer["job_id"])

    def status(self, job_id: str) -> str:
        return str(self._ok(self.request({"op": "status", "job_id": job_id}))["status"])

    def cancel(self, job_id: str) -> None:
        self._ok(self.request({"op": "cancel", "job_id": job_id}))

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self.request({"op": "exit"})
                self._proc.wait(timeout=60)
            except (RuntimeProcessError, subprocess.TimeoutExpired, OSError, ValueError):
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def __enter__(self) -> FlinkProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
