"""`flinksql-gen deploy aiven`: run a bundle's pipelines as Aiven for Apache Flink applications.

Per pipeline, each INSERT is one application `<pipeline>-<insert>` (see aiven_bodies). The
flow: refuse UDFs before any HTTP call; resolve integration ids; validate every version
with Aiven and map its errors to the YAML that produced the statement; then per
application: find or create it, create the version, stop a RUNNING deployment with a
savepoint, deploy the new version from that savepoint and wait until it runs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flinksql_gen.bundle import Bundle, PipelineBundle, Statement
from flinksql_gen.deploy.aiven_api import AivenAPI, find_token
from flinksql_gen.deploy.aiven_bodies import (
    REQUIRED_KINDS,
    AppPlan,
    Resolved,
    TableUse,
    blank_connection_warnings,
    dumps,
    excerpt,
    offset_of,
    plan_pipeline,
    position_of,
    resolve_tracked,
)
from flinksql_gen.deploy.base import DeployError, JobInfo, SubmitResult, register
from flinksql_gen.deploy.upgrade import classify_statements
from flinksql_gen.errors import DefinitionError, Problem, UsageError
from flinksql_gen.models.targets import AivenTarget
from flinksql_gen.secrets import mask as mask_env
from flinksql_gen.secrets import references
from flinksql_gen.secrets import resolve as resolve_env

# Deployment states (Aiven API, ServiceFlinkApplicationDeploymentStatusType).
SETTLED = {"RUNNING", "FAILED", "CANCELED", "FINISHED", "SUSPENDED"}
TERMINAL = {"FAILED", "CANCELED", "FINISHED", "DELETING", "DELETE_REQUESTED"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
VERSION_ID_PLACEHOLDER = "${aiven:version_id}"


@dataclass
class AppResult:
    application: str
    action: str  # "deployed", "unchanged", "validated", "stopped", "not running"
    application_id: str = ""
    version: int | None = None
    deployment_id: str = ""
    savepoint: str = ""
    notes: list[str] = field(default_factory=list)


class AivenDeployTarget:
    """Deploys bundles rendered for the aiven target to one Aiven for Apache Flink service."""

    name = "aiven"

    def __init__(
        self,
        target: AivenTarget | None = None,
        *,
        project: str | None = None,
        service: str | None = None,
        env: Mapping[str, str] | None = None,
        out: Callable[[str], None] = print,
        poll_interval: float = 2.0,
        timeout: float = 900.0,
        retry_backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.target = target or AivenTarget()
        self.env = dict(os.environ if env is None else env)
        self.out = out
        self.poll_interval, self.timeout, self.retry_backoff, self._sleep = (
            poll_interval,
            timeout,
            retry_backoff,
            sleep,
        )
        self._project, self._service = project, service
        self._api: AivenAPI | None = None
        self._integrations: list[dict] | None = None

    # -- configuration ---------------------------------------------------------------------------

    def _setting(self, value: str) -> str:
        return resolve_env(value, self.env) if value else ""

    # Resolved when first needed, so --generate-dir works without project, service or token.
    @property
    def project(self) -> str:
        return self._project or self._setting(self.target.project)

    @property
    def service(self) -> str:
        return self._service or self._setting(self.target.service)

    @property
    def api_url(self) -> str:
        return self._setting(self.target.api_url) or "https://api.aiven.io"

    def _token(self) -> str | None:
        try:
            configured = self._setting(self.target.token)
        except UsageError:  # ${env:...} without default and unset: try the other sources
            configured = ""
        return find_token(configured, self.env)

    def _require_service(self) -> None:
        if not self.project or not self.service:
            raise UsageError(
                "no Aiven project/service: pass --project and --service (or set them in targets.yaml)"
            )

    def api(self, read_only: bool = False) -> AivenAPI:
        self._require_service()
        if self._api is None or self._api.read_only != read_only:
            self._api = AivenAPI(
                self.api_url,
                self._token(),
                self.project,
                self.service,
                read_only=read_only,
                backoff=self.retry_backoff,
                sleep=self._sleep,
                mask=self._mask_secrets,
            )
        return self._api

    def _mask_secrets(self, text: str) -> str:
        return mask_env(text, self.env, self._secret_names)

    _secret_names: tuple[str, ...] = ()

    # -- planning (no HTTP) ----------------------------------------------------------------------------

    def plan(self, bundle: Bundle | PipelineBundle) -> list[AppPlan]:
        """Applications for every pipeline; every problem (UDFs, views, ...) raised at once."""
        pipelines = bundle.pipelines if isinstance(bundle, Bundle) else (bundle,)
        plans: list[AppPlan] = []
        problems: list[Problem] = []
        for p in pipelines:
            pp, pr = plan_pipeline(p)
            plans.extend(pp)
            problems.extend(pr)
        if problems:
            raise DefinitionError(problems)
        names = [a.name for a in plans]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UsageError(f"two INSERTs map to the same Aiven application name: {', '.join(dupes)}")
        refs = {r for a in plans for t in a.tables for r in references(t.ddl.sql)}
        refs |= {r for a in plans for r in references(a.insert.sql)}
        self._secret_names = tuple(sorted(refs))
        for a in plans:
            for w in blank_connection_warnings(a):
                self.out(f"warning: {w}")
        ignored = sorted({k for a in plans for k in a.pipeline.settings})
        if ignored:
            self.out("note: Aiven application versions carry no SET options; not sent: " + ", ".join(ignored))
        return plans

    # -- integrations ----------------------------------------------------------------------------------

    def integration_ids(self, plans: list[AppPlan], read_only: bool = True) -> dict[str, str]:
        """Integration id per kind (kafka / postgres / slack) the plans need."""
        needed = {t.integration_kind for a in plans for t in a.tables if t.integration_kind}
        configured = {
            "kafka": self._setting(self.target.integrations.kafka),
            "postgres": self._setting(self.target.integrations.postgres),
            "slack": self._setting(self.target.integrations.slack),
        }
        out: dict[str, str] = {}
        for kind in sorted(needed):
            value = configured.get(kind, "")
            if _UUID.match(value):
                out[kind] = value
            elif value or kind in REQUIRED_KINDS:
                out[kind] = self._lookup_integration(kind, value, plans, read_only)
        return out

    def _lookup_integration(self, kind: str, service_name: str, plans: list[AppPlan], read_only: bool) -> str:
        if self._integrations is None:
            self._integrations = self.api(read_only).list_integrations()
        service_type = {"kafka": "kafka", "postgres": "pg", "slack": "slack"}[kind]
        flink = [
            i
            for i in self._integrations
            if str(i.get("integration_type", "")).startswith("flink")
            and i.get("dest_service") == self.service
        ]
        if service_name:
            found = [i for i in flink if i.get("source_service") == service_name]
        else:
            found = [i for i in flink if i.get("source_service_type") == service_type]
        if len(found) == 1:
            return str(found[0]["service_integration_id"])
        tables = sorted({t.name for a in plans for t in a.tables if t.integration_kind == kind})
        known = ", ".join(
            f"{i.get('source_service')} ({i.get('source_service_type')}): {i.get('service_integration_id')}"
            for i in flink
        )
        what = f"the service {service_name!r}" if service_name else f"a {service_type} service"
        many = "more than one integration" if found else "no integration"
        raise UsageError(
            f"{many} of {what} with the Flink service {self.service!r} (needed by tables "
            f"{', '.join(tables)}); set targets.<aiven>.integrations.{kind} to an integration id "
            f"or a service name. Flink integrations: {known or 'none'}"
        )

    # -- bodies ------------------------------------------------------------------------------------------

    def _resolve(self, text: str) -> str:
        return resolve_env(text, self.env)

    def bodies(self, plan: AppPlan, ids: Mapping[str, str], resolve: bool = True) -> dict:
        return plan.version_body(ids, self._resolve if resolve else str)

    def deployment_body(self, version_id: str, savepoint: str = "") -> dict:
        body = {
            "version_id": version_id,
            "parallelism": self.target.parallelism,
            "restart_enabled": self.target.restart.type != "none",
        }
        if savepoint:
            body["starting_savepoint"] = savepoint
        return body

    # -- --generate-dir ------------------------------------------------------------------------------

    def generate(self, bundle: Bundle | PipelineBundle, out_dir: Path) -> list[Path]:
        """Write the exact request bodies per application; ${env:...} references stay unresolved."""
        plans = self.plan(bundle)
        ids = self.integration_ids(plans, read_only=True)
        out_dir = Path(out_dir)
        written = []
        for a in plans:
            d = out_dir / a.name
            d.mkdir(parents=True, exist_ok=True)
            files = {
                "application.json": {"name": a.name},
                "version.json": self.bodies(a, ids, resolve=False),
                "deployment.json": self.deployment_body(VERSION_ID_PLACEHOLDER),
            }
            for fname, body in files.items():
                path = d / fname
                path.write_text(dumps(body))
                written.append(path)
        return written

    # -- validation ----------------------------------------------------------------------------------

    def validate(self, bundle: Bundle | PipelineBundle, *, read_only: bool = True) -> list[AppPlan]:
        """Validate every application version with Aiven; all errors raised as one DefinitionError."""
        plans = self.plan(bundle)
        self._validate_plans(plans, read_only=read_only)
        return plans

    def _validate_plans(self, plans: list[AppPlan], *, read_only: bool) -> dict[str, str]:
        api = self.api(read_only)
        ids = self.integration_ids(plans, read_only=read_only)
        apps = {a["name"]: a["id"] for a in api.list_applications()}
        problems: list[Problem] = []
        for a in plans:
            app_id = apps.get(a.name) or next(iter(apps.values()), None)
            if app_id is None:
                if read_only:
                    self.out(
                        f"note: no Flink application exists yet in {self.service!r} to validate {a.name} "
                        "against; checked locally only"
                    )
                    continue
                created = api.create_application(a.name)
                apps[a.name] = app_id = created["id"]
            tracked = self._tracked(a)
            body = a.version_body(ids, lambda sql, tracked=tracked: tracked[sql].text)
            problems.extend(self._map_validation(a, api.validate_version(app_id, body), tracked))
        if problems:
            raise DefinitionError(problems)
        return apps

    def _tracked(self, a: AppPlan) -> dict[str, Resolved]:
        texts = [t.ddl.sql for t in a.tables] + [a.insert.sql]
        return {sql: resolve_tracked(sql, self._resolve) for sql in texts}

    def _map_validation(self, a: AppPlan, result: Mapping, tracked: Mapping[str, Resolved]) -> list[Problem]:
        out = []
        where = f"pipeline {a.pipeline.name}: application {a.name}"
        err = result.get("statement_error")
        if err:
            out.append(self._problem(a.insert, "insert", where, err, tracked[a.insert.sql]))
        for key, tables in (("sources", a.sources), ("sinks", a.sinks)):
            for t, res in zip(tables, result.get(key) or [], strict=False):
                if isinstance(res, Mapping) and res.get("message"):
                    out.append(self._problem(t.ddl, "table", where, res, tracked[t.ddl.sql], t))
        return out

    def _problem(
        self,
        stmt: Statement,
        kind: str,
        where: str,
        err: Mapping,
        res: Resolved,
        table: TableUse | None = None,
    ) -> Problem:
        message = self._mask_secrets(str(err.get("message", "invalid")).strip())
        pos = err.get("position") or {}
        label = f"insert {stmt.name}" if kind == "insert" else f"table {table.name if table else stmt.name}"
        if not pos.get("line_number"):
            return Problem(stmt.origin, where, f"Aiven rejected {label}: {message}")

        def back(line: int, col: int) -> tuple[int, int]:
            return position_of(res.original, res.original_offset(offset_of(res.text, line, col)))

        line, col = back(int(pos["line_number"]), int(pos.get("character_number") or 1))
        end_line, end_col = line, col
        if pos.get("end_line_number"):
            end_line, end_col = back(int(pos["end_line_number"]), int(pos.get("end_character_number") or 1))
        shown = self._mask_secrets(excerpt(res.original, line, col, end_line, end_col))
        text = f"Aiven rejected {label} at SQL line {line}, column {col}: {message}"
        return Problem(stmt.origin, where, text + ("\n" + shown if shown else ""))

    # -- deploy ----------------------------------------------------------------------------------------

    def deploy(
        self,
        bundle: Bundle | PipelineBundle,
        *,
        allow_non_restored_state: bool = False,
        savepoint: str | None = None,
    ) -> list[AppResult]:
        """Validate everything, then deploy application by application (see the module doc)."""
        plans = self.plan(bundle)
        if savepoint and len(plans) != 1:
            raise UsageError("an explicit savepoint needs exactly one application (one INSERT) to deploy")
        api = self.api(read_only=False)
        # Everything is validated before the first application changes.
        apps = self._validate_plans(plans, read_only=False)
        ids = self.integration_ids(plans, read_only=False)
        return [self._deploy_one(api, a, apps, ids, allow_non_restored_state, savepoint) for a in plans]

    def _deploy_one(
        self,
        api: AivenAPI,
        a: AppPlan,
        apps: dict[str, str],
        ids: Mapping[str, str],
        allow: bool,
        start_from: str | None = None,
    ) -> AppResult:
        result = AppResult(a.name, "deployed")
        app_id = apps.get(a.name)
        if app_id is None:
            app_id = api.create_application(a.name)["id"]
            apps[a.name] = app_id
            self.out(f"{a.name}: created application {app_id}")
        result.application_id = app_id
        body = self.bodies(a, ids)
        app = api.get_application(app_id)
        versions = sorted(app.get("application_versions") or [], key=lambda v: v.get("version", 0))
        by_id = {v.get("id"): v for v in versions}
        current = self._settle(api, app_id, _latest(api.list_deployments(app_id)))
        running = current if current and current.get("status") == "RUNNING" else None
        if running and versions and _same_version(by_id.get(running.get("version_id")), body):
            v = by_id[running["version_id"]]
            result.action, result.version, result.deployment_id = "unchanged", v.get("version"), running["id"]
            self.out(f"{a.name}: version {v.get('version')} already running, nothing to do")
            return result

        # Which state the new version may start from, and whether it is compatible.
        previous = None
        if current and current.get("status") in ("RUNNING", "FINISHED"):
            previous = by_id.get(current.get("version_id"))
        restore = True
        if previous is not None:
            verdict = _classify(previous.get("statement", ""), body["statement"])
            if verdict:
                if not allow:
                    raise DeployError(
                        f"{a.name}: the new statement changes the job's state layout ({verdict}); the running "
                        "job's state cannot be restored. Re-run with --allow-non-restored-state to start the "
                        "new version without that state."
                    )
                restore = False
                result.notes.append(f"state-breaking change ({verdict}): starting without the old state")

        if versions and _same_version(versions[-1], body):
            created = versions[-1]  # the latest version already holds exactly this body
            self.out(f"{a.name}: reusing version {created.get('version')}")
        else:
            created = api.create_version(app_id, body)
            self.out(f"{a.name}: created version {created.get('version')}")
        result.version = created.get("version")

        savepoint = ""
        if running:
            self.out(f"{a.name}: stopping deployment {running['id']} with a savepoint")
            api.stop_deployment(app_id, running["id"])
            stopped = self._wait(api, app_id, running["id"], TERMINAL)
            savepoint = stopped.get("last_savepoint") or ""
            if stopped.get("status") != "FINISHED" or not savepoint:
                raise DeployError(
                    f"{a.name}: stopping deployment {running['id']} ended {stopped.get('status')} without a "
                    f"savepoint ({self._mask_secrets(str(stopped.get('error_msg') or 'no error message'))}); "
                    f"version {result.version} was created but not deployed"
                )
        elif current and current.get("status") == "FINISHED":
            savepoint = current.get("last_savepoint") or ""
        if not restore:
            savepoint = ""
        if start_from:
            savepoint = start_from
        result.savepoint = savepoint

        dep = api.create_deployment(app_id, self.deployment_body(created["id"], savepoint))
        result.deployment_id = dep["id"]
        from_sp = f" from savepoint {savepoint}" if savepoint else " without a savepoint"
        self.out(f"{a.name}: deploying version {result.version}{from_sp}")
        final = self._wait(api, app_id, dep["id"], {"RUNNING"} | TERMINAL)
        if final.get("status") != "RUNNING":
            msg = self._mask_secrets(str(final.get("error_msg") or "no error message"))
            raise DeployError(f"{a.name}: deployment {dep['id']} ended {final.get('status')}: {msg}")
        self.out(f"{a.name}: RUNNING (deployment {dep['id']})")
        for n in result.notes:
            self.out(f"{a.name}: note: {n}")
        return result

    def _settle(self, api: AivenAPI, app_id: str, dep: dict | None) -> dict | None:
        """Wait for a deployment in a transitional state (saving, restarting...) to settle."""
        if dep is None or dep.get("status") in SETTLED:
            return dep
        return self._wait(api, app_id, dep["id"], SETTLED)

    def _wait(self, api: AivenAPI, app_id: str, deployment_id: str, until: set[str]) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            dep = api.get_deployment(app_id, deployment_id)
            if dep.get("status") in until:
                return dep
            if time.monotonic() > deadline:
                raise DeployError(
                    f"deployment {deployment_id} still {dep.get('status')} after {self.timeout:.0f}s; "
                    "check it with --status"
                )
            self._sleep(self.poll_interval)

    # -- --status / --stop ---------------------------------------------------------------------------

    def status(self, bundle: Bundle | PipelineBundle | None = None) -> list[dict]:
        """Applications (those of the bundle, or all of the service), their versions and deployments."""
        api = self.api(read_only=True)
        apps = {a["name"]: a for a in api.list_applications()}
        names = [a.name for a in self.plan(bundle)] if bundle is not None else sorted(apps)
        rows = []
        for name in names:
            if name not in apps:
                rows.append({"application": name, "exists": False})
                continue
            app = api.get_application(apps[name]["id"])
            versions = sorted(app.get("application_versions") or [], key=lambda v: v.get("version", 0))
            vnum = {v.get("id"): v.get("version") for v in versions}
            deps = sorted(
                api.list_deployments(app["id"]), key=lambda d: d.get("created_at", ""), reverse=True
            )
            rows.append(
                {
                    "application": name,
                    "exists": True,
                    "id": app["id"],
                    "versions": [v.get("version") for v in versions],
                    "deployments": [
                        {
                            "id": d.get("id"),
                            "status": d.get("status"),
                            "version": vnum.get(d.get("version_id")),
                            "parallelism": d.get("parallelism"),
                            "last_savepoint": d.get("last_savepoint") or "",
                            "error": self._mask_secrets(str(d.get("error_msg") or "")),
                        }
                        for d in deps
                    ],
                }
            )
        return rows

    def stop_bundle(self, bundle: Bundle | PipelineBundle) -> list[AppResult]:
        """Stop every RUNNING deployment of the bundle's applications with a savepoint."""
        plans = self.plan(bundle)
        api = self.api(read_only=False)
        apps = {a["name"]: a["id"] for a in api.list_applications()}
        return [self._stop_app(api, a.name, apps.get(a.name)) for a in plans]

    def _stop_app(self, api: AivenAPI, name: str, app_id: str | None) -> AppResult:
        dep = self._settle(api, app_id, _latest(api.list_deployments(app_id))) if app_id else None
        if not dep or dep.get("status") != "RUNNING":
            state = dep.get("status") if dep else "not deployed"
            self.out(f"{name}: {state}, nothing to stop")
            return AppResult(name, "not running", app_id or "")
        self.out(f"{name}: stopping deployment {dep['id']} with a savepoint")
        api.stop_deployment(app_id, dep["id"])
        final = self._wait(api, app_id, dep["id"], TERMINAL)
        sp = final.get("last_savepoint") or ""
        if final.get("status") != "FINISHED" or not sp:
            msg = self._mask_secrets(str(final.get("error_msg") or "no error message"))
            raise DeployError(f"{name}: stopping ended {final.get('status')} without a savepoint ({msg})")
        self.out(f"{name}: stopped with savepoint {sp}")
        return AppResult(name, "stopped", app_id, deployment_id=dep["id"], savepoint=sp)

    # -- the DeployTarget protocol (flinksql_gen.deploy.base) -------------------------------------------

    def submit(
        self,
        pipeline: PipelineBundle,
        *,
        savepoint: str | None = None,
        allow_non_restored_state: bool = False,
    ) -> SubmitResult:
        """Deploy one pipeline (one application per INSERT); `savepoint` overrides the starting point."""
        results = self.deploy(
            pipeline, allow_non_restored_state=allow_non_restored_state, savepoint=savepoint
        )
        ids = [r.deployment_id for r in results if r.deployment_id]
        restored = sorted({r.savepoint for r in results if r.savepoint})
        return SubmitResult(
            job_id=",".join(ids) or None, pipeline=pipeline.name, restored_from=",".join(restored) or None
        )

    def jobs(self) -> list[JobInfo]:
        """The latest deployment of every application of the service, named by application."""
        api = self.api(read_only=True)
        out = []
        for app in api.list_applications():
            dep = _latest(api.list_deployments(app["id"]))
            if dep:
                out.append(JobInfo(str(dep.get("job_id") or dep["id"]), app["name"], str(dep.get("status"))))
        return out

    def stop(self, name: str, savepoint_dir: str = "") -> str:
        """Stop the application `name` (or every application of the pipeline `name`) with a savepoint.

        Aiven keeps savepoints in its own storage, so `savepoint_dir` is not used."""
        api = self.api(read_only=False)
        targets = self._apps_named(api, name)
        results = [self._stop_app(api, app_name, app_id) for app_name, app_id in targets]
        stopped = [r.savepoint for r in results if r.savepoint]
        if not stopped:
            raise DeployError(f"no running Aiven application named {name!r} (or {name}-<insert>)")
        return "\n".join(stopped)

    def cancel(self, name: str) -> None:
        """Cancel (without a savepoint) the active deployments of `name` (application or pipeline)."""
        api = self.api(read_only=False)
        for app_name, app_id in self._apps_named(api, name):
            dep = _latest(api.list_deployments(app_id))
            if dep and dep.get("status") not in TERMINAL:
                api.cancel_deployment(app_id, dep["id"])
                self._wait(api, app_id, dep["id"], TERMINAL)
                self.out(f"{app_name}: canceled")

    def _apps_named(self, api: AivenAPI, name: str) -> list[tuple[str, str]]:
        apps = [(a["name"], a["id"]) for a in api.list_applications()]
        exact = [x for x in apps if x[0] == name]
        return exact or sorted(x for x in apps if x[0].startswith(f"{name}-"))


def format_status(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        if not r["exists"]:
            lines.append(f"{r['application']}: not deployed (no application)")
            continue
        vs = r["versions"]
        lines.append(
            f"{r['application']} ({r['id']}): {len(vs)} version(s)" + (f", latest {vs[-1]}" if vs else "")
        )
        if not r["deployments"]:
            lines.append("  no deployment")
        for d in r["deployments"]:
            extra = f", last savepoint {d['last_savepoint']}" if d["last_savepoint"] else ""
            err = f", error: {d['error']}" if d["error"] else ""
            lines.append(
                f"  deployment {d['id']}: {d['status']} version {d['version']} "
                f"(parallelism {d['parallelism']}){extra}{err}"
            )
    return "\n".join(lines)


def _latest(deployments: list[dict]) -> dict | None:
    return max(deployments, key=lambda d: d.get("created_at", ""), default=None)


def _same_version(version: Mapping | None, body: Mapping) -> bool:
    if not version:
        return False

    def tables(items) -> list[tuple[str, str]]:
        return [(t.get("create_table", ""), t.get("integration_id") or "") for t in items or []]

    return (
        version.get("statement") == body["statement"]
        and tables(version.get("sources")) == tables(body["sources"])
        and tables(version.get("sinks")) == tables(body["sinks"])
    )


def _classify(old_sql: str, new_sql: str) -> str:
    """'' if the new statement can start from the running one's state, else why not."""
    return classify_statements(old_sql, new_sql)


register("aiven", AivenDeployTarget)

__all__ = ["AivenDeployTarget", "AppResult", "format_status"]
