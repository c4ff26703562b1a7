"""Packages whose ``__init__`` runs only when one of its own names is looked up, not when a submodule is imported.

Python runs a package's ``__init__`` before any of its submodules, and some packages the handlers use import
everything they offer: ``aws_lambda_powertools.event_handler`` every resolver (AppSync, Bedrock agents, VPC Lattice,
asyncio with them), ``aws_lambda_powertools.utilities.data_classes`` some forty event classes,
``aws_lambda_powertools.utilities.parameters`` every parameter store, and ``asyncio`` (which Powertools' batch module
imports for an async processor nudge does not use) its event loops, streams and subprocesses. A handler that needs
the HTTP API resolver or the SQS record pays for all of it at every cold start. :func:`defer_init` puts such a
package in ``sys.modules`` with its ``__init__`` not run. Then:

- a submodule imports as usual (``from aws_lambda_powertools.event_handler.api_gateway import Response``);
- a name the ``__init__`` imports from a submodule (``from aws_lambda_powertools.event_handler import
  APIGatewayHttpResolver``) imports that one submodule only: the ``__init__``'s import statements are read, not run;
- any other look-up (``__all__``, ``asyncio.run``, a name the ``__init__`` defines itself) runs the ``__init__`` once,
  and the package is then the same as if it had been imported normally.

So code that imports these packages the usual way keeps working, and loads only the parts it uses.
:func:`narrow_powertools` does this for the packages above; each function's package (``functions/<fn>/__init__.py``,
which Lambda imports before the handler module) calls it, so it happens before the handler imports Powertools. A
package imported already is left as it is.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

# Packages whose __init__ loads much more than nudge's handlers use of them.
POWERTOOLS_PACKAGES = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.parameters",
    "asyncio",  # imported by Powertools' batch module, used only by its AsyncBatchProcessor
)


def _exported_names(source: str, package: str) -> dict[str, tuple[str, str]]:
    """Names the ``__init__`` source imports from modules at its top level: name -> (module, name there)."""
    names: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
            else:
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = (module, alias.name)
    return names


def defer_init(name: str) -> ModuleType:
    """Import package ``name`` without running its ``__init__`` until one of its own names is looked up."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None or spec.origin is None:
        raise ImportError(f"{name} is not a package", name=name)
    loader = spec.loader
    with open(spec.origin, encoding="utf-8") as init:
        exported = _exported_names(init.read(), name)
    # ``from .event_source import event_source``: after a normal import the name is the function, not the submodule
    shadowing = {
        attribute: original for attribute, (module, original) in exported.items() if module == f"{name}.{attribute}"
    }
    lock = threading.RLock()
    state = {"ran": False}

    class DeferredPackage(ModuleType):
        def __getattr__(self, attribute: str) -> Any:
            # called only for what the package does not hold yet
            if not state["ran"] and not attribute.startswith("__"):
                if attribute in exported:
                    module, original = exported[attribute]
                    value = getattr(importlib.import_module(module), original)
                    setattr(self, attribute, value)
                    return value
                submodule = f"{name}.{attribute}"
                if submodule in sys.modules or importlib.util.find_spec(submodule) is not None:
                    return importlib.import_module(submodule)
            with lock:
                if not state["ran"]:
                    state["ran"] = True
                    loader.exec_module(self)
                    self.__class__ = ModuleType  # type: ignore[assignment]
            return ModuleType.__getattribute__(self, attribute)

        def __setattr__(self, attribute: str, value: Any) -> None:
            # the import system sets each submodule it loads on its package; the __init__ would then rebind the name
            if attribute in shadowing and isinstance(value, ModuleType) and value.__name__ == f"{name}.{attribute}":
                value = getattr(value, shadowing[attribute])
            super().__setattr__(attribute, value)

    package = importlib.util.module_from_spec(spec)
    package.__class__ = DeferredPackage
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, package)
    return package


def narrow_powertools() -> None:
    """Defer the ``__init__`` of the Powertools packages that load all they offer (:data:`POWERTOOLS_PACKAGES`)."""
    for name in POWERTOOLS_PACKAGES:
        defer_init(name)
