"""Writing a bundle into its output folder without ever touching what the bundle does not own.

The folder must be absent, empty, or a previous bundle (recognised by its manifest.json).
Only the files a bundle owns (its scripts and manifest) are replaced or removed; anything
else in the folder stays, and so does the folder's mode. Each file is written to a temporary
name in the folder and renamed over the old one, the manifest last: a failed write leaves the
previous manifest describing files that are all still there.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from flinksql_gen.errors import UsageError

MANIFEST = "manifest.json"
# What a bundle may own: flat file names only, so a planted manifest cannot point elsewhere.
_OWNED_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}\.sql$")


def write_files(files: Mapping[str, bytes], out_dir: Path, protected: Iterable[Path] = ()) -> None:
    """Write `files` (name -> bytes; the manifest among them) into `out_dir`."""
    out_dir = Path(out_dir)
    real = _check_folder(out_dir, protected)
    previous = _owned_files(real)
    real.mkdir(parents=True, exist_ok=True)
    ordered = sorted(files, key=lambda n: (n == MANIFEST, n))  # the manifest last: it commits the bundle
    for name in ordered:
        _replace_file(real / name, files[name])
    for name in previous - set(files):
        stale = real / name
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()


def _check_folder(out_dir: Path, protected: Iterable[Path]) -> Path:
    real = out_dir.resolve()
    for p in protected:
        p = Path(p).resolve()
        if real == p or real in p.parents:
            raise UsageError(
                f"{out_dir}: cannot write the bundle here, it holds {p.name or p} of the project "
                "(rendering would mix generated files with your definitions); choose another folder, e.g. -o target"
            )
    if real.exists() and not real.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder; choose another output folder")
    if real.is_dir():
        entries = {e.name for e in real.iterdir()}
        if entries and MANIFEST not in entries:
            raise UsageError(
                f"{out_dir}: the folder is not empty and holds no bundle (no {MANIFEST}); nothing was changed. "
                "Choose an empty or new folder, or remove its contents yourself"
            )
        if entries and not _is_bundle_manifest(real / MANIFEST):
            raise UsageError(
                f"{out_dir}/{MANIFEST} was not written by flinksql-gen; nothing was changed. "
                "Choose another output folder"
            )
    return real


def _is_bundle_manifest(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("generator", "")).startswith("flinksql-gen")


def _owned_files(folder: Path) -> set[str]:
    """The script names a previous bundle's manifest lists (only plain names)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    pipelines = data.get("pipelines") if isinstance(data, dict) else None
    names = {p.get("sql_file") for p in pipelines or [] if isinstance(p, dict)}
    return {n for n in names if isinstance(n, str) and _OWNED_NAME.match(n)}


def _replace_file(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a bundle file is as readable as any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
