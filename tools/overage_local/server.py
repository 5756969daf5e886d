"""``overage local up``: a moto server on 127.0.0.1 with every resource of template.yaml created.

moto is imported only inside the functions that start a server: this package is also the Lambda layer,
where moto is absent.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from overage_local.template import (
    FAKE_CREDENTIALS,
    EndpointUnreachable,
    LocalTemplate,
    PortInUse,
)

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
STARTUP_TIMEOUT_SECONDS = 10.0


def ensure_port_free(port: int, host: str = HOST) -> None:
    """Raise ``PortInUse`` when something already listens on ``host:port`` (port 0 is always free)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Same option the HTTP servers use, so a port merely in TIME_WAIT is not reported as taken.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(port) from None
        raise
    finally:
        probe.close()


def is_reachable(endpoint_url: str, timeout: float = 1.0) -> bool:
    parts = urlsplit(endpoint_url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_endpoint(endpoint_url: str, timeout: float = 1.0) -> None:
    """Raise ``EndpointUnreachable`` unless something accepts connections at ``endpoint_url``."""
    if not is_reachable(endpoint_url, timeout):
        raise EndpointUnreachable(endpoint_url)


def _wait_until_answering(endpoint_url: str, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not is_reachable(endpoint_url, timeout=0.5):
        if time.monotonic() > deadline:
            raise EndpointUnreachable(endpoint_url)
        time.sleep(0.05)


@contextlib.contextmanager
def serialized_mock_aws() -> Iterator[None]:
    """moto in process (``mock_aws``), answering one request at a time, for the same reason as the server below:
    the SQS-triggered functions handle a batch's records on threads, and moto's conditional writes are not atomic.
    """
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    from overage_local import moto_speed

    moto_speed.apply()
    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def serialized(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    with mock.patch.object(BotocoreStubber, "process_request", serialized), mock_aws():
        yield


class SerializedMotoServer:
    """moto's WSGI application in a werkzeug server thread, answering one request at a time.

    moto's backends are not thread-safe: a conditional write checks its condition and applies it in two steps,
    so two concurrent requests could both pass a condition that DynamoDB lets only one pass. Serialising the
    requests (they still arrive concurrently) gives local runs DynamoDB's atomicity, which the no-double-charge
    guarantees rely on and the concurrency tests check. Built from moto's public server pieces (the application
    ``moto.server`` exports, werkzeug's ``make_server``), not by overriding a private method of its threaded server.
    """

    def __init__(self, host: str, port: int) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        from overage_local import moto_speed

        moto_speed.apply()

        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: Any, start_response: Any) -> Any:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(host, port, serialized, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)


def start_local_stack(
    port: int = DEFAULT_PORT, template: LocalTemplate | None = None, *, verbose: bool = False, host: str = HOST
) -> tuple[Any, str]:
    """Start a moto server on ``host``:``port`` (0: any free port) and, given a template, create its
    resources in it. Returns ``(server, endpoint_url)``; stop the server with ``server.stop()``.

    ``host`` 0.0.0.0 (``overage local up --host``) listens on every interface, so that Docker containers
    (``sam local``) reach it through host.docker.internal; the endpoint URL then names 127.0.0.1.
    """
    ensure_port_free(port, host)
    # werkzeug logs every request at INFO; a level set before the first request keeps it quiet.
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    server = SerializedMotoServer(host, port)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    if bound_host in ("0.0.0.0", "::", ""):  # noqa: S104 - compared with, not bound to  # nosec B104
        bound_host = HOST  # every interface: this machine reaches it on the loopback
    endpoint_url = f"http://{bound_host}:{bound_port}"
    try:
        _wait_until_answering(endpoint_url)
        if template is not None:
            template.create_resources(endpoint_url=endpoint_url)
    except BaseException:
        server.stop()
        raise
    return server, endpoint_url


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            previous[stop_signal] = signal.signal(stop_signal, request_stop)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for stop_signal, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(stop_signal, handler)


def run_local_up(template: LocalTemplate, port: int = DEFAULT_PORT, *, verbose: bool = False, host: str = HOST) -> int:
    """The blocking ``overage local up``: serve until stopped; 0 on a clean stop."""
    server, endpoint_url = start_local_stack(port, template=None, verbose=verbose, host=host)
    try:
        created = template.create_resources(endpoint_url=endpoint_url)
        print(f"moto server on {endpoint_url} with the resources of {template.root / 'template.yaml'}:")
        width = max((len(kind) for kind, _, _ in created), default=0)
        for kind, logical_id, physical_id in created:
            print(f"  {kind:<{width}}  {logical_id:<32} {physical_id}")
        print("\nUse it from another shell:")
        print(f"  export AWS_ENDPOINT_URL={endpoint_url} AWS_DEFAULT_REGION={template.region}")
        credentials = " ".join(f"{key}={value}" for key, value in FAKE_CREDENTIALS.items())
        print(f"  export {credentials}")
        print("  overage invoke <LogicalId> -e events/<file>.json")
        print("  overage local api")
        if host != HOST:
            port_text = endpoint_url.rsplit(":", 1)[-1]
            print(f"Listening on {host}:{port_text}: sam local's containers reach it as http://host.docker.internal:")
            print(f"{port_text} (on Linux: --add-host=host.docker.internal:host-gateway; samconfig.toml passes it):")
            print("  sam local invoke <LogicalId> -e events/<file>.json --env-vars env.local.json")
        print("Ctrl-C stops it (everything lives in memory and is gone afterwards).", flush=True)
        wait_for_stop()
    finally:
        server.stop()
    print("moto server stopped.", file=sys.stderr)
    return 0
