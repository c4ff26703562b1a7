"""Creates, in the emulator, the tables, queues and state machines that template.yaml declares.

Nothing here lists nudge's resources: every table, queue and state machine comes from the template, with the
properties the template gives it (key schema, TTL, FIFO settings, visibility timeout, redrive policy, definition and
substitutions). References (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``) resolve to the emulator's physical ids, so the
functions' environment is what CloudFormation would give them.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.template import Template, function_property, resources_of_type

if TYPE_CHECKING:
    from shared.models.config import ShopConfig

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "nudge-local"

# CloudFormation queue properties that are SQS queue attributes of the same name (others are not attributes).
_QUEUE_ATTRIBUTES = (
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
)
_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")


class TemplateError(Exception):
    """The template asks for something the local stack cannot provide."""


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """One HttpApi event of a function: ``method`` and ``path`` (with ``{name}`` parameters)."""

    function: str
    method: str
    path: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class QueueSource:
    """One SQS event of a function, as Lambda's event source mapping would poll it."""

    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True, slots=True)
class TopicSource:
    """One SNS event of a function: the topic, and the SQS queue the local stack subscribes to deliver from it."""

    function: str
    topic_arn: str
    queue_url: str
    subscription_arn: str


@dataclass(frozen=True, slots=True)
class ScheduleSource:
    """One daily ScheduleV2 event of a function (EventBridge Scheduler): at ``at`` UTC each day, the function is
    invoked with ``input``. The local stack and ``nudge simulate`` play it (the daily date sweeps)."""

    function: str
    at: time
    input: dict[str, Any]

    def next_after(self, moment: datetime) -> datetime:
        """The first time it fires after ``moment``."""
        today = datetime.combine(moment.astimezone(UTC).date(), self.at, tzinfo=UTC)
        return today if today > moment else today + timedelta(days=1)


_DAILY_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) \* \* \? \*\)$")


def schedule_source(function: str, properties: dict[str, Any]) -> ScheduleSource:
    """A ScheduleV2 event's schedule: only a daily ``cron(M H * * ? *)`` in UTC is played locally."""
    expression = str(properties.get("ScheduleExpression", ""))
    match = _DAILY_CRON.match(expression)
    if match is None or properties.get("ScheduleExpressionTimezone", "UTC") != "UTC":
        raise TemplateError(f"{function}: the local stack plays only daily schedules cron(M H * * ? *) in UTC")
    minute, hour = int(match.group(1)), int(match.group(2))
    return ScheduleSource(function, time(hour, minute), json.loads(properties.get("Input", "{}")))


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A function as deployed: where its handler is, its environment, memory and timeout."""

    logical_id: str
    handler: str
    environment: dict[str, str]
    memory_mb: int
    timeout_s: int


@dataclass
class Deployment:
    """What provisioning created: physical ids by logical id, the functions, their HTTP routes and queue sources."""

    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[HttpRoute] = field(default_factory=list)
    queue_sources: list[QueueSource] = field(default_factory=list)
    topic_sources: list[TopicSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """Every function's variables in one mapping: one process plays all the functions, so they must agree."""
        merged: dict[str, str] = {}
        for spec in self.functions.values():
            for name, value in spec.environment.items():
                if merged.get(name, value) != value:
                    raise TemplateError(f"functions disagree on environment variable {name}")
                merged[name] = value
        return merged


def set_up_shop_channels(config: ShopConfig, credential: str = "local") -> None:
    """What a shop's operator sets up once in AWS, done in the emulator: the verified email sender and the push
    platform applications the shop config names (the emulator must give them exactly the ARNs the config names)."""
    from shared import aws

    email = config.channels.email
    if email is not None:
        aws.client("sesv2").create_email_identity(EmailIdentity=email.from_address)
    push = config.channels.push
    for platform, arn in (push.platform_applications if push else {}).items():
        kind, name = arn.split(":app/", 1)[1].split("/", 1)
        created = aws.client("sns").create_platform_application(
            Name=name, Platform=kind, Attributes={"PlatformCredential": f"{credential}-{platform}-credential"}
        )["PlatformApplicationArn"]
        if created != arn:
            raise TemplateError(f"{config.shop.id}: push {platform} names {arn}; the emulator made {created}")


class Provisioner:
    """Creates the template's resources through boto3 clients pointed at the emulator."""

    def __init__(
        self,
        template: Template,
        root: Path,
        clients: Any,
        parameters: dict[str, str] | None = None,
        stack_name: str = STACK,
    ) -> None:
        self.stack = stack_name  # prefixes every name, so two stacks in one emulator never share a queue
        self.template = template
        self.root = root
        self.clients = clients
        self.parameters = parameters or {}
        self.deployment = Deployment()
        self._resources: dict[str, Any] = template.get("Resources", {})
        self._creating: set[str] = set()

    # ---------------------------------------------------------------- public
    def provision(self) -> Deployment:
        """Create every table, queue and state machine, then describe the functions (their env resolved)."""
        for logical_id in self._resources:
            self.physical_id(logical_id)
        for logical_id, resource in resources_of_type(self.template, "AWS::Serverless::Function").items():
            self._describe_function(logical_id, resource)
        return self.deployment

    def physical_id(self, logical_id: str) -> str:
        """The physical id (``Ref``) of a resource, creating it first if it is one the emulator provides."""
        if logical_id in self.deployment.physical:
            return self.deployment.physical[logical_id]
        if logical_id in self.template.get("Parameters", {}):
            if logical_id in self.parameters:
                return self.parameters[logical_id]
            return str(self.template["Parameters"][logical_id].get("Default", ""))
        if logical_id not in self._resources:
            raise TemplateError(f"reference to {logical_id!r}, which the template does not declare")
        if logical_id in self._creating:
            raise TemplateError(f"circular reference through {logical_id!r}")
        self._creating.add(logical_id)
        resource = self._resources[logical_id]
        kind = resource["Type"]
        creator = {
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::SQS::Queue": self._create_queue,
            "AWS::Serverless::StateMachine": self._create_state_machine,
            "AWS::SecretsManager::Secret": self._create_secret,
            "AWS::SNS::Topic": self._create_topic,
        }.get(kind)
        if creator is not None:
            creator(logical_id, resource.get("Properties", {}))
        else:
            # Functions, layers, the HTTP API, log groups and alarms are played by the local stack itself or have
            # no local counterpart; their Ref is a stable made-up name.
            self.deployment.physical[logical_id] = f"{self.stack}-{logical_id}"
            self.deployment.skipped[logical_id] = kind
        self._creating.discard(logical_id)
        return self.deployment.physical[logical_id]

    def attribute(self, logical_id: str, name: str) -> str:
        """``Fn::GetAtt`` of a resource."""
        self.physical_id(logical_id)
        try:
            return self.deployment.attributes[(logical_id, name)]
        except KeyError:
            raise TemplateError(f"the local stack has no attribute {name!r} of {logical_id!r}") from None

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by what it stands for locally."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                return self.attribute(argument[0], argument[1])
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if key.startswith("Fn::"):
                raise TemplateError(f"the local stack does not evaluate {key}")
        return {key: self.resolve(item) for key, item in value.items()}

    def condition(self, name: str) -> bool:
        """The value of one of the template's Conditions."""
        return self._evaluate(self.template.get("Conditions", {})[name])

    def _evaluate(self, expression: Any) -> bool:
        ((key, argument),) = expression.items()
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Not":
            return not self._evaluate(argument[0])
        if key == "Fn::And":
            return all(self._evaluate(item) for item in argument)
        if key == "Fn::Or":
            return any(self._evaluate(item) for item in argument)
        if key == "Fn::Equals":
            return bool(self.resolve(argument[0]) == self.resolve(argument[1]))
        raise TemplateError(f"the local stack does not evaluate condition function {key}")

    # ---------------------------------------------------------------- references
    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": self.stack,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        return self.physical_id(name)

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.attribute(logical_id, attribute)
            return self._ref(name)

        return _SUB_VARIABLE.sub(replace, text)

    # ---------------------------------------------------------------- resources
    def _create_table(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = self.resolve(properties.get("TableName")) or f"{self.stack}-{logical_id}"
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        for optional in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if optional in properties:
                request[optional] = properties[optional]
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
        dynamodb = self.clients("dynamodb")
        description = dynamodb.create_table(**request)["TableDescription"]
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self.deployment.physical[logical_id] = name
        self.deployment.attributes[(logical_id, "Arn")] = description["TableArn"]

    def _create_queue(self, logical_id: str, properties: dict[str, Any]) -> None:
        fifo = bool(properties.get("FifoQueue"))
        name = self.resolve(properties.get("QueueName")) or f"{self.stack}-{logical_id}" + (".fifo" if fifo else "")
        attributes = {
            key: _attribute_value(self.resolve(properties[key])) for key in _QUEUE_ATTRIBUTES if key in properties
        }
        redrive = properties.get("RedrivePolicy")
        if redrive:
            attributes["RedrivePolicy"] = json.dumps(self.resolve(redrive))
        sqs = self.clients("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.deployment.physical[logical_id] = url
        self.deployment.attributes[(logical_id, "Arn")] = arn
        self.deployment.attributes[(logical_id, "QueueName")] = name
        self.deployment.attributes[(logical_id, "QueueUrl")] = url

    def _create_state_machine(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = self.resolve(properties.get("Name")) or f"{self.stack}-{logical_id}"
        if "DefinitionUri" in properties:
            text = (self.root / properties["DefinitionUri"]).read_text(encoding="utf-8")
        else:
            text = json.dumps(properties["Definition"])
        for placeholder, value in properties.get("DefinitionSubstitutions", {}).items():
            text = text.replace("${" + placeholder + "}", str(self.resolve(value)))
        machine = self.clients("stepfunctions").create_state_machine(
            name=name,
            definition=text,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}",
            type=properties.get("Type", "STANDARD"),
        )
        self.deployment.physical[logical_id] = machine["stateMachineArn"]
        self.deployment.attributes[(logical_id, "Arn")] = machine["stateMachineArn"]
        self.deployment.attributes[(logical_id, "Name")] = name

    def _create_topic(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = self.resolve(properties.get("TopicName")) or f"{self.stack}-{logical_id}"
        arn = self.clients("sns").create_topic(Name=name)["TopicArn"]
        self.deployment.physical[logical_id] = arn
        self.deployment.attributes[(logical_id, "TopicArn")] = arn
        self.deployment.attributes[(logical_id, "TopicName")] = name

    def _create_secret(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = self.resolve(properties.get("Name")) or f"{self.stack}-{logical_id}"
        if "SecretString" in properties:
            value = str(self.resolve(properties["SecretString"]))
        else:  # GenerateSecretString: a fresh random value per stack, as CloudFormation makes one per deployment
            length = int(properties.get("GenerateSecretString", {}).get("PasswordLength", 32))
            value = secrets.token_urlsafe(length)[:length]
        arn = self.clients("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
        self.deployment.physical[logical_id] = arn
        self.deployment.attributes[(logical_id, "Id")] = arn

    # ---------------------------------------------------------------- functions
    def _queue_url(self, arn: str) -> str:
        for (logical_id, name), value in self.deployment.attributes.items():
            if name == "Arn" and value == arn and (logical_id, "QueueUrl") in self.deployment.attributes:
                return self.deployment.attributes[(logical_id, "QueueUrl")]
        raise TemplateError(f"no queue of the template has the ARN {arn}")

    def _describe_function(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = resource["Properties"]
        variables = {
            **function_property(self.template, {}, "Environment", {}).get("Variables", {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        self.deployment.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=properties["Handler"],
            environment={name: str(self.resolve(value)) for name, value in variables.items()},
            memory_mb=int(function_property(self.template, resource, "MemorySize", 128)),
            timeout_s=int(function_property(self.template, resource, "Timeout", 3)),
        )
        for event in properties.get("Events", {}).values():
            event_properties = event.get("Properties", {})
            if event["Type"] == "HttpApi":
                route = HttpRoute(logical_id, event_properties["Method"].upper(), event_properties["Path"])
                self.deployment.routes.append(route)
            elif event["Type"] == "SQS":
                arn = self.resolve(event_properties["Queue"])
                url = self._queue_url(arn)
                self.deployment.queue_sources.append(
                    QueueSource(
                        function=logical_id,
                        queue_url=url,
                        queue_arn=arn,
                        batch_size=int(event_properties.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in event_properties.get("FunctionResponseTypes", []),
                    )
                )
            elif event["Type"] == "SNS":
                self.deployment.topic_sources.append(self._bridge(logical_id, self.resolve(event_properties["Topic"])))
            elif event["Type"] == "ScheduleV2":
                self.deployment.schedules.append(schedule_source(logical_id, event_properties))
            else:
                raise TemplateError(f"{logical_id}: the local stack has no event source of type {event['Type']!r}")

    def _bridge(self, function: str, topic_arn: str) -> TopicSource:
        """SNS invokes Lambda directly in AWS; the emulator cannot, so a queue subscribed to the topic stands between
        (SNS's own fan-out to SQS, in the emulator) and the local stack invokes the function with SNS-shaped events."""
        sqs = self.clients("sqs")
        url = sqs.create_queue(QueueName=f"{self.stack}-{function}-sns")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        subscription = self.clients("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        return TopicSource(function, topic_arn, url, subscription["SubscriptionArn"])


def _attribute_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
