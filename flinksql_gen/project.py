"""The project context: where the definitions, the targets file and the template folder are.

Like dbt, a project is the nearest folder at or above a starting point (the path given on the
command line, else the current directory) that holds `targets.yaml` or `flinksql.yaml`. The CLI
builds one `Project` in its group callback (sqlmesh's `Context` style) and resolves the
`--project-dir` / `FLINKSQL_PROJECT_DIR` override there, once; the library never reads them.
The machine's FLINKSQL_* settings (flinksql_gen.machine) are resolved there too and ride along.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flinksql_gen.errors import DefinitionError, Problem, UsageError, relative
from flinksql_gen.load.secret_policy import check_targets
from flinksql_gen.load.validate import validate_model
from flinksql_gen.load.yaml_loader import load_yaml
from flinksql_gen.machine import DEFAULT, Machine
from flinksql_gen.models.targets import TARGET_TYPES, TargetsFile, default_target
from flinksql_gen.plan.context import AnyTarget

TARGETS_FILE = "targets.yaml"
PROJECT_FILE = "flinksql.yaml"
TEMPLATES_DIR = "sql_templates"
DEFINITIONS_DIR = "pipelines"
MARKERS = (TARGETS_FILE, PROJECT_FILE)
NOT_DEFINITIONS = frozenset(MARKERS)
SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")  # pipeline tests (`flinksql-gen test`), not definitions


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds targets.yaml or flinksql.yaml."""
    start = start.absolute()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).is_file() for marker in MARKERS):
            return candidate
    return None


def find_definitions(path: Path, _seen: set[Path] | None = None) -> list[Path]:
    """Every definition file under `path`, recursively, in a stable order. A folder's targets.yaml
    and flinksql.yaml, template folders, hidden folders and rendered bundles are not definitions."""
    if path.is_file():
        return [path]
    seen = _seen if _seen is not None else set()
    real = path.resolve()
    if real in seen:  # a symbolic link back up the tree: each folder is read once
        return []
    seen.add(real)
    found: list[Path] = []
    for entry in sorted(path.iterdir()):
        if entry.is_dir():
            skip = entry.name.startswith(".") or entry.name == TEMPLATES_DIR or (entry / "manifest.json").is_file()
            if not skip:
                found.extend(find_definitions(entry, seen))
        elif entry.suffix in SUFFIXES and entry.name not in NOT_DEFINITIONS and not entry.name.endswith(TEST_SUFFIXES):
            found.append(entry)
    return found


@dataclass(frozen=True)
class Selection:
    """`--select` / `--exclude`: pipeline names or shell globs (fnmatch), each repeatable."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.select or self.exclude)

    def matches(self, name: str) -> bool:
        chosen = not self.select or any(fnmatch.fnmatchcase(name, p) for p in self.select)
        return chosen and not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)

    def check_used(self, names: Iterable[str]) -> None:
        """A pattern that matches no pipeline is a typo: say so rather than do nothing."""
        names = list(names)
        unused = [p for p in (*self.select, *self.exclude) if not any(fnmatch.fnmatchcase(n, p) for n in names)]
        if unused:
            raise UsageError(f"no pipeline matches {', '.join(map(repr, unused))} "
                             f"(pipelines: {', '.join(sorted(names)) or 'none'})")  # fmt: skip


EVERYTHING = Selection()


@dataclass
class Project:
    """One project: its root, targets file and template folder, with the targets parsed once."""

    root: Path | None
    targets_file: Path | None
    templates_dir: Path | None
    how: str = "discovered"  # how the root was chosen: --project-dir, FLINKSQL_PROJECT_DIR, discovered, none
    machine: Machine = DEFAULT  # this machine's settings (work dir, caches, binaries), from the CLI's environment
    _targets: tuple[TargetsFile | None, list[Problem]] | None = field(default=None, repr=False)
    announced: bool = field(default=False, repr=False, compare=False)  # the CLI said which files it uses

    @classmethod
    def at(cls, root: Path | None, how: str = "discovered", targets_file: Path | None = None,
           templates_dir: Path | None = None, machine: Machine = DEFAULT) -> Project:  # fmt: skip
        """The project rooted at `root` (None: no project, built-in targets), with optional overrides."""
        if targets_file is not None and not Path(targets_file).is_file():
            raise UsageError(f"{targets_file}: no such targets file")
        tf = Path(targets_file) if targets_file is not None else None
        if tf is None and root is not None and (root / TARGETS_FILE).is_file():
            tf = root / TARGETS_FILE
        td = templates_dir
        if td is None and root is not None and (root / TEMPLATES_DIR).is_dir():
            td = root / TEMPLATES_DIR
        return cls(root, tf, td, how, machine)

    @classmethod
    def discover(cls, start: Path | str | None = None, project_dir: Path | str | None = None,
                 how: str = "--project-dir", targets_file: Path | None = None,
                 machine: Machine = DEFAULT) -> Project:  # fmt: skip
        """An explicit project folder, else the nearest one at or above `start` (default: the cwd)."""
        if project_dir is not None:
            root = Path(project_dir)
            if not root.is_dir():
                raise UsageError(f"{root} ({how}): no such project folder")
            return cls.at(root, how, targets_file, machine=machine)
        root = find_root(Path(start) if start is not None else Path.cwd())
        return cls.at(root, "discovered" if root else "none", targets_file, machine=machine)

    def for_path(self, path: Path | None, targets_file: Path | None = None) -> Project:
        """The project a command's PATH belongs to: an explicit project stays; a discovered one is
        looked for again above PATH (the path wins over the current directory)."""
        explicit = self.how not in ("discovered", "none")
        project = self if explicit or path is None else Project.discover(path, machine=self.machine)
        if targets_file is not None:
            return Project.at(project.root, project.how, targets_file, project.templates_dir, self.machine)
        return project

    # ------------------------------------------------------------------ definitions

    def default_definitions(self) -> Path:
        """`pipelines/` of the project, for commands run without a PATH."""
        if self.root is not None and (self.root / DEFINITIONS_DIR).is_dir():
            return self.root / DEFINITIONS_DIR
        raise UsageError("no PATH given and no pipelines/ folder in a project here "
                         "(pass a folder or file, or --project-dir; `flinksql-gen init` starts a project)")  # fmt: skip

    @staticmethod
    def definitions(path: Path | str | Iterable[Path | str]) -> list[Path]:
        """Definition files: a folder (recursively), one file, or a list of files."""
        if not isinstance(path, (str, Path)):
            files = [Path(p) for p in path]
            missing = [str(f) for f in files if not f.is_file()]
            if missing or not files:
                raise UsageError(f"{', '.join(missing) or 'no files given'}: no such definition file")
            return files
        path = Path(path)
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        files = find_definitions(path)
        if not files:
            raise UsageError(f"{path}: no .yaml pipeline definitions in this folder or below it")
        return files

    # ------------------------------------------------------------------ targets

    def load_targets(self) -> tuple[TargetsFile | None, list[Problem]]:
        """The targets file parsed with positions (errors read targets.yaml:line:col); parsed once."""
        if self._targets is None:
            if self.targets_file is None:
                self._targets = (None, [])
            else:
                loaded, problems = load_yaml(self.targets_file)
                model = None
                if loaded is not None:
                    model, shape = validate_model(TargetsFile, loaded)
                    problems = problems + check_targets(loaded) + shape
                self._targets = (None if problems else model, problems)
        return self._targets

    def target(self, name: str) -> AnyTarget:
        """The named target from the targets file, else the built-in one of that name."""
        model, problems = self.load_targets()
        if problems:
            raise DefinitionError(problems)
        if model is not None and name in model.targets:
            return model.targets[name]
        if name in TARGET_TYPES:
            return default_target(name)
        where = relative(self.targets_file) if self.targets_file else "targets.yaml (none found)"
        raise UsageError(f"unknown target {name!r}: define it in {where} or use one of {', '.join(TARGET_TYPES)}")

    def targets(self) -> dict[str, AnyTarget]:
        model, problems = self.load_targets()
        if problems:
            raise DefinitionError(problems)
        return dict(model.targets) if model is not None else {}

    # ------------------------------------------------------------------ reporting

    def describe(self) -> dict[str, str | None]:
        """What this run uses, for the one line every command prints (or its JSON)."""
        return {
            "project": str(self.root) if self.root else None,
            "project_from": self.how,
            "targets_file": relative(self.targets_file) if self.targets_file else None,
            "templates_dir": relative(self.templates_dir) if self.templates_dir else None,
        }

    def summary(self) -> str:
        targets = _shown(self.targets_file) if self.targets_file else "built-in targets (no targets.yaml)"
        templates = _shown(self.templates_dir) if self.templates_dir else "built-in templates"
        return f"using {targets}, {templates}"


def _shown(path: Path) -> str:
    """A path relative to the cwd when it is close (../targets.yaml), else absolute."""
    rel = os.path.relpath(path.absolute())
    return rel if rel.count("..") <= 2 else str(path.absolute())
