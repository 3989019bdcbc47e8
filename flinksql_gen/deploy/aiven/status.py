"""`deploy aiven --status`: applications, their versions and deployments, as rows and as text."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flinksql_gen.deploy.aiven_api import AivenAPI


def status_rows(api: AivenAPI, names: Iterable[str] | None, mask: Callable[[str], str]) -> list[dict]:
    """One row per application (`names`, or every application of the service)."""
    apps = {a["name"]: a for a in api.list_applications()}
    rows = []
    for name in sorted(apps) if names is None else names:
        if name not in apps:
            rows.append({"application": name, "exists": False})
            continue
        app = api.get_application(apps[name]["id"])
        versions = sorted(app.get("application_versions") or [], key=lambda v: v.get("version", 0))
        vnum = {v.get("id"): v.get("version") for v in versions}
        deps = sorted(api.list_deployments(app["id"]), key=lambda d: d.get("created_at", ""), reverse=True)
        rows.append({
            "application": name, "exists": True, "id": app["id"], "versions": [v.get("version") for v in versions],
            "deployments": [{"id": d.get("id"), "status": d.get("status"), "version": vnum.get(d.get("version_id")),
                             "parallelism": d.get("parallelism"), "last_savepoint": d.get("last_savepoint") or "",
                             "error": mask(str(d.get("error_msg") or ""))} for d in deps],
        })  # fmt: skip
    return rows


def format_status(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        if not r["exists"]:
            lines.append(f"{r['application']}: not deployed (no application)")
            continue
        vs = r["versions"]
        lines.append(f"{r['application']} ({r['id']}): {len(vs)} version(s)" + (f", latest {vs[-1]}" if vs else ""))
        if not r["deployments"]:
            lines.append("  no deployment")
        for d in r["deployments"]:
            extra = f", last savepoint {d['last_savepoint']}" if d["last_savepoint"] else ""
            err = f", error: {d['error']}" if d["error"] else ""
            lines.append(f"  deployment {d['id']}: {d['status']} version {d['version']} "
                         f"(parallelism {d['parallelism']}){extra}{err}")  # fmt: skip
    return "\n".join(lines)
