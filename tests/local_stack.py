"""The local stack as the HTTP tests drive it: `overage local up` and `overage local api` in processes on free
127.0.0.1 ports, a signed client, and throwaway SAM projects for the local runner's own tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SECRET = "http-test-secret"
OVERAGE = [sys.executable, "-m", "overage_local.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early: {process.stdout.read().decode() if process.stdout else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on {port}")


@dataclass
class Stack:
    endpoint_url: str
    api_url: str
    env: dict[str, str]

    def post(self, raw: bytes, signature: str | None) -> tuple[int, dict]:
        request = urllib.request.Request(f"{self.api_url}/webhooks/crm", data=raw, method="POST")
        request.add_header("Content-Type", "application/json")
        if signature is not None:
            request.add_header("Overage-Signature", signature)
        return self._send(request)

    def get(self, path: str) -> tuple[int, dict]:
        return self._send(urllib.request.Request(f"{self.api_url}{path}"))

    @staticmethod
    def _send(request: urllib.request.Request) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def send(self, body: dict | bytes, *, secret: str = SECRET, timestamp: int | None = None) -> tuple[int, dict]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        t = timestamp if timestamp is not None else int(time.time())
        digest = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
        return self.post(raw, f"t={t},v1={digest}")


def write_project(root: Path, template: str, functions: dict[str, str]) -> Path:
    """A throwaway SAM project: template.yaml plus functions/<dir>/app.py for each entry."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "template.yaml").write_text(textwrap.dedent(template))
    for folder, source in functions.items():
        code_dir = root / "functions" / folder
        code_dir.mkdir(parents=True, exist_ok=True)
        (code_dir / "app.py").write_text(textwrap.dedent(source))
    return root / "template.yaml"


API_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Layers: [!Ref SharedLayer]
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/shared}
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: v1}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo
      Handler: app.lambda_handler
      Events:
        Account:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/accounts/{id}", Method: GET}
        Literal:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /accounts/me, Method: GET}
        Anything:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/files/{proxy+}", Method: ANY}
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/boom
      Handler: app.lambda_handler
      Events:
        Boom:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /boom, Method: POST}
"""

ECHO_APP = """
import base64, json
from helpers import tag
from local_runner_shared_layer import greeting

def lambda_handler(event, context):
    if event["path"].endswith(".bin"):
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\\x00\\xff").decode(), "isBase64Encoded": True}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json", "X-Tag": tag(), "X-Layer": greeting()},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": json.dumps(event)}
"""

BOOM_APP = """
from helpers import tag

def lambda_handler(event, context):
    raise ValueError(tag())
"""
