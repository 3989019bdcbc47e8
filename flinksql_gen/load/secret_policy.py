"""Where `${env:NAME}` references and secrets may stand, checked on the loaded YAML.

A reference is resolved when a job starts, so wherever it stands its value flows into the job.
It is therefore allowed only in connection settings (URLs, users, passwords, tokens, bootstrap
servers, connector properties): anywhere else (a Slack message, a LIKE pattern, a column name,
a description) it would let a definition copy any environment variable into alerts. And a
setting that holds a secret must be a bare reference, so no plaintext secret reaches a bundle.
Messages never repeat a value: it may be the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from flinksql_gen.errors import Location, Problem
from flinksql_gen.load.yaml_loader import LoadedYaml, PathKey, dotted

_REFERENCE_START = "${env:"
_BARE_REFERENCE = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-)?\}$")
# Keys that name a secret (Kafka/JDBC client properties, Flink settings, our own fields).
_SECRET_KEY = re.compile(
    r"password|passwd|secret|token|jaas|credential|api[._-]?key|private[._-]?key|access[._-]?key|user[._-]?info",
    re.IGNORECASE,
)

Rule = Callable[[PathKey], bool]

_ANY = object()


def _match(pattern: tuple[Any, ...]) -> Rule:
    return lambda path: len(path) == len(pattern) and all(p is _ANY or p == k for p, k in zip(pattern, path, strict=True))


def _secret_named_entry(prefix: tuple[Any, ...]) -> Rule:
    base = _match((*prefix, _ANY))
    return lambda path: base(path) and bool(_SECRET_KEY.search(str(path[-1])))


# Pipeline definitions: connector properties of a source, a Slack sink's token, and a model service
# detector's URL and HTTP headers (every header is a secret: the model config takes only references).
PIPELINE_ALLOWED: tuple[Rule, ...] = (
    _match(("sources", _ANY, "properties", _ANY)),
    _match(("sinks", _ANY, "token")),
    _match(("detectors", _ANY, "url")),
    _match(("detectors", _ANY, "headers", _ANY)),
)
PIPELINE_SECRETS: tuple[Rule, ...] = (
    _secret_named_entry(("sources", _ANY, "properties")),
    _match(("sinks", _ANY, "token")),
    _match(("detectors", _ANY, "headers", _ANY)),
)

_T = ("targets", _ANY)
TARGETS_ALLOWED: tuple[Rule, ...] = (
    _match((*_T, "kafka", "bootstrap_servers")),
    _match((*_T, "kafka", "properties", _ANY)),
    *(_match((*_T, "postgres", field)) for field in ("url", "username", "password")),
    *(_match((*_T, field)) for field in ("jobmanager", "url", "api_url", "token", "project", "service")),
    _match((*_T, "integrations", _ANY)),
    _secret_named_entry((*_T, "settings")),
)
TARGETS_SECRETS: tuple[Rule, ...] = (
    _match((*_T, "postgres", "password")),
    _match((*_T, "token")),
    _secret_named_entry((*_T, "kafka", "properties")),
    _secret_named_entry((*_T, "settings")),
)


_SECRET_FIELDS = frozenset({"token", "password"})
_SECRET_MAPS = frozenset({"properties", "settings", "headers"})


def check_pipeline(loaded: LoadedYaml) -> list[Problem]:
    return _check(loaded, PIPELINE_ALLOWED, PIPELINE_SECRETS)


def check_targets(loaded: LoadedYaml) -> list[Problem]:
    return _check(loaded, TARGETS_ALLOWED, TARGETS_SECRETS)


def _check(loaded: LoadedYaml, allowed: tuple[Rule, ...], secrets: tuple[Rule, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for path, text, is_key in _strings(loaded.data, ()):
        where = _Where(loaded, path, is_key)
        if is_key:
            if _REFERENCE_START in text:
                problems.append(Problem(where.location, dotted(path), "a key cannot hold an ${env:...} reference",
                                        "write the name itself; references belong in connection settings"))  # fmt: skip
            continue
        # (cheap pre-test: every secret rule ends in one of these; wide files have 100k+ strings)
        could_be_secret = path[-1] in _SECRET_FIELDS or (len(path) > 1 and path[-2] in _SECRET_MAPS)
        is_secret = could_be_secret and any(rule(path) for rule in secrets)
        if is_secret and not _BARE_REFERENCE.match(text):
            problems.append(Problem(where.location, dotted(path), "this setting holds a secret, so it cannot be written as a value",
                                    "write it as ${env:NAME} with no default, and export NAME where the job "
                                    "starts; a default would be stored in the bundle"))  # fmt: skip
        elif _REFERENCE_START in text and not any(rule(path) for rule in allowed):
            problems.append(Problem(where.location, dotted(path), "${env:...} references are allowed only in connection settings",
                                    "URLs, users, passwords, tokens, bootstrap servers and connector properties; "
                                    "write the text itself here"))  # fmt: skip
    return problems


class _Where:
    """A string's location, looked up only when there is a problem to report."""

    def __init__(self, loaded: LoadedYaml, path: PathKey, is_key: bool):
        self.loaded, self.path, self.is_key = loaded, path, is_key

    @property
    def location(self) -> Location:
        return self.loaded.positions.of(self.path, prefer_value=not self.is_key)


def _strings(data: Any, path: PathKey) -> Iterator[tuple[PathKey, str, bool]]:
    """Every string in the data: (path, text, is_key)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str):
                yield (*path, key), key, True
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _strings(item, (*path, i))
    elif isinstance(data, str):
        yield path, data, False
