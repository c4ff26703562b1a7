"""The fan-out state machine (``infra/statemachines/fan_out.asl.json``) in memory and in ``nudge simulate``: what it
does, in virtual time. A job starts once per name; each of its parts puts a page request (with a task token) on the
fan-out queue; when the fan-out function answers the token, the part's Choice and Wait states become its next page
request, delayed by the page's ``wait_seconds`` (the queue's delay keeps to the virtual clock, as the Wait state keeps
to the real one), until a page answers no ``next``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from shared.ports import Outbox
from shared.service.fan_out import MAX_WAIT_SECONDS, FanOutJob, PageDone


@dataclass
class VirtualFanOuts:
    """The ``FanOuts`` port (start) and the ``FanOutTasks`` port (succeed) of one fan-out machine."""

    queue: Outbox  # the fan-out queue
    started: int = 0
    pages: int = 0
    finished: list[str] = field(default_factory=list)  # parts done, as "<job>/<part>"
    jobs: list[FanOutJob] = field(default_factory=list)
    _open: dict[str, tuple[FanOutJob, int]] = field(default_factory=dict)  # task token -> (job, part)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def start(self, job: FanOutJob) -> None:
        if any(started.fan_out_id == job.fan_out_id for started in self.jobs):
            return  # an execution of that name exists: starting it again changes nothing
        self.jobs.append(job)
        self.started += 1
        for part in range(job.parts):
            self._ask(job, part, None, 0)

    def succeed(self, token: str, done: PageDone) -> None:
        opened = self._open.pop(token, None)
        if opened is None:
            return  # answered before (a redelivered page): Step Functions refuses the token
        job, part = opened
        if done.next is None:
            self.finished.append(f"{job.fan_out_id}/{part}")
            return
        self._ask(job, part, done.next, min(MAX_WAIT_SECONDS, done.wait_seconds))

    def _ask(self, job: FanOutJob, part: int, after: str | None, delay: int) -> None:
        token = f"{job.fan_out_id}:{next(self._tokens)}"
        self._open[token] = (job, part)
        self.pages += 1
        body = {"token": token, "job": job.model_dump(mode="json"), "part": part, "after": after}
        self.queue.send(json.dumps(body), delay_seconds=delay)
