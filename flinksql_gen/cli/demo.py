"""`demo`: the README's main command (stack, live streams with anomalies, every example pipeline)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from flinksql_gen.cli.output import machine
from flinksql_gen.errors import UsageError


def _summary(value: object, width: int = 110) -> str:
    text = json.dumps(value, separators=(", ", "="), default=str) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command()
@click.option("--pipelines", type=click.Path(path_type=Path), default=Path("pipelines"), show_default=True)
@click.option("--thresholds", type=click.Path(file_okay=False, path_type=Path), default=Path("thresholds"),
              show_default=True)  # fmt: skip
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".flinksql"),
              show_default=True)  # fmt: skip
@click.option("--duration", type=float, default=120.0, show_default=True,
              help="seconds to show alerts before stopping the jobs (Ctrl-C stops earlier)")  # fmt: skip
def demo(pipelines: Path, thresholds: Path, workdir: Path, duration: float) -> None:
    """Start the stack, stream IoT and pizza events with anomalies, run every pipeline, show alerts."""
    from rich.console import Console

    from flinksql_gen.demo import start_demo
    from flinksql_gen.kafka.client import iter_records

    if not pipelines.exists():
        raise UsageError(f"{pipelines}: no such folder (run the demo from the project folder, or pass --pipelines)")
    console = Console(highlight=False)
    workdir = workdir.resolve()
    run = start_demo(pipelines, workdir, thresholds if thresholds.is_dir() else None,
                     lambda m: console.print(f"[dim]{m}[/dim]"), machine())  # fmt: skip
    from flinksql_gen.stack import require_state

    bootstrap = require_state(workdir).bootstrap
    console.print(f"[bold]watching {len(run.alert_topics)} output topics for {duration:g} s[/bold] "
                  "(first alerts after the jobs start, ~20-40 s)")  # fmt: skip
    counts: dict[str, int] = {}
    deadline = time.monotonic() + duration
    try:
        for record in iter_records(run.alert_topics, bootstrap=bootstrap, idle_s=None, timeout_s=duration):
            if record.value is None:  # an upsert topic's tombstone (the key's previous row retracted)
                continue
            counts[record.topic] = counts.get(record.topic, 0) + 1
            if counts[record.topic] <= 5 or counts[record.topic] % 50 == 0:
                console.print(f"[cyan]{record.topic}[/cyan] #{counts[record.topic]} {_summary(record.value)}")
            if time.monotonic() > deadline:
                break
    except KeyboardInterrupt:
        console.print("interrupted")
    finally:
        run.close()
    console.print("\n[bold]records per output topic[/bold]")
    for topic in run.alert_topics:
        console.print(f"  {topic:40} {counts.get(topic, 0)}")
    console.print(f"\nThe stack is still running (state in {workdir}). Look again with "
                  "`flinksql-gen tail TOPIC`, run one pipeline with `flinksql-gen run pipelines/cpu.yaml`, "
                  "and stop everything with `flinksql-gen down`.")  # fmt: skip


COMMANDS: list[click.Command] = [demo]
