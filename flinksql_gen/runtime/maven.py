"""Artifacts from a Maven repository (Maven Central by default) over plain HTTPS.

Each jar is checked against the digest the repository publishes beside it (.sha256 when there
is one, else .sha1) and kept in a local cache laid out like a Maven repository, so a second
`setup` (or a second stack work dir) downloads nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.errors import UsageError

CENTRAL = "https://repo1.maven.org/maven2"


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str

    @classmethod
    def parse(cls, coordinates: str) -> Artifact:
        """`group:artifact:version` (also the `group:artifact:jar:version[:scope]` of `mvn dependency:list`)."""
        parts = coordinates.strip().split(":")
        if len(parts) == 3:
            return cls(*parts)
        if len(parts) in (4, 5) and parts[2] == "jar":
            return cls(parts[0], parts[1], parts[3])
        raise ValueError(f"bad Maven coordinates {coordinates!r}")

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def path(self) -> str:
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


def repository_url(repository: str | None = None) -> str:
    """The given URL (the CLI passes --repository, else FLINKSQL_GEN_MAVEN_REPO), else Maven Central."""
    return (repository or CENTRAL).rstrip("/")


def cache_dir() -> Path:
    """The built-in download cache, kept between setups (the CLI passes FLINKSQL_GEN_CACHE instead)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flinksql-gen"


def cached_path(artifact: Artifact, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "maven" / artifact.path


def is_cached(artifact: Artifact, cache: Path | None = None) -> bool:
    path = cached_path(artifact, cache)
    return path.is_file() and path.stat().st_size > 0


def _client(timeout: float):
    import httpx

    return httpx.Client(timeout=timeout, follow_redirects=True,
                        headers={"User-Agent": "flinksql-gen (+https://github.com/)"})


def _expected_digest(client, url: str) -> tuple[str, str]:
    """(algorithm, hex digest) published beside `url`: .sha256 if present, else .sha1."""
    for algorithm in ("sha256", "sha1"):
        resp = client.get(f"{url}.{algorithm}")
        if resp.status_code == 200:
            # the file holds the digest, sometimes followed by the file name
            words = resp.text.split()
            if words:
                return algorithm, words[0].lower()
        elif resp.status_code != 404:
            resp.raise_for_status()
    raise UsageError(f"{url} has no published .sha256 or .sha1 digest to verify it against")


def fetch(artifact: Artifact, *, repository: str | None = None, cache: Path | None = None,
          timeout: float = 60.0, client=None) -> Path:
    """The cached jar, downloaded and verified first if needed."""
    import httpx

    target = cached_path(artifact, cache)
    if is_cached(artifact, cache):
        return target
    repo = repository_url(repository)
    url = f"{repo}/{artifact.path}"
    own = client is None
    client = client or _client(timeout)
    try:
        algorithm, expected = _expected_digest(client, url)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.new(algorithm)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, client.stream("GET", url) as resp:
                if resp.status_code == 404:
                    raise UsageError(f"{artifact} is not in {repo} ({url} answered 404)")
                resp.raise_for_status()
                for chunk in resp.iter_bytes(1 << 16):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected:
                raise UsageError(f"{url} does not match its published {algorithm} ({digest.hexdigest()} != "
                                 f"{expected}): a broken mirror or download; run `flinksql-gen setup` again")
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except httpx.HTTPStatusError as exc:
        raise UsageError(f"downloading {artifact} from {repo} failed: HTTP {exc.response.status_code}") from None
    except httpx.TransportError as exc:
        raise UsageError(
            f"cannot download {artifact} from {repo} ({type(exc).__name__}: {exc or 'no connection'}): "
            f"are you offline? Run `flinksql-gen setup` where {repo} is reachable, or point "
            "`flinksql-gen setup --repository URL` (or FLINKSQL_GEN_MAVEN_REPO) at a Maven mirror"
        ) from None
    finally:
        if own:
            client.close()
    return target


def fetch_all(artifacts: Iterable[Artifact], *, repository: str | None = None, cache: Path | None = None,
              download: bool = True, what: str = "jars",
              on_download: Callable[[Artifact], None] | None = None) -> list[Path]:
    """Every artifact's cached path, downloading the missing ones (one HTTP connection)."""
    artifacts = list(artifacts)
    missing = [a for a in artifacts if not is_cached(a, cache)]
    if missing and not download:
        raise UsageError(f"the {what} are not downloaded yet ({missing[0]} and {len(missing) - 1} more): "
                         "run `flinksql-gen setup` first")
    if missing:
        with _client(60.0) as client:
            for artifact in missing:
                if on_download:
                    on_download(artifact)
                fetch(artifact, repository=repository, cache=cache, client=client)
    return [cached_path(a, cache) for a in artifacts]


def link_into(paths: Iterable[Path], folder: Path) -> list[Path]:
    """Hard links (copies across file systems) of `paths` in `folder`, replacing stale ones."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for src in paths:
        dst = folder / src.name
        if not (dst.is_file() and dst.stat().st_size == src.stat().st_size):
            tmp = folder / f".{src.name}.part"
            tmp.unlink(missing_ok=True)
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        out.append(dst)
    return out
