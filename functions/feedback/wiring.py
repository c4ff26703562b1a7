"""The feedback function's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from functions.feedback.settings import FeedbackSettings
from shared import clock as wall_clock
from shared.ports import Clock
from shared.service.feedback import FeedbackIntake


def on_aws(settings: FeedbackSettings, clock: Clock = wall_clock.now) -> FeedbackIntake:
    """The events FIFO queue, the phone index, SNS endpoints and the signing secret, as the template names them."""
    from shared.adapters.channels.push import EndpointReader
    from shared.adapters.phone_index import PhoneIndex
    from shared.adapters.queue import FifoQueue
    from shared.service.links import SigningSecret

    return FeedbackIntake(
        FifoQueue(settings.events_queue_url),
        PhoneIndex(settings.customers_table),
        EndpointReader(),
        SigningSecret(settings.signing_secret_arn),
        clock,
    )


def from_environment() -> FeedbackIntake:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(FeedbackSettings.from_environment())
