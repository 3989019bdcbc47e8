"""Lay a plan out as SQL with Jinja templates and assemble the pipeline's bundle entry.

Templates come from the built-in `sql_templates/` and may be overridden by name from a
project's own `sql_templates/` folder (dbt-style). They only lay out what the plan decided.
"""

from __future__ import annotations

import functools
import hashlib
import traceback
from dataclasses import replace
from importlib import resources
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from flinksql_gen import __version__
from flinksql_gen.bundle import PipelineBundle, SetOption, Statement
from flinksql_gen.errors import DefinitionError, Location, Problem, relative
from flinksql_gen.plan.plan import (
    MatchRecognize,
    PlannedInsert,
    PlannedPipeline,
    PlannedView,
    Query,
    Select,
    Setting,
)
from flinksql_gen.render.quoting import comment_text, quote_identifier, quote_string
from flinksql_gen.secrets import references


def template_environment(override_dir: Path | None = None) -> jinja2.Environment:
    """The template environment (cached: compiling templates costs more than rendering them)."""
    key = str(Path(override_dir).resolve()) if override_dir is not None and Path(override_dir).is_dir() else None
    return _environment(key)


@functools.lru_cache(maxsize=8)
def _environment(override_dir: str | None) -> jinja2.Environment:
    builtin = resources.files("flinksql_gen.sql_templates")
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.FileSystemLoader(str(builtin)))
    # A project's template overrides come with a checkout, so they are rendered sandboxed: no
    # attribute walks to `os`, no unsafe calls. Only the built-in templates, which ship with the
    # package, render unsandboxed (the sandbox's checked attribute access nearly doubles their cost).
    factory = ImmutableSandboxedEnvironment if override_dir is not None else jinja2.Environment
    return factory(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # one render reads each template once; no stat() per statement
    )


class Renderer:
    def __init__(self, env: jinja2.Environment):
        self.env = env
        # Templates only lay out their inputs, so equal settings give equal SET lines: most recur
        # in every pipeline of a folder.
        self._set_lines: dict[Setting, str] = {}

    def _render(self, name: str, **context: object) -> str:
        try:
            return self.env.get_template(name).render(**context).strip("\n")
        except jinja2.TemplateSyntaxError as exc:
            raise _template_problem(exc.filename or name, exc.lineno, f"template syntax error: {exc.message}") from None
        except UnicodeDecodeError:
            raise _template_problem(self._file_of(name), 0, "the template is not UTF-8 text") from None
        except Exception as exc:  # a template may fail in many ways; each is the template's fault
            file, line = _template_frame(exc, self._file_of(name))
            raise _template_problem(file, line, f"template error: {type(exc).__name__}: {exc}") from None

    def _file_of(self, name: str) -> str:
        """The file a template name loads from: the project's override first, then the built-in."""
        loaders = getattr(self.env.loader, "loaders", [self.env.loader])
        for loader in loaders:
            for folder in getattr(loader, "searchpath", ()):
                if (Path(folder) / name).is_file():
                    return str(Path(folder) / name)
        return name

    def _set(self, setting: Setting) -> str:
        text = self._set_lines.get(setting)
        if text is None:
            text = self._set_lines[setting] = self._render("set.sql.j2", setting=setting)
        return text

    def query(self, query: Query) -> str:
        if isinstance(query, Select):
            return self._render("select.sql.j2", select=query)
        if isinstance(query, MatchRecognize):
            return self._render("match_recognize.sql.j2", match=query)
        raise TypeError(type(query))  # pragma: no cover

    def pipeline(self, plan: PlannedPipeline) -> PipelineBundle:
        views = {v.raw_name: v for v in plan.views}
        statements: list[Statement] = []
        for s in plan.settings:
            statements.append(Statement("set", s.name, self._set(s), Location(plan.source_file, 1),
                                        setting=SetOption(s.name, s.raw_value)))  # fmt: skip
        for u in plan.udfs:
            # The bundle registers its own Python UDFs, so the script runs as is under
            # `sql-client.sh -f` and through a SQL Gateway (the workers import the module).
            module, _, attr = u.python.partition(":")
            function = {"name": quote_identifier(u.name), "definition": quote_string(f"{module}.{attr}")}
            statements.append(Statement("create_function", u.name,
                                        self._render("create_function.sql.j2", function=function),
                                        Location(plan.source_file, 1), creates=(u.name,)))  # fmt: skip
        for t in plan.tables:
            statements.append(Statement("create_table", t.raw_name, self._render("create_table.sql.j2", table=t),
                                        t.origin, creates=(t.raw_name,)))  # fmt: skip
        view_sql = {v.raw_name: self._render("create_view.sql.j2", view=v, query=self.query(v.query)) for v in plan.views}
        if not plan.inline_views:
            for v in plan.views:
                statements.append(Statement("create_view", v.raw_name, view_sql[v.raw_name], v.origin,
                                            creates=(v.raw_name,), reads=_reads([v])))  # fmt: skip
        sink_names = {t.name: t.raw_name for t in plan.tables}  # quoted -> raw
        for ins in plan.inserts:
            chain = _closure(ins.depends_on, views)
            query = ins.query
            if plan.inline_views:
                with_ = tuple((v.name, self.query(v.query)) for v in chain)
                query = _with(query, with_)
            sql = self._render("insert.sql.j2", insert=ins, query=self.query(query))
            # Inlined views are WITH clauses of the insert: it reads the tables they read.
            reads = _reads([*chain, ins], views) if plan.inline_views else _reads([ins])
            statements.append(Statement("insert", ins.name, sql, ins.origin, _state_signature(chain, view_sql, plan),
                                        reads=reads, writes=(sink_names[ins.sink],)))  # fmt: skip
        script = self._render(
            "script.sql.j2",
            generator=f"flinksql-gen {__version__}",
            pipeline=plan,
            # User text for the header comment, made inert (see quoting.comment_text).
            source_comment=comment_text(plan.source_file),
            target_comment=comment_text(plan.target),
            description_comment=[comment_text(line) for line in plan.description.splitlines()],
            settings=[s.sql for s in statements if s.kind == "set"],
            ddl=[s.sql for s in statements if s.kind in ("create_function", "create_table", "create_view")],
            inserts=[s.sql for s in statements if s.kind == "insert"],
        )
        env = references("\n".join(s.sql for s in statements))
        return PipelineBundle(
            name=plan.name,
            source_file=plan.source_file,
            target=plan.target,
            statements=tuple(statements),
            tables=tuple(t.info for t in plan.tables),
            udfs=plan.udfs,
            env=tuple(env),
            script=script + "\n",
        )


def _template_problem(file: str, line: int | None, message: str) -> DefinitionError:
    hint = "fix the template, or delete it from sql_templates/ to use the built-in one"
    return DefinitionError([Problem(Location(relative(Path(file)), line or 0), "", message, hint)])


def _template_frame(exc: BaseException, default: str) -> tuple[str, int]:
    """The template file and line where rendering failed (Jinja maps frames back to templates)."""
    found = (default, 0)
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename.endswith(".j2"):
            found = (frame.f_code.co_filename, line)
    return found


def _closure(names: tuple[str, ...], views: dict[str, PlannedView]) -> list[PlannedView]:
    """The views an insert reads, dependencies first."""
    out: list[PlannedView] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in views:
            return
        seen.add(name)
        for dep in (*views[name].depends_on, *views[name].tables):  # a checked source's view is a "table"
            visit(dep)
        out.append(views[name])

    for n in names:
        visit(n)
    return out


def _reads(chain: list[PlannedView | PlannedInsert], inlined: dict[str, PlannedView] | None = None
           ) -> tuple[str, ...]:  # fmt: skip
    """The relations these views (or an insert) read, in order; with `inlined`, the views among
    them are WITH clauses of the statement and only what they read from outside counts."""
    names: dict[str, None] = {}
    for v in chain:
        names.update(dict.fromkeys((*v.depends_on, *v.tables)))
    return tuple(n for n in names if inlined is None or n not in inlined)


def _with(query: Query, with_: tuple[tuple[str, str], ...]) -> Query:
    return replace(query, with_=with_)


def _state_signature(chain: list[PlannedView], view_sql: dict[str, str], plan: PlannedPipeline) -> str:
    """A digest of what shapes the job's operator state; empty for stateless inserts."""
    if not any(v.stateful for v in chain):
        return ""
    h = hashlib.sha256()
    for v in chain:
        h.update(view_sql[v.raw_name].encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
