"""`${env:NAME}` references: written into bundles as-is, resolved only when a job starts.

A reference may carry a default: `${env:NAME:-default}`. Validation allows references only
in connection settings (load/secret_policy.py), which the renderer writes inside SQL string
literals. A value is escaped as a string literal body, and a value holding a quote, a backtick
or a control character (a line break) is refused outright when the job starts: whatever
context it lands in, it can never change a statement's structure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from flinksql_gen.errors import UsageError

_UNSAFE_VALUE = re.compile(r"['`\x00-\x1f\x7f]")
REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def references(text: str) -> list[str]:
    """Names of the environment variables a text refers to, in order, without repeats."""
    return list(dict.fromkeys(m.group(1) for m in REFERENCE.finditer(text)))


def resolve(sql: str, env: Mapping[str, str] | None = None, allowed: Iterable[str] | None = None) -> str:
    """Replace `${env:NAME}` references (only those in `allowed`, when given) by escaped values."""
    env = os.environ if env is None else env
    allowed_names = None if allowed is None else set(allowed)
    missing: list[str] = []
    unsafe: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if allowed_names is not None and name not in allowed_names:
            return match.group(0)
        value = env.get(name, default)
        if value is None:
            missing.append(name)
            return match.group(0)
        if _UNSAFE_VALUE.search(value):
            unsafe.append(name)
            return match.group(0)
        return value.replace("'", "''")

    out = REFERENCE.sub(substitute, sql)
    if unsafe:
        names = ", ".join(sorted(set(unsafe)))
        raise UsageError(f"environment variable(s) {names} hold a quote, backtick, line break or other control "
                         "character, which cannot be passed safely into a Flink statement: change the value")
    if missing:
        names = ", ".join(sorted(set(missing)))
        raise UsageError(f"environment variable(s) {names} not set: export them before running the job")
    return out


def mask(text: str, env: Mapping[str, str] | None = None, names: Iterable[str] = ()) -> str:
    """Hide the values of the named variables in a text meant for logs or the terminal."""
    env = os.environ if env is None else env
    for name in names:
        value = env.get(name)
        if value and len(value) >= 3:
            text = text.replace(value, "***")
    return text
