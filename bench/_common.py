"""Shared helpers of the benchmark scripts (not product code).

- machine() / load_note(): what every figure in docs/benchmarks.md states next to it;
- write_section(): replaces one script's section of docs/benchmarks.md (between markers);
- BenchStack: a throw-away embedded stack (broker + PostgreSQL [+ session cluster]) in a temp dir;
- render_yaml(): a small definition file -> PipelineBundle through flinksql_gen.api;
- produce_iot(): N IoT events (+ a far-future sentinel that closes every event-time window);
- OutputWatcher: consumes sink topics in a thread and stamps every record's arrival (counting
  by consuming, never by the broker's high watermark: tansu reports it wrong);
- /proc readers for RSS and the process tree (psutil is not installed);
- the local mini-cluster's REST endpoint (rest.bind-port range) and its metrics.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.kafka.monitor import Arrival, SinkMonitor

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
# Local mini-clusters bind their REST endpoint in this range (one per job), see rest_config().
REST_PORTS = (18100, 18199)

DOC_HEADER = """# Benchmarks

The table of record for flinksql-gen's speed and memory. Every section below was written by the
script named in it, with the command, the machine and the date of the run. Each script also
runs quickly with a small size flag for a smoke run (see its `--help`).

How to read them: the development machines have 2 cores that other engineers' test suites share
while a benchmark runs, so absolute times move by 2x from run to run. The figures that matter are
**ratios measured in one run** (e.g. a pipeline's throughput as a fraction of the Kafka -> Kafka
pass-through measured minutes earlier by the same script); absolute numbers are given for
orientation only. Every count is verified by consuming the sink topics (never by the broker's
high watermark, which tansu reports wrong).
"""


# ------------------------------------------------------------------------------ reporting


def _java_version() -> str:
    try:
        from flinksql_gen.runtime.java import find_java

        return str(find_java().version)
    except Exception:
        return "?"


def machine() -> str:
    cores = os.cpu_count() or 0
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    try:
        from importlib.metadata import version

        flink = version("apache-flink")
    except Exception:
        flink = "?"
    return (f"{cores} cores, {round(mem_kb / 1024 / 1024)} GB, Python {platform.python_version()}, "
            f"Java {_java_version()}, Flink {flink}")


def load_avg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def other_busy_processes(own: Iterable[int] = ()) -> list[str]:
    """Names of CPU-heavy processes that are not ours (pytest suites, other JVMs): the contention."""
    own = set(own) | {os.getpid()}
    out = []
    for pid, info in proc_table().items():
        if pid in own or info.ppid in own:
            continue
        if re.search(r"pytest|PythonGatewayServer|StandaloneSession|TaskManagerRunner", info.cmdline):
            label = "pytest" if "pytest" in info.cmdline else "JVM"
            out.append(f"{label} (pid {pid})")
    return out


def load_note(load_start: float, load_end: float | None = None, busy: list[str] | None = None) -> str:
    text = f"load average {load_start:.1f} at start"
    if load_end is not None:
        text += f", {load_end:.1f} at end"
    if busy:
        text += f"; other engineers' processes running: {', '.join(sorted(set(busy))[:6])}"
    return text + " (2 cores)"


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    return f".venv/bin/python {script}{(' ' + args) if args else ''}"


def section_header(title: str, extra: str = "") -> str:
    return (f"Command: `{command_line()}`  \nMachine: {machine()}  \nDate: {dt.date.today().isoformat()}"
            + (f"  \n{extra}" if extra else "") + "\n")


def write_section(name: str, title: str, body: str, doc: Path = DOC) -> Path:
    """Replace (or append) the section `name` of docs/benchmarks.md."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n## {title}\n\n{body.rstrip()}\n{end}"
    text = doc.read_text() if doc.exists() else DOC_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    return doc


def md_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    align = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt(x: float | None, digits: int = 0, unit: str = "") -> str:
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}{unit}"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ /proc


@dataclass
class ProcInfo:
    pid: int
    ppid: int
    cmdline: str


def proc_table() -> dict[int, ProcInfo]:
    table = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue
        table[int(d.name)] = ProcInfo(int(d.name), ppid, cmd)
    return table


def descendants(root: int, table: dict[int, ProcInfo] | None = None) -> list[ProcInfo]:
    table = table or proc_table()
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(table[pid])
        todo += children.get(pid, [])
    return out


def rss_mb(pid: int) -> float | None:
    try:
        m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def classify(p: ProcInfo) -> str | None:
    """jvm / python-worker / broker / postgres for the processes a local run consists of."""
    c = p.cmdline
    if " kafka.Kafka " in f" {c} " or "tansu" in c:
        return "broker"
    if "java" in c.split(" ")[0] or "/java " in c:
        return "jvm"
    if "pyflink.fn_execution" in c or "beam_boot" in c or "pyflink/bin/pyflink-udf-runner" in c:
        return "python-worker"
    if "postgres" in c:
        return "postgres"
    return None


def our_processes() -> dict[str, list[int]]:
    """This process's JVM(s) and Python UDF workers (everything below us), by kind."""
    table = proc_table()
    kinds: dict[str, list[int]] = {}
    for p in descendants(os.getpid(), table):
        kind = classify(p)
        if kind == "python-worker" or (kind is None and "python" in p.cmdline and p.ppid != os.getpid()):
            kind = "python-worker"
        if kind:
            kinds.setdefault(kind, []).append(p.pid)
    return kinds


# ------------------------------------------------------------------------------ stack


class BenchStack:
    """A throw-away stack in a temp work dir, started with the real `flinksql-gen up` command
    (timed: `up_s`); `flinksql-gen down` and removal on exit."""

    def __init__(self, cluster: bool = False, thresholds: Path | None = None, keep: bool = False):
        self.cluster, self.thresholds, self.keep = cluster, thresholds, keep
        self.workdir = Path(tempfile.mkdtemp(prefix="flinksql-bench-"))
        self.state = None
        self.up_s: float | None = None

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        exe = Path(sys.executable).parent / "flinksql-gen"
        proc = subprocess.run([str(exe), *args, "--workdir", str(self.workdir)], cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"flinksql-gen {' '.join(args)} failed: {proc.stderr[-800:]}")
        return proc

    def __enter__(self) -> BenchStack:
        from flinksql_gen.runtime.jars import ensure_jars
        from flinksql_gen.stack import load_state

        ensure_jars(self.workdir)  # a one-time extraction, not part of the start-up figure
        args = ["up", *(["--cluster"] if self.cluster else []),
                *(["--thresholds", str(self.thresholds)] if self.thresholds else [])]
        say(f"flinksql-gen {' '.join(args)}")
        began = time.monotonic()
        self.cli(*args)
        self.up_s = time.monotonic() - began
        self.state = load_state(self.workdir)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.cli("down", check=False, timeout=120)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def bootstrap(self) -> str:
        return self.state.bootstrap

    def env(self) -> dict[str, str]:
        from flinksql_gen.stack import stack_env

        return {**os.environ, **stack_env(self.state)}

    def jars(self):
        from flinksql_gen.runtime.jars import ensure_jars

        return ensure_jars(self.workdir)


def rest_config() -> dict[str, str]:
    """Config that makes each local mini-cluster open its REST endpoint on a port of REST_PORTS."""
    return {"rest.bind-port": f"{REST_PORTS[0]}-{REST_PORTS[1]}", "rest.bind-address": "127.0.0.1",
            "rest.address": "127.0.0.1"}


def open_local_env(stack: BenchStack, config: dict[str, str] | None = None):
    """One shared local TableEnvironment (JVM) for the whole script."""
    from flinksql_gen.runtime.table_env import open_table_env

    return open_table_env(jars=stack.jars(), checkpoint_dir=stack.workdir / "checkpoints",
                          log_dir=stack.workdir / "logs" / "flink", config={**rest_config(), **(config or {})})


def find_job_rest(job_id: str, timeout: float = 30.0) -> str | None:
    """The REST URL of the local mini-cluster running `job_id` (scans REST_PORTS)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for port in range(REST_PORTS[0], REST_PORTS[1] + 1):
            url = f"http://127.0.0.1:{port}"
            try:
                r = httpx.get(f"{url}/jobs/{job_id}", timeout=0.5)
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                return url
        time.sleep(0.5)
    return None


def render_yaml(folder: Path, name: str, text: str, target: str = "local"):
    """Write `<folder>/<name>.yaml` and render it with flinksql_gen.api (the product path)."""
    from flinksql_gen import api

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return api.render_pipeline(path, target)


IOT_SOURCE = """  cpu_load:
    topic: {topic}
    columns: {{hostname: STRING, cpu: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 10s}}
"""


def unique(prefix: str) -> str:
    return f"{prefix}_{time.time_ns() % 10**12}"


# ------------------------------------------------------------------------------ producing


@dataclass
class Produced:
    topic: str
    events: list[dict]  # the values, in order (without the sentinel)
    sentinel: dict | None
    seconds: float

    @property
    def count(self) -> int:
        return len(self.events) + (1 if self.sentinel else 0)


def produce_iot(bootstrap: str, topic: str, n: int, seed: int = 1, sentinel: bool = True,
                anomalies: bool = True) -> Produced:
    """N IoT readings (7 hosts x 2 cpus per 1 s tick, the generator's standard anomalies), then
    one far-future reading (usage 99 on host 'doc') whose watermark closes every window before it."""
    from flinksql_gen.kafka.client import JsonProducer
    from flinksql_gen.produce import IotGenerator
    from flinksql_gen.produce.anomalies import parse_anomalies
    from flinksql_gen.produce.iot import AUTO

    ticks = IotGenerator.ticks_for(n, 7, 2)
    spec = parse_anomalies("auto", 1000, AUTO, total_ticks=ticks) if anomalies else []
    gen = IotGenerator(seed=seed, anomalies=spec)
    events: list[dict] = []
    began = time.monotonic()
    with JsonProducer(bootstrap) as producer:
        for i, event in enumerate(gen.events()):
            if i >= n:
                break
            producer.send(topic, event.value, event.key, event.timestamp_ms)
            events.append(event.value)
        extra = None
        if sentinel:
            ts = events[-1]["occurred_at"] + 600_000
            extra = {"hostname": "doc", "cpu": "cpu1", "usage": 99.0, "occurred_at": ts}
            producer.send(topic, extra, "doc", ts)
    return Produced(topic, events, extra, time.monotonic() - began)


def window_count(events: list[dict], size_ms: int, keys: tuple[str, ...]) -> int:
    """Distinct (key, tumble window) pairs: the windows a far-future watermark closes."""
    return len({(*(e[k] for k in keys), e["occurred_at"] // size_ms) for e in events})


# ------------------------------------------------------------------------------ consuming


def OutputWatcher(bootstrap: str, topics: list[str], keep: bool = False,
                  on_record: Callable[[Arrival], None] | None = None) -> SinkMonitor:
    """The product's sink monitor (what `run --until-idle` counts with), reading from the
    beginning and stamping on the wall clock, which the benchmarks compare with Kafka timestamps."""
    return SinkMonitor(bootstrap, topics, from_beginning=True, keep=keep, on_record=on_record, clock=time.time)


def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> None:
    from flinksql_gen.kafka.client import create_topics as _create

    _create(names, bootstrap=bootstrap, partitions=partitions)


def sink_topics(pipeline) -> list[str]:
    return sorted({t.topic for t in pipeline.tables if t.role == "sink" and t.topic})


def parse_sql_ts(text: str) -> float:
    """Flink JSON timestamps ('2026-11-23 07:30:00.123' or with a trailing Z; UTC) -> epoch seconds."""
    text = text.rstrip("Z").replace("T", " ")
    return dt.datetime.strptime(text[:23].ljust(23, "0") if "." in text else text + ".000",
                                "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def git_rev() -> str:
    with contextlib.suppress(Exception):
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip()
    return "?"


def dump_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))
