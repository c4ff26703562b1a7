"""``--stack NAME``: the operator CLIs find the deployed stack's tables and queues from its CloudFormation outputs."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.dlq_cli import DeadLetterError, queue_url
from infra.stack_outputs import StackOutputError, shops_table

OUTPUTS = {
    "ShopsTableName": "nudge-prod-ShopsTable-1A2B",
    "EventsDeadLetterQueueUrl": "https://sqs.eu-central-1.amazonaws.com/123456789012/nudge-prod-events-dlq.fifo",
}


class CloudFormation:
    """``describe_stacks`` as AWS answers it, for one stack named ``nudge-prod``."""

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName != "nudge-prod":
            error = {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}}
            raise ClientError(error, "DescribeStacks")
        outputs = [{"OutputKey": key, "OutputValue": value} for key, value in OUTPUTS.items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


def clients(service: str) -> Any:
    assert service == "cloudformation"
    return CloudFormation()


def test_the_shops_table_and_a_dead_letter_queue_come_from_the_stacks_outputs():
    assert shops_table(None, "nudge-prod", clients) == "nudge-prod-ShopsTable-1A2B"
    assert queue_url(clients, "events", "nudge-prod", None) == OUTPUTS["EventsDeadLetterQueueUrl"]
    assert shops_table("given-table", "nudge-prod", clients) == "given-table"  # a table given wins


def test_an_unknown_stack_or_a_missing_output_is_said_in_one_line():
    with pytest.raises(StackOutputError, match=r"stack nudge-test: .*does not exist"):
        shops_table(None, "nudge-test", clients)
    with pytest.raises(DeadLetterError, match="stack nudge-prod has no output OutboxDeadLetterQueueUrl"):
        queue_url(clients, "outbox", "nudge-prod", None)
