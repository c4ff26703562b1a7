"""A campaign (J12): one message to every member of a segment, at a moment, at the shop's pace.

``POST /v1/campaigns`` takes a :class:`CampaignRequest`; the stored :class:`Campaign` adds its status and progress.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.models.segments import SegmentName
from shared.models.vocabulary import Channel

CAMPAIGN_DUE = "Campaign Due"  # the event a campaign's page puts into each member's FIFO group (from nudge itself)
CAMPAIGN_JOURNEY = "campaign:"  # a campaign message's journey is campaign:<id>
CampaignId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
CampaignStatus = Literal["scheduled", "running", "done", "cancelled"]


class CampaignRequest(BaseModel):
    """What the shop asks: send ``template`` to every member of ``segment`` from ``send_at`` on, at most
    ``rate_per_second`` customers a second, on ``channels`` (the shop's preference when not given)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    id: CampaignId
    segment: SegmentName
    template: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    send_at: AwareDatetime
    local_time: bool = Field(default=False, description="not yet: send_at is one moment for everyone")
    rate_per_second: int = Field(default=50, ge=1, le=1000)
    channels: Annotated[list[Channel], Field(min_length=1, max_length=5)] | None = None


class Campaign(BaseModel):
    """A campaign as stored: the request, its status, and what became of its members so far."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    request: CampaignRequest
    status: CampaignStatus
    created_at: datetime
    members: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: dict[str, int] = Field(default_factory=dict, description="reason -> messages held back")
    parts_done: int = 0
