"""What every planning step needs: where it is (file, positions), the target, and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field

from flinksql_gen.errors import Location, Problem
from flinksql_gen.load.yaml_loader import PathKey, Positions, dotted
from flinksql_gen.models.targets import AivenTarget, ClusterTarget, GatewayTarget, LocalTarget

AnyTarget = LocalTarget | ClusterTarget | GatewayTarget | AivenTarget


@dataclass
class PlanContext:
    file: str
    positions: Positions
    target_name: str
    target: AnyTarget
    pipeline: str
    problems: list[Problem] = field(default_factory=list)
    parallelism: int = 1  # the pipeline's parallelism.default (set by the planner from its settings)

    @property
    def aiven(self) -> bool:
        return self.target.type == "aiven"

    def loc(self, path: PathKey, value: bool = False) -> Location:
        return self.positions.of(path, prefer_value=value)

    def error(self, path: PathKey, message: str, hint: str = "", value: bool = True) -> None:
        self.problems.append(Problem(self.loc(path, value), dotted(path), message, hint))


def known(names: list[str] | set[str] | dict, what: str) -> str:
    """A hint listing what is defined, for dangling references."""
    items = sorted(names)
    return f"defined {what}: {', '.join(items)}" if items else f"no {what} are defined"
