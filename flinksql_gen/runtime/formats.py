"""flinksql-gen's own Java code for Flink: the `flinksql-gen-json` format (the checked Kafka
source's value format) and the `flinksql-gen-model-service` lookup connector (the model_service
detector's java engine), built from the Java sources shipped in this package (flinksql_gen/java/src) with the JDK's javac
against the PyFlink distribution's jars and the Kafka connector jar (the `flinksql-gen-kafka` source
extends Flink's Kafka table source): no Maven.

The jar goes to <workdir>/jars/flinksql-gen-formats-<hash>.jar, where <hash> covers the sources and
the Flink version, so an upgrade of either rebuilds it once. Like the connector jars it is shipped
per job with `pipeline.jars` (never put on a cluster's classpath as well).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from flinksql_gen.errors import UsageError
from flinksql_gen.sql.formats import CHECKED_JSON

SOURCES = Path(__file__).resolve().parents[1] / "java" / "src"
PREFIX = "flinksql-gen-formats-"
FORMAT = CHECKED_JSON  # the factory identifier (CheckedJsonFormatFactory.IDENTIFIER)


def _source_files() -> list[Path]:
    return sorted(p for p in SOURCES.rglob("*") if p.is_file())


def _flink_lib() -> Path:
    from flinksql_gen.runtime.jars import pyflink_home

    return pyflink_home() / "lib"


def _fingerprint(classpath: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in _source_files():
        h.update(p.relative_to(SOURCES).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(",".join(sorted(j.name for j in [*_flink_lib().glob("*.jar"), *classpath])).encode())
    return h.hexdigest()[:12]


def format_jar_path(workdir: Path, classpath: Sequence[Path] = ()) -> Path:
    return Path(workdir) / "jars" / f"{PREFIX}{_fingerprint(classpath)}.jar"


def _javac() -> Path:
    from flinksql_gen.runtime.java import find_java

    java = find_java()
    for candidate in (java.home / "bin" / "javac", shutil.which("javac")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise UsageError(
        f"the Java at {java.home} has no compiler (javac), needed once to build flinksql-gen's "
        "Java format and connector: install a JDK (e.g. `apt-get install openjdk-17-jdk-headless`) and run "
        "`flinksql-gen setup` again"
    )


def ensure_format_jar(workdir: Path, classpath: Sequence[Path] = ()) -> Path:
    """The format jar, built now if this version of the sources has not been built yet. `classpath`:
    the connector jars it compiles against besides pyflink/lib (the Kafka connector, unless pyflink/lib
    has it)."""
    target = format_jar_path(workdir, classpath)
    if target.is_file() and target.stat().st_size > 0:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fsg-javac-") as tmp:
        classes = Path(tmp) / "classes"
        java_files = [str(p) for p in _source_files() if p.suffix == ".java"]
        cmd = [str(_javac()), "--release", "11", "-nowarn", "-encoding", "UTF-8", "-d", str(classes),
               "-cp", os.pathsep.join([str(_flink_lib() / "*"), *map(str, classpath)]), *java_files]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise UsageError(f"building flinksql-gen's Java format and connector failed ({' '.join(cmd[:2])} ...):\n"
                             f"{(done.stderr or done.stdout).strip()[-2000:]}")  # fmt: skip
        part = Path(tmp) / target.name
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: flinksql-gen\n\n")
            for p in sorted(classes.rglob("*.class")):
                jar.write(p, p.relative_to(classes).as_posix())
            for p in _source_files():
                if p.suffix != ".java":  # resources: the factory's service registration
                    jar.write(p, p.relative_to(SOURCES).as_posix())
        shutil.copyfile(part, f"{target}.part")
        os.replace(f"{target}.part", target)  # atomic: a concurrent builder sees none or all of it
    for old in target.parent.glob(f"{PREFIX}*.jar"):
        if old != target:
            old.unlink(missing_ok=True)
    return target
