"""Each function's settings model against the environment template.yaml gives it: every variable the model requires
is there and valid, and nothing the template sets for the function is left unread by its model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from overage.runtime.config import FUNCTION_SETTINGS, Settings, function_settings
from overage.runtime.config.webhook import WebhookSettings
from overage_local.template import LocalTemplate
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
# Read by Powertools or the runtime, not by our models.
NOT_OURS = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "PYDANTIC_DISABLE_PLUGINS",
}


@pytest.fixture(scope="module")
def template() -> LocalTemplate:
    return LocalTemplate.from_file(ROOT / "template.yaml")


def aliases(model: type[Settings]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize("logical_id", sorted(FUNCTION_SETTINGS))
def test_each_function_environment_validates_against_its_own_model(template: LocalTemplate, logical_id: str) -> None:
    environment = template.function_environment(logical_id)
    model = function_settings(logical_id)
    settings = model.from_env(environment)
    # every required field came from the template, not from a default
    for name, field in model.model_fields.items():
        if field.is_required():
            assert getattr(settings, name) not in ("", None), (logical_id, name)  # 0 is a value (a delay)
    # and what the template sets for this function alone (beyond Globals), its model reads
    own = set(environment) - _globals(template)
    assert own - aliases(model) - NOT_OURS == set(), logical_id


def _globals(template: LocalTemplate) -> set[str]:
    return set(template.data["Globals"]["Function"]["Environment"]["Variables"])


def test_every_function_of_the_template_has_a_settings_model(template: LocalTemplate) -> None:
    functions = {k for k, v in template.data["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions == set(FUNCTION_SETTINGS)


def test_a_missing_or_empty_required_variable_fails_naming_it(template: LocalTemplate) -> None:
    environment = template.function_environment("CrmWebhookFunction")
    for name in ("WEBHOOK_SECRET_PARAMETER", "IDEMPOTENCY_TABLE", "LEDGER_TABLE"):
        for broken in ({k: v for k, v in environment.items() if k != name}, {**environment, name: ""}):
            with pytest.raises(ValidationError, match=name):
                WebhookSettings.from_env(broken)


def test_current_parses_once_per_environment(monkeypatch: pytest.MonkeyPatch, template: LocalTemplate) -> None:
    for name, value in template.function_environment("CrmWebhookFunction").items():
        monkeypatch.setenv(name, value)
    first = WebhookSettings.current()
    assert WebhookSettings.current() is first
    monkeypatch.setenv("IDEMPOTENCY_TTL_DAYS", "7")
    changed = WebhookSettings.current()
    assert (changed is not first, changed.idempotency_ttl_days) == (True, 7)


@pytest.mark.parametrize("logical_id", sorted(FUNCTION_SETTINGS))
def test_a_function_imports_its_own_settings_model_and_no_other(template: LocalTemplate, logical_id: str) -> None:
    """Nothing imported that a function does not call (issue 20): its handler's import brings the settings module of
    its own model only, so the other functions' classes are never built in its container."""
    module, _ = FUNCTION_SETTINGS[logical_id]
    loaded = _modules_after_import(template, logical_id)
    assert [m for m in loaded if m.startswith("overage.runtime.config.")] == [f"overage.runtime.config.{module}"]


@pytest.mark.parametrize("logical_id", sorted(FUNCTION_SETTINGS))
def test_boto3_is_loaded_by_the_webhook_only_and_there_before_pydantic_and_the_event_handler(
    template: LocalTemplate, logical_id: str
) -> None:
    """The webhook imports boto3 first (it takes 50-80 ms less CPU than boto3 arriving late through the idempotency
    utility, issue 20); the scheduled functions call DynamoDB through botocore and must not load boto3 at all."""
    loaded = _modules_after_import(template, logical_id)
    if logical_id != "CrmWebhookFunction":
        assert "boto3" not in loaded
        return
    assert loaded.index("boto3") < loaded.index("pydantic")
    assert loaded.index("boto3") < loaded.index("aws_lambda_powertools.event_handler")


def _modules_after_import(template: LocalTemplate, logical_id: str) -> list[str]:
    """sys.modules, in import order, after a fresh process imports the function's handler from its own folder."""
    code = template.function_code(logical_id)
    script = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(code.code_dir)!r}, {str(ROOT / 'layers' / 'overage')!r}]\n"
        f"import {code.module}\n"
        "print(json.dumps(list(sys.modules)))\n"
    )
    environment = {**os.environ, **template.function_environment(logical_id), "AWS_DEFAULT_REGION": "eu-west-1"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=False, cwd=code.code_dir
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return names
