"""Campaigns (J12): one message to every member of a segment, from a moment on, at the shop's pace.

``POST /v1/campaigns`` (:class:`CampaignDesk`) stores the campaign and starts one ``campaign`` fan-out job
(``shared.service.fan_out``: a Step Functions execution named after the shop and the campaign, so posting it again
starts nothing). The job waits until ``send_at``, then sweeps the shop's customers in :data:`SWEEP_PARTS`
parallel-scan segments side by side; :class:`CampaignPager` does one page: it judges each customer on it against
the segment at that moment and puts a ``Campaign Due`` event into each member's own FIFO group (deduplicated per
campaign and customer). The state updater turns it into the campaign's message (``shared.core.customer``), whose id
is the campaign's and the customer's, so the send ledger lets it out once however often a page is done again. The
channel router checks consent and the contact policy at send time, records a suppressed message with its reason,
and counts the outcome in the campaign's progress.

A campaign of several ``steps`` is one job per step (a follow-up tells the members the first reached who did not
convert); one with ``local_time`` runs each step in :data:`LOCAL_WAVES` hourly waves, one job each, from the first
zone to reach the wall time (UTC+14) to the last (UTC-12) (:func:`campaign_jobs`).

A campaign is cancelled (``DELETE``) until it is done: a page of a cancelled campaign tells nobody, so nothing goes out
before it starts, and once it runs the members not told yet (later pages, waves and steps) are not; a page in flight
when it is cancelled still tells its members.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from shared.core.insights import ShopDistribution
from shared.core.segments import Audience, in_segment, uses_distribution
from shared.models.campaigns import CAMPAIGN_DUE, Campaign, CampaignRequest
from shared.ports import Campaigns, CustomerSweep, EventQueue, FanOuts, OrderAggregates, Shops
from shared.service.fan_out import FanOutJob, PageDone, fan_out_id, not_started
from shared.service.refusal import RequestRefused
from shared.service.restock import customer_event, wait_for

if TYPE_CHECKING:
    from shared.models.config import ShopConfig
    from shared.models.state import CustomerState

SWEEP_PARTS = 4
SWEEP_PAGE = 500
# A local-time campaign's step runs in hourly waves, from the first zone to reach its wall time (UTC+14) to the last
# (UTC-12): 27 sweeps of the customers, each telling the members whose wall time comes in its hour.
EARLIEST_OFFSET = timedelta(hours=14)
LOCAL_WAVES = 27


class CampaignRequestError(RequestRefused):
    """A campaign request the API refuses (400), with each field and rule."""


class CampaignConflictError(Exception):
    """The id is another campaign's (409), or the campaign can no longer be cancelled."""


def campaign_jobs(shop_id: str, request: CampaignRequest, at: datetime) -> list[FanOutJob]:
    """The fan-out jobs of a campaign: one per step, and with ``local_time`` one per step and time-zone wave."""
    jobs = []
    for step in range(len(request.plan)):
        for wave in range(LOCAL_WAVES) if request.local_time else (None,):
            start = wave_window(request, step, wave)[0] if wave is not None else request.step_at(step)
            # The first step of a campaign for one moment keeps the name it always had.
            named = () if step == 0 and wave is None else (step, wave)
            jobs.append(
                FanOutJob(
                    kind="campaign",
                    shop_id=shop_id,
                    fan_out_id=fan_out_id("campaign", shop_id, request.id, *named),
                    at=at,
                    parts=SWEEP_PARTS,
                    campaign_id=request.id,
                    step=step,
                    wave=wave,
                    not_before=start if start > at else None,
                )
            )
    return jobs


def total_parts(request: CampaignRequest) -> int:
    """The parts of all the campaign's jobs: it is done when each ended."""
    return len(request.plan) * (LOCAL_WAVES if request.local_time else 1) * SWEEP_PARTS


def wave_window(request: CampaignRequest, step: int, wave: int) -> tuple[datetime, datetime]:
    """The hour of wave ``wave`` of a local-time step: the members whose wall time comes in it (wave 0: UTC+14,
    the first zone to reach the wall time; wave 26: UTC-12, the last)."""
    wall = request.step_at(step).replace(tzinfo=None)
    start = wall.replace(tzinfo=UTC) - EARLIEST_OFFSET + timedelta(hours=wave)
    return start, start + timedelta(hours=1)


def local_moment(request: CampaignRequest, step: int, zone: ZoneInfo) -> datetime:
    """The moment the step's wall time comes in ``zone`` (a wall time a DST change skips: the hour after)."""
    from shared.core.occasions import send_moment

    wall = request.step_at(step).replace(tzinfo=None)
    return send_moment(wall.date(), 0, wall.time(), zone)


def campaign_view(campaign: Campaign) -> dict[str, Any]:
    """A campaign as the API shows it: the request, the status and the progress."""
    held = sum(campaign.suppressed.values())
    return {
        **campaign.request.model_dump(mode="json", exclude_none=True),
        "status": campaign.status,
        "created_at": campaign.created_at.isoformat().replace("+00:00", "Z"),
        "progress": {
            "members": campaign.members,
            "sent": campaign.sent,
            "suppressed": held,
            "suppressed_by_reason": dict(sorted(campaign.suppressed.items())),
            "failed": campaign.failed,
            "waiting": max(0, campaign.members - campaign.sent - held - campaign.failed),
            "parts_done": campaign.parts_done,
            "parts": total_parts(campaign.request),
        },
    }


class CampaignDesk:
    """The campaign API of one deployment: create (idempotent by id), read, cancel."""

    def __init__(self, campaigns: Campaigns, shops: Shops, fan_outs: FanOuts, clock: Callable[[], datetime]) -> None:
        self._campaigns, self._shops, self._fan_outs, self._clock = campaigns, shops, fan_outs, clock

    def create(self, shop_id: str, body: Any) -> tuple[bool, dict[str, Any]]:
        """(created, the campaign): a new campaign is stored and its job started; the same request again changes
        nothing; another request under an existing id is CampaignConflictError."""
        request = self._validated(shop_id, body)
        now = self._clock()
        created = self._campaigns.create(shop_id, request, now)
        if created is None:
            stored = self._campaigns.get(shop_id, request.id)
            if stored is None or stored.request != request:
                raise CampaignConflictError(f"campaign {request.id!r} exists with another request")
            for job in campaign_jobs(shop_id, request, stored.created_at):  # a start lost before: again
                self._fan_outs.start(job)
            return False, campaign_view(stored)
        for job in campaign_jobs(shop_id, request, now):
            self._fan_outs.start(job)
        return True, campaign_view(created)

    def get(self, shop_id: str, campaign_id: str) -> dict[str, Any] | None:
        found = self._campaigns.get(shop_id, campaign_id)
        return campaign_view(found) if found is not None else None

    def cancel(self, shop_id: str, campaign_id: str) -> dict[str, Any] | None:
        """The cancelled campaign; None if there is none; CampaignConflictError once it is done."""
        if self._campaigns.cancel(shop_id, campaign_id):
            return self.get(shop_id, campaign_id)
        found = self._campaigns.get(shop_id, campaign_id)
        if found is None:
            return None
        if found.status == "cancelled":
            return campaign_view(found)
        raise CampaignConflictError(f"campaign {campaign_id!r} is {found.status}: too late to cancel")

    def _validated(self, shop_id: str, body: Any) -> CampaignRequest:
        try:
            request = CampaignRequest.model_validate(body)
        except ValidationError as error:
            raise CampaignRequestError(
                [{"field": ".".join(map(str, e["loc"])) or "body", "rule": e["msg"]} for e in error.errors()]
            ) from error
        config = self._shops.config(shop_id)
        errors = []
        if config is None or request.segment not in config.segments:
            known = sorted(config.segments) if config is not None else []
            errors.append({"field": "segment", "rule": f"must be one of the shop's segments {known}"})
        if config is not None and request.topic is not None and request.topic not in config.topics:
            errors.append({"field": "topic", "rule": f"must be one of the shop's topics {sorted(config.topics)}"})
        kinds = known_kinds(config) if config is not None else set()
        for index, step in enumerate(request.plan):
            if config is not None and step.template not in kinds:
                field = "template" if request.steps is None else f"steps.{index}.template"
                errors.append({"field": field, "rule": "must be a message kind nudge ships or the shop overrides"})
        if errors:
            raise CampaignRequestError(errors)
        return request


def known_kinds(config: ShopConfig) -> set[str]:
    """The message kinds the shop can send: nudge's shipped templates and the shop's own."""
    from shared.content.validation import shipped_kinds  # the templates are read only when a campaign is posted

    return set(shipped_kinds()) | set(config.templates.overrides) | set(config.templates.whatsapp)


class CampaignPager:
    """One page of a campaign's sweep."""

    def __init__(
        self,
        campaigns: Campaigns,
        customers: CustomerSweep,
        events: EventQueue,
        shops: Shops,
        orders: OrderAggregates,
        clock: Callable[[], datetime],
        page_size: int = SWEEP_PAGE,
    ) -> None:
        self._campaigns, self._customers, self._events = campaigns, customers, events
        self._shops, self._orders, self._clock, self._page_size = shops, orders, clock, page_size

    def page(self, job: FanOutJob, part: int, after: str | None) -> PageDone:
        """Tell the members on the next page of segment ``part`` that the campaign's step is due for them."""
        from shared.core.policy import zone_of  # the decision core's rule (it loads the shop config's schema)

        assert job.campaign_id is not None
        now = self._clock()
        campaign = self._campaigns.get(job.shop_id, job.campaign_id)
        if campaign is None or campaign.status == "cancelled":
            return PageDone(next=None, wait_seconds=0, told=0, skipped=0, stopped="cancelled")
        if (waiting := not_started(job, after, now)) is not None:
            return waiting
        config = self._shops.config(job.shop_id)
        request = campaign.request
        if config is None or request.segment not in config.segments:
            return PageDone(next=None, wait_seconds=0, told=0, skipped=0, stopped="segment gone from the config")
        if not self._campaigns.start(job.shop_id, job.campaign_id):
            return PageDone(next=None, wait_seconds=0, told=0, skipped=0, stopped="cancelled")
        after = after or None
        counters = self._orders.distribution(job.shop_id) if uses_distribution(config, request.segment) else {}
        audience = Audience(config, ShopDistribution.of(counters), now)
        customers, last = self._customers.sweep(job.shop_id, part, job.parts, self._page_size, after)
        step = request.plan[job.step]
        properties: dict[str, Any] = {
            "campaign_id": request.id,
            "template": step.template,
            "channels": request.channels,
        }
        if request.topic is not None:
            properties["topic"] = request.topic
        if job.step:
            properties["step"] = job.step
        if request.holdout:
            properties["holdout"] = request.holdout
        start, end = wave_window(request, job.step, job.wave) if job.wave is not None else (now, now)
        entries = []
        for key, state in customers:
            if not self._follows(request, job.step, state) or not in_segment(state, request.segment, audience):
                continue
            told = dict(properties)
            if job.wave is not None:
                moment = local_moment(request, job.step, zone_of(state.timezone, config.shop.timezone))
                if not start <= moment < end:
                    continue  # another wave's zone
                told["send_at"] = moment.isoformat()
            entries.append(customer_event(job, key, CAMPAIGN_DUE, told, now))
        if entries:
            self._events.send(entries)
        marker = f"{job.step}.{job.wave}.{part}"
        page = hashlib.sha256(f"{marker}\n{after or ''}".encode()).hexdigest()[:12]
        ended = marker if last is None else None
        self._campaigns.count_page(job.shop_id, job.campaign_id, page, len(entries), ended)
        if ended is not None:
            finished = self._campaigns.get(job.shop_id, job.campaign_id)
            if finished is not None and finished.parts_done >= total_parts(request):
                self._campaigns.finish(job.shop_id, job.campaign_id)
        # The parts run side by side: each keeps to its share of the campaign's rate.
        wait = wait_for(len(entries) * job.parts, request.rate_per_second) if last else 0
        return PageDone(next=last, wait_seconds=wait, told=len(entries), skipped=len(customers) - len(entries))

    @staticmethod
    def _follows(request: CampaignRequest, step: int, state: CustomerState) -> bool:
        """The first step goes to every member; a follow-up to those the campaign reached (who, with
        ``skip_converted``, have not ordered since)."""
        if step == 0:
            return True
        marks = state.campaigns.get(request.id)
        return marks is not None and not (request.plan[step].skip_converted and marks.converted_at is not None)
