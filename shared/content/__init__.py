"""Message content (CH7): localized, sandboxed jinja2 templates with a fallback chain.

``build_context`` turns a customer's state and an outbox message into the template context; ``render`` renders a
message kind for a channel in the customer's best locale (``de-AT`` -> ``de`` -> shop default -> ``en``), a shop's
``templates.overrides`` winning over the templates shipped in ``shared/templates``; ``render_message`` does both;
``validate_templates`` renders everything against a sample customer so a broken template fails the config, not a send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.lazy import lazy_names

if TYPE_CHECKING:
    from shared.content.context import build_context
    from shared.content.errors import ContentError, TemplateMissingError, TemplateRenderError
    from shared.content.locales import fallback_chain
    from shared.content.renderer import PARTS, STOP_INSTRUCTIONS, render, render_message
    from shared.content.validation import shipped_kinds, shipped_locales, validate_templates

# Each name loads its own module when it is first looked up: ``shared.content.errors`` alone does not load jinja2.
_MODULES = {
    "build_context": "shared.content.context",
    "ContentError": "shared.content.errors",
    "TemplateMissingError": "shared.content.errors",
    "TemplateRenderError": "shared.content.errors",
    "fallback_chain": "shared.content.locales",
    "PARTS": "shared.content.renderer",
    "STOP_INSTRUCTIONS": "shared.content.renderer",
    "render": "shared.content.renderer",
    "render_message": "shared.content.renderer",
    "shipped_kinds": "shared.content.validation",
    "shipped_locales": "shared.content.validation",
    "validate_templates": "shared.content.validation",
}

__getattr__ = lazy_names(__name__, _MODULES)


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
