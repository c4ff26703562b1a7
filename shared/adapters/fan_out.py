"""Fan-out jobs on Step Functions (``FanOutStateMachine``, ``infra/statemachines/fan_out.asl.json``): started once
per job (the execution is named after it), the machine runs the job's parts side by side and hands the fan-out
function one page of a part at a time with a task token, which the function answers when the page is done."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from shared import aws
from shared.observability import logger
from shared.service.fan_out import FanOutJob, PageDone

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class _StepFunctions:
    def __init__(self, client: SFNClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = aws.stepfunctions()
        return self._client


class StepFunctionsFanOuts(_StepFunctions):
    """Starts fan-out jobs: an execution per job, named after it."""

    def __init__(self, state_machine_arn: str, client: SFNClient | None = None) -> None:
        super().__init__(client)
        self._arn = state_machine_arn

    def start(self, job: FanOutJob) -> None:
        document = {"job": job.model_dump(mode="json"), "parts": list(range(job.parts))}
        # The same job started before (a retried upload) exists already: nothing to do.
        with contextlib.suppress(self.client.exceptions.ExecutionAlreadyExists):
            self.client.start_execution(stateMachineArn=self._arn, name=job.fan_out_id, input=json.dumps(document))


class StepFunctionsTasks(_StepFunctions):
    """Answers the fan-out machine's page tasks."""

    def succeed(self, token: str, done: PageDone) -> None:
        try:
            self.client.send_task_success(taskToken=token, output=done.model_dump_json())
        except (self.client.exceptions.TaskTimedOut, self.client.exceptions.InvalidToken):
            # A page delivered again after the machine moved on (or gave up on it): its events were deduplicated.
            logger.warning("fan-out page answered too late", extra={"next": done.next})
