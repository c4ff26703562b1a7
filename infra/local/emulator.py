"""Where the emulator (moto) needs help to keep up with a shop's volume: work moto does per request that AWS does not
do and nudge does not need, skipped without changing a single answer.

- **Queue attributes.** moto's SQS rebuilds every attribute of a queue, the approximate message counts included (each
  a pass over every message in the queue), to read one flag (``ContentBasedDeduplication``) six times per message
  sent, and the retention period once per message received. A send therefore cost time in proportion to the queue's
  depth, and a 2,500-event batch into a queue that holds it took minutes on the local stack (in AWS a send does not
  depend on the queue's depth). While a send or a receive's retention check is served, the queue's attributes are only
  those two; every other caller sees moto's own.
- **Action lookup.** moto lists every method of a service's response class (``inspect.getmembers``) on each request
  to check that the action exists; the list is the same each time, so it is made once per class.
- **Signatures in process.** Under ``mock_aws`` moto answers requests to AWS's own endpoints in this process and reads
  neither their signature nor the credentials in it (the region is in the endpoint's host); :func:`unsigned_in_process`
  skips the SigV4 signing (hashing every body) for those requests only. Requests to the local stack's HTTP endpoint
  stay signed: its server takes the region from the signature.

Measured on the sample month replayed through moto (``nudge simulate --emulator moto``), see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_light = threading.local()  # depth of the send or retention check being served on this thread


def _with_light_attributes(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_light, "depth", 0)
        _light.depth = depth + 1
        try:
            return method(*args, **kwargs)
        finally:
            _light.depth = depth

    return wrapped


def speed_up_emulator() -> None:
    """Make sends and receives independent of a queue's depth and moto's action lookup constant (idempotent)."""
    from moto.core import responses
    from moto.sqs import models

    if getattr(models.SQSBackend, "_nudge_light", False):
        return
    all_attributes = vars(models.Queue)["attributes"].fget

    def attributes(queue: Any) -> dict[str, Any]:
        if getattr(_light, "depth", 0):
            return {
                "ContentBasedDeduplication": str(bool(getattr(queue, "content_based_deduplication", False))).lower(),
                "MessageRetentionPeriod": queue.message_retention_period,
            }
        return all_attributes(queue)  # type: ignore[no-any-return]

    models.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    backend = models.SQSBackend
    for name in ("send_message", "send_message_batch", "is_message_valid_based_on_retention_period"):
        setattr(backend, name, _with_light_attributes(getattr(backend, name)))
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)  # type: ignore[attr-defined]
    backend._nudge_light = True  # type: ignore[attr-defined]


def unsigned_in_process() -> None:
    """While ``mock_aws`` is in force, send requests to AWS's endpoints (which moto answers in this process) unsigned
    (idempotent; requests to any other endpoint, and every request outside ``mock_aws``, are signed as before)."""
    from botocore.signers import RequestSigner
    from moto.core.models import botocore_stubber

    if getattr(RequestSigner, "_nudge_unsigned", False):
        return
    sign = RequestSigner.sign

    @functools.wraps(sign)
    def signed_unless_in_process(self: RequestSigner, operation_name: str, request: Any, *args: Any, **kw: Any) -> Any:
        if botocore_stubber.enabled and ".amazonaws.com" in request.url:
            return None
        return sign(self, operation_name, request, *args, **kw)

    RequestSigner.sign = signed_unless_in_process  # type: ignore[method-assign]
    RequestSigner._nudge_unsigned = True  # type: ignore[attr-defined]
