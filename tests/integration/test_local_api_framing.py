"""`overage local api` as API Gateway serves it: under a burst, with bad framing, with encoded slashes.

Driven over 127.0.0.1 only: `overage local up` (moto), `overage local api` for the real template and for a small
echo project (whose handler answers with the event it received), then plain HTTP, some of it written byte by byte.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.local_stack import (
    API_TEMPLATE,
    BOOM_APP,
    ECHO_APP,
    OVERAGE,
    SECRET,
    Stack,
    free_port,
    wait_until_listening,
    write_project,
)
from tests.support import ROOT, upsert_body

BURST = 50
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload quota; over it: 413 before the body is read


@dataclass
class Servers:
    stack: Stack  # the real template's API
    api_port: int
    echo_port: int  # the echo project's API


def _start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process)
    except BaseException:
        process.terminate()
        process.wait(timeout=20)
        raise
    return process


def _echo_project(root: Path) -> Path:
    """The echo project of test_local_runner (its layer and per-function helpers included)."""
    template = write_project(root, API_TEMPLATE, {"echo": ECHO_APP, "boom": BOOM_APP})
    for folder in ("echo", "boom"):
        (root / "functions" / folder / "helpers.py").write_text(f"def tag():\n    return {folder!r}\n")
    (root / "layers" / "shared").mkdir(parents=True)
    (root / "layers" / "shared" / "local_runner_shared_layer.py").write_text("def greeting():\n    return 'hi'\n")
    return template


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    moto_port, api_port, echo_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "OVERAGE_WEBHOOK_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "overage"), str(ROOT)]),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    endpoint = f"http://127.0.0.1:{moto_port}"
    echo_template = _echo_project(tmp_path_factory.mktemp("echo"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_start([*OVERAGE, "local", "up", "--port", str(moto_port)], env, moto_port))
        time.sleep(1.0)  # resources are created right after the port opens
        api = [*OVERAGE, "local", "api", "--endpoint-url", endpoint]
        processes.append(_start([*api, "--port", str(api_port)], env, api_port))
        processes.append(_start([*api, "--template", str(echo_template), "--port", str(echo_port)], env, echo_port))
        yield Servers(Stack(endpoint, f"http://127.0.0.1:{api_port}", env), api_port, echo_port)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=20)


# ------------------------------------------------------------------------------------------- raw HTTP


@dataclass
class RawAnswer:
    status: int | None  # None: the connection closed (or was reset) without an HTTP answer
    headers: dict[str, str]
    body: bytes
    error: str | None = None

    def json(self) -> dict:
        return json.loads(self.body)


def raw_exchange(port: int, data: bytes, *, end_upload: bool = False, timeout: float = 15.0) -> RawAnswer:
    """Send ``data`` as is on a fresh connection (``end_upload``: then close the sending side) and read the answer."""
    received = b""
    error: str | None = None
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(data)
            if end_upload:
                connection.shutdown(socket.SHUT_WR)
            while chunk := connection.recv(65536):
                received += chunk
        except OSError as exc:  # reset, timeout
            error = f"{type(exc).__name__}: {exc}"
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not received or not lines[0].startswith("HTTP/"):
        return RawAnswer(None, {}, received, error or "closed without an answer")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return RawAnswer(int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body, error)


def post_head(*headers: str, path: str = "/webhooks/crm") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ------------------------------------------------------------------------------------------- burst


def test_a_burst_of_signed_posts_is_answered_every_time(servers: Servers) -> None:
    """50 signed webhooks at once (as a CRM flushing its retry queue): each gets a 202, none is reset."""
    start = threading.Barrier(BURST)

    def deliver(n: int) -> int | str:
        body = upsert_body(f"acc_burst_{n}", billing_cycle="monthly")
        start.wait(timeout=30)
        try:
            return servers.stack.send(body)[0]
        except (OSError, urllib.error.URLError) as exc:  # ConnectionResetError, RemoteDisconnected, timeout
            return f"{type(exc).__name__}: {exc}"

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        futures = [pool.submit(deliver, n) for n in range(BURST)]
        outcomes = [future.result(timeout=180) for future in futures]

    failures = [outcome for outcome in outcomes if outcome not in (200, 202)]
    assert failures == [], f"{len(failures)} of {BURST} posts were not answered 200/202: {failures[:5]}"
    assert outcomes.count(202) == BURST  # distinct events: each applied once
    assert time.monotonic() - began < 180


# ------------------------------------------------------------------------------------------- framing


BAD_FRAMING = {
    "a Content-Length that is not a number": post_head("Content-Length: abc") + b"{}",
    "a negative Content-Length": post_head("Content-Length: -1") + b"{}",
    "a signed Content-Length": post_head("Content-Length: +2") + b"{}",
    "two different Content-Lengths": post_head("Content-Length: 2", "Content-Length: 3") + b"{}",
    "both Content-Length and chunked": post_head("Content-Length: 2", "Transfer-Encoding: chunked") + b"{}",
    "a chunk size that is not hexadecimal": post_head("Transfer-Encoding: chunked") + b"zz\r\n{}\r\n0\r\n\r\n",
    "a transfer coding other than chunked": post_head("Transfer-Encoding: gzip") + b"{}",
    "a body without Content-Length": post_head() + b'{"id": "evt_unframed"}',
}


@pytest.mark.parametrize("request_bytes", BAD_FRAMING.values(), ids=BAD_FRAMING.keys())
def test_bad_framing_is_answered_400_with_a_json_message(servers: Servers, request_bytes: bytes) -> None:
    answer = raw_exchange(servers.api_port, request_bytes, end_upload=True)

    assert answer.status == 400, answer
    assert answer.headers["content-type"] == "application/json"
    assert isinstance(answer.json()["message"], str) and answer.json()["message"]


def test_a_body_shorter_than_its_content_length_is_answered_400(servers: Servers) -> None:
    answer = raw_exchange(servers.api_port, post_head("Content-Length: 100") + b'{"id": "evt_short"}', end_upload=True)

    assert answer.status == 400, answer
    assert "Content-Length" in answer.json()["message"]


def test_a_broken_request_line_is_answered_400_in_json(servers: Servers) -> None:
    answer = raw_exchange(servers.api_port, b"NOT AN HTTP REQUEST\r\n\r\n")

    assert answer.status == 400, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["message"]


def test_a_declared_body_over_the_api_limit_is_refused_413_before_it_is_read(servers: Servers) -> None:
    # Only the head is sent: answering at all proves nothing waited for the 10 MiB.
    head = post_head(f"Content-Length: {API_GATEWAY_MAX_BODY + 1}")
    began = time.monotonic()
    answer = raw_exchange(servers.api_port, head, timeout=10)

    assert answer.status == 413, answer
    assert answer.json()["message"].startswith("Request Too Long")
    assert time.monotonic() - began < 5
    # Chunked, the same as soon as a chunk size takes the body over the limit (the chunk itself is never sent).
    chunked = raw_exchange(servers.api_port, post_head("Transfer-Encoding: chunked") + b"A00001\r\n", timeout=10)
    assert chunked.status == 413, chunked


def test_a_body_at_the_webhook_limit_is_still_the_handlers_to_answer(servers: Servers) -> None:
    # Framed well and under API Gateway's quota: the handler decides (its own 256 KiB limit: 413).
    assert servers.stack.send(b'{"pad": "' + b"x" * (256 * 1024) + b'"}')[0] == 413
    status, _ = servers.stack.post(b"{}", None)
    assert status == 401


def test_a_valid_chunked_post_still_reaches_the_handler(servers: Servers) -> None:
    answer = raw_exchange(
        servers.echo_port,
        post_head("Transfer-Encoding: chunked", path="/files/upload") + b"2\r\n{}\r\n0\r\n\r\n",
    )

    assert answer.status == 200, answer
    assert answer.json()["body"] == "{}"


# ------------------------------------------------------------------------------------------- paths


def echo(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_an_encoded_slash_is_one_decoded_path_parameter(servers: Servers) -> None:
    status, event = echo(servers.echo_port, "/accounts/a%2Fb")

    assert status == 200
    assert event["resource"] == "/accounts/{id}"
    assert event["pathParameters"] == {"id": "a/b"}
    assert event["path"] == "/accounts/a%2Fb"  # a REST API hands the path on as it was sent
    assert event["requestContext"]["path"] == "/v1/accounts/a%2Fb"


def test_a_greedy_parameter_is_decoded_segment_by_segment(servers: Servers) -> None:
    status, event = echo(servers.echo_port, "/files/x%2Fy/z%20w.txt")

    assert status == 200
    assert event["resource"] == "/files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "x/y/z w.txt"}


def test_an_encoded_slash_does_not_make_another_route(servers: Servers) -> None:
    status, event = echo(servers.echo_port, "/accounts/a%2Fme")

    assert status == 200
    assert (event["resource"], event["pathParameters"]) == ("/accounts/{id}", {"id": "a/me"})
    # /accounts/a/b is two segments: no route serves it.
    assert echo(servers.echo_port, "/accounts/a/b") == (404, {"message": "Missing Authentication Token"})


@pytest.mark.parametrize("path", ["/accounts/a%2Fb", "/accounts/a%2Fb/invoices"])
def test_the_real_api_hands_an_encoded_id_to_its_account_routes(servers: Servers, path: str) -> None:
    status, answer = servers.stack.get(path)

    # Routed to the account handler (which knows no such account), not API Gateway's "no route" 404.
    assert status == 404
    assert answer != {"message": "Missing Authentication Token"}
