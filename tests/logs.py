"""The functions' log lines as CloudWatch Logs would receive them: each record formatted by the service logger's own
formatter (JSON, PII masked, the correlation id and appended keys of the moment it was logged)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.observability import logger


class LogLines(logging.Handler):
    """Keeps every line the service logger writes while it is attached."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@contextmanager
def log_lines() -> Iterator[LogLines]:
    """The lines written inside the block (the service logger's own stream writes them too)."""
    handler = LogLines()
    service = logging.getLogger(logger.name)
    service.addHandler(handler)
    try:
        yield handler
    finally:
        service.removeHandler(handler)
