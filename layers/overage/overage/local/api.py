"""``overage local api``: the template's API served over HTTP on 127.0.0.1, as ``sam local start-api`` does.

Every request becomes an API Gateway proxy event (REST API: payload 1.0; HTTP API: payload 2.0 unless the
event says otherwise), routed by the ``Api``/``HttpApi`` events of the template's functions, and the
handler's proxy response is written back. No route: 404 ``Missing Authentication Token`` (what API Gateway
answers); a handler that raises or answers malformed: 502 ``Internal server error``.
"""

from __future__ import annotations

import base64
import errno
import json
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from overage.local import runtime
from overage.local.server import HOST, check_endpoint, wait_for_stop
from overage.local.template import ACCOUNT_ID, LocalError, LocalTemplate, PortInUse

DEFAULT_PORT = 3000
API_TYPES = ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")
GATEWAY_TIMEOUT_NOTE = "API Gateway would answer 504 after 29 s; locally the handler runs to the end"


class NoRoute(LocalError):
    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"no function of the template serves {method} {path}")


class BadProxyResponse(Exception):
    """The handler answered something API Gateway cannot turn into an HTTP response (it answers 502)."""


@dataclass(frozen=True)
class Route:
    function_id: str
    event_name: str
    path: str  # the template's pattern, e.g. /accounts/{id}; "$default" for an HTTP API catch-all
    method: str  # upper case, or ANY
    stage: str
    payload_version: str  # "1.0" (REST API) or "2.0"
    api_id: str

    @property
    def segments(self) -> list[str]:
        return [segment for segment in self.path.split("/") if segment]

    def specificity(self) -> tuple[tuple[int, ...], bool]:
        """Sort key: literal segments before {param} before {greedy+}; a method before ANY."""
        if self.path == "$default":
            return (3,), True
        ranks = tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments)
        return ranks, self.method == "ANY"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when this route serves ``method path``, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        if self.path == "$default":
            return {}
        wanted = [segment for segment in path.split("/") if segment]
        parameters: dict[str, str] = {}
        for index, pattern in enumerate(self.segments):
            if pattern.startswith("{") and pattern.endswith("+}"):
                rest = wanted[index:]
                if not rest:
                    return None
                parameters[pattern[1:-2]] = "/".join(rest)
                return parameters
            if index >= len(wanted):
                return None
            if pattern.startswith("{") and pattern.endswith("}"):
                parameters[pattern[1:-1]] = wanted[index]
            elif pattern != wanted[index]:
                return None
        return parameters if len(wanted) == len(self.segments) else None


def _api_settings(template: LocalTemplate, api_ref: Any, kind: str) -> tuple[str, str]:
    """(stage, api id) of the API an event names (or of SAM's implicit API)."""
    logical_id = api_ref.get("Ref") if isinstance(api_ref, dict) else None
    if isinstance(logical_id, str) and template.resource_type(logical_id) in API_TYPES:
        stage = template.resolve(template.properties(logical_id).get("StageName"))
        api_id = str(template.ref(logical_id))
    else:
        stage, api_id = None, "localapi00"
    default_stage = "Prod" if kind == "Api" else "$default"
    return str(stage or default_stage), api_id


def routes(template: LocalTemplate) -> list[Route]:
    """Every API route of the template, most specific first."""
    found: list[Route] = []
    for function_id in template.function_ids():
        for event_name, event in template.function_events(function_id, "Api", "HttpApi").items():
            kind = str(event["Type"])
            properties = event.get("Properties") or {}
            stage, api_id = _api_settings(template, properties.get("RestApiId" if kind == "Api" else "ApiId"), kind)
            default_version = "1.0" if kind == "Api" else "2.0"
            found.append(
                Route(
                    function_id=function_id,
                    event_name=event_name,
                    path=str(template.resolve(properties.get("Path")) or "$default"),
                    method=str(template.resolve(properties.get("Method")) or "ANY").upper(),
                    stage=stage,
                    payload_version=str(template.resolve(properties.get("PayloadFormatVersion")) or default_version),
                    api_id=api_id,
                )
            )
    return sorted(found, key=Route.specificity)


def find_route(all_routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in all_routes:
        parameters = route.match(method, path)
        if parameters is not None:
            return route, parameters
    return None


# ------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query string as sent, e.g. /accounts/acc_1?x=1
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path) or "/"

    @property
    def raw_query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


def _body_text(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def rest_event(route: Route, parameters: dict[str, str], request: HttpRequest) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload 1.0)."""
    now = datetime.now(UTC)
    query = parse_qsl(request.raw_query, keep_blank_values=True)
    multi_query = _multi(query)
    multi_headers = _multi(request.headers)
    body, is_base64 = _body_text(request.body)
    host = request.header("Host") or f"{HOST}"
    return {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {key: values[-1] for key, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {key: values[-1] for key, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": route.api_id,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "extendedRequestId": str(uuid.uuid4()),
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": request.header("User-Agent"),
                "userArn": None,
            },
            "path": f"/{route.stage}{request.path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourceId": "local1",
            "resourcePath": route.path,
            "stage": route.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def http_api_event(route: Route, parameters: dict[str, str], request: HttpRequest) -> dict[str, Any]:
    """An API Gateway HTTP API proxy event (payload 2.0)."""
    now = datetime.now(UTC)
    query = _multi(parse_qsl(request.raw_query, keep_blank_values=True))
    headers: dict[str, list[str]] = {}
    cookies: list[str] = []
    for key, value in request.headers:
        if key.lower() == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            headers.setdefault(key.lower(), []).append(value)
    body, is_base64 = _body_text(request.body)
    host = request.header("Host") or HOST
    route_key = "$default" if route.path == "$default" else f"{route.method} {route.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
        "headers": {key: ",".join(values) for key, values in headers.items()},
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": route.api_id,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.header("User-Agent") or "",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": route.stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_base64,
        "stageVariables": None,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {key: ",".join(values) for key, values in query.items()}
    if parameters:
        event["pathParameters"] = parameters
    if body is not None:
        event["body"] = body
    return event


def request_event(template: LocalTemplate, request: HttpRequest) -> tuple[Route, dict[str, Any]]:
    """The route serving ``request`` and the proxy event its function receives; ``NoRoute`` if none."""
    matched = find_route(routes(template), request.method, request.path)
    if matched is None:
        raise NoRoute(request.method, request.path)
    route, parameters = matched
    build = rest_event if route.payload_version == "1.0" else http_api_event
    return route, build(route, parameters, request)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


def proxy_response(result: Any, payload_version: str = "1.0") -> HttpResponse:
    """The HTTP response API Gateway makes of a handler's result; ``BadProxyResponse`` when it answers 502."""
    if payload_version != "1.0" and not (isinstance(result, dict) and "statusCode" in result):
        # HTTP API 2.0 treats anything else as a 200 JSON body.
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("Content-Type", "application/json")], text.encode())
    if not isinstance(result, dict):
        raise BadProxyResponse(f"the handler returned {type(result).__name__}, not a proxy response dict")
    try:
        status = int(result["statusCode"])
    except (KeyError, TypeError, ValueError):
        raise BadProxyResponse("the proxy response has no integer statusCode") from None
    headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    single = {key.lower() for key, _ in headers}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if str(key).lower() not in single:
            headers.extend((str(key), str(value)) for value in values or [])
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise BadProxyResponse(f"the proxy response body is {type(body).__name__}, not a string")
    elif result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except ValueError:
            raise BadProxyResponse("isBase64Encoded is true but the body is not base64") from None
    else:
        payload = body.encode("utf-8")
    if not any(key.lower() == "content-type" for key, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, headers, payload)


def _json_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode())


def handle_request(template: LocalTemplate, request: HttpRequest, endpoint_url: str | None) -> HttpResponse:
    """Route, invoke and answer one request, as API Gateway would."""
    try:
        route, event = request_event(template, request)
    except NoRoute:
        return _json_response(404, "Missing Authentication Token")
    try:
        result = runtime.invoke(template, route.function_id, event, endpoint_url)
        return proxy_response(result, route.payload_version)
    except Exception:
        print(f"{route.function_id} failed on {request.method} {request.path}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return _json_response(502, "Internal server error")


# ------------------------------------------------------------------------------------------- server


class LocalApiServer(ThreadingHTTPServer):
    """An HTTP server in front of the template's API; ``shutdown()`` stops it and frees the port."""

    daemon_threads = True

    def __init__(self, template: LocalTemplate, port: int, endpoint_url: str | None, *, quiet: bool) -> None:
        self.template = template
        self.endpoint_url = endpoint_url
        self.quiet = quiet
        # Handlers run one at a time: invoke() swaps os.environ for the function's environment.
        self.invoke_lock = threading.Lock()
        self.thread: threading.Thread | None = None
        super().__init__((HOST, port), _RequestHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.thread = threading.Thread(target=self.serve_forever, name="overage-local-api", daemon=True)
        self.thread.start()

    def shutdown(self) -> None:
        if self.thread is not None:
            super().shutdown()
            self.thread.join(timeout=5)
            self.thread = None
        self.server_close()


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    server_version = "overage-local-api"

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        started = time.monotonic()
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self._read_body(),
            source_ip=self.client_address[0],
        )
        with self.server.invoke_lock:
            response = handle_request(self.server.template, request, self.server.endpoint_url)
        self.send_response(response.status)
        for key, value in response.headers:
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        if not self.server.quiet:
            elapsed = (time.monotonic() - started) * 1000
            print(f"{request.method} {request.path} -> {response.status} ({elapsed:.0f} ms)", file=sys.stderr)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:  # the one-line summary above replaces it
        return


def serve_api(
    template: LocalTemplate, port: int = DEFAULT_PORT, endpoint_url: str | None = None, *, quiet: bool = True
) -> LocalApiServer:
    """Start the API server in a background thread (port 0: any free port); stop it with ``shutdown()``."""
    try:
        server = LocalApiServer(template, port, endpoint_url, quiet=quiet)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(port) from None
        raise
    server.start()
    return server


def run_api(template: LocalTemplate, port: int = DEFAULT_PORT, endpoint_url: str | None = None) -> int:
    """The blocking ``overage local api``: serve until Ctrl-C / SIGTERM."""
    if endpoint_url:
        check_endpoint(endpoint_url)
    server = serve_api(template, port, endpoint_url, quiet=False)
    try:
        print(f"API of {template.root / 'template.yaml'} on {server.url} (AWS calls go to {endpoint_url}):")
        for route in routes(template):
            print(f"  {route.method:<7} {route.path:<40} -> {route.function_id}")
        print(f"Handlers run one at a time; {GATEWAY_TIMEOUT_NOTE}. Ctrl-C stops it.", flush=True)
        wait_for_stop()
    finally:
        server.shutdown()
    return 0
