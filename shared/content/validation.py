"""``validate_templates``: render every template a shop can send against the sample customer, report what breaks.

This is what ``nudge config validate FILE`` runs: a template that fails must be caught here, never at send time.
It covers the shipped templates, the shop's overrides and WhatsApp template parameters, in every locale they exist
in, for the channels each message kind can go out on — and journey steps that name a kind nobody wrote.
"""

from __future__ import annotations

from shared.content.context import build_context
from shared.content.environment import shipped_templates
from shared.content.errors import ContentError
from shared.content.renderer import override_locales, render
from shared.content.sample import SAMPLE_EXTRA, sample_message, sample_state
from shared.models.config import CHANNELS, Channel, ShopConfig
from shared.models.nudge_events import CONFIRM_TEMPLATE


def shipped_kinds() -> frozenset[str]:
    """Message kinds nudge ships templates for (files starting with ``_`` are shared macros, not kinds)."""
    return frozenset(
        name.split("/", 1)[1].removesuffix(".j2")
        for name in shipped_templates()
        if name.count("/") == 1 and not name.split("/", 1)[1].startswith("_")
    )


def shipped_locales(kind: str) -> frozenset[str]:
    """Locales nudge ships ``kind`` in."""
    return frozenset(name.split("/", 1)[0] for name in shipped_templates() if name.endswith(f"/{kind}.j2"))


def _channels(kind: str, config: ShopConfig) -> list[Channel]:
    """Channels ``kind`` can go out on: those of the journey steps that send it, else those it has templates for."""
    if kind == CONFIRM_TEMPLATE:
        return ["email", "sms"]  # the double opt-in confirmation (shared.core.preferences) goes where it was asked
    used: set[Channel] = set()
    for journey in config.journeys.values():
        for step in journey.steps:
            if kind in step.templates:
                used.update(step.channels or config.channels.preference)
    if not used:
        if shipped_locales(kind):
            used.update(CHANNELS)
        for channels in config.templates.overrides.get(kind, {}).values():
            used.update(channel for channel in CHANNELS if getattr(channels, channel) is not None)
        if kind in config.templates.whatsapp:
            used.add("whatsapp")
    return [channel for channel in CHANNELS if channel in used]


def validate_templates(config: ShopConfig) -> list[str]:
    """One human-readable line per problem (``templates.overrides.cart_reminder.de.email.title: ...``); [] if none."""
    kinds = shipped_kinds() | set(config.templates.overrides) | set(config.templates.whatsapp)
    problems: list[str] = []

    def report(line: str) -> None:
        if line not in problems:
            problems.append(line)

    for journey_name, journey in config.journeys.items():
        for index, step in enumerate(journey.steps):
            for template in step.templates:
                if template not in kinds:
                    report(
                        f"journeys.{journey_name}.steps.{index}.template: no template '{template}' "
                        "(neither shipped nor in templates.overrides)"
                    )

    for kind in sorted(kinds):
        locales = sorted(shipped_locales(kind) | set(override_locales(kind, config)))
        for channel in _channels(kind, config):
            for locale in locales or [config.shop.default_locale]:
                for named, who in ((True, ""), (False, " (for a customer without a name)")):
                    context = build_context(sample_state(locale, named), sample_message(kind), config, SAMPLE_EXTRA)
                    try:
                        render(kind, channel, locale, context, config)
                    except ContentError as error:
                        report(f"{error.path}: {error.reason}{who}")
                        break
    return problems
