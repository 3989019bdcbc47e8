"""`AivenDeployTarget`: plans, validates, deploys, reports and stops one service's applications."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from flinksql_gen.bundle import Bundle, PipelineBundle
from flinksql_gen.deploy.aiven.integrations import integration_ids
from flinksql_gen.deploy.aiven.plan import AivenPlan, plan_bundle
from flinksql_gen.deploy.aiven.rollout import TERMINAL, AppResult, Release, Rollout, latest
from flinksql_gen.deploy.aiven.settings import AivenSettings
from flinksql_gen.deploy.aiven.status import status_rows
from flinksql_gen.deploy.aiven.validation import map_validation, tracked
from flinksql_gen.deploy.aiven_api import AivenAPI
from flinksql_gen.deploy.aiven_bodies import AppPlan, dumps
from flinksql_gen.deploy.base import DeployError, JobInfo, SubmitResult
from flinksql_gen.errors import DefinitionError, Problem, UsageError
from flinksql_gen.models.targets import AivenTarget
from flinksql_gen.secrets import resolve as resolve_env

VERSION_ID_PLACEHOLDER = "${aiven:version_id}"
_NO_PLAN = AivenPlan((), ())


class AivenDeployTarget:
    """Deploys bundles rendered for the aiven target to one Aiven for Apache Flink service."""

    name = "aiven"

    def __init__(self, target: AivenTarget | None = None, *, project: str | None = None, service: str | None = None,
                 env: Mapping[str, str] | None = None, out: Callable[[str], None] = print,
                 poll_interval: float = 2.0, timeout: float = 900.0, retry_backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep):  # fmt: skip
        self.target = target or AivenTarget()
        self.env = dict(os.environ if env is None else env)
        self.out = out
        self.poll_interval, self.timeout, self.retry_backoff, self._sleep = poll_interval, timeout, retry_backoff, sleep
        self._project, self._service = project, service
        self._integrations: list[dict] | None = None  # the service's integrations, fetched once

    @property
    def settings(self) -> AivenSettings:
        return AivenSettings(self.target, self.env, self._project, self._service)

    @property
    def project(self) -> str:
        return self.settings.project

    @property
    def service(self) -> str:
        return self.settings.service

    def api(self, read_only: bool = False, plan: AivenPlan = _NO_PLAN) -> AivenAPI:
        """A client whose messages mask the token and the values of the plan's secrets."""
        return self.settings.client(read_only=read_only, mask=plan.masker(self.env), backoff=self.retry_backoff,
                                    sleep=self._sleep)  # fmt: skip

    def _rollout(self, api: AivenAPI, plan: AivenPlan) -> Rollout:
        return Rollout(api, self.out, plan.masker(self.env), self.settings.deployment_body,
                       poll_interval=self.poll_interval, timeout=self.timeout, sleep=self._sleep)  # fmt: skip

    # -- planning, bodies (no HTTP) ----------------------------------------------------------------

    def plan(self, bundle: Bundle | PipelineBundle) -> AivenPlan:
        """Applications for every pipeline; every problem (UDFs, views, ...) raised at once."""
        return plan_bundle(bundle, self.out)

    def integration_ids(self, plans: Iterable[AppPlan], read_only: bool = True,
                        api: AivenAPI | None = None) -> dict[str, str]:  # fmt: skip
        """Integration id per kind (kafka / postgres / slack) the plans need."""

        def integrations() -> list[dict]:
            if self._integrations is None:
                self._integrations = (api or self.api(read_only)).list_integrations()
            return self._integrations

        return integration_ids(plans, self.settings.configured_integrations(), self.service, integrations)

    def _resolve(self, text: str) -> str:
        return resolve_env(text, self.env)

    def bodies(self, plan: AppPlan, ids: Mapping[str, str], resolve: bool = True) -> dict:
        return plan.version_body(ids, self._resolve if resolve else str)

    def deployment_body(self, version_id: str, savepoint: str = "") -> dict:
        return self.settings.deployment_body(version_id, savepoint)

    def generate(self, bundle: Bundle | PipelineBundle, out_dir: Path) -> list[Path]:
        """Write the exact request bodies per application; ${env:...} references stay unresolved."""
        plan = self.plan(bundle)
        ids = self.integration_ids(plan, read_only=True)
        written = []
        for a in plan:
            d = Path(out_dir) / a.name
            d.mkdir(parents=True, exist_ok=True)
            files = {"application.json": {"name": a.name}, "version.json": self.bodies(a, ids, resolve=False),
                     "deployment.json": self.deployment_body(VERSION_ID_PLACEHOLDER)}  # fmt: skip
            for fname, body in files.items():
                (d / fname).write_text(dumps(body))
                written.append(d / fname)
        return written

    # -- validation, deployment --------------------------------------------------------------------

    def validate(self, bundle: Bundle | PipelineBundle, *, read_only: bool = True) -> AivenPlan:
        """Validate every application version with Aiven; all errors raised as one DefinitionError."""
        plan = self.plan(bundle)
        self._validate(self.api(read_only, plan), plan, read_only=read_only)
        return plan

    def _validate(self, api: AivenAPI, plan: AivenPlan, *, read_only: bool) -> dict[str, str]:
        """Application id by name (creating applications to validate against unless read-only)."""
        ids = self.integration_ids(plan, read_only=read_only, api=api)
        apps = {a["name"]: a["id"] for a in api.list_applications()}
        problems: list[Problem] = []
        for a in plan:
            app_id = apps.get(a.name) or next(iter(apps.values()), None)
            if app_id is None:
                if read_only:
                    self.out(f"note: no Flink application exists yet in {self.service!r} to validate {a.name} "
                             "against; checked locally only")  # fmt: skip
                    continue
                apps[a.name] = app_id = api.create_application(a.name)["id"]
            resolved = tracked(a, self._resolve)
            body = a.version_body(ids, lambda sql, resolved=resolved: resolved[sql].text)
            problems.extend(map_validation(a, api.validate_version(app_id, body), resolved, plan.masker(self.env)))
        if problems:
            raise DefinitionError(problems)
        return apps

    def deploy(self, bundle: Bundle | PipelineBundle, *, allow_non_restored_state: bool = False,
               savepoint: str | None = None) -> list[AppResult]:  # fmt: skip
        """Validate everything, then deploy application by application (see the package doc)."""
        plan = self.plan(bundle)
        if savepoint and len(plan) != 1:
            raise UsageError("an explicit savepoint needs exactly one application (one INSERT) to deploy")
        api = self.api(read_only=False, plan=plan)
        # Everything is validated before the first application changes.
        apps = self._validate(api, plan, read_only=False)
        ids = self.integration_ids(plan, read_only=False, api=api)
        rollout = self._rollout(api, plan)
        results = []
        for a in plan:
            app_id = apps.get(a.name)
            if app_id is None:
                apps[a.name] = app_id = api.create_application(a.name)["id"]
                self.out(f"{a.name}: created application {app_id}")
            release = Release(a.name, app_id, self.bodies(a, ids), allow_non_restored_state, savepoint)
            results.append(rollout.release(release))
        return results

    # -- --status / --stop ---------------------------------------------------------------------------

    def status(self, bundle: Bundle | PipelineBundle | None = None) -> list[dict]:
        """Applications (those of the bundle, or all of the service), their versions and deployments."""
        plan = self.plan(bundle) if bundle is not None else _NO_PLAN
        names = [a.name for a in plan] if bundle is not None else None
        return status_rows(self.api(read_only=True, plan=plan), names, plan.masker(self.env))

    def stop_bundle(self, bundle: Bundle | PipelineBundle) -> list[AppResult]:
        """Stop every RUNNING deployment of the bundle's applications with a savepoint."""
        plan = self.plan(bundle)
        api = self.api(read_only=False, plan=plan)
        apps = {a["name"]: a["id"] for a in api.list_applications()}
        rollout = self._rollout(api, plan)
        return [rollout.stop(a.name, apps.get(a.name)) for a in plan]

    # -- the DeployTarget protocol (flinksql_gen.deploy.base) -------------------------------------------

    def submit(self, pipeline: PipelineBundle, *, savepoint: str | None = None,
               allow_non_restored_state: bool = False) -> SubmitResult:  # fmt: skip
        """Deploy one pipeline (one application per INSERT); `savepoint` overrides the starting point."""
        results = self.deploy(pipeline, allow_non_restored_state=allow_non_restored_state, savepoint=savepoint)
        ids = [r.deployment_id for r in results if r.deployment_id]
        restored = sorted({r.savepoint for r in results if r.savepoint})
        return SubmitResult(job_id=",".join(ids) or None, pipeline=pipeline.name,
                            restored_from=",".join(restored) or None)  # fmt: skip

    def jobs(self) -> list[JobInfo]:
        """The latest deployment of every application of the service, named by application."""
        api = self.api(read_only=True)
        out = []
        for app in api.list_applications():
            dep = latest(api.list_deployments(app["id"]))
            if dep:
                out.append(JobInfo(str(dep.get("job_id") or dep["id"]), app["name"], str(dep.get("status"))))
        return out

    def stop(self, name: str, savepoint_dir: str = "") -> str:
        """Stop the application `name` (or every application of the pipeline `name`) with a savepoint.

        Aiven keeps savepoints in its own storage, so `savepoint_dir` is not used."""
        api = self.api(read_only=False)
        rollout = self._rollout(api, _NO_PLAN)
        results = [rollout.stop(app_name, app_id) for app_name, app_id in _apps_named(api, name)]
        stopped = [r.savepoint for r in results if r.savepoint]
        if not stopped:
            raise DeployError(f"no running Aiven application named {name!r} (or {name}-<insert>)")
        return "\n".join(stopped)

    def cancel(self, name: str) -> None:
        """Cancel (without a savepoint) the active deployments of `name` (application or pipeline)."""
        api = self.api(read_only=False)
        rollout = self._rollout(api, _NO_PLAN)
        for app_name, app_id in _apps_named(api, name):
            dep = latest(api.list_deployments(app_id))
            if dep and dep.get("status") not in TERMINAL:
                api.cancel_deployment(app_id, dep["id"])
                rollout.wait(app_id, dep["id"], TERMINAL)
                self.out(f"{app_name}: canceled")


def _apps_named(api: AivenAPI, name: str) -> list[tuple[str, str]]:
    apps = [(a["name"], a["id"]) for a in api.list_applications()]
    exact = [x for x in apps if x[0] == name]
    return exact or sorted(x for x in apps if x[0].startswith(f"{name}-"))
