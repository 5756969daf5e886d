"""The ``overage`` console script: demo, local up, local api, invoke, webhook send, dlq redrive.

It speaks SAM's dialect where it mirrors a SAM command (spec §5): ``-e/--event`` (``-``: standard input),
``-t/--template``, ``--parameter-overrides``, ``--env-vars``, ``--version``; the local AWS is ``--endpoint-url``, else
``$AWS_ENDPOINT_URL``, else http://127.0.0.1:4566 (``$OVERAGE_ENDPOINT_URL`` is read as a deprecated alias, with a
warning). A function that raises prints Lambda's error JSON (errorMessage, errorType, requestId, stackTrace) on
standard output and exits 1. Every mistake a developer can make at the command line (a missing or malformed file, an
unknown function, a port in use, no local stack running) ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shlex
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from overage_local.template import (
    TEMPLATE_FILE,
    LocalError,
    LocalTemplate,
    find_project_root,
    webhook_secret,
)

DEFAULT_ENDPOINT_URL = "http://127.0.0.1:4566"
# The host, seen from sam local's containers: Docker Desktop defines host.docker.internal; Linux Docker does when the
# container is started with --add-host=host.docker.internal:host-gateway (samconfig.toml's local_invoke and
# local_start_api sections pass it), and `overage local up --host 0.0.0.0` listens where the containers can reach it.
SAM_LOCAL_ENDPOINT = "http://host.docker.internal:4566"
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
DEPRECATED_ENDPOINT_ENV = "OVERAGE_ENDPOINT_URL"  # read before AWS_ENDPOINT_URL was; kept as an alias, with a warning
WEBHOOK_PATH = "/webhooks/crm"
SIGNATURE_HEADER = "Overage-Signature"
EXIT_USAGE = 2


def _json_default(value: Any) -> Any:
    """Decimal-safe JSON: integers stay numbers, amounts keep their places as text ("10.00")."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=_json_default, ensure_ascii=False)


def read_json_file(path: Path, *, validate: bool = True) -> tuple[bytes, Any]:
    """The file's exact bytes and its parsed JSON (None when ``validate`` is off and it does not parse)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LocalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LocalError(f"{path}: is a directory, not a JSON file") from None
    except OSError as exc:
        raise LocalError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        return raw, json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        if validate:
            raise LocalError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        if validate:
            raise LocalError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return raw, None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0: any free port), not {port}")
    return port


def endpoint_url(explicit: str | None = None) -> str:
    """``--endpoint-url``, else ``$AWS_ENDPOINT_URL``, else ``$OVERAGE_ENDPOINT_URL`` (deprecated), else the default."""
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get(ENDPOINT_ENV):
        return os.environ[ENDPOINT_ENV].rstrip("/")
    if os.environ.get(DEPRECATED_ENDPOINT_ENV):
        print(
            f"overage: warning: ${DEPRECATED_ENDPOINT_ENV} is deprecated; set ${ENDPOINT_ENV} (as boto3 and SAM do)",
            file=sys.stderr,
        )
        return os.environ[DEPRECATED_ENDPOINT_ENV].rstrip("/")
    return DEFAULT_ENDPOINT_URL


def _endpoint(args: argparse.Namespace) -> str:
    return endpoint_url(getattr(args, "endpoint_url", None))


def _template_path(args: argparse.Namespace) -> Path:
    if args.template:
        return Path(args.template)
    return find_project_root() / TEMPLATE_FILE


def parse_parameter_overrides(values: Sequence[str] | None) -> dict[str, str]:
    """SAM's ``--parameter-overrides``: ``Key=Value`` pairs or ``ParameterKey=Key,ParameterValue=Value``, given as
    separate arguments or in one string (quoted values may hold spaces)."""
    overrides: dict[str, str] = {}
    for value in values or ():
        for token in shlex.split(value):
            if token.startswith("ParameterKey="):
                key_part, separator, value_part = token.partition(",ParameterValue=")
                if not separator:
                    raise LocalError(f"--parameter-overrides: {token!r} has no ParameterValue=")
                key, parameter_value = key_part.removeprefix("ParameterKey="), value_part
            else:
                key, separator, parameter_value = token.partition("=")
                if not separator or not key:
                    raise LocalError(f"--parameter-overrides: {token!r} is not Key=Value")
            overrides[key] = parameter_value
    return overrides


def read_env_vars(path: str | None) -> dict[str, dict[str, str]]:
    """SAM's ``--env-vars`` file: ``{"<LogicalId>": {...}, "Parameters": {...}}`` (Parameters: every function)."""
    if not path:
        return {}
    _, data = read_json_file(Path(path))
    if not isinstance(data, dict) or not all(isinstance(section, dict) for section in data.values()):
        raise LocalError(f'{path}: an --env-vars file is {{"<LogicalId>": {{"NAME": "value"}}, "Parameters": {{...}}}}')
    return {str(name): {str(k): _env_text(v) for k, v in section.items()} for name, section in data.items()}


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _template(args: argparse.Namespace) -> LocalTemplate:
    return LocalTemplate.from_file(
        _template_path(args),
        parameter_overrides=parse_parameter_overrides(getattr(args, "parameter_overrides", None)),
        env_vars=read_env_vars(getattr(args, "env_vars", None)),
    )


def read_event(source: str | None) -> Any:
    """The event of ``-e/--event``: a JSON file, ``-`` for standard input, none for ``{}`` (as sam local invoke)."""
    if source is None:
        return {}
    if source != "-":
        return read_json_file(Path(source))[1]
    text = sys.stdin.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LocalError(f"standard input: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def lambda_error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """What Lambda's Python runtime answers for an unhandled exception (the frames from the handler down)."""
    frames = list(traceback.extract_tb(exc.__traceback__))
    here = Path(__file__).resolve().parent
    while frames and Path(frames[0].filename).resolve().parent == here:
        frames = frames[1:]  # the local runner's own frames: Lambda's runtime leaves its own out as well
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


@contextlib.contextmanager
def _handler_output_to_stderr() -> Iterator[None]:
    """Handlers log to stdout (as in Lambda); the CLI keeps stdout for the result, so `| jq` works."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _drain(template: LocalTemplate, endpoint_url: str, *, quiet_when_empty: bool = False) -> None:
    """Deliver what the invocation fanned out to mapped SQS queues, as Lambda's event source mappings would."""
    from overage_local import runtime

    if not template.sqs_event_sources():
        return
    with _handler_output_to_stderr():
        batches = runtime.drain_queues(template, endpoint_url)
    if batches or not quiet_when_empty:
        print(runtime.summarize_batches(batches), file=sys.stderr)


# ------------------------------------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace) -> int:
    root = _template_path(args).resolve().parent
    out_dir = Path(args.out) if args.out else root / "reports-local"
    try:
        from overage_local.demo import run_demo
    except ModuleNotFoundError as exc:
        if exc.name != "overage_local.demo":
            raise
        raise LocalError("the demo is not part of this build (tools/overage_local/demo.py is missing)") from None
    return int(run_demo(root, out_dir))


def sam_local_env_vars(template: LocalTemplate, endpoint_url: str) -> dict[str, dict[str, str]]:
    """For `sam local invoke/start-api --env-vars`: each function's variables, resolved to the local names."""
    local = template.for_endpoint(endpoint_url)
    env: dict[str, dict[str, str]] = {}
    for logical_id in sorted(local.function_ids()):
        variables = dict(local.function_environment(logical_id))
        variables["AWS_ENDPOINT_URL"] = endpoint_url
        variables["AWS_ACCESS_KEY_ID"] = "testing"  # moto accepts any; never real credentials in a local run
        variables["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - a placeholder moto accepts  # nosec B105
        variables["POWERTOOLS_TRACE_DISABLED"] = "1"
        env[logical_id] = variables
    return env


def cmd_local_env_vars(args: argparse.Namespace) -> int:
    template = LocalTemplate.from_file(_template_path(args))
    print(json.dumps(sam_local_env_vars(template, args.endpoint_url), indent=2, sort_keys=True))
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    from overage_local.server import run_local_up

    return run_local_up(_template(args), args.port, verbose=args.verbose, host=args.host)


def cmd_local_api(args: argparse.Namespace) -> int:
    from overage_local.api import run_api

    return run_api(_template(args), args.port, _endpoint(args))


def cmd_invoke(args: argparse.Namespace) -> int:
    from overage_local import runtime
    from overage_local.server import check_endpoint

    template = _template(args)
    template.require_function(args.logical_id)
    event = read_event(args.event)
    endpoint_url = _endpoint(args)
    check_endpoint(endpoint_url)
    context = runtime.make_context(template, args.logical_id)
    try:
        with _handler_output_to_stderr():
            result = runtime.invoke(template, args.logical_id, event, endpoint_url, context=context)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)  # the function's log, as Lambda writes it to CloudWatch
        print(json.dumps(lambda_error(exc, context.aws_request_id)))  # the invocation's result, as Lambda returns it
        return 1
    print(to_json(result))
    _drain(template, endpoint_url)
    return 0


def _post(api_url: str, body: bytes, signature: str) -> tuple[int, bytes]:
    url = api_url.rstrip("/") + WEBHOOK_PATH
    if urlsplit(url).scheme not in ("http", "https"):
        raise LocalError(f"--api-url must be an http(s) URL, not {api_url!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s) just above
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature, "User-Agent": "overage-cli"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s), checked  # nosec B310
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except urllib.error.URLError as exc:
        raise LocalError(f"cannot reach {url}: {exc.reason}; is `overage local api` running?") from None


def _invoke_webhook(args: argparse.Namespace, body: bytes, signature: str) -> tuple[int, bytes]:
    from overage_local import api, runtime
    from overage_local.server import check_endpoint

    template = _template(args)
    request = api.HttpRequest(
        method="POST",
        target=WEBHOOK_PATH,
        headers=[
            ("Host", "localhost"),
            ("User-Agent", "overage-cli"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            (SIGNATURE_HEADER, signature),
        ],
        body=body,
    )
    route, event = api.request_event(template, request)
    endpoint_url = _endpoint(args)
    check_endpoint(endpoint_url)
    try:
        with _handler_output_to_stderr():
            result = runtime.invoke(template, route.function_id, event, endpoint_url)
        response = api.proxy_response(result, route.payload_version)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return 502, json.dumps({"message": "Internal server error"}).encode()
    _drain(template, endpoint_url, quiet_when_empty=True)
    return response.status, response.body


def cmd_webhook_send(args: argparse.Namespace) -> int:
    from overage.domain.signature import sign_header

    body, _ = read_json_file(Path(args.file), validate=not args.raw)
    secret = args.secret or webhook_secret()
    signature = sign_header(secret, body, int(time.time()))
    if args.api_url:
        status, payload = _post(args.api_url, body, signature)
    else:
        status, payload = _invoke_webhook(args, body, signature)
    print(f"HTTP {status}")
    text = payload.decode("utf-8", errors="replace")
    try:
        print(to_json(json.loads(text)))
    except ValueError:
        print(text)
    return 0 if status < 400 else 1


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    """Put the dead-letter queues' messages back to work (see overage_local/dlq.py for how, and why it is safe)."""
    import boto3

    from overage_local import dlq, runtime
    from overage_local.server import check_endpoint

    template = _template(args)
    if args.stack_name:  # a deployed stack, with the credentials of the environment
        session = boto3.session.Session()
        sqs = session.client("sqs")
        stack = dlq.StackLocations(session.client("cloudformation"), sqs, args.stack_name)
        lambda_client = session.client("lambda")

        def invoke(logical_id: str, event: Any) -> None:  # asynchronous: a failure dead-letters it again
            function = stack.physical[logical_id]
            lambda_client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())

        reports = dlq.redrive(template, sqs, stack, invoke, only=args.queue, use_move_task=True, dry_run=args.dry_run)
    else:
        endpoint_url = _endpoint(args)
        check_endpoint(endpoint_url)
        from overage_local.template import client_factory

        sqs = client_factory(endpoint_url, template.region)("sqs")

        def invoke(logical_id: str, event: Any) -> None:
            with _handler_output_to_stderr():
                runtime.invoke(template, logical_id, event, endpoint_url)

        reports = dlq.redrive(
            template, sqs, dlq.LocalLocations(template, endpoint_url), invoke, only=args.queue, dry_run=args.dry_run
        )
        if not args.dry_run:
            _drain(template, endpoint_url, quiet_when_empty=True)
    print(to_json([report.as_dict() for report in reports]))
    return 1 if any(report.failed for report in reports) else 0


# ------------------------------------------------------------------------------------------- parser


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("overage")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


ENDPOINT_HELP = f"the local AWS (default: ${ENDPOINT_ENV}, else {DEFAULT_ENDPOINT_URL})"


def build_parser() -> argparse.ArgumentParser:
    # -t/--template is accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-t", "--template", default=argparse.SUPPRESS, help="template.yaml to use")
    # What a SAM user passes to sam local invoke / start-api, for the commands that run functions.
    sam = argparse.ArgumentParser(add_help=False)
    sam.add_argument(
        "--parameter-overrides",
        nargs="+",
        metavar="KEY=VALUE",
        help="template parameters, as sam: Key=Value ... or ParameterKey=Key,ParameterValue=Value",
    )
    sam.add_argument(
        "-n",
        "--env-vars",
        metavar="FILE",
        help='JSON file of variables, as sam: {"<LogicalId>": {"NAME": "value"}, "Parameters": {...}}; '
        "only variables the template declares are overridden",
    )
    sam.add_argument("--endpoint-url", help=ENDPOINT_HELP)

    parser = argparse.ArgumentParser(
        prog="overage",
        description="Run the overage SAM application locally, without Docker (moto stands in for AWS).",
    )
    parser.add_argument("--version", action="version", version=f"overage {version()}")
    parser.add_argument(
        "-t", "--template", default=None, help="template.yaml to use (default: the one of the project around the cwd)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", parents=[common], help="replay a month of CRM events in-process and report")
    demo.add_argument("--out", help="where to write the report files (default: reports-local/)")
    demo.set_defaults(handler=cmd_demo)

    local = commands.add_parser("local", help="a local AWS (moto) and a local API")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser(
        "up", parents=[common], help="a moto server (127.0.0.1 unless --host) with every resource of the template"
    )
    up.add_argument("--port", type=_port, default=4566)
    up.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); 0.0.0.0 lets sam local's Docker containers reach it, run "
        "with --add-host=host.docker.internal:host-gateway on Linux (samconfig.toml does)",
    )
    up.add_argument(
        "--parameter-overrides",
        nargs="+",
        metavar="KEY=VALUE",
        help="template parameters, as sam: Key=Value ... or ParameterKey=Key,ParameterValue=Value",
    )
    up.add_argument("--verbose", action="store_true", help="log every request moto serves")
    up.set_defaults(handler=cmd_local_up)
    api = local_commands.add_parser("api", parents=[common, sam], help="serve the API on 127.0.0.1 like sam local")
    api.add_argument("-p", "--port", type=_port, default=3000)
    api.set_defaults(handler=cmd_local_api)

    env_vars = local_commands.add_parser(
        "env-vars", parents=[common], help="print the --env-vars file for `sam local` against `overage local up`"
    )
    env_vars.add_argument(
        "--endpoint-url",
        default=SAM_LOCAL_ENDPOINT,
        help=f"where the Docker containers reach `overage local up` (default: {SAM_LOCAL_ENDPOINT})",
    )
    env_vars.set_defaults(handler=cmd_local_env_vars)

    invoke = commands.add_parser("invoke", parents=[common, sam], help="run one function with an event")
    invoke.add_argument("logical_id", metavar="LogicalId", help="the function's logical id in the template")
    invoke.add_argument(
        "-e", "--event", help="JSON event file (see events/); - reads standard input; none: the event is {}"
    )
    invoke.set_defaults(handler=cmd_invoke)

    webhook = commands.add_parser("webhook", help="CRM webhooks")
    webhook_commands = webhook.add_subparsers(dest="webhook_command", required=True, metavar="COMMAND")
    send = webhook_commands.add_parser("send", parents=[common, sam], help="sign a JSON body and deliver it")
    send.add_argument("file", metavar="FILE", help="JSON body; its bytes are sent exactly as written")
    send.add_argument("--api-url", help="POST over HTTP to <api-url>/webhooks/crm instead of invoking in-process")
    send.add_argument("--secret", help="signing secret (default: $OVERAGE_WEBHOOK_SECRET or local-dev-secret)")
    send.add_argument("--raw", action="store_true", help="send the file even when it is not valid JSON")
    send.set_defaults(handler=cmd_webhook_send)

    dead_letters = commands.add_parser("dlq", help="dead-letter queues")
    dlq_commands = dead_letters.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    redrive = dlq_commands.add_parser(
        "redrive",
        parents=[common, sam],
        help="move dead-lettered messages back to their queue; re-invoke failed scheduled runs with their event",
    )
    redrive.add_argument("--queue", metavar="LogicalId", help="one dead-letter queue (default: every one)")
    redrive.add_argument(
        "--stack-name", help="a deployed stack in AWS, with the environment's credentials (instead of a local AWS)"
    )
    redrive.add_argument("--dry-run", action="store_true", help="count what would be redriven, change nothing")
    redrive.set_defaults(handler=cmd_dlq_redrive)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error (or the help)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except LocalError as exc:
        print(f"overage: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
