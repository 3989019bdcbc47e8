"""`flinksql-gen init [DIR]`: a starter project that validates and renders out of the box."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from flinksql_gen.errors import UsageError

# starter file -> where it goes in the new project
LAYOUT = {
    "targets.yaml": "targets.yaml",
    "host_cpu.yaml": "pipelines/host_cpu.yaml",
    "host_thresholds.sql": "thresholds/host_thresholds.sql",
    "host_thresholds.csv": "thresholds/host_thresholds.csv",
    "host_cpu.test.yaml": "tests/host_cpu.test.yaml",
    "README.md": "README.md",
}


def write_starter(directory: Path) -> list[Path]:
    """Write the starter files into `directory`; refuses (before writing anything) if any exists."""
    targets = {name: directory / rel for name, rel in LAYOUT.items()}
    existing = [str(p) for p in targets.values() if p.exists() or p.is_symlink()]
    if existing:
        raise UsageError(f"{', '.join(existing)} already exist(s): init never overwrites files "
                         "(choose an empty or new folder)")  # fmt: skip
    starter = files("flinksql_gen.starter")
    written = []
    for name, path in targets.items():
        text = starter.joinpath(name).read_text(encoding="utf-8")
        if name == "README.md":
            text = text.replace("{name}", directory.absolute().name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": a file that appeared meanwhile is never replaced
            f.write(text)
        written.append(path)
    return written


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def init(directory: Path) -> None:
    """Start a project in DIRECTORY (default: here): targets.yaml, one pipeline, its test, thresholds, a README."""
    for path in write_starter(directory):
        click.echo(f"wrote {path}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(f"next: {where}flinksql-gen validate && flinksql-gen render -o target")


COMMANDS: list[click.Command] = [init]
