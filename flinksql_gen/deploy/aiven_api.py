"""The Aiven HTTP calls the deploy target makes, through the official `aiven-client` package.

`AivenClient` (aiven.client.client) already knows every Flink application endpoint; this
module only adds what a deploy tool needs around it: the token from the usual places,
retries of idempotent calls on 5xx, one readable error per failure with the token
masked, and a read-only mode in which a mutating call is a bug.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
from aiven.client.client import AivenClient, Error, ResponseError

from flinksql_gen.deploy.base import DeployError
from flinksql_gen.errors import FlinksqlGenError, UsageError

TOKEN_HINT = "set AIVEN_TOKEN to a valid Aiven token, or log in with `avn user login`"


def find_token(configured: str, env: Mapping[str, str]) -> str | None:
    """The Aiven token: the target's `token` (default ${env:AIVEN_TOKEN}), then AIVEN_TOKEN and
    AIVEN_AUTH_TOKEN (aiven-client's variable), then the credentials file the avn CLI writes on
    `avn user login` (aiven-client's lookup: AIVEN_CREDENTIALS_FILE, else aiven-credentials.json
    in $AIVEN_CONFIG_DIR or ~/.config/aiven)."""
    for value in (configured, env.get("AIVEN_TOKEN"), env.get("AIVEN_AUTH_TOKEN")):
        if value:
            return value
    home = env.get("HOME") or os.path.expanduser("~")
    config_dir = env.get("AIVEN_CONFIG_DIR") or os.path.join(home, ".config", "aiven")
    path = Path(env.get("AIVEN_CREDENTIALS_FILE") or os.path.join(config_dir, "aiven-credentials.json"))
    try:
        token = json.loads(path.read_text()).get("auth_token")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


class ReadOnlyViolation(AssertionError):
    """A mutating call was attempted in --dry-run mode (a bug, never a user error)."""


class AivenAPI:
    """The Flink application calls of one project/service, with retries and readable errors."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        project: str,
        service: str,
        *,
        read_only: bool = False,
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        mask: Callable[[str], str] = str,
        request_timeout: int = 30,
    ):
        if not token:
            raise UsageError(f"no Aiven token found: {TOKEN_HINT}")
        self.project, self.service = project, service
        self.read_only = read_only
        self.attempts, self.backoff, self._sleep = max(1, attempts), backoff, sleep
        self._token = token
        self._mask_extra = mask
        self.client = AivenClient(base_url=api_url.rstrip("/"), request_timeout=request_timeout)
        self.client.set_auth_token(token)
        self.api_url = api_url

    # -- helpers -------------------------------------------------------------------------------

    def mask(self, text: str) -> str:
        text = text.replace(self._token, "***") if self._token else text
        return self._mask_extra(text)

    def _call(self, what: str, fn: Callable[..., Any], *, idempotent: bool, mutating: bool, **kwargs) -> Any:
        if mutating and self.read_only:
            raise ReadOnlyViolation(f"{what} attempted in read-only (dry-run) mode")
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn(project=self.project, service=self.service, **kwargs)
            except Error as exc:
                status = getattr(exc, "status", 0) or 0
                if status >= 500 and idempotent and attempt < self.attempts:
                    self._sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise self._error(what, status, _message(exc), attempt) from None
            except requests.exceptions.RequestException as exc:
                if idempotent and attempt < self.attempts:
                    self._sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise DeployError(
                    self.mask(f"cannot reach the Aiven API at {self.api_url} ({what}): {exc}")
                ) from None
            except ResponseError as exc:
                raise DeployError(self.mask(f"Aiven API error ({what}): {exc}")) from None

    def _error(self, what: str, status: int, message: str, attempts: int = 1) -> FlinksqlGenError:
        where = f"project {self.project!r}, service {self.service!r}"
        if status == 401:
            text = f"Aiven token rejected (HTTP 401) while trying to {what}: {TOKEN_HINT}"
        elif status == 403:
            text = f"the Aiven token may not {what} in {where} (HTTP 403): {message}"
        elif status == 404:
            text = f"not found while trying to {what} in {where} (HTTP 404): {message}"
        elif status >= 500:
            tries = f", tried {attempts} times" if attempts > 1 else ""
            text = f"Aiven API failed to {what} (HTTP {status}{tries}): {message}"
        else:
            text = f"Aiven API refused to {what} (HTTP {status}): {message}"
        # A rejected token is the user's environment; anything else is a failed deploy step.
        return (UsageError if status == 401 else DeployError)(self.mask(text))

    # -- integrations ----------------------------------------------------------------------------

    def list_integrations(self) -> list[dict]:
        def call(project: str, service: str) -> Any:
            return self.client.get_service_integrations(project, service)

        return list(self._call("list service integrations", call, idempotent=True, mutating=False))

    # -- applications ------------------------------------------------------------------------------

    def list_applications(self) -> list[dict]:
        out = self._call(
            "list Flink applications", self.client.flink_list_applications, idempotent=True, mutating=False
        )
        return list(out.get("applications", []))

    def get_application(self, app_id: str) -> dict:
        return dict(
            self._call(
                "get a Flink application",
                self.client.flink_get_application,
                idempotent=True,
                mutating=False,
                application_id=app_id,
            )
        )

    def create_application(self, name: str) -> dict:
        return dict(
            self._call(
                f"create the Flink application {name!r}",
                self.client.flink_create_application,
                idempotent=False,
                mutating=True,
                application_properties={"name": name},
            )
        )

    # -- versions ------------------------------------------------------------------------------------

    def validate_version(self, app_id: str, body: dict) -> dict:
        # A POST, but it changes nothing: safe to retry and allowed in dry-run mode.
        return dict(
            self._call(
                "validate an application version",
                self.client.flink_validate_application_version,
                idempotent=True,
                mutating=False,
                application_id=app_id,
                application_version_properties=body,
            )
        )

    def create_version(self, app_id: str, body: dict) -> dict:
        return dict(
            self._call(
                "create an application version",
                self.client.flink_create_application_version,
                idempotent=False,
                mutating=True,
                application_id=app_id,
                application_version_properties=body,
            )
        )

    # -- deployments ---------------------------------------------------------------------------------

    def list_deployments(self, app_id: str) -> list[dict]:
        out = self._call(
            "list deployments",
            self.client.flink_list_application_deployments,
            idempotent=True,
            mutating=False,
            application_id=app_id,
        )
        return list(out.get("deployments", []))

    def get_deployment(self, app_id: str, deployment_id: str) -> dict:
        return dict(
            self._call(
                "get a deployment",
                self.client.flink_get_application_deployment,
                idempotent=True,
                mutating=False,
                application_id=app_id,
                deployment_id=deployment_id,
            )
        )

    def create_deployment(self, app_id: str, body: dict) -> dict:
        return dict(
            self._call(
                "create a deployment",
                self.client.flink_create_application_deployment,
                idempotent=False,
                mutating=True,
                application_id=app_id,
                deployment_properties=body,
            )
        )

    def stop_deployment(self, app_id: str, deployment_id: str) -> dict:
        return dict(
            self._call(
                "stop a deployment with a savepoint",
                self.client.flink_stop_application_deployment,
                idempotent=False,
                mutating=True,
                application_id=app_id,
                deployment_id=deployment_id,
            )
        )

    def cancel_deployment(self, app_id: str, deployment_id: str) -> dict:
        return dict(
            self._call(
                "cancel a deployment",
                self.client.flink_cancel_application_deployment,
                idempotent=False,
                mutating=True,
                application_id=app_id,
                deployment_id=deployment_id,
            )
        )


def _message(exc: Error) -> str:
    response_text = exc.args[0] if exc.args else ""
    try:
        body = json.loads(response_text)
        return str(body.get("message") or response_text)
    except (ValueError, AttributeError, TypeError):
        return str(response_text)[:500]
