"""The churn report (``GET /v1/reports/churn?from=YYYY-MM&to=YYYY-MM``; docs/MEASUREMENT.md): per month, the shop's
buyers split into first-time and repeat, who of the month before came back and who churned, in customers and in
revenue; and the customers at risk now, with where to list them.

Everything is read from counters kept as orders come in: the months' churn counters (``shared.core.churn``; one Query
of at most 13 small items: the months asked for and the one before) and the shop's distribution (one item): never a
scan of the customers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.churn import KINDS, month_of, shift
from shared.core.insights import ShopDistribution, Thresholds, thresholds
from shared.ports import OrderAggregates, Shops
from shared.service.refusal import RequestRefused

if TYPE_CHECKING:  # the customer API reads a shop's config only when it answers: not on its cold import
    from shared.models.segments import Segment

MAX_MONTHS = 12
AT_RISK = "at_risk"
_MONTH = re.compile(r"^[1-9]\d{3}-(0[1-9]|1[0-2])$")
_NAMES = {"first": "first_time", "repeat": "repeat"}  # a counter's kind -> the report's


class ChurnRequestError(RequestRefused):
    """A report the API refuses (400), naming the parameter and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__([{"field": field, "rule": rule}])


def _month(field: str, value: str) -> str:
    if not _MONTH.match(value):
        raise ChurnRequestError(field, "must be a month as YYYY-MM, e.g. 2026-03")
    return value


def month_range(first: str | None, last: str | None, now: datetime) -> tuple[str, str]:
    """The months a request asks for, ``from`` to ``to``: ``to`` this month unless given, ``from`` the 12 months
    ending with ``to`` unless given. At most :data:`MAX_MONTHS`, so a report is one Query of a few small items."""
    end = _month("to", last) if last is not None else month_of(now)
    start = _month("from", first) if first is not None else shift(end, 1 - MAX_MONTHS)
    if start > end:
        raise ChurnRequestError("from", "must not be after `to`")
    if shift(start, MAX_MONTHS - 1) < end:
        rule = f"must be at most {MAX_MONTHS - 1} months after `from`: a report covers {MAX_MONTHS} months at most"
        raise ChurnRequestError("to", rule)
    return start, end


def _split(counters: Mapping[str, float], measure: str, money: bool) -> dict[str, float]:
    """``measure`` for first-time and repeat buyers and in total."""
    parts = {_NAMES[kind]: counters.get(f"{measure}_{kind}", 0.0) for kind in KINDS}
    parts["total"] = sum(parts.values())
    return {name: round(value, 2) if money else int(value) for name, value in parts.items()}


def _less(whole: dict[str, float], part: dict[str, float], money: bool) -> dict[str, float]:
    return {name: round(whole[name] - part[name], 2) if money else whole[name] - part[name] for name in whole}


def _rate(part: dict[str, float], whole: dict[str, float]) -> dict[str, float | None]:
    """``part`` as a share of ``whole`` (None where the whole is nothing)."""
    return {name: round(part[name] / whole[name], 4) if whole[name] else None for name in whole}


def month_view(month: str, counters: Mapping[str, float], before: Mapping[str, float]) -> dict[str, Any]:
    """One month of the report from its counters and the month before's."""
    buyers_before, revenue_before = _split(before, "buyers", False), _split(before, "revenue", True)
    retained, revenue_retained = _split(counters, "retained", False), _split(counters, "retained_revenue", True)
    churned, revenue_churned = _less(buyers_before, retained, False), _less(revenue_before, revenue_retained, True)
    return {
        "month": month,
        "buyers": _split(counters, "buyers", False),
        "revenue": _split(counters, "revenue", True),
        "retained": retained,
        "churned": churned,
        "churn_rate": _rate(churned, buyers_before),
        "revenue_retained": revenue_retained,
        "revenue_churned": revenue_churned,
        "revenue_churn_rate": _rate(revenue_churned, revenue_before),
    }


def at_risk_now(distribution: ShopDistribution, limits: Thresholds, now: datetime) -> int:
    """Buyers at risk at ``now``, to the day: whose last order day is from ``lapsed_after`` ago (that day included)
    up to ``at_risk_after`` ago (that day not); the stage itself (``shared.core.insights.lifecycle``) is judged to
    the second, so the customers of the two boundary days may differ."""
    oldest = (now - limits.lapsed_after).date().isoformat()
    newest = (now - limits.at_risk_after).date().isoformat()
    return sum(count for day, count in distribution.recency.items() if oldest <= day < newest)  # ISO days sort as text


def members_of_at_risk(segments: Mapping[str, Segment]) -> dict[str, Any]:
    """Where to list the customers at risk: the shop's segment whose rule is the lifecycle stage ``at_risk`` (the one
    with the fewest other stages), or how to add one."""
    found = sorted(
        (len(rule.lifecycle), name, list(rule.lifecycle))
        for name, rule in segments.items()
        if rule.lifecycle is not None and AT_RISK in rule.lifecycle
    )
    if not found:
        return {
            "segment": None,
            "stages": None,
            "members": None,
            "add": f"add the segment `{AT_RISK}: {{lifecycle: [{AT_RISK}]}}` under `segments` in the shop's config "
            f"(nudge shops apply), then list its members at /v1/segments/{AT_RISK}/members",
        }
    _, name, stages = found[0]
    return {"segment": name, "stages": stages, "members": f"/v1/segments/{name}/members"}


class ChurnDesk:
    """The churn report of a shop."""

    def __init__(self, orders: OrderAggregates, shops: Shops, now: Callable[[], datetime]) -> None:
        self._orders, self._shops, self._now = orders, shops, now

    def report(self, shop_id: str, first: str | None, last: str | None) -> dict[str, Any]:
        """The months from ``first`` to ``last`` (``YYYY-MM``; ChurnRequestError if not a range of at most 12), and
        the customers at risk now."""
        now = self._now()
        start, end = month_range(first, last, now)
        counted = self._orders.churn(shop_id, shift(start, -1), end)
        months, month = [], start
        while month <= end:
            months.append(month_view(month, counted.get(month, {}), counted.get(shift(month, -1), {})))
            month = shift(month, 1)
        return {
            "from": start,
            "to": end,
            "as_of": now.isoformat().replace("+00:00", "Z"),
            "months": months,
            "at_risk": self._at_risk(shop_id, now),
        }

    def _at_risk(self, shop_id: str, now: datetime) -> dict[str, Any]:
        """How many customers are at risk at ``now``, by which thresholds, and where to list them."""
        from shared.models.config import LifecycleSettings

        config = self._shops.config(shop_id)
        distribution = ShopDistribution.of(self._orders.distribution(shop_id))
        limits = thresholds(config.insights.lifecycle if config is not None else LifecycleSettings(), distribution)
        return {
            "customers": at_risk_now(distribution, limits, now),
            "at_risk_after_days": round(limits.at_risk_after / timedelta(days=1), 1),
            "lapsed_after_days": round(limits.lapsed_after / timedelta(days=1), 1),
            "thresholds_from": limits.source,
            **members_of_at_risk(config.segments if config is not None else {}),
        }
