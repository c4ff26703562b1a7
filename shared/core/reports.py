"""The journey report (EX1, EX2): the report counters of a date range summed per journey, step, variant and channel,
with conversion rates, their 95 % intervals and the uplift against the control group. Pure (stdlib only).

Two conversions are reported, because they answer two questions:

- per step row, **attributed**: orders credited to the row's messages (``shared.core.attribution``: coupon, click,
  open) per message sent, with the revenue credited. What did this message earn?
- per journey, **reached**: customers whose first step came due (sent, or recorded held out), and of those who
  ordered within the shop's ``attribution.journey`` window (7 days) after (once per entry), in each group:
  ``treatment`` and ``holdout`` (the customers who went through the journey and got none of its marketing
  messages). Their difference is the **uplift**: what the messages changed, measured against customers who were
  treated alike in every other way. Attributed conversions cannot show that: a customer who
  would have ordered anyway still clicks.

Rates come with the Wilson score interval at 95 % (sound for small counts and rates near 0, where the normal
approximation is not); the uplift's p-value is the two-sided two-proportion z-test with the pooled rate, which is
the chi-square test of the 2x2 table without continuity correction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.adapters.reports import ReportRow

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
MAX_DAYS = 366  # the longest range one report covers
STEP_COUNTERS = ("sent", "failed", "suppressed", "held_out", "delivered", "opened", "clicked", "converted", "revenue")
GROUPS = ("treatment", "holdout")


def wilson(successes: float, trials: float) -> dict[str, float] | None:
    """The rate and its 95 % Wilson score interval; None without trials."""
    if trials <= 0:
        return None
    rate = successes / trials
    factor = 1 + Z_95**2 / trials
    centre = (rate + Z_95**2 / (2 * trials)) / factor
    half = Z_95 * math.sqrt(rate * (1 - rate) / trials + Z_95**2 / (4 * trials**2)) / factor
    # Clamped to the rate itself: where it is 0 or 1, rounding would otherwise leave it a hair outside.
    return {"rate": rate, "low": max(0.0, min(rate, centre - half)), "high": min(1.0, max(rate, centre + half))}


def two_proportion_p(x1: float, n1: float, x2: float, n2: float) -> float | None:
    """The two-sided p-value that rates ``x1/n1`` and ``x2/n2`` differ (pooled z-test); None when undefined."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    spread = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if spread <= 0:
        return 1.0 if x1 / n1 == x2 / n2 else 0.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(spread)
    return math.erfc(abs(z) / math.sqrt(2))


def uplift(groups: Mapping[str, Mapping[str, float]]) -> dict[str, float | None] | None:
    """Treatment against holdout: the difference of the rates of reached customers who converted, relative to the
    holdout's, with its p-value; None while either group has nobody reached."""
    treated, held = groups.get("treatment", {}), groups.get("holdout", {})
    n1, n2 = treated.get("reached", 0.0), held.get("reached", 0.0)
    if n1 <= 0 or n2 <= 0:
        return None
    x1, x2 = treated.get("converted", 0.0), held.get("converted", 0.0)
    r1, r2 = x1 / n1, x2 / n2
    return {
        "absolute": r1 - r2,
        "relative": (r1 - r2) / r2 if r2 > 0 else None,
        "p_value": two_proportion_p(x1, n1, x2, n2),
    }


def _add(into: dict[str, float], counts: Mapping[str, float]) -> None:
    for name, value in counts.items():
        into[name] = into.get(name, 0.0) + value


def _clean(counts: Mapping[str, float]) -> dict[str, Any]:
    return {name: (round(value, 2) if name == "revenue" else round(value)) for name, value in counts.items()}


def journey_report(rows: Iterable[ReportRow], start: date, end: date) -> dict[str, Any]:
    """The report of the rows of ``start`` to ``end``: one entry per journey (campaigns too), its groups, its uplift
    and its step rows (step, variant, channel), ordered by name, then step."""
    groups: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    steps: dict[str, dict[tuple[int, str, str], dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row.step is None:
            _add(groups[row.journey][row.variant or "treatment"], row.counts)
        else:
            _add(steps[row.journey][(row.step, row.variant or "", row.channel or "")], row.counts)
    journeys = []
    for name in sorted(set(groups) | set(steps)):
        journey_groups = {group: dict(groups[name].get(group, {})) for group in GROUPS}
        journeys.append(
            {
                "journey": name,
                "groups": {
                    group: {
                        **_clean({"entered": 0.0, "reached": 0.0, "converted": 0.0, "revenue": 0.0, **counts}),
                        "conversion_rate": wilson(counts.get("converted", 0.0), counts.get("reached", 0.0)),
                    }
                    for group, counts in journey_groups.items()
                },
                "uplift": uplift(journey_groups),
                "steps": [_step_row(key, counts) for key, counts in sorted(steps[name].items())],
            }
        )
    return {"from": start.isoformat(), "to": end.isoformat(), "journeys": journeys}


def _step_row(key: tuple[int, str, str], counts: Mapping[str, float]) -> dict[str, Any]:
    step, variant, channel = key
    reasons = {
        name.removeprefix("suppressed:"): round(value)
        for name, value in sorted(counts.items())
        if name.startswith("suppressed:") and value
    }
    totals = _clean({name: counts.get(name, 0.0) for name in STEP_COUNTERS})
    return {
        "step": step,
        "variant": variant or None,
        "channel": channel or None,
        **totals,
        "suppressed_by_reason": reasons,
        "conversion_rate": wilson(counts.get("converted", 0.0), counts.get("sent", 0.0)),
    }
