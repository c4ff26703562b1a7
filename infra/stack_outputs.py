"""What the operator CLIs read from a deployed stack: one output of its CloudFormation stack (``--stack NAME``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class StackOutputError(Exception):
    """The stack cannot be described, or has no such output (the message says which and why)."""


def stack_output(stack: str, output: str, client_factory: Callable[[str], Any] | None = None) -> str:
    """The value of ``output`` of the deployed stack ``stack`` (e.g. ``ShopsTableName``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if client_factory is None:
        from shared import aws

        client_factory = aws.client
    try:
        described = client_factory("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except (BotoCoreError, ClientError) as error:  # the AWS error says which stack and why
        raise StackOutputError(f"stack {stack}: {error}") from error
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs", [])}
    if output not in outputs:
        raise StackOutputError(f"stack {stack} has no output {output}")
    return str(outputs[output])


SHOPS_TABLE_OUTPUT = "ShopsTableName"


def shops_table(table: str | None, stack: str | None, client_factory: Callable[[str], Any] | None = None) -> str:
    """The shops table: given (``--table``), or the deployed stack's ``ShopsTableName`` output (``--stack``)."""
    if table:
        return table
    if not stack:
        raise StackOutputError("give --table NAME, or --stack NAME")
    return stack_output(stack, SHOPS_TABLE_OUTPUT, client_factory)
