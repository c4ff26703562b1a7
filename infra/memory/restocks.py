"""The restock state machine (``infra/statemachines/restock.asl.json``) in memory and in ``nudge simulate``: what it
does, in virtual time. An execution starts once per restock name; its Page state puts a page request (with a task
token) on the fan-out queue; when the fan-out function answers the token, the Choice and Wait states become the next
page request, delayed by the page's ``wait_seconds`` (the queue's delay keeps to the virtual clock, as the Wait state
keeps to the real one), until a page answers no ``next``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from shared.ports import Outbox
from shared.service.restock import MAX_WAIT_SECONDS, PageDone, RestockJob


@dataclass
class VirtualRestocks:
    """The ``Restocks`` port (start) and the ``RestockTasks`` port (succeed) of one restock machine."""

    queue: Outbox  # the fan-out queue
    started: int = 0
    pages: int = 0
    finished: list[str] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _open: dict[str, RestockJob] = field(default_factory=dict)  # task token -> job
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def start(self, job: RestockJob) -> None:
        if job.restock_id in self._names:
            return  # an execution of that name exists: starting it again changes nothing
        self._names.add(job.restock_id)
        self.started += 1
        self._ask(job, None, 0)

    def succeed(self, token: str, done: PageDone) -> None:
        job = self._open.pop(token, None)
        if job is None:
            return  # answered before (a redelivered page): Step Functions refuses the token
        if done.next is None:
            self.finished.append(job.restock_id)
            return
        self._ask(job, done.next, min(MAX_WAIT_SECONDS, done.wait_seconds))

    def _ask(self, job: RestockJob, after: str | None, delay: int) -> None:
        token = f"{job.restock_id}:{next(self._tokens)}"
        self._open[token] = job
        self.pages += 1
        body = {"token": token, "job": job.model_dump(mode="json"), "after": after}
        self.queue.send(json.dumps(body), delay_seconds=delay)
