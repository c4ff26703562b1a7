"""The refusal every API of nudge answers a bad request with: 400, naming each field and the rule it breaks."""

from __future__ import annotations


class RequestRefused(ValueError):
    """A request an API refuses (400) before anything is stored or read: ``errors`` name each field and its rule."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['rule']}" for e in errors))
        self.errors = errors
