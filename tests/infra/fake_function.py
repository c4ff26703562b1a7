"""A handler for the local runtime's tests: it keeps the current event on its module, as Powertools' resolvers keep
it on their app object, and waits for what the event tells it to."""

from __future__ import annotations

from typing import Any

current: Any = None


def handler(event: dict[str, Any], context: Any, wiring: Any = None) -> Any:
    global current
    current = event["id"]
    event["started"].set()
    event["proceed"].wait(10)
    return wiring if event.get("answer") == "wiring" else current
