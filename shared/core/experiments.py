"""Experiments (EX1): which variant of a step a customer gets, and who is in a control group. Pure (stdlib only).

Every assignment is a bucket in [0, 1) read from a digest of the shop, the experiment and the customer, so it is
deterministic and sticky without storing anything: the same customer gets the same variant and the same group on
every decision, on any function, in a backtest as on AWS. Each experiment has its own digest, so a customer's
group in one journey says nothing about their group in another (no customer is held out of everything by chance
unless the shop's ``global_holdout`` says so).

- ``global_holdout`` (shop): that percent of the shop's customers get no marketing message at all.
- ``holdout`` (journey, campaign): that percent of its customers enter and go through it, but each marketing
  step is recorded as ``held_out`` ("would have received", at the moment they would have) instead of sent.
- ``variants`` (step): each customer gets one, in proportion to the weights.

Transactional messages are never held out. Changing a percent or the weights moves the customers near the edges
between groups: change them between experiments, not during one.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.models.config import ShopConfig
    from shared.models.journeys import JourneyStep, Variant

HOLDOUT = "holdout"  # the control group's name where a variant's would be (reports, the ledger)
TREATMENT = "treatment"


def bucket(shop_id: str, experiment: str, customer: str) -> float:
    """The customer's place in [0, 1) for ``experiment``: uniform over customers, the same on every call."""
    digest = hashlib.sha256(f"{shop_id}\n{experiment}\n{customer}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _within(percent: int, place: float) -> bool:
    return place < percent / 100


def held_out_globally(config: ShopConfig, customer: str) -> bool:
    """Whether the customer is in the shop's global control group (no marketing at all)."""
    return _within(config.global_holdout, bucket(config.shop.id, "global", customer))


def group(config: ShopConfig, journey: str, customer: str) -> str:
    """``holdout`` when the customer gets none of the journey's (or campaign's) marketing messages, else
    ``treatment``: the shop's global control group, or the journey's own."""
    percent = config.journeys[journey].holdout if journey in config.journeys else 0
    return group_of(config, f"holdout:{journey}", percent, customer)


def group_of(config: ShopConfig, experiment: str, percent: int, customer: str) -> str:
    """``holdout`` for the global control group and for ``percent`` of the customers of ``experiment``."""
    if held_out_globally(config, customer) or _within(percent, bucket(config.shop.id, experiment, customer)):
        return HOLDOUT
    return TREATMENT


def variant(shop_id: str, journey: str, step_index: int, step: JourneyStep, customer: str) -> Variant | None:
    """The variant of the step the customer gets (None: the step has no variants), by weight."""
    if not step.variants:
        return None
    total = sum(option.weight for option in step.variants)
    place = bucket(shop_id, f"variant:{journey}:{step_index}", customer) * total
    for option in step.variants:
        if place < option.weight:
            return option
        place -= option.weight
    return step.variants[-1]  # float rounding at the very top
