"""Where and as whom to deploy: the aiven target's settings, `${env:...}` resolved when first
needed (so --generate-dir works without project, service or token)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flinksql_gen.deploy.aiven_api import AivenAPI, find_token
from flinksql_gen.errors import UsageError
from flinksql_gen.models.targets import AivenTarget
from flinksql_gen.secrets import resolve as resolve_env


@dataclass(frozen=True)
class AivenSettings:
    target: AivenTarget
    env: Mapping[str, str] = field(repr=False)
    project_override: str | None = None
    service_override: str | None = None

    def setting(self, value: str) -> str:
        return resolve_env(value, self.env) if value else ""

    @property
    def project(self) -> str:
        return self.project_override or self.setting(self.target.project)

    @property
    def service(self) -> str:
        return self.service_override or self.setting(self.target.service)

    @property
    def api_url(self) -> str:
        return self.setting(self.target.api_url) or "https://api.aiven.io"

    def token(self) -> str | None:
        try:
            configured = self.setting(self.target.token)
        except UsageError:  # ${env:...} without default and unset: try the other sources
            configured = ""
        return find_token(configured, self.env)

    def configured_integrations(self) -> dict[str, str]:
        """Integration id or service name per kind, as targets.yaml gives them ('' when unset)."""
        given = self.target.integrations
        return {"kafka": self.setting(given.kafka), "postgres": self.setting(given.postgres),
                "slack": self.setting(given.slack)}  # fmt: skip

    def client(self, *, read_only: bool, mask: Callable[[str], str], backoff: float,
               sleep: Callable[[float], None] = time.sleep) -> AivenAPI:  # fmt: skip
        if not self.project or not self.service:
            raise UsageError("no Aiven project/service: pass --project and --service (or set them in targets.yaml)")
        return AivenAPI(self.api_url, self.token(), self.project, self.service, read_only=read_only,
                        backoff=backoff, sleep=sleep, mask=mask)  # fmt: skip

    def deployment_body(self, version_id: str, savepoint: str = "") -> dict:
        body = {
            "version_id": version_id,
            "parallelism": self.target.parallelism,
            "restart_enabled": self.target.restart.type != "none",
        }
        if savepoint:
            body["starting_savepoint"] = savepoint
        return body
