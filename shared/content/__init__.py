"""Message content (CH7): localized, sandboxed jinja2 templates with a fallback chain.

``build_context`` turns a customer's state and an outbox message into the template context; ``render`` renders a
message kind for a channel in the customer's best locale (``de-AT`` -> ``de`` -> shop default -> ``en``), a shop's
``templates.overrides`` winning over the templates shipped in ``shared/templates``; ``render_message`` does both;
``validate_templates`` renders everything against a sample customer so a broken template fails the config, not a send.
"""

from shared.content.context import build_context
from shared.content.errors import ContentError, TemplateMissingError, TemplateRenderError
from shared.content.locales import fallback_chain
from shared.content.renderer import PARTS, STOP_INSTRUCTIONS, render, render_message
from shared.content.validation import shipped_kinds, shipped_locales, validate_templates

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
