"""template.yaml: what an engineer deploying nudge would otherwise find out from CloudFormation, Lambda or the bill."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file

from tests.infra.cfn import (
    Template,
    function_property,
    load_template,
    referenced_names,
    resources_of_type,
    target_of,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
TEMPLATE = load_template(TEMPLATE_PATH)
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
STATE_MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
QUEUES = resources_of_type(TEMPLATE, "AWS::SQS::Queue")
TABLES = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table")
LOG_GROUPS = resources_of_type(TEMPLATE, "AWS::Logs::LogGroup")

LAMBDA_DEFAULT_TIMEOUT = 3  # seconds, when neither the function nor Globals set one
# AWS: "set the source queue's visibility timeout to at least six times the timeout of your function".
VISIBILITY_TIMEOUT_FACTOR = 6
# Managed policies that grant every action of a service (or of all services).
BROAD_MANAGED_POLICY = re.compile(r"(FullAccess|^AdministratorAccess|^PowerUserAccess)$")

# Runs in a fresh interpreter, the way Lambda's bootstrap loads a handler: importlib on the module path, then the
# attribute. Reports where the module came from, which project modules the import pulled in, and whether the
# function's settings models validate against the environment the template gives it.
LAMBDA_IMPORT = """
import importlib, json, sys

module_name, attribute = sys.argv[1].rsplit(".", 1)
report = {"origin": None, "callable": False, "project_modules": {}, "settings_errors": {}}
module = importlib.import_module(module_name)
report["origin"] = module.__file__
report["callable"] = callable(getattr(module, attribute, None))
for name, loaded in list(sys.modules.items()):
    if getattr(loaded, "__file__", None):
        report["project_modules"][name] = loaded.__file__

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

try:
    from shared.settings import FunctionSettings
except ImportError as error:
    report["settings_errors"]["shared.settings"] = f"the settings convention moved: {error}"
else:
    for model in subclasses(FunctionSettings):
        if model.__module__.startswith(module_name.rsplit(".", 1)[0] + "."):
            try:
                model.from_environment()
            except Exception as error:  # reported, not swallowed: the test fails with it
                report["settings_errors"][model.__qualname__] = str(error)
print(json.dumps(report))
"""


def function_environment(function: dict[str, Any]) -> dict[str, str]:
    """The environment variables the template gives a function: literals as written, references as dummies."""
    merged = {
        **TEMPLATE.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **function.get("Properties", {}).get("Environment", {}).get("Variables", {}),
    }
    parameters = TEMPLATE.get("Parameters", {})
    environment = {}
    for name, value in merged.items():
        target = target_of(value)
        if isinstance(value, str | int | float | bool):
            environment[name] = str(value)
        elif target in parameters and "Default" in parameters[target]:
            environment[name] = str(parameters[target]["Default"])
        else:
            environment[name] = f"dummy-{target or name.lower()}"
    return environment


@cache
def import_as_lambda(logical_id: str) -> dict[str, Any]:
    """Import a function's handler in a fresh interpreter with Lambda's environment; return what it found."""
    function = FUNCTIONS[logical_id]
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "TZ": "UTC",
        "PYTHONPATH": str(ROOT),  # the task root (the function's CodeUri, parents recreated) plus /opt/python
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        **function_environment(function),
    }
    handler = function["Properties"]["Handler"]
    completed = subprocess.run(
        [sys.executable, "-c", LAMBDA_IMPORT, handler],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"{logical_id}: importing {handler} failed:\n{completed.stderr}"
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def shipped_folders(function: dict[str, Any]) -> list[Path]:
    """The source folders whose files reach the function: its CodeUri and the ContentUri of each of its layers."""
    folders = [ROOT / function["Properties"]["CodeUri"]]
    for layer in function_property(TEMPLATE, function, "Layers", []):
        layer_resource = TEMPLATE["Resources"].get(target_of(layer) or "", {})
        if layer_resource.get("Type") == "AWS::Serverless::LayerVersion":
            folders.append(ROOT / layer_resource["Properties"]["ContentUri"])
    return [folder.resolve() for folder in folders]


def consumed_queues() -> list[tuple[str, str]]:
    """(function, queue) for every SQS event source in the template."""
    pairs = []
    for function_id, function in FUNCTIONS.items():
        for event in function["Properties"].get("Events", {}).values():
            if event.get("Type") == "SQS":
                queue_id = target_of(event["Properties"]["Queue"])
                assert queue_id in QUEUES, f"{function_id} consumes {event['Properties']['Queue']}, not a queue here"
                pairs.append((function_id, queue_id))
    return pairs


def state_problems(machine: dict[str, Any], where: str) -> list[str]:
    """Dangling StartAt/Next/Default and states that neither continue nor end, in a machine and its branches."""
    states: dict[str, Any] = machine.get("States", {})
    problems = []
    if machine.get("StartAt") not in states:
        problems.append(f"{where}: StartAt {machine.get('StartAt')!r} is not a state")
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [choice.get("Next") for choice in state.get("Choices", [])]
        targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
        problems += [
            f"{where}.{name}: Next {target!r} is not a state" for target in targets if target and target not in states
        ]
        if state.get("Type") not in ("Choice", "Succeed", "Fail") and not (state.get("Next") or state.get("End")):
            problems.append(f"{where}.{name}: neither Next nor End")
        for index, branch in enumerate(state.get("Branches", [])):
            problems += state_problems(branch, f"{where}.{name}.Branches[{index}]")
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                problems += state_problems(state[key], f"{where}.{name}.{key}")
    return problems


def policy_problems(policy: Any) -> list[str]:
    """Why one entry of a function's Policies grants more than least privilege (empty when it does not)."""
    if isinstance(policy, str):
        name = policy.rsplit("/", 1)[-1]
        return [f"managed policy {name} grants whole services"] if BROAD_MANAGED_POLICY.search(name) else []
    problems = []
    if isinstance(policy, dict):
        for statement in policy.get("Statement", []):
            for key in ("Action", "NotAction"):
                actions = statement.get(key, [])
                for action in [actions] if isinstance(actions, str) else actions:
                    if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                        problems.append(f"{key} {action!r} grants every action")
                if key == "NotAction" and actions:
                    problems.append("NotAction grants everything not listed")
    return problems


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_cfn_lint_finds_nothing_in_the_template() -> None:
    # Given the template as the lead wrote it
    # When cfn-lint checks it (SAM transform included), as `sam validate --lint` would
    matches = lint_file(TEMPLATE_PATH)
    # Then it reports nothing
    assert matches == [], "cfn-lint:\n" + "\n".join(str(match) for match in matches)


def test_the_template_declares_the_functions_this_suite_checks() -> None:
    # Guards every "for each function" test below against passing on an empty or misread template.
    assert {"IngestFunction", "StateUpdaterFunction", "CustomerApiFunction"} <= set(FUNCTIONS)
    assert STATE_MACHINES and TABLES and consumed_queues()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_handler_imports_as_lambda_imports_it_from_its_own_code_uri(logical_id: str) -> None:
    # Given a function's Handler and CodeUri, and the environment the template gives it
    function = FUNCTIONS[logical_id]
    handler = function["Properties"]["Handler"]
    code_uri = (ROOT / function["Properties"]["CodeUri"]).resolve()
    module_name = handler.rsplit(".", 1)[0]

    # When a fresh interpreter imports the module path and looks up the attribute, as Lambda's bootstrap does
    report = import_as_lambda(logical_id)

    # Then the attribute is callable, and the module is a file directly in the function's own CodeUri folder,
    # whose path is the handler's package path (so `sam build` recreates it with ParentPackageMode auto)
    assert report["callable"], f"{handler}: attribute is missing or not callable"
    module_folder = Path(report["origin"]).resolve().parent
    assert module_folder == code_uri, f"{handler} is in {module_folder}, CodeUri is {code_uri}"
    package_folder = ROOT.joinpath(*module_name.split(".")[:-1]).resolve()
    assert code_uri == package_folder, f"CodeUri {code_uri} is not the folder of package path {handler}"

    # And it imports nothing from the project that Lambda will not have: only its CodeUri and its layers ship
    # (parent package folders are recreated empty by `sam build`, so their __init__.py never runs on Lambda)
    shipped = shipped_folders(function)
    parents = {".".join(module_name.split(".")[:depth]) for depth in range(1, module_name.count(".") + 1)}
    venv = Path(sys.prefix).resolve()
    missing_on_lambda = sorted(
        name
        for name, file in report["project_modules"].items()
        if (path := Path(file).resolve()).is_relative_to(ROOT)
        and not path.is_relative_to(venv)
        and name not in parents
        and not any(path.is_relative_to(folder) for folder in shipped)
    )
    assert missing_on_lambda == [], f"{handler} imports modules that are not in its artifact: {missing_on_lambda}"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_function_gets_every_setting_its_code_reads(logical_id: str) -> None:
    # Given the environment variables the template gives the function (Globals merged with its own)
    # When the function's settings models are validated against exactly that environment
    report = import_as_lambda(logical_id)
    # Then none is missing, so the first invocation does not fail at cold start
    assert report["settings_errors"] == {}, f"{logical_id}: {report['settings_errors']}"


@pytest.mark.parametrize("logical_id", sorted(STATE_MACHINES))
def test_each_state_machine_definition_is_complete(logical_id: str) -> None:
    # Given a state machine's definition file and its substitutions
    properties = STATE_MACHINES[logical_id]["Properties"]
    text = (ROOT / properties["DefinitionUri"]).read_text(encoding="utf-8")
    provided = set(properties.get("DefinitionSubstitutions", {}))

    # When the file is parsed as Step Functions will after substitution
    definition = json.loads(text)

    # Then StartAt and every Next lead to existing states, every state continues or ends,
    # and every ${placeholder} is filled in by DefinitionSubstitutions
    assert state_problems(definition, logical_id) == []
    placeholders = set(re.findall(r"\$\{([^}]+)\}", text))
    assert placeholders - provided == set(), f"{logical_id}: no substitution for {sorted(placeholders - provided)}"


def test_every_consumed_queue_has_a_dead_letter_queue_and_outlasts_its_consumer() -> None:
    # Given every queue a function consumes through an SQS event source
    problems = []
    for function_id, queue_id in consumed_queues():
        queue = QUEUES[queue_id].get("Properties", {})
        timeout = function_property(TEMPLATE, FUNCTIONS[function_id], "Timeout", LAMBDA_DEFAULT_TIMEOUT)
        # Then its visibility timeout is at least 6x the consumer's timeout (Lambda retries throttled batches)
        visibility = int(queue.get("VisibilityTimeout", 30))
        if visibility < VISIBILITY_TIMEOUT_FACTOR * int(timeout):
            problems.append(f"{queue_id}: VisibilityTimeout {visibility} < 6 x {function_id} Timeout {timeout}")
        # And poison messages end in a dead-letter queue of the same kind (a FIFO queue needs a FIFO DLQ)
        dead_letter_id = target_of(queue.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        if dead_letter_id not in QUEUES:
            problems.append(f"{queue_id}: no RedrivePolicy to a dead-letter queue of this template")
        elif queue.get("FifoQueue") and not QUEUES[dead_letter_id].get("Properties", {}).get("FifoQueue"):
            problems.append(f"{queue_id} is FIFO but its dead-letter queue {dead_letter_id} is not")
    assert problems == []


def test_every_function_is_traced_on_python313_arm64_with_a_log_group_that_expires() -> None:
    problems = []
    for logical_id, function in FUNCTIONS.items():
        # Given each function's properties, Globals included
        if function_property(TEMPLATE, function, "Tracing") != "Active":
            problems.append(f"{logical_id}: Tracing is not Active")
        if function_property(TEMPLATE, function, "Runtime") != "python3.13":
            problems.append(f"{logical_id}: Runtime is not python3.13")
        if function_property(TEMPLATE, function, "Architectures") != ["arm64"]:
            problems.append(f"{logical_id}: Architectures is not [arm64]")
        # Then its logs go to a log group the stack owns, with a retention (Lambda's own group keeps logs forever)
        own_group = target_of(function_property(TEMPLATE, function, "LoggingConfig", {}).get("LogGroup"))
        groups = [
            group
            for group_id, group in LOG_GROUPS.items()
            if group_id == own_group
            or group.get("Properties", {}).get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}
        ]
        if not groups:
            problems.append(f"{logical_id}: no AWS::Logs::LogGroup named /aws/lambda/${{{logical_id}}}")
        elif not all("RetentionInDays" in group.get("Properties", {}) for group in groups):
            problems.append(f"{logical_id}: its log group has no RetentionInDays")
    assert problems == []


def test_tables_bill_per_request_and_can_be_restored_to_a_point_in_time() -> None:
    problems = []
    for logical_id, table in TABLES.items():
        properties = table.get("Properties", {})
        if properties.get("BillingMode") != "PAY_PER_REQUEST":
            problems.append(f"{logical_id}: BillingMode is not PAY_PER_REQUEST")
        recovery = properties.get("PointInTimeRecoverySpecification", {})
        if recovery.get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{logical_id}: point-in-time recovery is off")
    assert problems == []


def test_no_function_policy_grants_every_action_of_a_service() -> None:
    # Given every function's Policies (managed policy names, SAM policy templates, inline statements)
    problems = [
        f"{logical_id}: {problem}"
        for logical_id, function in FUNCTIONS.items()
        for policy in as_list(function["Properties"].get("Policies", []))
        for problem in policy_problems(policy)
    ]
    # Then none grants `*` actions or a managed *FullAccess policy
    assert problems == []


def test_the_ingest_function_cannot_read_the_customers_table() -> None:
    # Given the policies of the public-facing ingest function (it only authenticates and enqueues)
    policies = FUNCTIONS["IngestFunction"]["Properties"].get("Policies", [])
    # Then none of them names the customers table, so a compromised ingest cannot read customer state
    assert "CustomersTable" not in referenced_names(policies)


@pytest.mark.parametrize(
    ("check", "broken_policy"),
    [
        ("managed", "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"),
        ("inline", {"Statement": [{"Effect": "Allow", "Action": ["sqs:*"], "Resource": "*"}]}),
        ("inline", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    ],
)
def test_the_least_privilege_check_recognises_broad_grants(check: str, broken_policy: Any) -> None:
    # The template has no broad grant today; this keeps the check above from passing on everything.
    assert policy_problems(broken_policy), f"{check} policy {broken_policy} was not flagged"


def test_the_state_machine_check_recognises_a_dangling_next() -> None:
    broken: Template = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "C": {"Type": "Pass"}}}
    assert state_problems(broken, "m") == ["m.A: Next 'B' is not a state", "m.C: neither Next nor End"]


def test_the_shared_layer_is_built_by_the_makefile_target_that_compiles_its_bytecode(tmp_path: Path) -> None:
    # Given the layer's build metadata: sam build runs `make build-<LogicalId>` from the Makefile in ContextPath
    layer = TEMPLATE["Resources"]["SharedLayer"]
    metadata = layer["Metadata"]
    assert (metadata["BuildMethod"], metadata["BuildArchitecture"]) == ("makefile", "arm64")
    makefile = (ROOT / metadata["ContextPath"] / "Makefile").resolve()

    # When make says what that target would run, in a copy of the ContentUri as sam build runs it
    done = subprocess.run(
        ["make", "--dry-run", "--makefile", str(makefile), "build-SharedLayer", f"ARTIFACTS_DIR={tmp_path}"],
        cwd=ROOT / layer["Properties"]["ContentUri"],
        capture_output=True,
        text=True,
        check=False,
    )

    # Then it installs the requirements for Lambda's platform, copies the package and compiles everything in the layer
    assert done.returncode == 0, done.stderr
    commands = done.stdout
    assert "--platform manylinux2014_aarch64" in commands and "--python-version 3.13" in commands
    assert f"{tmp_path}/python/shared" in commands
    assert f'compileall -q -f -j0 --invalidation-mode unchecked-hash "{tmp_path}/python"' in commands


def alarmed_targets() -> dict[str, set[str]]:
    """Per metric name, the resources (logical ids) an alarm of the template watches with it."""
    watched: dict[str, set[str]] = {}
    for alarm in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").values():
        properties = alarm.get("Properties", {})
        metrics = [properties] + [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
        for metric in metrics:
            for dimension in metric.get("Dimensions", []):
                target = target_of(dimension.get("Value"))
                if target is not None:
                    watched.setdefault(metric.get("MetricName", ""), set()).add(target)
    return watched


def test_ops_are_told_of_every_dead_letter_queue_and_every_timer_or_fan_out_that_did_not_finish() -> None:
    # Given every dead-letter queue some queue redrives to, and every state machine
    dead_letter_queues = {
        target_of(queue.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        for queue in QUEUES.values()
    } - {None}
    watched = alarmed_targets()
    # Then an alarm watches each dead-letter queue for a visible message
    assert dead_letter_queues - watched.get("ApproximateNumberOfMessagesVisible", set()) == set()
    # And each state machine for executions that failed, timed out or were aborted
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
        assert set(STATE_MACHINES) - watched.get(metric, set()) == set(), metric
