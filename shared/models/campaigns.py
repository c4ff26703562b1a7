"""A campaign (J12): one message to every member of a segment, at a moment, at the shop's pace.

``POST /v1/campaigns`` takes a :class:`CampaignRequest`; the stored :class:`Campaign` adds its status and progress.
"""

from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.models.segments import SegmentName
from shared.models.vocabulary import Channel

CAMPAIGN_DUE = "Campaign Due"  # the event a campaign's page puts into each member's FIFO group (from nudge itself)
CAMPAIGN_JOURNEY = "campaign:"  # a campaign message's journey is campaign:<id>
CampaignId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
CampaignStatus = Literal["scheduled", "running", "done", "cancelled"]


TemplateName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MAX_STEPS = 5
MAX_SPAN = timedelta(days=30)  # from send_at to the last step


class CampaignStep(BaseModel):
    """One message of a campaign: ``wait`` after the previous one (the first: after ``send_at``). A follow-up goes to
    the members the campaign reached who are still in the segment, and (``skip_converted``) have not ordered since."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    template: TemplateName
    wait: timedelta = Field(default=timedelta(0), ge=timedelta(0))
    skip_converted: bool = True


class CampaignRequest(BaseModel):
    """What the shop asks: send ``template`` (or each of ``steps``) to every member of ``segment`` from ``send_at``
    on (``local_time``: at ``send_at``'s wall time in each member's own time zone), at most ``rate_per_second``
    customers a second, on ``channels`` (the shop's preference when not given)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    id: CampaignId
    segment: SegmentName
    template: TemplateName | None = None
    steps: Annotated[list[CampaignStep], Field(min_length=1, max_length=MAX_STEPS)] | None = None
    send_at: AwareDatetime
    local_time: bool = Field(
        default=False, description="send_at's wall time (e.g. 09:00 on 10 Dec) in each member's own time zone"
    )
    rate_per_second: int = Field(default=50, ge=1, le=1000)
    channels: Annotated[list[Channel], Field(min_length=1, max_length=5)] | None = None
    holdout: int = Field(
        default=0, ge=0, le=50, description="percent of the members who get none of it: the control group (EX1)"
    )
    topic: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="the shop's topic it belongs to: members who switched it off get none (preference centre)",
    )

    @model_validator(mode="after")
    def _template_or_steps(self) -> Self:
        if (self.template is None) == (self.steps is None):
            raise ValueError("give exactly one of template (one message) or steps (a sequence)")
        if sum((step.wait for step in self.plan), timedelta(0)) > MAX_SPAN:
            raise ValueError("the steps' waits add up to more than 30 days")
        return self

    @property
    def plan(self) -> tuple[CampaignStep, ...]:
        """The messages in order: the one ``template``, or the ``steps``."""
        if self.steps is not None:
            return tuple(self.steps)
        assert self.template is not None
        return (CampaignStep(template=self.template),)

    def step_at(self, step: int) -> datetime:
        """When step ``step`` is due (with ``local_time``: its wall time, in ``send_at``'s own offset)."""
        return self.send_at + sum((s.wait for s in self.plan[: step + 1]), timedelta(0))


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
