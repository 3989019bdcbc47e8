"""A local Flink SQL Gateway that speaks the published REST contract, and nothing else.

Every request body and every response body is validated against the stored OpenAPI specs
(tests/contracts/rest_v{2,3,4}_sql_gateway.yml); a request to a path or method the negotiated
version does not define, a bad body or a missing required query parameter is recorded as a
violation, answered with 400, and `check()` (called on exit) fails the test. Responses use the
real wire shapes (see tests/contracts/README.md), including the 500 error bodies.

Scriptable behaviours: result paging (`page_size`), extra NOT_READY pages (`not_ready`),
statements that fail with a Flink exception (`fail_when`), sessions that expire before a given
call (`expire_before`), slow answers (`delay`), operations that stay RUNNING a few polls
(`running_polls`), and a job list for SHOW JOBS / STOP JOB.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
DEFAULT_VERSION = "V2"
ERROR_BODY = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    "additionalProperties": False,
}


def load_spec(version: str) -> dict:
    return yaml.safe_load((CONTRACTS / f"rest_{version.lower()}_sql_gateway.yml").read_text())


def flink_exception(message: str, cls: str = "org.apache.flink.table.api.ValidationException") -> str:
    """A stack trace shaped like the gateway's (wrapper exceptions, then the real cause)."""
    return (
        "org.apache.flink.table.gateway.api.utils.SqlGatewayException: "
        "org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to fetchResults.\n"
        "\tat org.apache.flink.table.gateway.rest.handler.statement.FetchResultsHandler.handleRequest(FetchResultsHandler.java:91)\n"
        "Caused by: org.apache.flink.table.gateway.service.utils.SqlExecutionException: Failed to execute the operation.\n"
        "\tat org.apache.flink.table.gateway.service.operation.OperationManager$Operation.processThrowable(OperationManager.java:414)\n"
        f"Caused by: {cls}: {message}\n"
        "\tat org.apache.flink.table.planner.operations.SqlNodeToOperationConversion.convert(SqlNodeToOperationConversion.java:254)\n"
        "\t... 12 more\n"
    )


def server_error(text: str) -> dict:
    return {
        "errors": [
            "Internal server error.",
            f"<Exception on server side:\n{text}\nEnd of exception on server side>",
        ]
    }


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    operation: str  # the contract's operationId, e.g. 'executeStatement'


@dataclass
class FakeJob:
    job_id: str
    name: str
    status: str = "RUNNING"
    start_time: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class _Operation:
    statement: str
    polls_left: int
    outcome: str  # FINISHED | ERROR
    columns: list[dict] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    kind: str = "SUCCESS"
    job_id: str | None = None
    error: str = ""
    not_ready_left: int = 0


@dataclass
class _Session:
    properties: dict[str, str]
    operations: dict[str, _Operation] = field(default_factory=dict)


class _Route:
    def __init__(self, template: str, method: str, spec_op: dict):
        self.template = template
        self.method = method
        self.op = spec_op
        pattern = re.sub(r"\\\{([a-z_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self.regex = re.compile(f"^{pattern}$")


class FakeSqlGateway:
    def __init__(self, versions: tuple[str, ...] = ("V1", "V2", "V3", "V4"), flink_version: str = "2.0.0",
                 execution_target: str = "remote"):
        self.versions = versions
        # the gateway's own default configuration, merged into every session (as the real one does)
        self.defaults = {"execution.target": execution_target}
        self.flink_version = flink_version
        # All contracts are loaded (unprefixed paths use the default version); only `versions` are served.
        self.specs = {v: load_spec(v) for v in ("V2", "V3", "V4")}
        self.routes = {v: self._routes(spec) for v, spec in self.specs.items()}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.sessions: dict[str, _Session] = {}
        self.closed_sessions: list[str] = []
        self.jobs: list[FakeJob] = []
        self.scripts: list[dict] = []
        # behaviours
        self.page_size = 100
        self.not_ready = 0
        self.running_polls = 1
        self.fail_when: dict[str, str] = {}  # SQL substring -> Flink stack trace
        self.expire_before: dict[str, int] = {}  # operationId -> how many times to expire
        self.delay: dict[str, float] = {}  # operationId -> seconds
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeSqlGateway:
        handler = type("Handler", (_Handler,), {"gateway": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def check(self) -> None:
        assert not self.violations, "SQL Gateway contract violations:\n" + "\n".join(self.violations)

    # --- assertions helpers ----------------------------------------------------------------

    def calls(self, operation: str) -> list[Recorded]:
        return [r for r in self.requests if r.operation == operation]

    def statements(self) -> list[str]:
        return [r.body["statement"] for r in self.calls("executeStatement")]

    def add_job(self, name: str, status: str = "RUNNING") -> FakeJob:
        job = FakeJob(uuid.uuid4().hex, name, status)
        self.jobs.append(job)
        return job

    # --- contract --------------------------------------------------------------------------

    @staticmethod
    def _routes(spec: dict) -> list[_Route]:
        return [
            _Route(path, method.upper(), op)
            for path, item in spec["paths"].items()
            for method, op in item.items()
        ]

    def _validate(self, spec: dict, schema: dict, value: Any, what: str) -> None:
        validator = jsonschema.Draft7Validator({**schema, "components": spec["components"]})
        for error in validator.iter_errors(value):
            self.violations.append(f"{what}: {error.message} at {list(error.absolute_path)}")

    def _response_schema(self, route: _Route) -> dict | None:
        ok = route.op["responses"]["200"]
        content = ok.get("content", {}).get("application/json")
        return content["schema"] if content else None

    # --- request handling ------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, raw_body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        path = parts.path.rstrip("/") or "/"
        version, _, rest = path.lstrip("/").partition("/")
        if re.fullmatch(r"v\d+", version):
            version, path = version.upper(), "/" + rest
            served = version in self.versions and version in self.specs
        else:
            version, served = DEFAULT_VERSION, True
        if not served:
            self.violations.append(f"{method} {raw_path}: version {version} is not served by this fake")
            return 404, {"errors": ["Not found: " + raw_path]}
        spec = self.specs[version]
        route, params = self._match(version, method, path)
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            self.violations.append(f"{method} {raw_path}: body is not JSON")
            return 400, {"errors": ["Bad request: body is not JSON"]}
        if route is None:
            self.violations.append(f"{method} {raw_path}: not in the {version} contract")
            return 404, {"errors": ["Not found: " + raw_path]}
        op_id = route.op["operationId"]
        self.requests.append(Recorded(method, raw_path, query, body, op_id))
        self._check_request(spec, route, params, query, body, f"{method} {route.template} ({version})")
        time.sleep(self.delay.get(op_id, 0))
        with self._lock:
            status, answer = self._dispatch(version, op_id, params, query, body or {})
        what = f"response of {op_id} ({version})"
        if status == 200:
            schema = self._response_schema(route)
            if schema is not None:
                self._validate(spec, schema, answer, what)
            elif answer != {}:
                self.violations.append(f"{what}: the contract defines no body, sent {answer!r}")
        else:
            self._validate(spec, ERROR_BODY, answer, what)
        return status, answer

    def _match(self, version: str, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self.routes[version]:
            m = route.regex.match(path)
            if m and route.method == method:
                return route, m.groupdict()
        return None, {}

    def _check_request(self, spec, route, params, query, body, what) -> None:
        for param in route.op.get("parameters", []):
            name, where = param["name"], param["in"]
            value = params.get(name) if where == "path" else (query.get(name) or [None])[0]
            if value is None:
                if param.get("required"):
                    self.violations.append(f"{what}: required {where} parameter {name!r} missing")
                continue
            schema = param["schema"]
            ref = schema.get("$ref", "")
            if ref.endswith(("/SessionHandle", "/OperationHandle")):
                try:
                    uuid.UUID(value)
                except ValueError:
                    self.violations.append(f"{what}: {name}={value!r} is not a UUID")
            elif schema.get("type") == "integer":
                if not value.isdigit():
                    self.violations.append(f"{what}: {name}={value!r} is not an integer")
            else:
                self._validate(spec, schema, value, f"{what} parameter {name}")
        request_body = route.op.get("requestBody")
        if request_body is None:
            if body not in (None, {}):
                self.violations.append(f"{what}: the contract takes no request body, got {body!r}")
            return
        schema = request_body["content"]["application/json"]["schema"]
        self._validate(spec, schema, body if body is not None else {}, f"{what} request body")

    def _dispatch(self, version: str, op_id: str, params: dict, query: dict, body: dict) -> tuple[int, Any]:
        session_id = params.get("session_handle")
        if session_id is not None:
            if self.expire_before.get(op_id, 0) > 0:
                self.expire_before[op_id] -= 1
                self.sessions.pop(session_id, None)
            if session_id not in self.sessions:
                return 500, server_error(
                    "org.apache.flink.table.gateway.api.utils.SqlGatewayException: "
                    f"Session '{session_id}' does not exist.\n\tat org.apache.flink.table.gateway.service."
                    "session.SessionManagerImpl.getSession(SessionManagerImpl.java:139)"
                )
        session = self.sessions.get(session_id) if session_id else None
        if op_id == "getApiVersion":
            return 200, {"versions": list(self.versions)}
        if op_id == "getInfo":
            return 200, {"productName": "Apache Flink", "version": self.flink_version}
        if op_id == "openSession":
            handle = str(uuid.uuid4())
            self.sessions[handle] = _Session({**self.defaults, **dict(body.get("properties", {}))})
            return 200, {"sessionHandle": handle}
        assert session is not None and session_id is not None
        if op_id == "closeSession":
            del self.sessions[session_id]
            self.closed_sessions.append(session_id)
            return 200, {"status": "CLOSED"}
        if op_id == "getSessionConfig":
            return 200, {"properties": session.properties}
        if op_id == "triggerSession":
            return 200, {}
        if op_id == "configureSession":
            failure = self._failure(body["statement"])
            if failure:
                return 500, server_error(failure)
            return 200, {}
        if op_id == "executeStatement":
            handle = str(uuid.uuid4())
            session.operations[handle] = self._execute(session, body["statement"])
            return 200, {"operationHandle": handle}
        if op_id == "deployScript":
            if not session.properties.get("execution.target", "").endswith("-application"):
                # what Flink 2.0's gateway answers (SqlGatewayServiceImpl.deployScript) on a session cluster
                return 500, server_error(
                    "org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to deploy script to "
                    "cluster.\nCaused by: java.lang.UnsupportedOperationException: Application Mode not "
                    "supported by standalone deployments."
                )
            self.scripts.append(body)
            return 200, {"clusterID": f"flink-app-{uuid.uuid4().hex[:8]}"}
        operation = session.operations.get(params.get("operation_handle", ""))
        if operation is None:
            return 500, server_error(
                "org.apache.flink.table.gateway.api.utils.SqlGatewayException: "
                f"Can not find the submitted operation in the OperationManager with the {params.get('operation_handle')}."
            )
        if op_id == "getOperationStatus":
            if operation.polls_left > 0:
                operation.polls_left -= 1
                return 200, {"status": "RUNNING"}
            return 200, {"status": operation.outcome}
        if op_id in ("cancelOperation", "closeOperation"):
            operation.outcome = "CANCELED" if op_id == "cancelOperation" else "CLOSED"
            return 200, {"status": operation.outcome}
        if op_id == "fetchResults":
            return self._fetch(version, session_id, params, query, operation)
        raise AssertionError(f"unhandled operation {op_id}")

    def _failure(self, statement: str) -> str | None:
        for needle, text in self.fail_when.items():
            if needle in statement:
                return text
        return None

    def _execute(self, session: _Session, statement: str) -> _Operation:
        op = _Operation(statement, self.running_polls, "FINISHED", not_ready_left=self.not_ready)
        failure = self._failure(statement)
        if failure:
            op.outcome, op.error = "ERROR", failure
            return op
        text = " ".join(statement.split()).upper()
        if text.startswith(("INSERT", "EXECUTE STATEMENT SET", "EXECUTE INSERT")):
            job = self.add_job(session.properties.get("pipeline.name", "insert-into_default_catalog"))
            op.columns, op.rows, op.kind, op.job_id = (
                [_column("job id")],
                [[job.job_id]],
                "SUCCESS_WITH_CONTENT",
                job.job_id,
            )
        elif text == "SHOW JOBS":
            op.columns = [_column(c) for c in ("job id", "job name", "status", "start time")]
            op.rows = [[j.job_id, j.name, j.status, _iso(j.start_time)] for j in self.jobs]
            op.kind = "SUCCESS_WITH_CONTENT"
        elif m := re.match(r"STOP JOB '([0-9A-F]{32})'( WITH SAVEPOINT)?", text):
            job = next((j for j in self.jobs if j.job_id.upper() == m.group(1)), None)
            directory = session.properties.get("execution.checkpointing.savepoint-dir")
            if job is None:
                op.outcome, op.error = (
                    "ERROR",
                    flink_exception(f"Could not find Flink job ({m.group(1).lower()})"),
                )
            elif m.group(2) and not directory:
                op.outcome, op.error = "ERROR", flink_exception("No savepoint directory configured.")
            elif m.group(2):
                job.status = "FINISHED"
                op.columns, op.rows = (
                    [_column("savepoint path")],
                    [[f"{directory}/savepoint-{job.job_id[:6]}-1"]],
                )
                op.kind = "SUCCESS_WITH_CONTENT"
            else:
                job.status = "CANCELED"
                op.columns, op.rows = [_column("result")], [["OK"]]
        else:
            op.columns, op.rows = [_column("result")], [["OK"]]
        return op

    def _fetch(
        self, version: str, session_id: str, params: dict, query: dict, op: _Operation
    ) -> tuple[int, Any]:
        token = int(params["token"])
        row_format = (query.get("rowFormat") or ["JSON"])[0]
        base = f"/{version.lower()}/sessions/{session_id}/operations/{params['operation_handle']}/result"
        if op.polls_left > 0 or op.not_ready_left > 0:  # still running, or scripted NOT_READY
            op.not_ready_left = max(0, op.not_ready_left - 1)
            return 200, {"resultType": "NOT_READY", "nextResultUri": f"{base}/{token}?rowFormat={row_format}"}
        if op.outcome == "ERROR":
            return 500, server_error(op.error)
        pages = [op.rows[i : i + self.page_size] for i in range(0, len(op.rows), self.page_size)] or [[]]
        if token > len(pages):
            return 500, server_error("java.lang.IllegalArgumentException: token out of range")
        if token == len(pages):
            rows, kind, nxt = [], "EOS", None
        else:
            rows, kind, nxt = pages[token], "PAYLOAD", f"{base}/{token + 1}?rowFormat={row_format}"
        answer: dict[str, Any] = {
            "resultType": kind,
            "isQueryResult": op.kind == "SUCCESS_WITH_CONTENT" and not op.job_id,
        }
        if op.job_id:
            answer["jobID"] = op.job_id
        answer["resultKind"] = op.kind
        answer["results"] = {
            "columns": op.columns,
            "rowFormat": row_format,
            "data": [{"kind": "INSERT", "fields": row} for row in rows],
        }
        if nxt:
            answer["nextResultUri"] = nxt
        return 200, answer


def _column(name: str) -> dict:
    return {
        "name": name,
        "logicalType": {"type": "VARCHAR", "nullable": True, "length": 2147483647},
        "comment": None,
    }


def _iso(millis: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis / 1000))


class _Handler(BaseHTTPRequestHandler):
    gateway: FakeSqlGateway
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body in one send (no Nagle / delayed-ACK stalls)
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            status, answer = self.gateway.handle(self.command, self.path, raw)
        except Exception as exc:  # a bug in the fake must fail the test, not hang it
            self.gateway.violations.append(f"fake crashed on {self.command} {self.path}: {exc!r}")
            status, answer = 500, {"errors": [repr(exc)]}
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
