"""User-facing errors that carry positions (file:line:col) and a hint.

Validation collects every problem and raises once (sqlglot-style); the CLI prints them
without a stack trace. Internal errors are plain exceptions and exit with code 2.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.col}" if self.col else f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One problem in a definition: where, which key, what is wrong, what to do."""

    location: Location
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.path}: {self.message}" if self.path else f"{self.location}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_json(self) -> dict:
        return {**asdict(self.location), "path": self.path, "message": self.message, "hint": self.hint}


class FlinksqlGenError(Exception):
    """Base class of errors caused by the user's input or environment (no stack trace shown)."""

    exit_code = 2


class DefinitionError(FlinksqlGenError):
    """One or more invalid definitions; exit code 1."""

    exit_code = 1

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.location, p.path, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))

    def to_json(self) -> str:
        return json.dumps({"errors": [p.to_json() for p in self.problems]}, indent=2)


class UsageError(FlinksqlGenError):
    """A command was called wrongly or its environment is not ready; exit code 2."""


def relative(path: Path) -> str:
    """A path as the user typed it or relative to the working directory, for messages."""
    return _relative(os.fspath(path), os.getcwd())


@functools.lru_cache(maxsize=4096)
def _relative(path: str, cwd: str) -> str:
    absolute = os.path.normpath(os.path.join(cwd, path))
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):  # the common case, without touching the disk
        return os.path.relpath(absolute, cwd)
    try:  # through symbolic links
        return str(Path(path).resolve().relative_to(Path(cwd).resolve()))
    except ValueError:
        return path
