"""The core facade: load -> validate -> plan -> render -> bundle. The CLI and other tools call only this.

    validate(path)                      every problem in every file, raised once as DefinitionError
    render(path, target) -> Bundle      the compiled bundle (write it with Bundle.write)
    render_pipeline(file, target)       one pipeline's bundle entry
    json_schema()                       the definition format as JSON Schema, for editors
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.bundle import Bundle, PipelineBundle
from flinksql_gen.errors import DefinitionError, Location, Problem, UsageError, relative
from flinksql_gen.load.secret_policy import check_pipeline, check_targets
from flinksql_gen.load.validate import validate_model
from flinksql_gen.load.yaml_loader import load_yaml
from flinksql_gen.models.pipeline import Pipeline
from flinksql_gen.models.targets import TARGET_TYPES, TargetsFile, default_target
from flinksql_gen.plan.context import AnyTarget, PlanContext
from flinksql_gen.plan.planner import plan_pipeline
from flinksql_gen.render.renderer import Renderer, template_environment

TARGETS_FILE = "targets.yaml"
TEMPLATES_DIR = "sql_templates"


@dataclass(frozen=True)
class Project:
    """Where the definitions, the targets file and template overrides are."""

    files: tuple[Path, ...]
    root: Path  # the folder that holds targets.yaml and sql_templates/ (parent of pipelines/)
    targets_file: Path | None

    @property
    def templates_dir(self) -> Path | None:
        d = self.root / TEMPLATES_DIR
        return d if d.is_dir() else None

    def protected_paths(self) -> tuple[Path, ...]:
        """What an output folder may never be or contain: the project, its definitions, the cwd."""
        extra = (self.targets_file,) if self.targets_file else ()
        return (self.root, Path.cwd(), *sorted({f.parent for f in self.files}), *self.files, *extra)


PathArg = Path | str | list[Path | str] | tuple[Path | str, ...]


def find_project(path: PathArg, targets_file: Path | str | None = None) -> Project:
    """A folder of definitions, one definition file, or a list of definition files."""
    if isinstance(path, (list, tuple)):
        files = [Path(p) for p in path]
        missing = [str(f) for f in files if not f.is_file()]
        if missing or not files:
            raise UsageError(f"{', '.join(missing) or 'no files given'}: no such definition file")
        path = files[0]
    else:
        path = Path(path)
        files = []
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    if files:
        folder = path.parent
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.name != TARGETS_FILE)
        if not files:
            raise UsageError(f"{path}: no .yaml pipeline definitions in this folder")
        folder = path
    else:
        files, folder = [path], path.parent
    root = folder.parent if (folder.parent / TARGETS_FILE).exists() or not (folder / TARGETS_FILE).exists() else folder
    if targets_file is not None:
        tf: Path | None = Path(targets_file)
        if not tf.exists():
            raise UsageError(f"{tf}: no such targets file")
    else:
        tf = next((d / TARGETS_FILE for d in (folder, folder.parent) if (d / TARGETS_FILE).exists()), None)
    return Project(tuple(files), root, tf)


def load_target(project: Project, name: str) -> tuple[AnyTarget, list[Problem]]:
    """The named target from targets.yaml, or the built-in default of that name."""
    if project.targets_file is not None:
        loaded, problems = load_yaml(project.targets_file)
        if problems:
            return default_target("local"), problems
        model, problems = validate_model(TargetsFile, loaded)
        problems = check_targets(loaded) + problems
        if problems:
            return default_target("local"), problems
        if name in model.targets:
            return model.targets[name], []
    if name in TARGET_TYPES:
        return default_target(name), []
    where = relative(project.targets_file) if project.targets_file else "targets.yaml (none found)"
    raise UsageError(f"unknown target {name!r}: define it in {where} or use one of {', '.join(TARGET_TYPES)}")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Planning allocates many small, acyclic objects; the cyclic collector's passes over them
    took a quarter to a third of rendering 1,000 pipelines (bench/bench_render.py). Reference
    counting still frees everything; the collector resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Promote what was allocated meanwhile to the oldest generation without a pass over it
        # (the first young-generation collection would otherwise scan all of it at once).
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _plan_files(project: Project, target_name: str):
    target, problems = load_target(project, target_name)
    if problems:
        raise DefinitionError(problems)
    plans = []
    names: dict[str, str] = {}
    for file in project.files:
        loaded, file_problems = load_yaml(file)
        problems.extend(file_problems)
        if loaded is None or file_problems:
            continue
        model, model_problems = validate_model(Pipeline, loaded)
        problems.extend(check_pipeline(loaded))
        problems.extend(model_problems)
        if model is None:
            continue
        name = model.pipeline or file.stem
        display = relative(file)
        if name in names:
            problems.append(Problem(loaded.positions.of(("pipeline",)), "pipeline",
                                    f"pipeline name {name!r} is already used by {names[name]}",
                                    "give each pipeline its own name"))  # fmt: skip
            continue
        names[name] = display
        if not _valid_file_name(name):
            problems.append(Problem(Location(display, 1), "pipeline", f"{name!r} cannot be a pipeline name",
                                    "name the file or set `pipeline:` with letters, digits and underscores"))  # fmt: skip
            continue
        ctx = PlanContext(display, loaded.positions, target_name, target, name)
        plan = plan_pipeline(ctx, model)
        problems.extend(ctx.problems)
        if plan is not None:
            plans.append(plan)
    if problems:
        raise DefinitionError(problems)
    return plans


def _valid_file_name(name: str) -> bool:
    return name.replace("_", "a").replace("-", "a").isalnum() and name.isascii()


def validate(path: PathArg, target: str = "local", targets_file: Path | str | None = None) -> int:
    """Check every definition; raises DefinitionError with all problems. Returns the number of pipelines."""
    project = find_project(path, targets_file)
    with _collector_paused():
        return len(_plan_files(project, target))


def render(
    path: PathArg, target: str = "local", targets_file: Path | str | None = None, templates_dir: Path | None = None
) -> Bundle:
    project = find_project(path, targets_file)
    renderer = Renderer(template_environment(templates_dir or project.templates_dir))
    with _collector_paused():
        plans = _plan_files(project, target)
        pipelines = tuple(sorted((renderer.pipeline(p) for p in plans), key=lambda b: b.name))
    from flinksql_gen import __version__

    return Bundle(target=target, pipelines=pipelines, generator=f"flinksql-gen {__version__}")


def render_pipeline(path: Path | str, target: str = "local", targets_file: Path | str | None = None) -> PipelineBundle:
    bundle = render(path, target, targets_file)
    if len(bundle.pipelines) != 1:
        raise UsageError(f"{path}: expected one pipeline definition file, found {len(bundle.pipelines)} pipelines")
    return bundle.pipelines[0]


def json_schema() -> dict:
    schema = Pipeline.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "flinksql-gen pipeline definition"
    return schema
