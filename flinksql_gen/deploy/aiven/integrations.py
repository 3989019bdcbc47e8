"""Which Aiven service integration each table kind (kafka / postgres / slack) uses."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from flinksql_gen.deploy.aiven_bodies import REQUIRED_KINDS, AppPlan
from flinksql_gen.errors import UsageError

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SERVICE_TYPE = {"kafka": "kafka", "postgres": "pg", "slack": "slack"}


def integration_ids(apps: Iterable[AppPlan], configured: Mapping[str, str], service: str,
                    integrations: Callable[[], list[dict]]) -> dict[str, str]:  # fmt: skip
    """Integration id per kind the applications need. `configured`: an id or a service name per
    kind from targets.yaml; `integrations`: the service's integrations, fetched only when a
    name has to be looked up."""
    apps = list(apps)
    needed = {t.integration_kind for a in apps for t in a.tables if t.integration_kind}
    out: dict[str, str] = {}
    for kind in sorted(needed):
        value = configured.get(kind, "")
        if _UUID.match(value):
            out[kind] = value
        elif value or kind in REQUIRED_KINDS:
            out[kind] = _lookup(kind, value, apps, service, integrations())
    return out


def _lookup(kind: str, service_name: str, apps: list[AppPlan], service: str, integrations: list[dict]) -> str:
    service_type = _SERVICE_TYPE[kind]
    flink = [i for i in integrations
             if str(i.get("integration_type", "")).startswith("flink") and i.get("dest_service") == service]
    if service_name:
        found = [i for i in flink if i.get("source_service") == service_name]
    else:
        found = [i for i in flink if i.get("source_service_type") == service_type]
    if len(found) == 1:
        return str(found[0]["service_integration_id"])
    tables = sorted({t.name for a in apps for t in a.tables if t.integration_kind == kind})
    known = ", ".join(f"{i.get('source_service')} ({i.get('source_service_type')}): {i.get('service_integration_id')}"
                      for i in flink)  # fmt: skip
    what = f"the service {service_name!r}" if service_name else f"a {service_type} service"
    many = "more than one integration" if found else "no integration"
    raise UsageError(
        f"{many} of {what} with the Flink service {service!r} (needed by tables "
        f"{', '.join(tables)}); set targets.<aiven>.integrations.{kind} to an integration id "
        f"or a service name. Flink integrations: {known or 'none'}"
    )
