"""Process and port helpers: every service is tracked by pid plus its kernel start time, so a
recycled pid is never mistaken for one of ours."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process start time (clock ticks since boot) from /proc, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # zombie / dead
        _reap(pid)
        return None
    return int(fields[19])


def alive(pid: int | None, started: int | None = None) -> bool:
    """True when pid runs and (if given) is the very process that started at `started`."""
    if not pid:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def terminate(pid: int | None, started: int | None = None, timeout: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; only if pid is still the process we recorded."""
    if not alive(pid, started):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, started, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, started, 5.0)
    return True


def kill(pid: int, started: int | None = None) -> bool:
    """SIGKILL at once (fault injection)."""
    if not alive(pid, started):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, started, 5.0)
    return True


def wait_gone(pid: int, started: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, started):
            return True
        time.sleep(0.1)
    return not alive(pid, started)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])
