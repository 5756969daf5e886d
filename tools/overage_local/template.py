"""Read ``template.yaml`` and turn it into a local world: names, environments, code paths and resources.

The local runner never keeps its own list of tables, queues or variables: everything comes from the SAM
template, so what runs locally cannot drift from what deploys. Intrinsic functions are resolved the way
CloudFormation would, with a fixed account, region and stack name, and deterministic physical names:

* S3 buckets: ``overage-local-<logicalid-lowercased>`` (bucket names must be lowercase);
* everything else: ``overage-local-<LogicalId>`` (``.fifo`` appended for FIFO queues and topics);
* a resource with an explicit name property (``TableName``, ``QueueName``, ...) keeps that name.

PyYAML is a local-only dependency; this module is never imported by a Lambda handler.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import yaml

TEMPLATE_FILE = "template.yaml"
STACK_NAME = "overage-local"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
DEFAULT_REGION = "eu-west-1"
DEFAULT_WEBHOOK_SECRET = "local-dev-secret"  # noqa: S105 - a published local-only default  # nosec B105
WEBHOOK_SECRET_ENV = "OVERAGE_WEBHOOK_SECRET"  # noqa: S105 - an environment variable's name  # nosec B105
WEBHOOK_SECRET_PARAMETER = "WebhookSecretParameterName"  # noqa: S105 - a template parameter name  # nosec B105
SENDER_EMAIL_PARAMETER = "SenderEmail"
DEFAULT_FEEDBACK_SECRET = "local-feedback-secret"  # noqa: S105 - a published local-only default  # nosec B105
FEEDBACK_SECRET_ENV = "OVERAGE_FEEDBACK_SECRET"  # noqa: S105 - an environment variable's name  # nosec B105
FEEDBACK_SECRET_PARAMETER = "FeedbackSecretParameterName"  # noqa: S105 - a template parameter name  # nosec B105
# Template parameters a local run gives another default (an override still wins): the local runner delivers a queue's
# messages at once, so it does not wait out a message's delay (SQS DelaySeconds) either, as it does not wait out a
# visibility timeout: a fair-use run's closing message looks again at once.
LOCAL_PARAMETER_DEFAULTS = {"FairUseCloseDelaySeconds": "0"}
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # moto's  # nosec B105

FUNCTION_TYPES = frozenset({"AWS::Serverless::Function"})
QUEUE_TYPE = "AWS::SQS::Queue"
BUCKET_TYPE = "AWS::S3::Bucket"


class LocalError(Exception):
    """A problem the local runner reports to the developer in one line (the CLI exits 2)."""


class TemplateError(LocalError):
    """template.yaml is missing, unreadable, or uses something the local runner cannot resolve."""


class UnknownFunction(LocalError):
    """A logical id that is not an ``AWS::Serverless::Function`` of the template."""

    def __init__(self, logical_id: str, known: list[str]) -> None:
        super().__init__(
            f"unknown function {logical_id!r}; the template defines: {', '.join(known) or '(no functions)'}"
        )
        self.logical_id = logical_id
        self.known = known


class PortInUse(LocalError):
    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use; stop what uses it or pass --port")
        self.port = port


class EndpointUnreachable(LocalError):
    def __init__(self, endpoint_url: str) -> None:
        super().__init__(f"cannot reach {endpoint_url}: is `overage local up` running?")
        self.endpoint_url = endpoint_url


class SqsEventSource(NamedTuple):
    """One SQS event source mapping: which function consumes which queue, and how."""

    function_id: str
    queue_id: str
    batch_size: int
    report_batch_item_failures: bool


class FunctionCode(NamedTuple):
    """Where a function's handler lives: ``(code_dir, module, attribute)``."""

    code_dir: Path
    module: str
    attribute: str

    @property
    def module_file(self) -> Path:
        return self.code_dir / (self.module.replace(".", "/") + ".py")


# --------------------------------------------------------------------------------------------- loading


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder holding template.yaml, from ``start`` (default: the working directory) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / TEMPLATE_FILE).is_file():
            return folder
    raise TemplateError(f"no {TEMPLATE_FILE} in {here} or any parent folder; run from the project or pass --template")


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form tags and keeps dates as strings."""


# CloudFormation reads unquoted dates as strings; YAML 1.1 would make them datetime objects.
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SHORT_TAGS = {"Ref": "Ref", "Condition": "Condition"}


def _construct_short_form(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _SHORT_TAGS.get(tag_suffix, f"Fn::{tag_suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            resource, _, attribute = str(value).partition(".")
            if not attribute:
                raise TemplateError(f"!GetAtt {value!r} must be 'Resource.Attribute'")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct_short_form)


def load_template(path: Path | str) -> dict[str, Any]:
    """The template as plain data, short-form tags in long form (``{"Ref": ...}``, ``{"Fn::Sub": ...}``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"{path}: no such template file") from None
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc.strerror}") from None
    return parse_template(text, source=str(path))


def parse_template(text: str, source: str = "<template>") -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - _CfnLoader is a SafeLoader  # nosec B506
    except yaml.YAMLError as exc:
        raise TemplateError(f"{source}: invalid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{source}: not a CloudFormation template (no Resources section)")
    return data


# --------------------------------------------------------------------------------------------- resolving

_NO_VALUE = object()  # what ``Ref AWS::NoValue`` resolves to before its key or list item is dropped
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

# Properties that carry a resource's name when the template sets one explicitly.
_NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::SES::ConfigurationSet": "Name",
}

# What the local runner supports, checked when a template is loaded (``check_supported``): anything else is named in
# a TemplateError with where it is, instead of being half-understood. For each resource type, the properties it
# knows: those the local world reads (names, keys, queue attributes, code, environment, events) and those that only
# matter in AWS and are safely ignored here (encryption, IAM, retries, tracing). ``None``: a resource the local world
# never creates or reads (alarms, keys, policies), so its properties do not matter locally.
_FUNCTION_PROPERTIES = frozenset(
    {
        # read locally
        "CodeUri",
        "Handler",
        "Environment",
        "Events",
        "Layers",
        "Timeout",
        "MemorySize",
        "FunctionName",
        # AWS-only (IAM, deployment, observability)
        "Runtime",
        "Architectures",
        "Tracing",
        "Description",
        "Policies",
        "EventInvokeConfig",
        "LoggingConfig",
    }
)
# The queue attributes the local world passes to CreateQueue, and so the queue properties the reader supports.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)

SUPPORTED_RESOURCES: dict[str, frozenset[str] | None] = {
    "AWS::Serverless::Function": _FUNCTION_PROPERTIES,
    "AWS::Serverless::LayerVersion": frozenset(
        {"ContentUri", "LayerName", "Description", "CompatibleRuntimes", "CompatibleArchitectures", "RetentionPolicy"}
    ),
    "AWS::Serverless::Api": frozenset(
        {"StageName", "Auth", "MethodSettings", "TracingEnabled", "Description", "OpenApiVersion"}
    ),
    "AWS::Serverless::HttpApi": frozenset({"StageName", "Auth", "Description"}),
    "AWS::DynamoDB::Table": frozenset(
        {
            "TableName",
            "BillingMode",
            "AttributeDefinitions",
            "KeySchema",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "ProvisionedThroughput",
            "StreamSpecification",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
            "SSESpecification",
            "DeletionProtectionEnabled",
            "Tags",
        }
    ),
    "AWS::Serverless::SimpleTable": frozenset({"TableName", "PrimaryKey", "Tags"}),
    "AWS::SQS::Queue": frozenset({"QueueName", *_QUEUE_ATTRIBUTES, "SqsManagedSseEnabled", "Tags"}),
    "AWS::S3::Bucket": frozenset(
        {
            "BucketName",
            "VersioningConfiguration",
            "BucketEncryption",
            "LifecycleConfiguration",
            "OwnershipControls",
            "PublicAccessBlockConfiguration",
            "Tags",
        }
    ),
    "AWS::Events::EventBus": frozenset({"Name"}),
    "AWS::SNS::Topic": frozenset(
        {"TopicName", "FifoTopic", "ContentBasedDeduplication", "DisplayName", "KmsMasterKeyId"}
    ),
    "AWS::SSM::Parameter": frozenset({"Name", "Type", "Value", "Description"}),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName", "RetentionInDays"}),
    # Created locally (SES v2 configuration set, its SNS event destination through the SES v1 API moto speaks).
    "AWS::SES::ConfigurationSet": frozenset(
        {
            "Name",
            "ReputationOptions",
            "SendingOptions",
            "DeliveryOptions",
            "TrackingOptions",
            "SuppressionOptions",
            "VdmOptions",
        }
    ),
    "AWS::SES::ConfigurationSetEventDestination": frozenset({"ConfigurationSetName", "EventDestination"}),
    "AWS::Lambda::EventSourceMapping": frozenset(
        {"FunctionName", "EventSourceArn", "BatchSize", "FunctionResponseTypes", "Enabled", "ScalingConfig"}
    ),
    # Never created or read locally: their properties only matter in AWS.
    "AWS::CloudWatch::Alarm": None,
    "AWS::KMS::Key": None,
    "AWS::S3::BucketPolicy": None,
    "AWS::SQS::QueuePolicy": None,
    "AWS::SES::EmailIdentity": None,
    "AWS::SNS::Subscription": None,
    "AWS::SNS::TopicPolicy": None,
}
# SNS: the topic's subscription is created locally (protocol lambda, the function's local ARN); nothing delivers to
# it there, a test or `overage invoke` hands the function its SNS event.
SUPPORTED_EVENT_TYPES = frozenset({"SQS", "SNS", "Schedule", "ScheduleV2", "Api", "HttpApi"})
SUPPORTED_GLOBALS = {"Function": _FUNCTION_PROPERTIES, "Api": SUPPORTED_RESOURCES["AWS::Serverless::Api"]}
SUPPORTED_SECTIONS = frozenset(
    {
        "AWSTemplateFormatVersion",
        "Transform",
        "Description",
        "Metadata",
        "Parameters",
        "Mappings",
        "Conditions",
        "Globals",
        "Resources",
        "Outputs",
    }
)
SUPPORTED_TRANSFORMS = frozenset({"AWS::Serverless-2016-10-31"})
# Resolved as CloudFormation would (LocalTemplate._intrinsics); Fn::ImportValue, Fn::GetAZs, Fn::Cidr and the
# language extensions have no honest local value and are refused.
INTRINSIC_FUNCTIONS = frozenset(
    {
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::If",
        "Fn::Equals",
        "Fn::Not",
        "Fn::And",
        "Fn::Or",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::Base64",
    }
)

# Resource types whose ``Ref`` is their ARN rather than their name.
_REF_IS_ARN = frozenset({"AWS::SNS::Topic", "AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"})


def check_supported(data: Mapping[str, Any], source: str = TEMPLATE_FILE) -> None:
    """Raise a TemplateError naming the first section, transform, resource type, property, event type or intrinsic
    function of ``data`` the local runner does not support, and where it is (``Resources.X.Properties.Y``)."""

    def fail(where: str, what: str, supported: Any) -> NoReturn:
        known = ", ".join(sorted(supported))
        raise TemplateError(f"{source}: {where}: {what} is not supported by the local runner (it supports: {known})")

    for section in data:
        if section not in SUPPORTED_SECTIONS:
            fail(section, f"template section {section!r}", SUPPORTED_SECTIONS)
    transforms = data.get("Transform") or []
    for transform in [transforms] if isinstance(transforms, str) else transforms:
        if transform not in SUPPORTED_TRANSFORMS:
            fail("Transform", f"transform {transform!r}", SUPPORTED_TRANSFORMS)
    for name, settings in (data.get("Globals") or {}).items():
        allowed = SUPPORTED_GLOBALS.get(name)
        if allowed is None:
            fail(f"Globals.{name}", f"Globals section {name!r}", SUPPORTED_GLOBALS)
        for key in settings or {}:
            if key not in allowed:
                fail(f"Globals.{name}.{key}", f"property {key!r} in Globals.{name}", SUPPORTED_GLOBALS[name])
    for logical_id, resource in (data.get("Resources") or {}).items():
        where = f"Resources.{logical_id}"
        kind = str(resource.get("Type")) if isinstance(resource, dict) else None
        if kind is None or kind not in SUPPORTED_RESOURCES:
            fail(f"{where}.Type", f"resource type {kind!r}", SUPPORTED_RESOURCES)
        known = SUPPORTED_RESOURCES[kind]
        properties = resource.get("Properties") or {}
        for key in properties:
            if known is not None and key not in known:
                fail(f"{where}.Properties.{key}", f"property {key!r} of {kind}", known)
        for event_name, event in (properties.get("Events") or {}).items() if known is _FUNCTION_PROPERTIES else ():
            event_type = event.get("Type") if isinstance(event, dict) else None
            if event_type not in SUPPORTED_EVENT_TYPES:
                fail(
                    f"{where}.Properties.Events.{event_name}.Type", f"event type {event_type!r}", SUPPORTED_EVENT_TYPES
                )
    for section in ("Conditions", "Globals", "Resources", "Outputs"):
        _check_intrinsics(data.get(section), section, fail)


def _check_intrinsics(value: Any, where: str, fail: Callable[[str, str, Any], NoReturn]) -> None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_intrinsics(item, f"{where}[{index}]", fail)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("Fn::") and key not in INTRINSIC_FUNCTIONS:
                fail(f"{where}.{key}", f"intrinsic function {key!r}", INTRINSIC_FUNCTIONS)
            _check_intrinsics(item, f"{where}.{key}", fail)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class LocalTemplate:
    """A SAM template resolved for a local run.

    ``endpoint_url`` is where the AWS emulation answers (a moto server), or ``None`` inside moto's
    in-process mock; it only matters for values that embed an endpoint, such as an SQS queue URL.
    """

    def __init__(
        self,
        data: dict[str, Any],
        root: Path | str,
        *,
        parameter_overrides: Mapping[str, Any] | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        source: str = TEMPLATE_FILE,
        env_vars: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.data = data
        self.root = Path(root).resolve()
        self.parameter_overrides = dict(parameter_overrides or {})
        self.region = region or default_region()
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        # sam's --env-vars: {"<LogicalId>": {...}, "Parameters": {...}} over the template's variables
        self.env_vars = {str(name): dict(section) for name, section in (env_vars or {}).items()}
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        check_supported(data, source)
        unknown = set(self.parameter_overrides) - set(self.parameters)
        if unknown:
            raise TemplateError(f"parameter override for unknown parameter(s): {', '.join(sorted(unknown))}")

    # ---- construction

    @classmethod
    def from_file(cls, path: Path | str | None = None, **kwargs: Any) -> LocalTemplate:
        """Load ``path`` (default: template.yaml of the project around the working directory)."""
        template_path = Path(path) if path is not None else find_project_root() / TEMPLATE_FILE
        kwargs.setdefault("source", str(template_path))
        return cls(load_template(template_path), template_path.resolve().parent, **kwargs)

    @classmethod
    def from_string(cls, text: str, root: Path | str, **kwargs: Any) -> LocalTemplate:
        return cls(parse_template(text), root, **kwargs)

    def for_endpoint(self, endpoint_url: str | None) -> LocalTemplate:
        """The same template resolved against another endpoint (shares the parsed data)."""
        twin = copy.copy(self)
        twin.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        return twin

    # ---- sections

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Parameters") or {})

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Resources") or {})

    @property
    def globals_function(self) -> dict[str, Any]:
        return dict((self.data.get("Globals") or {}).get("Function") or {})

    def resource(self, logical_id: str) -> dict[str, Any]:
        try:
            return dict(self.resources[logical_id])
        except KeyError:
            raise TemplateError(f"no resource {logical_id!r} in the template") from None

    def resource_type(self, logical_id: str) -> str:
        return str(self.resource(logical_id).get("Type", ""))

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resource(logical_id).get("Properties") or {})

    def is_active(self, logical_id: str) -> bool:
        """False when the resource carries a ``Condition`` that evaluates to false."""
        condition = self.resource(logical_id).get("Condition")
        return condition is None or self.condition(str(condition))

    def resources_of_type(self, *types: str) -> list[str]:
        return [
            logical_id
            for logical_id, resource in self.resources.items()
            if resource.get("Type") in types and self.is_active(logical_id)
        ]

    # ---- parameters and conditions

    def parameter_value(self, name: str) -> Any:
        if name not in self.parameters:
            raise TemplateError(f"no parameter {name!r} in the template")
        spec = self.parameters[name] or {}
        if name in self.parameter_overrides:
            value = self.parameter_overrides[name]
        elif name in LOCAL_PARAMETER_DEFAULTS:
            value = LOCAL_PARAMETER_DEFAULTS[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name!r} has no Default; pass a value for it")
        kind = str(spec.get("Type", "String"))
        if (kind == "CommaDelimitedList" or kind.startswith("List<")) and isinstance(value, str):
            return [item.strip() for item in value.split(",")] if value else []
        return value if isinstance(value, list) else _as_text(value)

    def has_parameter(self, name: str) -> bool:
        return name in self.parameters

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.data.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"no condition {name!r} in the template")
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._boolean(conditions[name])
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def _boolean(self, expression: Any) -> bool:
        if isinstance(expression, dict) and list(expression) == ["Condition"]:
            return self.condition(str(expression["Condition"]))
        value = self.resolve(expression)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TemplateError(f"not a condition: {expression!r}")

    # ---- names and ARNs

    def physical_id(self, logical_id: str) -> str:
        """The name a resource gets locally (what ``Ref`` returns for tables, buckets, buses, parameters)."""
        resource_type = self.resource_type(logical_id)
        name_property = _NAME_PROPERTY.get(resource_type)
        if name_property:
            explicit = self.resolve(self.properties(logical_id).get(name_property))
            if isinstance(explicit, str) and explicit:
                return explicit
        properties = self.properties(logical_id)
        if resource_type == BUCKET_TYPE:
            return f"{STACK_NAME}-{logical_id.lower()}"[:63]
        name = f"{STACK_NAME}-{logical_id}"
        if resource_type == QUEUE_TYPE and _truthy(self.resolve(properties.get("FifoQueue"))):
            name = name[:75] + ".fifo"
        elif resource_type == "AWS::SNS::Topic" and _truthy(self.resolve(properties.get("FifoTopic"))):
            name += ".fifo"
        elif resource_type == QUEUE_TYPE:
            name = name[:80]
        return name

    def queue_url(self, logical_id: str) -> str:
        name = self.physical_id(logical_id)
        if self.endpoint_url:
            return f"{self.endpoint_url}/{ACCOUNT_ID}/{name}"
        return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{name}"

    def arn(self, logical_id: str) -> str:
        resource_type = self.resource_type(logical_id)
        name = self.physical_id(logical_id)
        region, account = self.region, ACCOUNT_ID
        by_type = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            "AWS::Serverless::SimpleTable": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{region}:{account}:event-bus/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{name}",
            "AWS::SSM::Parameter": f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::Serverless::LayerVersion": f"arn:aws:lambda:{region}:{account}:layer:{name}:1",
            "AWS::Lambda::LayerVersion": f"arn:aws:lambda:{region}:{account}:layer:{name}:1",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
            "AWS::Scheduler::Schedule": f"arn:aws:scheduler:{region}:{account}:schedule/default/{name}",
            "AWS::Scheduler::ScheduleGroup": f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{region}:{account}:stateMachine:{name}",
            "AWS::Serverless::StateMachine": f"arn:aws:states:{region}:{account}:stateMachine:{name}",
        }
        if resource_type in by_type:
            return by_type[resource_type]
        parts = resource_type.split("::")
        service = parts[1].lower() if len(parts) > 2 else "unknown"
        kind = parts[-1].lower()
        return f"arn:aws:{service}:{region}:{account}:{kind}/{name}"

    def ref(self, logical_id: str) -> Any:
        """What ``Ref`` of a resource returns locally."""
        resource_type = self.resource_type(logical_id)
        if resource_type == QUEUE_TYPE:
            return self.queue_url(logical_id)
        if resource_type in _REF_IS_ARN:
            return self.arn(logical_id)
        if resource_type in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi", "AWS::ApiGateway::RestApi"):
            return _fake_api_id(logical_id)
        return self.physical_id(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            return self._implicit_get_att(logical_id, attribute)
        resource_type = self.resource_type(logical_id)
        name = self.physical_id(logical_id)
        region = self.region
        if attribute in ("Arn", "TopicArn", "QueueArn"):
            return self.arn(logical_id)
        if attribute in ("Name", "TopicName", "QueueName"):
            return name
        if attribute == "QueueUrl":
            return self.queue_url(logical_id)
        if attribute == "StreamArn":
            return f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000"
        if resource_type == BUCKET_TYPE and attribute == "DomainName":
            return f"{name}.s3.amazonaws.com"
        if resource_type == BUCKET_TYPE and attribute == "RegionalDomainName":
            return f"{name}.s3.{region}.amazonaws.com"
        if resource_type == BUCKET_TYPE and attribute == "WebsiteURL":
            return f"http://{name}.s3-website.{region}.amazonaws.com"
        if attribute == "RootResourceId":
            return "rootresource"
        if attribute.endswith("Arn"):
            return self.arn(logical_id)
        return f"{name}.{attribute}"

    def _implicit_get_att(self, logical_id: str, attribute: str) -> Any:
        """Resources SAM generates (``<Function>Role``, ``ServerlessRestApi``) resolve to plausible values."""
        if not self._is_sam_generated(logical_id):
            raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id!r}")
        if logical_id.endswith("Role") and attribute == "Arn":
            return f"arn:aws:iam::{ACCOUNT_ID}:role/{STACK_NAME}-{logical_id}"
        return f"{STACK_NAME}-{logical_id}.{attribute}"

    def _is_sam_generated(self, logical_id: str) -> bool:
        if logical_id in ("ServerlessRestApi", "ServerlessHttpApi", "ServerlessDeploymentBucket"):
            return True
        return any(logical_id.startswith(known) and logical_id != known for known in self.resources)

    # ---- intrinsic functions

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function in ``value``; ``Ref AWS::NoValue`` drops its key or list item."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self._resolve(item) for item in value)
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            handler = self._intrinsics().get(key)
            # {"Condition": <name>} is a condition reference; other one-key "Condition" maps (IAM) are data.
            if handler is not None and (key != "Condition" or isinstance(argument, str)):
                return handler(argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._fn_ref,
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::If": self._fn_if,
            "Fn::Equals": self._fn_equals,
            "Fn::Not": lambda argument: not self._boolean(self._single(argument, "Fn::Not")),
            "Fn::And": lambda argument: all(self._boolean(item) for item in argument),
            "Fn::Or": lambda argument: any(self._boolean(item) for item in argument),
            "Condition": lambda argument: self.condition(str(argument)),
            "Fn::Join": self._fn_join,
            "Fn::Select": self._fn_select,
            "Fn::Split": self._fn_split,
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::Base64": self._fn_base64,
        }

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(_as_text(self._resolve(argument)).encode()).decode()

    @staticmethod
    def _single(argument: Any, function: str) -> Any:
        if isinstance(argument, list):
            if len(argument) != 1:
                raise TemplateError(f"{function} takes exactly one argument")
            return argument[0]
        return argument

    def _pseudo(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{STACK_NAME}/"
                "00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name not in pseudo:
            raise TemplateError(f"unknown pseudo parameter {name!r}")
        return pseudo[name]

    def _fn_ref(self, argument: Any) -> Any:
        name = self._resolve(argument)
        if not isinstance(name, str):
            raise TemplateError(f"Ref takes a name, not {argument!r}")
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.parameters:
            return self.parameter_value(name)
        if name in self.resources:
            return self.ref(name)
        if self._is_sam_generated(name):
            return f"{STACK_NAME}-{name}"
        raise TemplateError(f"Ref to unknown parameter or resource {name!r}")

    def _fn_get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        parts = self._resolve(argument)
        if not isinstance(parts, list) or len(parts) != 2:
            raise TemplateError(f"Fn::GetAtt takes [Resource, Attribute], not {argument!r}")
        return self.get_att(str(parts[0]), str(parts[1]))

    def _fn_sub(self, argument: Any) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, list):
            if len(argument) != 2:
                raise TemplateError("Fn::Sub takes a string or [string, {variables}]")
            text, raw_variables = argument
            variables = {key: self._resolve(item) for key, item in (raw_variables or {}).items()}
        else:
            text = argument
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub needs a string, not {text!r}")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_text(variables[name])
            if name.startswith("AWS::"):
                return _as_text(self._pseudo(name))
            if "." in name and name not in self.parameters:
                resource, attribute = name.split(".", 1)
                return _as_text(self.get_att(resource, attribute))
            return _as_text(self._fn_ref(name))

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_if(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError(f"Fn::If takes [condition, value if true, value if false], not {argument!r}")
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(str(name)) else when_false)

    def _fn_equals(self, argument: Any) -> bool:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"Fn::Equals takes two values, not {argument!r}")
        left, right = (self._resolve(item) for item in argument)
        if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
            return bool(left == right)
        return _as_text(left) == _as_text(right)

    def _fn_join(self, argument: Any) -> str:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"Fn::Join takes [delimiter, [values]], not {argument!r}")
        delimiter, values = self._resolve(argument[0]), self._resolve(argument[1])
        if not isinstance(values, list):
            raise TemplateError(f"Fn::Join needs a list of values, not {values!r}")
        return str(delimiter).join(_as_text(item) for item in values)

    def _fn_select(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"Fn::Select takes [index, [values]], not {argument!r}")
        index, values = int(self._resolve(argument[0])), self._resolve(argument[1])
        if not isinstance(values, list) or not 0 <= index < len(values):
            raise TemplateError(f"Fn::Select index {index} is out of range")
        return values[index]

    def _fn_split(self, argument: Any) -> list[str]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"Fn::Split takes [delimiter, string], not {argument!r}")
        delimiter, text = (self._resolve(item) for item in argument)
        return str(text).split(str(delimiter))

    def _fn_find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) < 3:
            raise TemplateError(f"Fn::FindInMap takes [map, top key, second key], not {argument!r}")
        map_name, top, second = (self._resolve(item) for item in argument[:3])
        try:
            return self.data["Mappings"][map_name][top][second]
        except (KeyError, TypeError):
            if len(argument) > 3 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
                return self._resolve(argument[3]["DefaultValue"])
            raise TemplateError(f"Fn::FindInMap: no {map_name}/{top}/{second} in Mappings") from None

    # ---- functions

    def function_ids(self) -> list[str]:
        return self.resources_of_type(*FUNCTION_TYPES)

    def require_function(self, logical_id: str) -> None:
        if logical_id not in self.function_ids():
            raise UnknownFunction(logical_id, self.function_ids())

    def function_setting(self, logical_id: str, name: str, default: Any = None) -> Any:
        """A function property, falling back to Globals.Function, resolved."""
        properties = self.properties(logical_id)
        if name in properties:
            return self.resolve(properties[name])
        if name in self.globals_function:
            return self.resolve(self.globals_function[name])
        return default

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals.Function.Environment.Variables merged with the function's own (the function wins)."""
        self.require_function(logical_id)
        merged: dict[str, Any] = {}
        for source in (self.globals_function, self.properties(logical_id)):
            variables = ((source.get("Environment") or {}).get("Variables")) or {}
            merged.update(variables)
        resolved = self.resolve(merged) or {}
        environment = {str(key): _as_text(value) for key, value in resolved.items() if value is not None}
        # As sam local: an --env-vars file overrides the variables the template declares, never adds others;
        # "Parameters" applies to every function, the function's own section wins.
        for section in (self.env_vars.get("Parameters") or {}, self.env_vars.get(logical_id) or {}):
            environment.update({key: value for key, value in section.items() if key in environment})
        return environment

    def function_code(self, logical_id: str) -> FunctionCode:
        """(folder of the code, module name, handler attribute) from CodeUri and Handler."""
        self.require_function(logical_id)
        code_uri = self.function_setting(logical_id, "CodeUri")
        handler = self.function_setting(logical_id, "Handler")
        if not isinstance(code_uri, str) or not code_uri:
            raise TemplateError(f"{logical_id}: CodeUri must be a local folder, not {code_uri!r}")
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must look like 'app.lambda_handler', not {handler!r}")
        module, attribute = handler.rsplit(".", 1)
        code = FunctionCode((self.root / code_uri).resolve(), module.replace("/", "."), attribute)
        if not code.module_file.is_file():
            raise TemplateError(f"{logical_id}: handler module {code.module_file} does not exist")
        return code

    def function_layer_dirs(self, logical_id: str) -> list[Path]:
        """Folders of the template's own layers the function uses (Globals' layers first, as SAM merges them)."""
        folders: list[Path] = []
        for source in (self.globals_function, self.properties(logical_id)):
            for layer in source.get("Layers") or []:
                layer_id = layer.get("Ref") if isinstance(layer, dict) else None
                if not isinstance(layer_id, str) or layer_id not in self.resources:
                    continue  # a published layer (an ARN): nothing local to add
                content = self.resolve(self.properties(layer_id).get("ContentUri"))
                if isinstance(content, str) and (self.root / content).is_dir():
                    folders.append((self.root / content).resolve())
        return folders

    def function_name(self, logical_id: str) -> str:
        return self.physical_id(logical_id)

    def function_events(self, logical_id: str, *types: str) -> dict[str, dict[str, Any]]:
        """The function's ``Events`` (optionally only those of the given types), unresolved."""
        events = self.properties(logical_id).get("Events") or {}
        return {
            name: dict(event)
            for name, event in events.items()
            if isinstance(event, dict) and (not types or event.get("Type") in types)
        }

    def queue_id_for(self, value: Any) -> str:
        """The logical id of the queue a ``Queue:`` / ``EventSourceArn:`` value points at."""
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id = target.split(".", 1)[0] if isinstance(target, str) else target[0]
            if logical_id in self.resources and self.resource_type(logical_id) == QUEUE_TYPE:
                return str(logical_id)
        arn = self.resolve(value)
        for logical_id in self.resources_of_type(QUEUE_TYPE):
            if arn in (self.arn(logical_id), self.queue_url(logical_id)):
                return logical_id
        raise TemplateError(f"SQS event source {value!r} is not a queue of this template")

    def sqs_event_sources(self) -> list[SqsEventSource]:
        """Every SQS event source mapping: ``Events`` of Type SQS and ``AWS::Lambda::EventSourceMapping``."""
        sources: list[SqsEventSource] = []
        for function_id in self.function_ids():
            for event in self.function_events(function_id, "SQS").values():
                properties = event.get("Properties") or {}
                if "Enabled" in properties and not _truthy(_as_text(self.resolve(properties["Enabled"]))):
                    continue
                sources.append(self._event_source(function_id, properties, "Queue"))
        for mapping_id in self.resources_of_type("AWS::Lambda::EventSourceMapping"):
            properties = self.properties(mapping_id)
            target = properties.get("FunctionName")
            mapped_id = target.get("Ref") if isinstance(target, dict) else None
            arn = self.resolve(properties.get("EventSourceArn"))
            if mapped_id in self.function_ids() and isinstance(arn, str) and arn.startswith("arn:aws:sqs:"):
                sources.append(self._event_source(str(mapped_id), properties, "EventSourceArn"))
        return sources

    def _event_source(self, function_id: str, properties: dict[str, Any], queue_key: str) -> SqsEventSource:
        response_types = self.resolve(properties.get("FunctionResponseTypes")) or []
        return SqsEventSource(
            function_id=function_id,
            queue_id=self.queue_id_for(properties.get(queue_key)),
            batch_size=int(self.resolve(properties.get("BatchSize")) or 10),
            report_batch_item_failures="ReportBatchItemFailures" in response_types,
        )

    # ---- creating the local world

    def create_resources(
        self, session_or_factory: Any = None, endpoint_url: str | None = None
    ) -> list[tuple[str, str, str]]:
        """Create every stateful resource of the template (idempotently); see ``create_resources``."""
        return create_resources(self, session_or_factory, endpoint_url)


def _fake_api_id(logical_id: str) -> str:
    letters = "".join(ch for ch in logical_id.lower() if ch.isalnum())
    return (letters + "0000000000")[:10]


# --------------------------------------------------------------------------------------------- clients

ClientFactory = Callable[[str], Any]


def client_factory(endpoint_url: str | None, region: str) -> ClientFactory:
    """boto3 clients for ``endpoint_url`` (None: the default endpoints, i.e. moto's in-process mock).

    Fake credentials are used unless the environment has some, so a local run never needs real ones.
    """
    import boto3

    credentials: dict[str, str] = {}
    if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # for moto  # nosec B105
    session = boto3.session.Session(region_name=region, **credentials)

    def make(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    return make


def _as_factory(session_or_factory: Any, endpoint_url: str | None, region: str) -> ClientFactory:
    if session_or_factory is None:
        return client_factory(endpoint_url, region)
    if hasattr(session_or_factory, "client"):
        session = session_or_factory
        return lambda service: session.client(service, endpoint_url=endpoint_url, region_name=region)
    if callable(session_or_factory):
        return session_or_factory
    raise TypeError("session_or_factory must be a boto3 Session, a callable(service) -> client, or None")


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def webhook_secret() -> str:
    return os.environ.get(WEBHOOK_SECRET_ENV) or DEFAULT_WEBHOOK_SECRET


def feedback_secret() -> str:
    return os.environ.get(FEEDBACK_SECRET_ENV) or DEFAULT_FEEDBACK_SECRET


def create_resources(
    template: LocalTemplate, session_or_factory: Any = None, endpoint_url: str | None = None
) -> list[tuple[str, str, str]]:
    """Create the template's tables, queues (DLQs first), buckets, buses, topics (and the functions' SNS
    subscriptions), SES configuration sets with their event destinations and SSM parameters,
    the webhook secret (SSM SecureString named by ``WebhookSecretParameterName``, value from
    ``OVERAGE_WEBHOOK_SECRET`` or ``local-dev-secret``), the feedback links' key (SSM SecureString named by
    ``FeedbackSecretParameterName``, value from ``OVERAGE_FEEDBACK_SECRET`` or ``local-feedback-secret``) and the
    verified SES sender (``SenderEmail``).

    Idempotent: what exists already is left as is. Returns ``(type, logical id, physical id)`` per resource.
    ``endpoint_url`` None means "inside moto's in-process mock".
    """
    local = template.for_endpoint(endpoint_url)
    clients: dict[str, Any] = {}
    factory = _as_factory(session_or_factory, endpoint_url, local.region)

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = factory(service)
        return clients[service]

    created: list[tuple[str, str, str]] = []
    for logical_id in local.resources_of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
        _create_table(local, logical_id, client("dynamodb"))
        created.append((local.resource_type(logical_id), logical_id, local.physical_id(logical_id)))
    for logical_id in _queues_in_dependency_order(local):
        created.append((QUEUE_TYPE, logical_id, _create_queue(local, logical_id, client("sqs"))))
    for logical_id in local.resources_of_type(BUCKET_TYPE):
        _create_bucket(local, logical_id, client("s3"))
        created.append((BUCKET_TYPE, logical_id, local.physical_id(logical_id)))
    for logical_id in local.resources_of_type("AWS::Events::EventBus"):
        name = local.physical_id(logical_id)
        if name != "default":
            try:
                client("events").create_event_bus(Name=name)
            except Exception as exc:
                if _error_code(exc) != "ResourceAlreadyExistsException":
                    raise
        created.append(("AWS::Events::EventBus", logical_id, name))
    for logical_id in local.resources_of_type("AWS::SNS::Topic"):
        properties = local.resolve(local.properties(logical_id))
        attributes = {
            key: _as_text(properties[key])
            for key in ("FifoTopic", "ContentBasedDeduplication", "DisplayName")
            if key in properties
        }
        response = client("sns").create_topic(Name=local.physical_id(logical_id), Attributes=attributes)
        created.append(("AWS::SNS::Topic", logical_id, response["TopicArn"]))
    for function_id in local.function_ids():
        for event in local.function_events(function_id, "SNS").values():
            topic_arn = _as_text(local.resolve((event.get("Properties") or {}).get("Topic")))
            client("sns").subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=local.arn(function_id))
            created.append(("AWS::SNS::Subscription", function_id, topic_arn))
    for logical_id in local.resources_of_type("AWS::SES::ConfigurationSet"):
        name = local.physical_id(logical_id)
        try:
            client("sesv2").create_configuration_set(ConfigurationSetName=name)
        except Exception as exc:
            if _error_code(exc) not in ("AlreadyExistsException", "ConfigurationSetAlreadyExistsException"):
                raise
        created.append(("AWS::SES::ConfigurationSet", logical_id, name))
    for logical_id in local.resources_of_type("AWS::SES::ConfigurationSetEventDestination"):
        properties = local.resolve(local.properties(logical_id))
        destination = properties["EventDestination"]
        request: dict[str, Any] = {
            "Name": destination["Name"],
            "Enabled": _truthy(_as_text(destination.get("Enabled", True))),
            "MatchingEventTypes": destination["MatchingEventTypes"],
        }
        if "SnsDestination" in destination:
            request["SNSDestination"] = {"TopicARN": destination["SnsDestination"]["TopicARN"]}
        try:
            client("ses").create_configuration_set_event_destination(
                ConfigurationSetName=properties["ConfigurationSetName"], EventDestination=request
            )
        except Exception as exc:
            if _error_code(exc) != "EventDestinationAlreadyExists":
                raise
        created.append(("AWS::SES::ConfigurationSetEventDestination", logical_id, destination["Name"]))
    for logical_id in local.resources_of_type("AWS::Logs::LogGroup"):
        properties = local.resolve(local.properties(logical_id))
        name = local.physical_id(logical_id)
        try:
            client("logs").create_log_group(logGroupName=name)
        except Exception as exc:
            if _error_code(exc) != "ResourceAlreadyExistsException":
                raise
        if properties.get("RetentionInDays") is not None:
            client("logs").put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))
        created.append(("AWS::Logs::LogGroup", logical_id, name))
    for logical_id in local.resources_of_type("AWS::SSM::Parameter"):
        properties = local.resolve(local.properties(logical_id))
        name = local.physical_id(logical_id)
        value = _as_text(properties.get("Value", ""))
        _put_parameter(client("ssm"), name, value, properties.get("Type", "String"))
        created.append(("AWS::SSM::Parameter", logical_id, name))
    if local.has_parameter(WEBHOOK_SECRET_PARAMETER):
        name = _as_text(local.parameter_value(WEBHOOK_SECRET_PARAMETER))
        _put_parameter(client("ssm"), name, webhook_secret(), "SecureString", overwrite=True)
        created.append(("AWS::SSM::Parameter", WEBHOOK_SECRET_PARAMETER, name))
    if local.has_parameter(FEEDBACK_SECRET_PARAMETER):
        name = _as_text(local.parameter_value(FEEDBACK_SECRET_PARAMETER))
        _put_parameter(client("ssm"), name, feedback_secret(), "SecureString", overwrite=True)
        created.append(("AWS::SSM::Parameter", FEEDBACK_SECRET_PARAMETER, name))
    if local.has_parameter(SENDER_EMAIL_PARAMETER):
        sender = _as_text(local.parameter_value(SENDER_EMAIL_PARAMETER))
        if sender:
            client("ses").verify_email_identity(EmailAddress=sender)
            created.append(("AWS::SES::EmailIdentity", SENDER_EMAIL_PARAMETER, sender))
    return created


def _put_parameter(ssm: Any, name: str, value: str, kind: str, *, overwrite: bool = False) -> None:
    try:
        ssm.put_parameter(Name=name, Value=value, Type=kind, Overwrite=overwrite)
    except Exception as exc:
        if _error_code(exc) != "ParameterAlreadyExists":
            raise


def _create_table(template: LocalTemplate, logical_id: str, dynamodb: Any) -> None:
    properties = template.resolve(template.properties(logical_id))
    name = template.physical_id(logical_id)
    if template.resource_type(logical_id) == "AWS::Serverless::SimpleTable":
        key = properties.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        kind = {"String": "S", "Number": "N", "Binary": "B"}.get(key.get("Type", "String"), "S")
        properties = {
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    provisioned = properties.get("BillingMode", "PROVISIONED") == "PROVISIONED"
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
    }
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if provisioned:
        request["ProvisionedThroughput"] = _throughput(properties.get("ProvisionedThroughput"), throughput)
    indexes = []
    for index in properties.get("GlobalSecondaryIndexes") or []:
        gsi = {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
        if provisioned:
            gsi["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"), throughput)
        indexes.append(gsi)
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    local_indexes = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
        for index in properties.get("LocalSecondaryIndexes") or []
    ]
    if local_indexes:
        request["LocalSecondaryIndexes"] = local_indexes
    stream = properties.get("StreamSpecification") or {}
    if stream.get("StreamViewType"):
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    try:
        dynamodb.create_table(**request)
    except Exception as exc:
        if _error_code(exc) != "ResourceInUseException":
            raise
    ttl = properties.get("TimeToLiveSpecification") or {}
    if _truthy(ttl.get("Enabled")) and ttl.get("AttributeName"):
        current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )


def _throughput(value: Any, default: dict[str, int]) -> dict[str, int]:
    if not isinstance(value, dict):
        return default
    return {key: int(value.get(key, default[key])) for key in default}


def _references(value: Any) -> set[str]:
    """Logical ids a piece of template refers to (Ref, GetAtt, ${...} in Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item.split(".", 1)[0] if isinstance(item, str) else item[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) else item
                if isinstance(text, str):
                    found |= {name.split(".", 1)[0] for name in _SUB_VARIABLE.findall(text)}
                found |= _references(item)
            else:
                found |= _references(item)
    return found


def _queues_in_dependency_order(template: LocalTemplate) -> list[str]:
    """Queues ordered so that a dead-letter queue exists before a queue whose RedrivePolicy names it."""
    queues = template.resources_of_type(QUEUE_TYPE)
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        if logical_id in visiting:
            raise TemplateError(f"queue {logical_id!r} is part of a RedrivePolicy cycle")
        visiting.add(logical_id)
        for dependency in sorted(_references(template.properties(logical_id)) & set(queues)):
            visit(dependency)
        visiting.discard(logical_id)
        ordered.append(logical_id)

    for logical_id in queues:
        visit(logical_id)
    return ordered


def _create_queue(template: LocalTemplate, logical_id: str, sqs: Any) -> str:
    properties = template.resolve(template.properties(logical_id))
    attributes = {key: _as_text(properties[key]) for key in _QUEUE_ATTRIBUTES if key in properties}
    if "FifoQueue" in attributes and attributes["FifoQueue"] != "true":
        del attributes["FifoQueue"]
    name = template.physical_id(logical_id)
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except Exception as exc:
        if _error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    mutable = {key: value for key, value in attributes.items() if key != "FifoQueue"}
    if mutable:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    return url


def _create_bucket(template: LocalTemplate, logical_id: str, s3: Any) -> None:
    name = template.physical_id(logical_id)
    request: dict[str, Any] = {"Bucket": name}
    if template.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": template.region}
    try:
        s3.create_bucket(**request)
    except Exception as exc:
        if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    versioning = template.resolve(template.properties(logical_id).get("VersioningConfiguration")) or {}
    if versioning.get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
