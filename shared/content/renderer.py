"""Render one message kind for one channel and locale: resolve the template along the fallback chain, render it in
the sandbox, tidy the result into a :class:`~shared.models.messages.Content`.

Resolution is per (kind, channel): the first locale of the chain that has a template for the channel — a shop's
override or a shipped file — supplies every part, so a German subject never heads an English body. Within that
locale, an override part wins over the shipped part of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import Template, TemplateError, TemplateSyntaxError

from shared.content.context import LinksView, MessageView, OfferView, build_context
from shared.content.environment import compile_source, environment, shipped_templates
from shared.content.errors import TemplateMissingError, TemplateRenderError
from shared.content.locales import canonical_locale, fallback_chain, language_of
from shared.models.config import Channel, ShopConfig
from shared.models.content import WhatsAppTemplateSettings
from shared.models.messages import Content, OutboxMessage, WhatsAppTemplate
from shared.models.state import CustomerState

Part = Literal["title", "text", "html"]
# The parts each channel has (shipped templates define one macro per part: ``email_title``, ``in_app_text``, ...).
PARTS: dict[Channel, tuple[Part, ...]] = {
    "push": ("title", "text"),
    "email": ("title", "text", "html"),
    "sms": ("text",),
    "whatsapp": ("text",),
    "in_app": ("title", "text"),
}
# Appended to every marketing SMS (opt-out keywords are handled by the SMS channel's STOP processing).
STOP_INSTRUCTIONS = {"en": "Reply STOP to opt out", "de": "STOP zum Abmelden"}
# What a failing template can raise: jinja's own errors and whatever a filter or an operator raises on bad data.
_RENDER_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError, RecursionError)
_VIEW_NAME = re.compile(r"'shared\.content\.context\.(\w+)View object'")


@dataclass(frozen=True, slots=True)
class _OverridePart:
    """A part written in the shop's config."""

    path: str
    html: bool
    source: str


@dataclass(frozen=True, slots=True)
class _ShippedPart:
    """A part shipped with nudge: one macro of a template file."""

    path: str
    html: bool
    template: str
    macro: str


_Source = _OverridePart | _ShippedPart


def shipped_name(locale: str, kind: str) -> str:
    """The shipped template file of ``kind`` in ``locale``: ``de/cart_reminder.j2``."""
    return f"{locale}/{kind}.j2"


def override_locales(kind: str, config: ShopConfig) -> dict[str, str]:
    """Canonical locale -> the key the shop wrote it under, for ``kind``'s overrides."""
    written = config.templates.overrides.get(kind, {})
    return {canonical: key for key in written if (canonical := canonical_locale(key)) is not None}


def _resolve(
    kind: str, channel: Channel, chain: list[str], config: ShopConfig, text_optional: bool
) -> tuple[str, dict[Part, _Source]]:
    written = override_locales(kind, config)
    for locale in chain:
        key = written.get(locale)
        override = getattr(config.templates.overrides[kind][key], channel) if key is not None else None
        shipped = shipped_name(locale, kind)
        has_shipped = shipped in shipped_templates()
        if override is None and not has_shipped:
            continue
        sources: dict[Part, _Source] = {}
        for part in PARTS[channel]:
            html = part == "html"
            text: str | None = getattr(override, part, None)
            if text is not None:
                path = f"templates.overrides.{kind}.{key}.{channel}.{part}"
                sources[part] = _OverridePart(path=path, html=html, source=text)
            elif has_shipped:
                macro = f"{channel}_{part}"
                path = f"templates/{shipped}:{macro}"
                sources[part] = _ShippedPart(path=path, html=html, template=shipped, macro=macro)
            elif not (part == "text" and text_optional):
                raise TemplateMissingError(
                    kind,
                    channel,
                    locale,
                    f"templates.overrides.{kind}.{key}.{channel}.{part}",
                    f"no {part} part, and no shipped '{locale}' template to take it from",
                )
        return locale, sources
    if text_optional:
        # A kind the shop only sends as an approved WhatsApp template needs no free-form text.
        return chain[0], {}
    raise TemplateMissingError(
        kind, channel, chain[0], f"templates.overrides.{kind}", f"no {channel} template in any of {', '.join(chain)}"
    )


def describe_error(error: BaseException) -> str:
    """A jinja/filter error as one readable line: ``'customer' has no attribute 'frist_name'``."""
    if isinstance(error, TemplateSyntaxError):
        return f"syntax error on line {error.lineno}: {error.message}"
    message = _VIEW_NAME.sub(lambda match: "'" + _snake(match.group(1)) + "'", str(error))
    if isinstance(error, TemplateError):
        return message
    return f"{type(error).__name__}: {message}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _PartRenderer:
    """Renders the parts of one message, making each shipped template's module once per sandbox."""

    def __init__(self, kind: str, channel: Channel, locale: str, values: dict[str, Any]) -> None:
        self.kind, self.channel, self.locale, self.values = kind, channel, locale, values
        self._modules: dict[tuple[str, bool], Any] = {}

    def error(self, path: str, error: BaseException) -> TemplateRenderError:
        return TemplateRenderError(self.kind, self.channel, self.locale, path, describe_error(error))

    def render(self, source: _Source) -> str:
        try:
            if isinstance(source, _OverridePart):
                return compile_source(source.html, source.source).render(self.values)
            module = self._module(source.template, source.html)
            macro = getattr(module, source.macro, None)
            if macro is None:
                raise TemplateMissingError(self.kind, self.channel, self.locale, source.path, "no such macro")
            return str(macro())
        except _RENDER_ERRORS as error:
            raise self.error(source.path, error) from error

    def render_string(self, path: str, text: str) -> str:
        try:
            template: Template = compile_source(False, text)
            return template.render(self.values)
        except _RENDER_ERRORS as error:
            raise self.error(path, error) from error

    def _module(self, name: str, html: bool) -> Any:
        key = (name, html)
        if key not in self._modules:
            self._modules[key] = environment(html).get_template(name).make_module(self.values)
        return self._modules[key]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy(text: str) -> str:
    """Template whitespace out of a plain-text part: no trailing spaces, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy).strip()


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _push_data(context: Mapping[str, Any]) -> dict[str, str]:
    # Custom data travels with the push so the app can apply the code on tap, without the customer typing it.
    data: dict[str, str] = {}
    offer, links = context.get("offer"), context.get("links")
    if isinstance(offer, OfferView) and offer.code:
        data["promo_code"] = offer.code
    if isinstance(links, LinksView) and links.deep_link:
        data["deep_link"] = links.deep_link
    return data


def _whatsapp_template(
    kind: str, spec: WhatsAppTemplateSettings, chain: list[str], renderer: _PartRenderer
) -> WhatsAppTemplate:
    languages = {canonical_locale(key): value for key, value in spec.languages.items()}
    language = next((languages[locale] for locale in chain if locale in languages), spec.language)
    parameters: list[str] = []
    for index, expression in enumerate(spec.parameters):
        path = f"templates.whatsapp.{kind}.parameters.{index}"
        # Meta rejects parameters with newlines, tabs or runs of spaces, and empty ones.
        value = _one_line(renderer.render_string(path, expression))
        if not value:
            raise TemplateRenderError(kind, "whatsapp", renderer.locale, path, "renders empty; Meta rejects it")
        parameters.append(value)
    return WhatsAppTemplate(name=spec.name, language=language, parameters=parameters)


def render(kind: str, channel: Channel, locale: str | None, context: Mapping[str, Any], config: ShopConfig) -> Content:
    """Render message ``kind`` for ``channel`` in the best locale for a customer who speaks ``locale``.

    ``context`` is what :func:`build_context` returns (plus anything a caller adds). Raises
    :class:`TemplateMissingError` when no locale of the chain has the template, :class:`TemplateRenderError`
    when it does not render (including a part that renders empty).
    """
    chain = fallback_chain(locale, config.shop.default_locale)
    whatsapp = config.templates.whatsapp.get(kind) if channel == "whatsapp" else None
    resolved, sources = _resolve(kind, channel, chain, config, text_optional=whatsapp is not None)
    values = {**context, "locale": resolved, "currency": config.shop.currency}
    renderer = _PartRenderer(kind, channel, resolved, values)
    parts = {part: renderer.render(source) for part, source in sources.items()}

    title = _one_line(parts.get("title", ""))
    text = _tidy(parts.get("text", ""))
    html = parts["html"].strip() if "html" in parts else None
    for part, value in (("title", title), ("text", text), ("html", html)):
        if part in sources and not value:
            raise TemplateRenderError(kind, channel, resolved, sources[part].path, "renders empty")

    message = context.get("message")
    transactional = isinstance(message, MessageView) and message.transactional
    if channel == "sms" and not transactional:
        stop = STOP_INSTRUCTIONS.get(language_of(resolved), STOP_INSTRUCTIONS["en"])
        if stop.lower() not in text.lower():
            text = f"{text}\n{stop}"

    links = context.get("links")
    rich = channel in ("push", "in_app")
    return Content(
        channel=channel,
        locale=resolved,
        title=title,
        text=text,
        html=html,
        image_url=_optional_str(context.get("image_url")) if rich else None,
        url=links.deep_link if isinstance(links, LinksView) else None,
        data=_push_data(context) if rich else {},
        whatsapp_template=_whatsapp_template(kind, whatsapp, chain, renderer) if whatsapp else None,
    )


def render_message(
    state: CustomerState | None,
    message: OutboxMessage,
    channel: Channel,
    config: ShopConfig,
    extra: Mapping[str, Any] | None = None,
) -> Content:
    """The router's one call: build the context for ``message`` and render its kind for ``channel``."""
    context = build_context(state, message, config, extra)
    return render(message.template, channel, state.locale if state else None, context, config)
