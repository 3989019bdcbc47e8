"""One application's deployment: create the version, stop the running job with a savepoint,
start the new version from it and wait until it runs (or stop it alone)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flinksql_gen.deploy.aiven_api import AivenAPI
from flinksql_gen.deploy.base import DeployError
from flinksql_gen.deploy.upgrade import classify_statements

# Deployment states (Aiven API, ServiceFlinkApplicationDeploymentStatusType).
SETTLED = {"RUNNING", "FAILED", "CANCELED", "FINISHED", "SUSPENDED"}
TERMINAL = {"FAILED", "CANCELED", "FINISHED", "DELETING", "DELETE_REQUESTED"}


@dataclass
class AppResult:
    application: str
    action: str  # "deployed", "unchanged", "validated", "stopped", "not running"
    application_id: str = ""
    version: int | None = None
    deployment_id: str = ""
    savepoint: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Release:
    """What to roll out for one application: its name and id, the version body, and how to start."""

    name: str
    app_id: str
    body: dict
    allow_non_restored_state: bool = False
    start_from: str | None = None  # an explicit savepoint overrides the running job's


class Rollout:
    """The deployment state machine of one service, polling Aiven until each step settles."""

    def __init__(self, api: AivenAPI, out: Callable[[str], None], mask: Callable[[str], str],
                 deployment_body: Callable[[str, str], dict], *, poll_interval: float, timeout: float,
                 sleep: Callable[[float], None] = time.sleep):  # fmt: skip
        self.api, self.out, self.mask, self.deployment_body = api, out, mask, deployment_body
        self.poll_interval, self.timeout, self._sleep = poll_interval, timeout, sleep

    def release(self, r: Release) -> AppResult:
        result = AppResult(r.name, "deployed", r.app_id)
        app = self.api.get_application(r.app_id)
        versions = sorted(app.get("application_versions") or [], key=lambda v: v.get("version", 0))
        by_id = {v.get("id"): v for v in versions}
        current = self.settle(r.app_id, latest(self.api.list_deployments(r.app_id)))
        running = current if current and current.get("status") == "RUNNING" else None
        if running and versions and same_version(by_id.get(running.get("version_id")), r.body):
            v = by_id[running["version_id"]]
            result.action, result.version, result.deployment_id = "unchanged", v.get("version"), running["id"]
            self.out(f"{r.name}: version {v.get('version')} already running, nothing to do")
            return result
        previous = by_id.get(current.get("version_id")) if current and current.get("status") in (
            "RUNNING", "FINISHED") else None  # fmt: skip
        restore = self._may_restore(r, previous, result)
        created = self._version(r, versions)
        result.version = created.get("version")
        savepoint = self._stop_running(r, running, result.version) if running else ""
        if not running and current and current.get("status") == "FINISHED":
            savepoint = current.get("last_savepoint") or ""
        result.savepoint = r.start_from or (savepoint if restore else "")
        result.deployment_id = self._start(r, created["id"], result.version, result.savepoint)
        for n in result.notes:
            self.out(f"{r.name}: note: {n}")
        return result

    def _may_restore(self, r: Release, previous: Mapping | None, result: AppResult) -> bool:
        """Whether the new version may start from the old one's state (refused unless allowed)."""
        verdict = classify_statements(previous.get("statement", ""), r.body["statement"]) if previous else ""
        if not verdict:
            return True
        if not r.allow_non_restored_state:
            raise DeployError(
                f"{r.name}: the new statement changes the job's state layout ({verdict}); the running "
                "job's state cannot be restored. Re-run with --allow-non-restored-state to start the "
                "new version without that state."
            )
        result.notes.append(f"state-breaking change ({verdict}): starting without the old state")
        return False

    def _version(self, r: Release, versions: list[dict]) -> dict:
        if versions and same_version(versions[-1], r.body):
            self.out(f"{r.name}: reusing version {versions[-1].get('version')}")
            return versions[-1]  # the latest version already holds exactly this body
        created = self.api.create_version(r.app_id, r.body)
        self.out(f"{r.name}: created version {created.get('version')}")
        return created

    def _stop_running(self, r: Release, running: dict, version: int | None) -> str:
        self.out(f"{r.name}: stopping deployment {running['id']} with a savepoint")
        self.api.stop_deployment(r.app_id, running["id"])
        stopped = self.wait(r.app_id, running["id"], TERMINAL)
        savepoint = stopped.get("last_savepoint") or ""
        if stopped.get("status") != "FINISHED" or not savepoint:
            raise DeployError(
                f"{r.name}: stopping deployment {running['id']} ended {stopped.get('status')} without a "
                f"savepoint ({self.mask(str(stopped.get('error_msg') or 'no error message'))}); "
                f"version {version} was created but not deployed"
            )
        return savepoint

    def _start(self, r: Release, version_id: str, version: int | None, savepoint: str) -> str:
        dep = self.api.create_deployment(r.app_id, self.deployment_body(version_id, savepoint))
        from_sp = f" from savepoint {savepoint}" if savepoint else " without a savepoint"
        self.out(f"{r.name}: deploying version {version}{from_sp}")
        final = self.wait(r.app_id, dep["id"], {"RUNNING"} | TERMINAL)
        if final.get("status") != "RUNNING":
            msg = self.mask(str(final.get("error_msg") or "no error message"))
            raise DeployError(f"{r.name}: deployment {dep['id']} ended {final.get('status')}: {msg}")
        self.out(f"{r.name}: RUNNING (deployment {dep['id']})")
        return dep["id"]

    def stop(self, name: str, app_id: str | None) -> AppResult:
        """Stop the application's RUNNING deployment with a savepoint."""
        dep = self.settle(app_id, latest(self.api.list_deployments(app_id))) if app_id else None
        if not dep or dep.get("status") != "RUNNING":
            state = dep.get("status") if dep else "not deployed"
            self.out(f"{name}: {state}, nothing to stop")
            return AppResult(name, "not running", app_id or "")
        self.out(f"{name}: stopping deployment {dep['id']} with a savepoint")
        self.api.stop_deployment(app_id, dep["id"])
        final = self.wait(app_id, dep["id"], TERMINAL)
        sp = final.get("last_savepoint") or ""
        if final.get("status") != "FINISHED" or not sp:
            msg = self.mask(str(final.get("error_msg") or "no error message"))
            raise DeployError(f"{name}: stopping ended {final.get('status')} without a savepoint ({msg})")
        self.out(f"{name}: stopped with savepoint {sp}")
        return AppResult(name, "stopped", app_id, deployment_id=dep["id"], savepoint=sp)

    def settle(self, app_id: str, dep: dict | None) -> dict | None:
        """Wait for a deployment in a transitional state (saving, restarting...) to settle."""
        if dep is None or dep.get("status") in SETTLED:
            return dep
        return self.wait(app_id, dep["id"], SETTLED)

    def wait(self, app_id: str, deployment_id: str, until: set[str]) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            dep = self.api.get_deployment(app_id, deployment_id)
            if dep.get("status") in until:
                return dep
            if time.monotonic() > deadline:
                raise DeployError(f"deployment {deployment_id} still {dep.get('status')} after {self.timeout:.0f}s; "
                                  "check it with --status")  # fmt: skip
            self._sleep(self.poll_interval)


def latest(deployments: list[dict]) -> dict | None:
    return max(deployments, key=lambda d: d.get("created_at", ""), default=None)


def same_version(version: Mapping | None, body: Mapping) -> bool:
    if not version:
        return False

    def tables(items) -> list[tuple[str, str]]:
        return [(t.get("create_table", ""), t.get("integration_id") or "") for t in items or []]

    return (
        version.get("statement") == body["statement"]
        and tables(version.get("sources")) == tables(body["sources"])
        and tables(version.get("sinks")) == tables(body["sinks"])
    )
