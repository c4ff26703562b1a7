"""The fan-out state machine (``infra/statemachines/fan_out.asl.json``) in memory and in ``nudge simulate``: what it
does, in virtual time. A job starts once per name; each of its parts puts a page request (with a task token) on the
fan-out queue; when the fan-out function answers the token, the part's Choice and Wait states become its next page
request, delayed by the page's ``wait_seconds`` (the queue's delay keeps to the virtual clock, as the Wait state keeps
to the real one), until a page answers no ``next``. A wait longer than a queue delay can be (a sale that starts
later) is held by the machine itself until its moment (``next_due``, ``release``).
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.ports import Outbox
from shared.service.fan_out import MAX_WAIT_SECONDS, FanOutJob, PageDone


@dataclass
class VirtualFanOuts:
    """The ``FanOuts`` port (start) and the ``FanOutTasks`` port (succeed) of one fan-out machine."""

    queue: Outbox  # the fan-out queue
    # The virtual clock, for a wait longer than a queue delay can be (a sale that starts in a week): such a part is
    # held here, as the Wait state holds an execution, and asked again by ``release`` once it is due.
    clock: Callable[[], datetime] | None = None
    started: int = 0
    pages: int = 0
    finished: list[str] = field(default_factory=list)  # parts done, as "<job>/<part>"
    jobs: list[FanOutJob] = field(default_factory=list)
    _open: dict[str, tuple[FanOutJob, int]] = field(default_factory=dict)  # task token -> (job, part)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)
    _held: list[tuple[datetime, int, FanOutJob, int, str | None]] = field(default_factory=list)  # a heap, by due

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
        if done.wait_seconds > MAX_WAIT_SECONDS and self.clock is not None:
            due = self.clock() + timedelta(seconds=done.wait_seconds)
            heapq.heappush(self._held, (due, next(self._tokens), job, part, done.next))
            return
        self._ask(job, part, done.next, min(MAX_WAIT_SECONDS, done.wait_seconds))

    @property
    def next_due(self) -> datetime | None:
        """When the first part held in a long wait is to be asked again."""
        return self._held[0][0] if self._held else None

    def release(self, now: datetime) -> None:
        """Ask again for the parts whose long wait is over at ``now``."""
        while self._held and self._held[0][0] <= now:
            _, _, job, part, after = heapq.heappop(self._held)
            self._ask(job, part, after, 0)

    def _ask(self, job: FanOutJob, part: int, after: str | None, delay: int) -> None:
        token = f"{job.fan_out_id}:{next(self._tokens)}"
        self._open[token] = (job, part)
        self.pages += 1
        body = {"token": token, "job": job.model_dump(mode="json"), "part": part, "after": after}
        self.queue.send(json.dumps(body), delay_seconds=delay)
