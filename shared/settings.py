"""Typed function settings read from the environment once per container (logic never reads os.environ)."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict


class FunctionSettings(BaseModel):
    """Base for a function's settings: fields are named after their environment variables, lower-cased."""

    model_config = ConfigDict(frozen=True, extra="ignore")


@cache
def load_settings[SettingsT: FunctionSettings](model: type[SettingsT]) -> SettingsT:
    """Validate ``model`` from the environment (cached; a missing variable fails the cold start loudly)."""
    return model.model_validate({name.lower(): value for name, value in os.environ.items()})
