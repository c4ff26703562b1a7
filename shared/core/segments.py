"""Whether a customer is in a segment of the shop (``shared/models/segments.py``), at a moment: pure.

Text compares without regard to case (``DE`` is ``de``); a trait name may be a dotted path (``address.country``). A
rule about something nudge does not know of the customer (no order yet, never active, no such trait) does not hold;
``not`` turns that around. Time-based rules (``within``, ``before``, lifecycle, recency, engagement) are judged at
the moment given, so membership changes as time passes without anything written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.core.insights import ShopDistribution, engagement_score, lifecycle, rfm, thresholds

if TYPE_CHECKING:
    from shared.models.config import ShopConfig
    from shared.models.segments import Compare, Rule, TraitRule, Window
    from shared.models.state import CustomerState


@dataclass(frozen=True)
class Audience:
    """What a segment is judged against besides the customer: the shop's config and distribution, and the moment."""

    config: ShopConfig
    distribution: ShopDistribution
    now: datetime


def in_segment(state: CustomerState, name: str, audience: Audience) -> bool:
    """Whether the customer is in the shop's segment ``name`` (KeyError if the shop has none of that name)."""
    return matches(audience.config.segments[name], state, audience)


def matches(rule: Rule, state: CustomerState, audience: Audience) -> bool:
    kind = rule.kind
    now = audience.now
    if kind == "all":
        return all(matches(r, state, audience) for r in rule.all or ())
    if kind == "any":
        return any(matches(r, state, audience) for r in rule.any or ())
    if kind == "not":
        assert rule.not_ is not None
        return not matches(rule.not_, state, audience)
    if kind == "segment":
        assert rule.segment is not None
        return in_segment(state, rule.segment, audience)
    if kind == "trait":
        assert rule.trait is not None
        return _trait_holds(rule.trait, _trait(state.traits, rule.trait.name))
    if kind == "orders":
        return _compare(rule.orders, state.orders.count)
    if kind == "revenue":
        return _compare(rule.revenue, state.orders.revenue)
    if kind == "last_order":
        return _window(rule.last_order, state.orders.last_order_at, now)
    if kind == "active":
        return _window(rule.active, state.last_activity_at, now)
    if kind == "bought":
        assert rule.bought is not None
        if rule.bought.product is not None:
            return rule.bought.product in state.orders.products_bought
        return _folded(rule.bought.category) in {_folded(c) for c in state.orders.categories_bought}
    if kind == "viewed":
        viewed = rule.viewed
        assert viewed is not None
        return any(
            now - view.at <= viewed.within
            and (
                view.product_id == viewed.product
                if viewed.product is not None
                else view.category is not None and _folded(view.category) == _folded(viewed.category)
            )
            for view in state.viewed
        )
    if kind == "lifecycle":
        settings = audience.config.insights.lifecycle
        stage = lifecycle(state, now, settings, thresholds(settings, audience.distribution))
        return stage in (rule.lifecycle or ())
    if kind == "rfm":
        scores = rfm(state, audience.distribution)
        wanted = rule.rfm
        assert wanted is not None
        if scores is None:
            return False
        bounds = (wanted.recency, wanted.frequency, wanted.monetary)
        return all(bound is None or bound.holds(score) for bound, score in zip(bounds, scores, strict=True))
    if kind == "engagement":
        half_life = audience.config.insights.engagement.half_life
        return _compare(rule.engagement, engagement_score(state, now, half_life))
    if kind == "consent":
        assert rule.consent is not None
        return state.has_consent(rule.consent)
    if kind == "journey":
        journey = rule.journey
        assert journey is not None
        if journey.outcome == "entered":
            moments = [entered for _, entered in state.journey_history.get(journey.name, [])]
        else:
            marks = state.journey_outcomes.get(journey.name)
            moment = (
                None if marks is None else marks.completed_at if journey.outcome == "completed" else marks.converted_at
            )
            moments = [moment] if moment is not None else []
        return any(journey.within is None or now - moment <= journey.within for moment in moments)
    if kind == "campaign":
        asked = rule.campaign
        assert asked is not None
        reached = [m for c, m in state.campaigns.items() if asked.id is None or c == asked.id]
        found = [m.entered_at if asked.outcome == "entered" else m.converted_at for m in reached]
        return any(at is not None and (asked.within is None or now - at <= asked.within) for at in found)
    raise AssertionError(f"unknown rule kind {kind}")  # every kind of RULE_KINDS is judged above


def uses_distribution(config: ShopConfig, name: str) -> bool:
    """Whether judging the segment reads the shop's distribution (RFM, or a lifecycle stage)."""
    return any(
        rule.rfm is not None
        or rule.lifecycle is not None
        or (rule.segment is not None and uses_distribution(config, rule.segment))
        for rule in config.segments[name].walk()
    )


def _compare(bounds: Compare | None, value: float) -> bool:
    assert bounds is not None
    return bounds.holds(value)


def _window(window: Window | None, moment: datetime | None, now: datetime) -> bool:
    assert window is not None
    if moment is None:
        return False
    since = now - moment.astimezone(UTC)
    if window.within is not None:
        return since <= window.within
    assert window.before is not None
    return since > window.before


def _trait(traits: dict[str, Any], name: str) -> Any:
    if name in traits:
        return traits[name]
    value: Any = traits
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _folded(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _trait_holds(rule: TraitRule, value: Any) -> bool:
    if rule.exists is not None:
        return (value not in (None, "", [], {})) == rule.exists
    if value is None:
        return False
    if isinstance(value, list | dict) and (rule.equals is not None or rule.in_ is not None):
        return False  # a list trait is tested with contains
    if rule.equals is not None:
        return bool(_folded(value) == _folded(rule.equals))
    if rule.in_ is not None:
        return _folded(value) in {_folded(option) for option in rule.in_}
    if rule.contains is not None:
        if isinstance(value, list):
            return _folded(rule.contains) in {_folded(item) for item in value}
        return isinstance(value, str) and str(_folded(rule.contains)) in value.casefold()
    number = _number(value)
    if number is None:
        return False
    return (rule.gte is None or number >= rule.gte) and (rule.lte is None or number <= rule.lte)
