"""Model modules keep their annotations as objects: postponed (string) annotations cost every cold start a compile
and an evaluation per field, for each of some eighty model classes."""

from __future__ import annotations
import __future__

import importlib
import inspect
import pkgutil

import pytest
from pydantic import BaseModel

import shared

# shared/settings.py holds the one base class of the functions' settings; it is not this change's to edit.
EXEMPT = {"shared.settings"}


def _modules_defining_models() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(shared.__path__, "shared."):
        module = importlib.import_module(info.name)
        if any(
            issubclass(value, BaseModel) and value.__module__ == info.name
            for value in vars(module).values()
            if inspect.isclass(value)
        ):
            names.append(info.name)
    return names


MODULES = _modules_defining_models()


def test_the_models_are_found() -> None:
    assert {"shared.models.state", "shared.models.segment", "shared.core.notifications"} <= set(MODULES)


@pytest.mark.parametrize("name", [name for name in MODULES if name not in EXEMPT])
def test_a_module_defining_models_does_not_postpone_its_annotations(name: str) -> None:
    module = importlib.import_module(name)
    assert vars(module).get("annotations") is not __future__.annotations, f"{name}: from __future__ import annotations"
