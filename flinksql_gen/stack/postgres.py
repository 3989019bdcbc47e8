"""PostgreSQL from the machine's server binaries (initdb/pg_ctl), trust auth on 127.0.0.1.

initdb refuses to run as root, so as root the server runs as `nobody` through
`setpriv --reuid=65534 --regid=65534 --clear-groups` in a data dir owned by nobody.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.errors import UsageError
from flinksql_gen.stack import procs

NOBODY = 65534
USER = "postgres"
PASSWORD = "local-stack-pw"  # ignored by trust auth; some clients want a non-empty one
DATABASE = "postgres"


@dataclass(frozen=True)
class PostgresInfo:
    pid: int
    start_time: int
    port: int
    root: str  # holds data/ and the server log; removed by `down`
    bin_dir: str
    as_nobody: bool

    @property
    def data_dir(self) -> Path:
        return Path(self.root) / "data"

    @property
    def log(self) -> str:
        return str(Path(self.root) / "postgres.log")

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{DATABASE}"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path.parent.name)) or (0,)


def find_pg_bin(given: Path | None = None) -> Path:
    """The directory with initdb and pg_ctl: `given` (the CLI's FLINKSQL_PG_BIN), else
    /usr/lib/postgresql/*/bin, else PATH."""
    candidates: list[Path] = []
    if given:
        candidates.append(Path(given))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    raise UsageError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(e.g. `apt-get install postgresql`) or set FLINKSQL_PG_BIN to their directory"
    )


def _as_owner() -> list[str]:
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        raise UsageError("running as root needs `setpriv` (util-linux) to start PostgreSQL as nobody")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _reachable_by_others(path: Path) -> bool:
    for part in [path, *path.parents]:
        if part.exists() and not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _make_root(workdir: Path) -> Path:
    """A fresh directory for the cluster; outside the work dir if nobody could not reach it."""
    root = Path(workdir).resolve() / "pg"
    if os.geteuid() == 0 and not _reachable_by_others(root.parent):
        root = Path(tempfile.mkdtemp(prefix="flinksql-pg-"))
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(root, NOBODY, NOBODY)
    root.chmod(0o700)
    return root


def _run(cmd: list[str], cwd: Path, what: str, log: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"PostgreSQL {what} failed to run ({exc}): the binaries look broken") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        tail = procs.log_tail(log) if log else ""
        raise UsageError(f"PostgreSQL {what} failed: {(detail or ['no output'])[-1]}" + (f" | {tail}" if tail else ""))


def start_postgres(workdir: Path, port: int, pg_bin: Path | None = None) -> PostgresInfo:
    if not procs.port_free(port):
        raise UsageError(f"port 127.0.0.1:{port} is already in use: pick another PostgreSQL port or free it")
    bin_dir = find_pg_bin(pg_bin)
    owner = _as_owner()
    root = _make_root(Path(workdir))
    data = root / "data"
    try:
        _run([*owner, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
              "--locale=C", "--no-sync", "--no-instructions"], root, "initdb")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\n# flinksql-gen local stack\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        log = root / "postgres.log"
        _run([*owner, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
             root, "start", log)
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return PostgresInfo(pid, procs.start_time(pid) or 0, port, str(root), str(bin_dir), bool(owner))


def stop_postgres(info: PostgresInfo, remove: bool = True) -> None:
    """Stop exactly this server (by its data dir, then its pid) and remove its files."""
    if procs.alive(info.pid, info.start_time or None):
        owner = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if info.as_nobody else []
        subprocess.run([*owner, str(Path(info.bin_dir) / "pg_ctl"), "-D", str(info.data_dir), "-m", "fast",
                        "-w", "stop"], cwd=info.root, capture_output=True, timeout=60, check=False)
        procs.terminate(info.pid, info.start_time or None)
    if remove:
        shutil.rmtree(info.root, ignore_errors=True)


def connect(dsn: str):
    """A psycopg2 connection; a clear UsageError when the server is not there."""
    import psycopg2

    try:
        return psycopg2.connect(dsn, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection refused"
        raise UsageError(f"cannot connect to PostgreSQL ({first}): is the stack up? (`flinksql-gen up`)") from exc
