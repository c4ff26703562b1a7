"""Where the local stack's emulator (moto) needs help to behave like AWS at a shop's volume.

moto's SQS rebuilds every attribute of a queue, the approximate message counts included (each a pass over every
message in the queue), to read one flag (``ContentBasedDeduplication``) six times per message sent. A send therefore
costs time in proportion to the queue's depth, and a 2,500-event batch into a queue that holds it took minutes on
the local stack (in AWS a send does not depend on the queue's depth). While a send is being served, the queue's
attributes here are only that flag, which is all moto's send path reads; every other caller sees moto's own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_sending = threading.local()


def _while_sending(send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_sending, "depth", 0)
        _sending.depth = depth + 1
        try:
            return send(*args, **kwargs)
        finally:
            _sending.depth = depth

    return wrapped


def speed_up_queue_sends() -> None:
    """Make a send to an emulated queue independent of the queue's depth (idempotent)."""
    from moto.sqs import models

    if getattr(models.SQSBackend, "_nudge_sends", False):
        return
    all_attributes = vars(models.Queue)["attributes"].fget

    def attributes(queue: Any) -> dict[str, Any]:
        if getattr(_sending, "depth", 0):
            content_based = bool(getattr(queue, "content_based_deduplication", False))
            return {"ContentBasedDeduplication": str(content_based).lower()}
        return all_attributes(queue)  # type: ignore[no-any-return]

    models.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    models.SQSBackend.send_message = _while_sending(models.SQSBackend.send_message)  # type: ignore[method-assign]
    models.SQSBackend.send_message_batch = _while_sending(  # type: ignore[method-assign]
        models.SQSBackend.send_message_batch
    )
    models.SQSBackend._nudge_sends = True  # type: ignore[attr-defined]
