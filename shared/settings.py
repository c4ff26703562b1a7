"""Typed function settings, read from the environment by each function's composition root (its ``wiring``) once
per execution environment; logic never reads os.environ."""

from __future__ import annotations

import os
from typing import Self

from pydantic import BaseModel, ConfigDict


class FunctionSettings(BaseModel):
    """Base for a function's settings: fields are named after their environment variables, lower-cased."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_environment(cls) -> Self:
        """The settings in the process environment now (a missing variable fails the cold start loudly)."""
        return cls.model_validate({name.lower(): value for name, value in os.environ.items()})
