"""What a refused request body says: each offending field and the rule it broke, as every API of nudge answers."""

from typing import Any

from pydantic import ValidationError


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """``[{"field": "codes.1", "rule": "String should match pattern ..."}, ...]`` (``body`` for the body itself)."""
    return [{"field": ".".join(str(part) for part in e["loc"]) or "body", "rule": e["msg"]} for e in error.errors()]
