"""The content layer's domain errors: what failed, for which kind, channel and locale, and where in the config.

Callers never see a raw jinja2 exception: the router tells "no template" from "template broke", and
``validate_templates`` prints ``path: reason`` lines a shop engineer can act on.
"""

from __future__ import annotations


class ContentError(Exception):
    """A message could not be rendered; ``path`` points at the template (config path or shipped file)."""

    def __init__(self, kind: str, channel: str, locale: str | None, path: str, reason: str) -> None:
        super().__init__(f"{kind} / {channel} / {locale or '-'}: {path}: {reason}")
        self.kind = kind
        self.channel = channel
        self.locale = locale
        self.path = path
        self.reason = reason


class TemplateMissingError(ContentError):
    """No template (or no part of one, e.g. an email without a subject) exists along the locale fallback chain."""


class TemplateRenderError(ContentError):
    """A template exists but does not render: syntax, undefined variable, sandbox refusal, empty result."""
