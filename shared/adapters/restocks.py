"""The restock fan-out on Step Functions (``RestockStateMachine``, ``infra/statemachines/restock.asl.json``): started
once per restock (the execution is named after it), it hands the fan-out function one page at a time with a task
token, which the function answers when the page is done."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from shared import aws
from shared.observability import logger
from shared.service.restock import PageDone, RestockJob

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class StepFunctionsRestocks:
    """Starts restock fan-outs (an execution per restock; starting one again changes nothing)."""

    def __init__(self, state_machine_arn: str, client: SFNClient | None = None) -> None:
        self._arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = aws.stepfunctions()
        return self._client

    def start(self, job: RestockJob) -> None:
        document = {"job": job.model_dump(mode="json"), "page": {"next": None, "wait_seconds": 0}}
        # The same restock started before (a retried upload) exists already: nothing to do.
        with contextlib.suppress(self.client.exceptions.ExecutionAlreadyExists):
            self.client.start_execution(stateMachineArn=self._arn, name=job.restock_id, input=json.dumps(document))


class StepFunctionsTasks:
    """Answers the restock machine's page tasks."""

    def __init__(self, client: SFNClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = aws.stepfunctions()
        return self._client

    def succeed(self, token: str, done: PageDone) -> None:
        try:
            self.client.send_task_success(taskToken=token, output=done.model_dump_json())
        except (self.client.exceptions.TaskTimedOut, self.client.exceptions.InvalidToken):
            # A page delivered again after the machine moved on (or gave up on it): its events were deduplicated.
            logger.warning("restock page answered too late", extra={"next": done.next})
