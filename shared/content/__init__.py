"""Message content (CH7): localized, sandboxed jinja2 templates with a fallback chain.

``build_context`` turns a customer's state and an outbox message into the template context; ``render`` renders a
message kind for a channel in the customer's best locale (``de-AT`` -> ``de`` -> shop default -> ``en``), a shop's
``templates.overrides`` winning over the templates shipped in ``shared/templates``; ``render_message`` does both;
``validate_templates`` renders everything against a sample customer so a broken template fails the config, not a send.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.content.context import build_context
    from shared.content.errors import ContentError, TemplateMissingError, TemplateRenderError
    from shared.content.locales import fallback_chain
    from shared.content.renderer import PARTS, STOP_INSTRUCTIONS, render, render_message
    from shared.content.validation import shipped_kinds, shipped_locales, validate_templates

# Each name loads its own module when it is first looked up: ``shared.content.errors`` alone does not load jinja2.
_MODULES = {
    "build_context": "context",
    "ContentError": "errors",
    "TemplateMissingError": "errors",
    "TemplateRenderError": "errors",
    "fallback_chain": "locales",
    "PARTS": "renderer",
    "STOP_INSTRUCTIONS": "renderer",
    "render": "renderer",
    "render_message": "renderer",
    "shipped_kinds": "validation",
    "shipped_locales": "validation",
    "validate_templates": "validation",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "PARTS",
    "STOP_INSTRUCTIONS",
    "ContentError",
    "TemplateMissingError",
    "TemplateRenderError",
    "build_context",
    "fallback_chain",
    "render",
    "render_message",
    "shipped_kinds",
    "shipped_locales",
    "validate_templates",
]
