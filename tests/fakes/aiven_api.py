"""A local stand-in for the Aiven REST API's Flink application endpoints (tests only).

Paths, bodies and status values follow Aiven's published API as generated in
aiven/go-client-codegen (handler/flinkapplication*, handler/serviceintegration, from the
OpenAPI spec at api.aiven.io/doc) and the `avn service flink` CLI reference:

  GET    /v1/project/{p}/service/{s}/integration                       -> {"service_integrations": [...]}
  GET    /v1/project/{p}/service/{s}/flink/application                 -> {"applications": [...]}
  POST   /v1/project/{p}/service/{s}/flink/application                 {name, application_version?}
  GET    /v1/project/{p}/service/{s}/flink/application/{a}
  POST   .../flink/application/{a}/version                             {sources, sinks, statement}
  POST   .../flink/application/{a}/version/validate                    {sources, sinks, statement?}
  GET    .../flink/application/{a}/version/{v}
  GET    .../flink/application/{a}/deployment                          -> {"deployments": [...]}
  POST   .../flink/application/{a}/deployment                          {version_id, parallelism?, restart_enabled?, starting_savepoint?}
  GET    .../flink/application/{a}/deployment/{d}
  POST   .../flink/application/{a}/deployment/{d}/stop | /cancel       (no body)

Every request is recorded and its body checked against the request shapes (required
fields, types, no unknown fields); a violation answers 400 and is kept in `violations`,
which the test fixture asserts empty. Deployments move one state per GET, like a real
job slowly starting or saving. Scriptable: validation errors, 401, 5xx once, outcomes.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_STR, _INT, _BOOL, _LIST, _OBJ = str, int, bool, list, dict
_TABLE = {"required": {"create_table": _STR}, "optional": {"integration_id": _STR}}
# Request bodies: required and optional fields with their JSON types (nested lists by item shape).
SHAPES: dict[str, dict[str, Any]] = {
    "create_application": {"required": {"name": _STR}, "optional": {"application_version": "version"}},
    "version": {"required": {"sources": [_TABLE], "sinks": [_TABLE], "statement": _STR}, "optional": {}},
    "validate": {"required": {"sources": [_TABLE], "sinks": [_TABLE]}, "optional": {"statement": _STR}},
    "deployment": {
        "required": {"version_id": _STR},
        "optional": {"parallelism": _INT, "restart_enabled": _BOOL, "starting_savepoint": _STR},
    },
}
STATES = [
    "INITIALIZING",
    "CREATED",
    "RUNNING",
    "FAILING",
    "FAILED",
    "SAVING",
    "CANCELLING_REQUESTED",
    "CANCELLING",
    "CANCELED",
    "SAVING_AND_STOP_REQUESTED",
    "SAVING_AND_STOP",
    "FINISHED",
    "RESTARTING",
    "SUSPENDED",
    "DELETE_REQUESTED",
    "DELETING",
    "RECONCILING",
]
ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "FAILING", "SAVING", "RESTARTING", "RECONCILING"}
ACTIVE |= {"SAVING_AND_STOP_REQUESTED", "SAVING_AND_STOP", "CANCELLING_REQUESTED", "CANCELLING"}
# What one GET of a deployment moves it to.
NEXT = {
    "INITIALIZING": "RUNNING",
    "SAVING_AND_STOP_REQUESTED": "SAVING_AND_STOP",
    "SAVING_AND_STOP": "FINISHED",
    "CANCELLING_REQUESTED": "CANCELLING",
    "CANCELLING": "CANCELED",
}
TS = "2024-05-01T10:00:{:02d}.000000Z"


def check_shape(body: Any, shape: dict[str, Any], where: str = "body") -> list[str]:
    """Problems of a JSON body against a shape: missing/unknown fields and wrong types."""
    if not isinstance(body, dict):
        return [f"{where}: expected a JSON object, got {type(body).__name__}"]
    out = []
    req, opt = shape["required"], shape["optional"]
    for k in req:
        if k not in body:
            out.append(f"{where}: missing required field {k!r}")
    for k, v in body.items():
        if k not in req and k not in opt:
            out.append(f"{where}: unknown field {k!r}")
            continue
        out.extend(_check_type(v, req.get(k, opt.get(k)), f"{where}.{k}"))
    return out


def _check_type(value: Any, t: Any, where: str) -> list[str]:
    if t == "version":
        return check_shape(value, SHAPES["version"], where)
    if isinstance(t, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in check_shape(item, t[0], f"{where}[{i}]")]
    if t is _INT and (isinstance(value, bool) or not isinstance(value, int)):
        return [f"{where}: expected an integer"]
    if not isinstance(value, t):
        return [f"{where}: expected {t.__name__}, got {type(value).__name__}"]
    return []


@dataclass
class Request:
    method: str
    path: str
    body: Any
    authorized: bool

    @property
    def mutating(self) -> bool:
        return self.method != "GET" and not self.path.endswith("/version/validate")


@dataclass
class Failure:
    method: str
    pattern: str
    status: int
    times: int = 1
    message: str = "scripted failure"


@dataclass
class FakeAiven:
    """The fake server's state and scripts; start() serves it on 127.0.0.1 on a free port."""

    project: str = "demo-project"
    service: str = "demo-flink"
    token: str = "tok-" + "s3cr3t-" * 3
    integrations: list[dict] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    applications: dict[str, dict] = field(default_factory=dict)
    # Scripts.
    failures: list[Failure] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)  # response fields merged into validate answers
    deploy_outcome: str = "RUNNING"  # what INITIALIZING turns into
    stop_outcome: str = "FINISHED"  # what SAVING_AND_STOP turns into
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0

    # -- server ------------------------------------------------------------------------------------------

    def start(self) -> FakeAiven:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeAiven:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests -------------------------------------------------------------------------

    def add_integration(
        self, source_service: str, source_type: str, integration_id: str | None = None
    ) -> str:
        iid = integration_id or str(uuid.UUID(int=len(self.integrations) + 1))
        self.integrations.append(
            {
                "active": True,
                "description": f"{source_service} to {self.service}",
                "dest_project": self.project,
                "dest_service": self.service,
                "dest_service_type": "flink",
                "enabled": True,
                "integration_type": "flink",
                "service_integration_id": iid,
                "source_project": self.project,
                "source_service": source_service,
                "source_service_type": source_type,
            }
        )
        return iid

    def fail(
        self, method: str, pattern: str, status: int, times: int = 1, message: str = "scripted failure"
    ) -> None:
        self.failures.append(Failure(method, pattern, status, times, message))

    def app(self, name: str) -> dict:
        return next(a for a in self.applications.values() if a["name"] == name)

    def calls(self, method: str | None = None, contains: str = "") -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    def _id(self) -> str:
        self._counter += 1
        return str(uuid.UUID(int=0x1000 + self._counter))

    def _ts(self) -> str:
        self._counter += 1
        return TS.format(self._counter % 60).replace("10:00", f"10:{self._counter // 60:02d}")

    # -- request handling --------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any, auth: str | None) -> tuple[int, Any]:
        with self._lock:
            ok = auth == f"aivenv1 {self.token}"
            self.requests.append(Request(method, path, body, ok))
            for f in self.failures:
                if f.times > 0 and f.method == method and re.search(f.pattern, path):
                    f.times -= 1
                    return f.status, {
                        "message": f.message,
                        "errors": [{"message": f.message, "status": f.status}],
                    }
            if not ok:
                return 401, {
                    "message": "Invalid token",
                    "errors": [{"message": "Invalid token", "status": 401}],
                }
            prefix = f"/v1/project/{self.project}/service/{self.service}/"
            if not path.startswith(prefix):
                return 404, {
                    "message": "Service not found",
                    "errors": [{"message": "Service not found", "status": 404}],
                }
            return self._route(method, path[len(prefix) :].rstrip("/").split("/"), body)

    def _bad(self, problems: list[str], what: str) -> tuple[int, Any]:
        self.violations.extend(f"{what}: {p}" for p in problems)
        return 400, {
            "message": "; ".join(problems),
            "errors": [{"message": p, "status": 400} for p in problems],
        }

    def _route(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        n = len(parts)
        if parts == ["integration"] and method == "GET":
            return 200, {"service_integrations": self.integrations}
        if parts[:2] != ["flink", "application"]:
            return self._bad([f"no such endpoint {method} {'/'.join(parts)}"], "route")
        if n == 2 and method == "GET":
            return 200, {"applications": [self._app_summary(a) for a in self.applications.values()]}
        if n == 2 and method == "POST":
            return self._create_application(body)
        app = self.applications.get(parts[2]) if n > 2 else None
        if app is None:
            return 404, {"message": "Application not found", "errors": []}
        if n == 3 and method == "GET":
            return 200, self._app_detail(app)
        if n >= 4 and parts[3] == "version":
            return self._version(method, app, parts[4:], body)
        if n >= 4 and parts[3] == "deployment":
            return self._deployment(method, app, parts[4:], body)
        return self._bad([f"no such endpoint {method} {'/'.join(parts)}"], "route")

    def _no_body(self, body: Any, what: str) -> tuple[int, Any] | None:
        if body not in (None, b"", ""):
            return self._bad([f"expected no body, got {body!r}"], what)
        return None

    # -- applications ------------------------------------------------------------------------------

    def _create_application(self, body: Any) -> tuple[int, Any]:
        problems = check_shape(body, SHAPES["create_application"])
        if problems:
            return self._bad(problems, "create application")
        if any(a["name"] == body["name"] for a in self.applications.values()):
            return 409, {"message": f"Application {body['name']} already exists", "errors": []}
        app = {
            "id": self._id(),
            "name": body["name"],
            "created_at": self._ts(),
            "created_by": "tester@example.com",
            "updated_at": self._ts(),
            "updated_by": "tester@example.com",
            "application_versions": [],
            "deployments": [],
        }
        self.applications[app["id"]] = app
        if "application_version" in body:
            self._new_version(app, body["application_version"])
        return 200, self._app_detail(app)

    @staticmethod
    def _app_summary(app: dict) -> dict:
        return {k: app[k] for k in ("id", "name", "created_at", "created_by", "updated_at", "updated_by")}

    def _app_detail(self, app: dict) -> dict:
        out = {**self._app_summary(app), "application_versions": app["application_versions"]}
        active = [d for d in app["deployments"] if d["status"] in ACTIVE]
        if active:
            out["current_deployment"] = active[-1]
        return out

    # -- versions ------------------------------------------------------------------------------------

    def _version(self, method: str, app: dict, rest: list[str], body: Any) -> tuple[int, Any]:
        if not rest and method == "POST":
            problems = check_shape(body, SHAPES["version"])
            if problems:
                return self._bad(problems, "create version")
            errors = self._validate(body)
            if errors.get("statement_error") or any(
                t.get("message") for t in errors["sources"] + errors["sinks"]
            ):
                return 400, {"message": "Invalid application version", "errors": []}
            return 200, self._new_version(app, body)
        if rest == ["validate"] and method == "POST":
            problems = check_shape(body, SHAPES["validate"])
            if problems:
                return self._bad(problems, "validate version")
            return 200, self._validate(body)
        if len(rest) == 1 and method == "GET":
            v = next((v for v in app["application_versions"] if v["id"] == rest[0]), None)
            return (200, v) if v else (404, {"message": "Version not found", "errors": []})
        return self._bad([f"no such endpoint {method} version/{'/'.join(rest)}"], "route")

    def _new_version(self, app: dict, body: dict) -> dict:
        def tables(items: list[dict]) -> list[dict]:
            out = []
            for t in items:
                m = re.search(r"CREATE\s+TABLE\s+`?(\w+)", t["create_table"], re.I)
                out.append(
                    {
                        "create_table": t["create_table"],
                        **({"integration_id": t["integration_id"]} if "integration_id" in t else {}),
                        "table_id": self._id(),
                        "table_name": m.group(1) if m else "",
                        "columns": [],
                        "options": {},
                    }
                )
            return out

        v = {
            "id": self._id(),
            "version": len(app["application_versions"]) + 1,
            "created_at": self._ts(),
            "created_by": "tester@example.com",
            "sources": tables(body["sources"]),
            "sinks": tables(body["sinks"]),
            "statement": body["statement"],
        }
        app["application_versions"].append(v)
        return v

    def _validate(self, body: dict) -> dict:
        """Echo the tables; unknown integrations and scripted errors come back with positions."""
        known = {i["service_integration_id"] for i in self.integrations}

        def check(items: list[dict]) -> list[dict]:
            out = []
            for t in items:
                entry = {"create_table": t["create_table"]}
                if "integration_id" in t:
                    entry["integration_id"] = t["integration_id"]
                    if t["integration_id"] not in known:
                        entry["message"] = f"Integration {t['integration_id']} not found"
                elif re.search(r"'connector'\s*=\s*'(kafka|upsert-kafka|jdbc)'", t["create_table"]):
                    entry["message"] = "An integration is required for this connector"
                out.append(entry)
            return out

        out = {"sources": check(body["sources"]), "sinks": check(body["sinks"])}
        if "statement" in body:
            out["statement"] = body["statement"]
        for key, value in self.validation.items():
            if key in ("sources", "sinks"):
                for i, extra in value.items():
                    out[key][i].update(extra)
            else:
                out[key] = value
        return out

    # -- deployments -------------------------------------------------------------------------------

    def _deployment(self, method: str, app: dict, rest: list[str], body: Any) -> tuple[int, Any]:
        if not rest and method == "GET":
            return 200, {"deployments": list(app["deployments"])}
        if not rest and method == "POST":
            return self._create_deployment(app, body)
        dep = next((d for d in app["deployments"] if d["id"] == rest[0]), None)
        if dep is None:
            return 404, {"message": "Deployment not found", "errors": []}
        if len(rest) == 1 and method == "GET":
            self._advance(dep)
            return 200, dict(dep)
        if len(rest) == 2 and method == "POST" and rest[1] in ("stop", "cancel"):
            bad = self._no_body(body, rest[1])
            if bad:
                return bad
            if dep["status"] != "RUNNING" and rest[1] == "stop":
                return 409, {"message": f"Deployment is {dep['status']}, cannot stop", "errors": []}
            dep["status"] = "SAVING_AND_STOP_REQUESTED" if rest[1] == "stop" else "CANCELLING_REQUESTED"
            return 200, dict(dep)
        return self._bad([f"no such endpoint {method} deployment/{'/'.join(rest)}"], "route")

    def _create_deployment(self, app: dict, body: Any) -> tuple[int, Any]:
        problems = check_shape(body, SHAPES["deployment"])
        if problems:
            return self._bad(problems, "create deployment")
        if not any(v["id"] == body["version_id"] for v in app["application_versions"]):
            return 404, {"message": "Version not found", "errors": []}
        if any(d["status"] in ACTIVE for d in app["deployments"]):
            return 409, {"message": "Application already has an active deployment", "errors": []}
        sp = body.get("starting_savepoint")
        if sp and sp not in {d.get("last_savepoint") for d in app["deployments"]}:
            return 400, {"message": f"Savepoint {sp} not found", "errors": []}
        dep = {
            "id": self._id(),
            "created_at": self._ts(),
            "created_by": "tester@example.com",
            "parallelism": body.get("parallelism", 1),
            "restart_enabled": body.get("restart_enabled", True),
            "status": "INITIALIZING",
            "version_id": body["version_id"],
            "job_id": uuid.uuid4().hex,
        }
        if sp:
            dep["starting_savepoint"] = sp
        app["deployments"].append(dep)
        return 200, dict(dep)

    def _advance(self, dep: dict) -> None:
        nxt = NEXT.get(dep["status"])
        if nxt == "RUNNING":
            nxt = self.deploy_outcome
            if nxt == "FAILED":
                dep["error_msg"] = "org.apache.flink.table.api.ValidationException: scripted failure"
        elif nxt == "FINISHED":
            nxt = self.stop_outcome
            if nxt == "FINISHED":
                dep["last_savepoint"] = (
                    f"s3://aiven-flink/savepoints/{dep['job_id']}/savepoint-{self._id()[-6:]}"
                )
        if nxt:
            dep["status"] = nxt
        assert dep["status"] in STATES, dep["status"]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAiven

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            if self.headers.get("content-type", "").startswith("application/json"):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
            else:
                body = raw
        status, payload = self.fake.handle(
            method, self.path.split("?")[0], body, self.headers.get("authorization")
        )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


# --- sample bundles, shaped like Aiven's pizza and IoT (CPU load) tutorials ----------------------------
# Built by hand until the renderer exists: create_table statements in Aiven's blank-connection form.

PIZZA_ORDERS = """CREATE TABLE pizza_orders (
    id INT,
    shop STRING,
    name STRING,
    phoneNumber STRING,
    address STRING,
    pizzas ARRAY<ROW(pizzaName STRING, additionalToppings ARRAY<STRING>)>,
    order_time AS PROCTIME()
) WITH (
    'connector' = 'kafka',
    'properties.bootstrap.servers' = '',
    'scan.startup.mode' = 'earliest-offset',
    'topic' = 'pizzas',
    'value.format' = 'json'
)"""

SHOP_LIMITS = """CREATE TABLE shop_limits (
    shop STRING,
    max_pizzas INT,
    PRIMARY KEY (shop) NOT ENFORCED
) WITH (
    'connector' = 'jdbc',
    'url' = '',
    'table-name' = 'public.shop_limits'
)"""

SLACK_ALERTS = """CREATE TABLE slack_alerts (
    channel_id STRING,
    message STRING
) WITH (
    'connector' = 'slack',
    'token' = '${env:SLACK_TOKEN}'
)"""

SHOP_COUNTS = """CREATE TABLE shop_counts (
    window_start TIMESTAMP(3),
    window_end TIMESTAMP(3),
    shop STRING,
    orders BIGINT
) WITH (
    'connector' = 'kafka',
    'properties.bootstrap.servers' = '',
    'topic' = 'pizza_shop_counts',
    'value.format' = 'json'
)"""

BIG_ORDERS = """INSERT INTO slack_alerts
SELECT
    'C0PIZZA01' AS channel_id,
    'Big order at ' || o.shop || ': ' || CAST(CARDINALITY(o.pizzas) AS STRING) || ' pizzas for ' || o.name AS message
FROM pizza_orders AS o
JOIN shop_limits FOR SYSTEM_TIME AS OF o.order_time AS l
    ON o.shop = l.shop
WHERE CARDINALITY(o.pizzas) > l.max_pizzas"""

COUNTS = """INSERT INTO shop_counts
SELECT window_start, window_end, shop, COUNT(*) AS orders
FROM TABLE(TUMBLE(TABLE pizza_orders, DESCRIPTOR(order_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, shop"""

CPU_IN = """CREATE TABLE CPU_IN (
    hostname STRING,
    cpu STRING,
    usage DOUBLE,
    occurred_at BIGINT,
    proctime AS PROCTIME(),
    time_ltz AS TO_TIMESTAMP_LTZ(occurred_at, 3),
    WATERMARK FOR time_ltz AS time_ltz - INTERVAL '10' SECOND
) WITH (
    'connector' = 'kafka',
    'properties.bootstrap.servers' = '',
    'topic' = 'cpu_load_stats_real',
    'value.format' = 'json',
    'scan.startup.mode' = 'earliest-offset'
)"""

SOURCE_THRESHOLDS = """CREATE TABLE SOURCE_THRESHOLDS (
    hostname STRING,
    allowed_top INT,
    PRIMARY KEY (hostname) NOT ENFORCED
) WITH (
    'connector' = 'jdbc',
    'url' = '',
    'table-name' = 'public.cpu_thresholds'
)"""

CPU_OUT_FILTER_PG = """CREATE TABLE CPU_OUT_FILTER_PG (
    time_ltz TIMESTAMP(3),
    hostname STRING,
    cpu STRING,
    usage DOUBLE,
    threshold INT
) WITH (
    'connector' = 'kafka',
    'properties.bootstrap.servers' = '',
    'topic' = 'cpu_load_stats_real_filter_pg',
    'value.format' = 'json'
)"""

CPU_OVER_THRESHOLD = """INSERT INTO CPU_OUT_FILTER_PG
SELECT time_ltz,
    CPU.hostname,
    cpu,
    usage,
    allowed_top
FROM CPU_IN CPU INNER JOIN SOURCE_THRESHOLDS FOR SYSTEM_TIME AS OF proctime AS ST
    ON CPU.hostname = ST.hostname
WHERE usage > allowed_top"""


def _stmt(kind: str, name: str, sql: str, file: str, line: int, **fields):
    """A statement as the planner would record it: `fields` are its setting, reads and writes."""
    from flinksql_gen.bundle import Statement
    from flinksql_gen.errors import Location

    creates = (name,) if kind.startswith("create_") else ()
    return Statement(kind, name, sql, Location(file, line, 3), state_signature=f"sig-{name}", creates=creates,
                     **fields)


def pizza_bundle(big_orders_sql: str = BIG_ORDERS, udf: bool = False):
    """Two INSERTs: big orders (Kafka + JDBC lookup -> Slack) and per-shop counts (Kafka -> Kafka)."""
    from flinksql_gen.bundle import Bundle, PipelineBundle, TableInfo, UdfInfo

    f = "pipelines/pizza.yaml"
    statements = [
        _stmt("create_table", "pizza_orders", PIZZA_ORDERS, f, 4),
        _stmt("create_table", "shop_limits", SHOP_LIMITS, f, 12),
        _stmt("create_table", "slack_alerts", SLACK_ALERTS, f, 18),
        _stmt("create_table", "shop_counts", SHOP_COUNTS, f, 23),
        _stmt("insert", "big_orders", big_orders_sql, f, 31, reads=("pizza_orders", "shop_limits"),
              writes=("slack_alerts",)),
        _stmt("insert", "counts", COUNTS, f, 40, reads=("pizza_orders",), writes=("shop_counts",)),
    ]
    udfs = ()
    if udf:
        statements.insert(
            0, _stmt("create_function", "zscore", "CREATE TEMPORARY FUNCTION zscore AS 'x'", f, 2)
        )
        udfs = (UdfInfo("zscore", "detectors.zscore:zscore"),)
    tables = (
        TableInfo("pizza_orders", "source", "kafka", topic="pizzas"),
        TableInfo("shop_limits", "lookup", "jdbc"),
        TableInfo("slack_alerts", "sink", "slack"),
        TableInfo("shop_counts", "sink", "kafka", topic="pizza_shop_counts"),
    )
    p = PipelineBundle("pizza", f, "aiven", tuple(statements), tables, udfs, env=("SLACK_TOKEN",))
    return Bundle("aiven", (p,))


def iot_bundle():
    """The CPU-load tutorial's PostgreSQL-threshold job: Kafka + JDBC lookup -> Kafka."""
    from flinksql_gen.bundle import Bundle, PipelineBundle, SetOption, TableInfo

    f = "pipelines/iot.yaml"
    statements = (
        _stmt("set", "table.exec.state.ttl", "SET 'table.exec.state.ttl' = '1 h'", f, 2,
              setting=SetOption("table.exec.state.ttl", "1 h")),
        _stmt("create_table", "CPU_IN", CPU_IN, f, 5),
        _stmt("create_table", "SOURCE_THRESHOLDS", SOURCE_THRESHOLDS, f, 14),
        _stmt("create_table", "CPU_OUT_FILTER_PG", CPU_OUT_FILTER_PG, f, 20),
        _stmt("insert", "cpu_over_threshold", CPU_OVER_THRESHOLD, f, 27, reads=("CPU_IN", "SOURCE_THRESHOLDS"),
              writes=("CPU_OUT_FILTER_PG",)),
    )
    tables = (
        TableInfo("CPU_IN", "source", "kafka", topic="cpu_load_stats_real"),
        TableInfo("SOURCE_THRESHOLDS", "lookup", "jdbc"),
        TableInfo("CPU_OUT_FILTER_PG", "sink", "kafka", topic="cpu_load_stats_real_filter_pg"),
    )
    return Bundle("aiven", (PipelineBundle("iot", f, "aiven", statements, tables),))
