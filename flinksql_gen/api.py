"""The core facade: load -> validate -> plan -> render -> bundle. The CLI and other tools call only this.

    find_project(path)                  the definition files under path (recursively) and their Project
    validate(path)                      every problem in every file, raised once as DefinitionError

validate and render take `project=` (a flinksql_gen.project.Project the caller resolved, as the CLI
does; default: the nearest folder at or above `path` with targets.yaml or flinksql.yaml) and
`selection=` (Selection of --select/--exclude patterns: unselected files are not validated).
    render(path, target) -> Bundle      the compiled bundle (write it with Bundle.write)
    render_pipeline(file, target)       one pipeline's bundle entry
    json_schema()                       the definition format as JSON Schema, for editors
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.bundle import Bundle, PipelineBundle
from flinksql_gen.errors import DefinitionError, Location, Problem, UsageError, relative
from flinksql_gen.load.partial import partial_model, unchecked_references
from flinksql_gen.load.secret_policy import check_pipeline
from flinksql_gen.load.validate import validate_model
from flinksql_gen.load.yaml_loader import LoadedYaml, load_yaml
from flinksql_gen.models.pipeline import Pipeline
from flinksql_gen.models.targets import default_target
from flinksql_gen.plan.context import AnyTarget, PlanContext
from flinksql_gen.plan.planner import plan_pipeline
from flinksql_gen.project import EVERYTHING, TEMPLATES_DIR, Project, Selection
from flinksql_gen.render.renderer import Renderer, template_environment

PathArg = Path | str | list[Path | str] | tuple[Path | str, ...]


@dataclass(frozen=True)
class Definitions:
    """The definition files of one command, and the project they belong to."""

    files: tuple[Path, ...]
    project: Project

    @property
    def root(self) -> Path | None:
        return self.project.root

    @property
    def targets_file(self) -> Path | None:
        return self.project.targets_file

    @property
    def templates_dir(self) -> Path | None:
        return self.project.templates_dir

    def protected_paths(self) -> tuple[Path, ...]:
        """What an output folder may never be or contain: the project, its definitions, the cwd."""
        extra = (self.targets_file,) if self.targets_file else ()
        folders = sorted({f.parent for f in self.files})
        # Without a project, the folder above the definitions stands for it (as it always did).
        root = self.root if self.root is not None else folders[0].parent
        return (root, Path.cwd(), *folders, *self.files, *extra)


def find_project(path: PathArg, targets_file: Path | str | None = None, project: Project | None = None) -> Definitions:
    """The definitions at `path` (a folder, searched recursively; one file; or a list of files) and
    their project: `project` when the caller resolved it (the CLI), else the nearest folder at or
    above `path` holding targets.yaml or flinksql.yaml."""
    files = Project.definitions(path)
    if project is None:
        first = files[0]
        project = Project.discover(first)
        if project.root is None:  # no project: a sql_templates/ beside or above the folder still applies
            folder = Path(path) if isinstance(path, (str, Path)) and Path(path).is_dir() else first.parent
            found = next((d / TEMPLATES_DIR for d in (folder, folder.parent) if (d / TEMPLATES_DIR).is_dir()), None)
            project = Project.at(None, "none", templates_dir=found)
    if targets_file is not None:
        project = Project.at(project.root, project.how, Path(targets_file), project.templates_dir)
    return Definitions(tuple(files), project)


def load_target(project: Project, name: str) -> tuple[AnyTarget, list[Problem]]:
    """The named target (see Project.target), with the targets file's problems instead of raising."""
    _, problems = project.load_targets()
    if problems:
        return default_target("local"), problems
    return project.target(name), []


def _declared_name(loaded: LoadedYaml | None, file: Path) -> str:
    """The pipeline's name before validation (for --select): `pipeline:` when it is text, else the file stem."""
    data = loaded.data if loaded is not None else None
    name = data.get("pipeline") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else file.stem


def _plan_files(defs: Definitions, target_name: str, selection: Selection = EVERYTHING) -> list:
    """Every problem of every selected file at once: YAML, shape, secrets, then references and
    target checks wherever the parts they need loaded."""
    target, target_problems = load_target(defs.project, target_name)
    problems = list(target_problems)
    plans = []
    names: dict[str, str] = {}
    declared: list[str] = []
    for file in defs.files:
        loaded, file_problems = load_yaml(file)
        declared.append(_declared_name(loaded, file))
        if not selection.matches(declared[-1]):
            continue  # unselected: not validated for this target at all
        problems.extend(file_problems)
        if loaded is None:
            continue
        model, model_problems = validate_model(Pipeline, loaded)
        problems.extend(check_pipeline(loaded))
        problems.extend(model_problems)
        failed: dict[tuple[str, str], Location] = {}
        if model is None:
            model, failed = partial_model(loaded)
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
        if target_problems:
            continue  # reported once below: nothing can be checked against a target that failed
        ctx = PlanContext(display, loaded.positions, target_name, target, name)
        if failed:  # best effort: more errors from what did load; its shape problems are reported already
            try:
                plan = plan_pipeline(ctx, model)
            except Exception:  # a model built without its failed entries must never turn into a crash
                plan = None
        else:
            plan = plan_pipeline(ctx, model)
        problems.extend(unchecked_references(ctx.problems, failed))
        if plan is not None and not failed:
            plans.append(plan)
    selection.check_used(declared)
    if target_problems and names:
        where, first = target_problems[0].location.file, next(iter(names.values()))
        problems.append(Problem(Location(first), "", f"{len(names)} pipeline(s) cannot be checked against target "
                                f"{target_name!r} because {where} failed to load", f"fix {where} first"))  # fmt: skip
    if problems:
        raise DefinitionError(problems)
    return plans


def _valid_file_name(name: str) -> bool:
    return name.replace("_", "a").replace("-", "a").isalnum() and name.isascii()


def validate(path: PathArg, target: str = "local", targets_file: Path | str | None = None, *,
             project: Project | None = None, selection: Selection = EVERYTHING) -> int:  # fmt: skip
    """Check every definition; raises DefinitionError with all problems. Returns the number of pipelines."""
    defs = find_project(path, targets_file, project)
    return len(_plan_files(defs, target, selection))


def render(path: PathArg, target: str = "local", targets_file: Path | str | None = None,
           templates_dir: Path | None = None, *, project: Project | None = None,
           selection: Selection = EVERYTHING) -> Bundle:  # fmt: skip
    defs = find_project(path, targets_file, project)
    renderer = Renderer(template_environment(templates_dir or defs.templates_dir))
    plans = _plan_files(defs, target, selection)
    pipelines = tuple(sorted((renderer.pipeline(p) for p in plans), key=lambda b: b.name))
    from flinksql_gen import __version__

    return Bundle(target=target, pipelines=pipelines, generator=f"flinksql-gen {__version__}")


def render_pipeline(path: Path | str, target: str = "local", targets_file: Path | str | None = None, *,
                    project: Project | None = None) -> PipelineBundle:  # fmt: skip
    bundle = render(path, target, targets_file, project=project)
    if len(bundle.pipelines) != 1:
        raise UsageError(f"{path}: expected one pipeline definition file, found {len(bundle.pipelines)} pipelines")
    return bundle.pipelines[0]


def json_schema() -> dict:
    schema = Pipeline.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "flinksql-gen pipeline definition"
    return schema
