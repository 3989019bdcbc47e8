"""`serve-model`: the reference scoring service (flinksql_gen.model_service.server) on a port."""

from __future__ import annotations

import click

from flinksql_gen.errors import UsageError

SPEC_HELP = "detector spec: a YAML/JSON file, or inline JSON such as '{\"type\": \"ewma\"}'"


@click.command("serve-model")
@click.option("--detector", "spec", required=True, help=SPEC_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (0.0.0.0: every interface)")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="port (0: any free port)")
@click.option("--verbose", is_flag=True, help="log every request to stderr")
def serve_model_cmd(spec: str, host: str, port: int, verbose: bool) -> None:
    """Serve POST /score and GET /healthz over any in-process detector, one detector state per key
    (the contract the `model_service` detector calls; docs/model_service.md). Stop with Ctrl-C."""
    from flinksql_gen.detectors.config import parse_detector_config
    from flinksql_gen.evaluate.io import load_spec
    from flinksql_gen.model_service.server import ModelServer, ScoringModel

    data = load_spec(spec)
    source = data.pop("__source__", "<detector>")
    if data.get("type") == "model_service":
        raise UsageError("serve-model serves an in-process detector (ewma, score, mean_variance, ...), not model_service")
    parse_detector_config(data, source)  # file:field errors before the port is taken
    try:
        server = ModelServer(ScoringModel(data), host, port, verbose=verbose)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"serving {data['type']} on {server.url} (GET /healthz); Ctrl-C stops", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS: list[click.Command] = [serve_model_cmd]
