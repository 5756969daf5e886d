"""``overage local api``: the template's API served over HTTP on 127.0.0.1, as ``sam local start-api`` does.

Every request becomes an API Gateway proxy event (REST API: payload 1.0; HTTP API: payload 2.0 unless the
event says otherwise), routed by the ``Api``/``HttpApi`` events of the template's functions, and the
handler's proxy response is written back. No route: 404 ``Missing Authentication Token`` (what API Gateway
answers); a handler that raises or answers malformed: 502 ``Internal server error``.

Routes are matched on the path as sent (still percent-encoded), one segment per ``/``: ``/accounts/a%2Fb`` is
``/accounts/{id}`` with ``id`` ``a/b`` (parameters are handed on decoded), and a REST event's ``path`` is the path
as sent, as API Gateway's are. Every request is answered, in JSON like the API's own answers: 400 for bad framing
(a Content-Length that is not a number of bytes, two of them, one with ``Transfer-Encoding``, a body that ends
early, a broken chunk, a body-carrying method without either header), 413 when the declared body is over API
Gateway's 10 MiB quota (decided before reading it), 408 when the body stalls.
"""

from __future__ import annotations

import base64
import errno
import json
import socket
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

from overage_local import runtime
from overage_local.server import HOST, check_endpoint, wait_for_stop
from overage_local.template import ACCOUNT_ID, LocalError, LocalTemplate, PortInUse

DEFAULT_PORT = 3000
API_TYPES = ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")
GATEWAY_TIMEOUT_NOTE = "API Gateway would answer 504 after 29 s; locally the handler runs to the end"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota (REST and HTTP APIs)
REQUEST_QUEUE_SIZE = 128  # listen backlog: a burst of connections waits to be accepted instead of being reset
READ_TIMEOUT_SECONDS = 30.0  # a client that stops sending mid-request
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # methods whose requests must say how long their body is
MAX_CHUNK_LINE_BYTES = 1024
MAX_TRAILER_LINES = 100
DRAIN_AFTER_REFUSAL = (0.5, 1024 * 1024)  # seconds, bytes: what is read of a refused body before closing

# invoke() swaps os.environ, sys.path and sys.modules for the function's: process-wide state, so handlers run one
# at a time across every server of the process (each request still gets its own thread and is read concurrently).
_INVOKE_LOCK = threading.Lock()


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
        """The path parameters (decoded) when this route serves ``method path``, else None.

        ``path`` is the path as sent, still percent-encoded: it is split into segments before anything is
        decoded, so an encoded ``/`` (``%2F``) stays inside its segment, as API Gateway matches routes.
        """
        if self.method not in ("ANY", method.upper()):
            return None
        if self.path == "$default":
            return {}
        wanted = [unquote(segment) for segment in path.split("/") if segment]
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
    def raw_path(self) -> str:
        """The path as sent, percent-encoding kept: what routes are matched on and a REST event's ``path``."""
        return urlsplit(self.target).path or "/"

    @property
    def path(self) -> str:
        """The path decoded (an HTTP API event's ``rawPath``, as API Gateway's HTTP APIs hand it on)."""
        return unquote(self.raw_path) or "/"

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
        "path": request.raw_path,
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
            "path": f"/{route.stage}{request.raw_path}",
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
    matched = find_route(routes(template), request.method, request.raw_path)
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


class BadFraming(Exception):
    """The request cannot be read as one HTTP request: answered ``status`` before any handler runs."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LocalApiServer(ThreadingHTTPServer):
    """An HTTP server in front of the template's API; ``shutdown()`` stops it and frees the port.

    One daemon thread per connection; the handlers themselves run one at a time (``_INVOKE_LOCK``).
    """

    daemon_threads = True
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(self, template: LocalTemplate, port: int, endpoint_url: str | None, *, quiet: bool) -> None:
        self.template = template
        self.endpoint_url = endpoint_url
        self.quiet = quiet
        self.invoke_lock = _INVOKE_LOCK
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


def _content_length(values: list[str]) -> int | None:
    """The one length the Content-Length headers declare (None: no header); ``BadFraming`` otherwise."""
    declared = {part.strip() for value in values for part in value.split(",")}
    if not declared:
        return None
    if len(declared) > 1:
        raise BadFraming(400, f"conflicting Content-Length values: {', '.join(sorted(declared))}")
    (text,) = declared
    if not (text.isascii() and text.isdigit()):
        raise BadFraming(400, f"Content-Length {text!r} is not a number of bytes")
    return int(text)


def _too_large(body: str) -> BadFraming:
    return BadFraming(413, f"Request Too Long: {body} is over the limit of {MAX_BODY_BYTES} bytes")


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    server_version = "overage-local-api"
    timeout = READ_TIMEOUT_SECONDS  # per read: the head and the body (a stalled head is closed, a body 408)

    # ------------------------------------------------------------------------------- reading the body

    def _read_body(self) -> bytes:
        """The body as its framing declares it; ``BadFraming`` (400, 408, 413) when it cannot be read as one."""
        codings = [
            coding.strip().lower()
            for value in self.headers.get_all("Transfer-Encoding") or []
            for coding in value.split(",")
            if coding.strip()
        ]
        length = _content_length(self.headers.get_all("Content-Length") or [])
        if codings:
            if length is not None:
                raise BadFraming(400, "a request cannot carry both Content-Length and Transfer-Encoding")
            if codings != ["chunked"]:
                raise BadFraming(400, f"Transfer-Encoding {', '.join(codings)} is not supported; use chunked")
            return self._read_chunked()
        if length is None:
            if self.command in BODY_METHODS:
                raise BadFraming(400, f"a {self.command} needs a Content-Length (0 for no body) or chunked encoding")
            return b""
        if length > MAX_BODY_BYTES:
            raise _too_large(f"a body of {length} bytes")
        return self._read_exactly(length, f"the body ended before the {length} bytes its Content-Length declares")

    def _read_exactly(self, size: int, short: str) -> bytes:
        try:
            data = self.rfile.read(size) if size else b""
        except TimeoutError:
            raise BadFraming(408, "Request Timeout: the body stopped arriving") from None
        if len(data) < size:
            raise BadFraming(400, f"{short} (got {len(data)})")
        return data

    def _read_line(self) -> bytes:
        try:
            line = self.rfile.readline(MAX_CHUNK_LINE_BYTES + 1)
        except TimeoutError:
            raise BadFraming(408, "Request Timeout: the body stopped arriving") from None
        if not line.endswith(b"\n") or len(line) > MAX_CHUNK_LINE_BYTES:
            raise BadFraming(400, "the chunked body is cut short or has an overlong line")
        return line.rstrip(b"\r\n")

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_text = self._read_line().split(b";", 1)[0].strip()
            if not size_text or any(char not in b"0123456789abcdefABCDEF" for char in size_text):
                raise BadFraming(400, f"chunk size {size_text.decode('latin-1')!r} is not hexadecimal")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise _too_large("the chunked body")
            chunks.append(self._read_exactly(size, f"a chunk ended before its {size} bytes"))
            if self._read_line():
                raise BadFraming(400, "a chunk is longer than its size says")
        for _ in range(MAX_TRAILER_LINES):  # trailer fields, up to the blank line that ends the body
            if not self._read_line():
                return b"".join(chunks)
        raise BadFraming(400, "too many trailer fields after the chunked body")

    # ------------------------------------------------------------------------------- answering

    def _write(self, response: HttpResponse, *, close: bool = False) -> None:
        self.send_response(response.status)
        for key, value in response.headers:
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _drain_and_close(self) -> None:
        """Close after a refusal without resetting the connection: unread input at close() makes the kernel send
        a reset, which can destroy the answer before the client reads it. So: stop writing, read (and drop) what
        the client still sends for a moment, then let the server close the socket.
        """
        seconds, limit = DRAIN_AFTER_REFUSAL
        deadline = time.monotonic() + seconds
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            drained = 0
            while drained < limit and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                data = self.connection.recv(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:  # the client is gone or went quiet: nothing more to do
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The answers BaseHTTPRequestHandler gives itself (broken request line, headers too long, unknown
        method...), in JSON like the API's, and always with a status line."""
        if not self.request_version.startswith("HTTP/1."):  # HTTP/0.9 (no status line) is never spoken here
            self.request_version = "HTTP/1.0"
        phrase = self.responses.get(code, ("Error",))[0]
        self._write(_json_response(code, message or phrase), close=True)
        self._drain_and_close()

    def _handle(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except BadFraming as refused:
            response = _json_response(refused.status, refused.message)
            self._write(response, close=True)
            self._drain_and_close()
            self._summary(self.command, unquote(urlsplit(self.path).path), response.status, started)
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        with self.server.invoke_lock:
            response = handle_request(self.server.template, request, self.server.endpoint_url)
        self._write(response)
        self._summary(request.method, request.path, response.status, started)

    def _summary(self, method: str, path: str, status: int, started: float) -> None:
        if not self.server.quiet:
            elapsed = (time.monotonic() - started) * 1000
            print(f"{method} {path} -> {status} ({elapsed:.0f} ms)", file=sys.stderr)

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
