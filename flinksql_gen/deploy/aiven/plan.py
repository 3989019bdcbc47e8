"""The applications of a bundle, decided before any HTTP call: an immutable `AivenPlan`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from flinksql_gen.bundle import Bundle, PipelineBundle
from flinksql_gen.deploy.aiven_bodies import AppPlan, blank_connection_warnings, plan_applications
from flinksql_gen.errors import DefinitionError, Problem, UsageError
from flinksql_gen.secrets import mask, references


@dataclass(frozen=True)
class AivenPlan:
    """Every application to deploy, and the environment variables their SQL refers to (all
    treated as secret: their values are masked in every message about this plan)."""

    apps: tuple[AppPlan, ...]
    secret_names: tuple[str, ...]

    def __iter__(self) -> Iterator[AppPlan]:
        return iter(self.apps)

    def __len__(self) -> int:
        return len(self.apps)

    def __getitem__(self, index: int) -> AppPlan:
        return self.apps[index]

    def masker(self, env: Mapping[str, str]) -> Callable[[str], str]:
        return lambda text: mask(text, env, self.secret_names)


def plan_bundle(bundle: Bundle | PipelineBundle, out: Callable[[str], None]) -> AivenPlan:
    """Applications for every pipeline; every problem (UDFs, views, ...) raised at once."""
    pipelines = bundle.pipelines if isinstance(bundle, Bundle) else (bundle,)
    apps: list[AppPlan] = []
    problems: list[Problem] = []
    for p in pipelines:
        planned, found = plan_applications(p)
        apps.extend(planned)
        problems.extend(found)
    if problems:
        raise DefinitionError(problems)
    names = [a.name for a in apps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two INSERTs map to the same Aiven application name: {', '.join(dupes)}")
    refs = {r for a in apps for t in a.tables for r in references(t.ddl.sql)}
    refs |= {r for a in apps for r in references(a.insert.sql)}
    for a in apps:
        for w in blank_connection_warnings(a):
            out(f"warning: {w}")
    ignored = sorted({k for a in apps for k in a.pipeline.settings})
    if ignored:
        out("note: Aiven application versions carry no SET options; not sent: " + ", ".join(ignored))
    return AivenPlan(tuple(apps), tuple(sorted(refs)))
