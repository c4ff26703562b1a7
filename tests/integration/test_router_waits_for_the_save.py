"""The router never routes on the state from before the decision that sent the message.

The updater puts a decision's messages on the outbox *before* it saves the state (docs/DESIGN.md, "Effects before
the save"), so on AWS a router Lambda can take a message while that save is still under way. A new app user's first
batch (identify, in-app consent, the app installed, a cart below free shipping) sends the free-shipping nudge at
once; read before the save, the customer has no consent and no app, and the nudge would be suppressed for good.
Each message names the record version its decision saves (``saved_as``), and the router waits for it.

Here the race is made certain: template.yaml in memory (the fast shop), with an outbox that hands every message to
the router's handler the moment the updater sends it, before the updater's save.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.channel_router.handler import lambda_handler as router_handler
from infra.local.runtime import LambdaContext
from infra.memory.queues import MemoryQueue
from shared.models.messages import OutboxMessage, SavedAs
from shared.service.outbox import NOT_SAVED_RETRY_SECONDS
from shared.service.updater import StateUpdater
from tests.factories import shopper, track
from tests.integration.test_journeys import messages, unique
from tests.integration.test_updater_batches import failed, one_batch
from tests.memory import FAST_CONFIG, MemoryStack

FAST_WRITE = "fast-write-key"


class RacingOutbox:
    """The outbox queue, and a router quick enough to take each batch of messages as soon as it is sent."""

    def __init__(self, queue: MemoryQueue, consumer: Any) -> None:
        self.queue, self.consumer = queue, consumer
        self.answers: list[dict[str, Any]] = []
        self.bodies: list[str] = []

    def send_many(self, bodies: list[str]) -> None:
        self.queue.send_many(bodies)
        self.bodies += bodies
        records = [message.lambda_record(self.queue.arn, "us-east-1") for message in self.queue.receive(10)]
        context = LambdaContext("ChannelRouter", 512, 30)
        try:
            self.answers.append(router_handler({"Records": records}, context, wiring=self.consumer))
        except BatchProcessingError:  # every record failed: the invocation fails, and SQS delivers them again
            self.answers.append({"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


def racing(stack: MemoryStack, pauses: list[float]) -> tuple[StateUpdater, RacingOutbox]:
    """An updater whose messages the router takes before the save (the router's pauses go to ``pauses``)."""
    cloud = stack.cloud
    outbox = RacingOutbox(cloud.outbox, cloud.channel_router_wiring(pause=pauses.append))
    return StateUpdater(cloud.customers, cloud.shops, cloud.events_dlq, cloud.clock, cloud.timers, outbox), outbox


def test_a_message_taken_before_its_decisions_save_waits_for_it_and_then_goes_out(memory_stack):
    stack = memory_stack([FAST_CONFIG])
    pauses: list[float] = []
    updater, outbox = racing(stack, pauses)

    # Given a new app user's first batch, with a cart €10.10 below free shipping
    user = unique("app")
    cart = {"cart_id": "c1", "products": [{"product_id": "mug", "name": "Enamel mug", "price": 39.9}]}
    batch = [
        *shopper(user, "in_app"),
        track("Application Installed", {"version": "4.2"}, userId=user),
        track("Cart Viewed", cart, userId=user),
    ]
    assert stack.post("/v1/batch", {"batch": batch}, key=FAST_WRITE)[0] == 200

    # When the updater decides it and the router takes the nudge before the updater's save
    assert failed(one_batch(stack, updater)) == []

    # Then the router read the customer's record six times, waiting longer each time, and handed the message back
    [nudge] = [OutboxMessage.model_validate_json(body) for body in outbox.bodies]
    assert nudge.template == "free_shipping_nudge"
    assert nudge.saved_as == SavedAs(key=f"u:{user}", version=1)  # the save after the effects writes version 1
    assert stack.cloud.customers.load("fast", f"u:{user}").version == 1
    assert pauses == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert [len(failed(answer)) for answer in outbox.answers] == [1]
    # nothing was decided for it: support sees no suppressed nudge, and it comes back in seconds, not minutes
    assert [m["template"] for m in messages(stack, user)["messages"]] == []
    assert stack.cloud.outbox.next_visible() == stack.clock() + timedelta(seconds=NOT_SAVED_RETRY_SECONDS)
    assert stack.cloud.inbox.list("fast", f"u:{user}") == []

    # and once it is back, the saved state has the consent and the app: it is in the customer's inbox
    stack.clock.at += timedelta(seconds=NOT_SAVED_RETRY_SECONDS)
    stack.settle()
    [seen] = [m for m in messages(stack, user)["messages"] if m["template"] == "free_shipping_nudge"]
    assert (seen["status"], seen["channel"], seen["reason"]) == ("sent", "in_app", None)
    [item] = stack.cloud.inbox.list("fast", f"u:{user}")
    assert item.title == "Only €10.10 to free shipping"
    assert pauses == [0.05, 0.1, 0.2, 0.4, 0.8]  # the second time, the first read found the save


def test_a_message_whose_decision_was_never_saved_is_parked_with_the_reason(memory_stack):
    stack = memory_stack([FAST_CONFIG])
    user = unique("lost")
    assert stack.post("/v1/batch", {"batch": shopper(user, "in_app")}, key=FAST_WRITE)[0] == 200
    stack.settle()
    saved = stack.cloud.customers.load("fast", f"u:{user}").version

    # Given a message whose decision's save never landed (its event was parked): it names a version not written
    message = OutboxMessage(
        message_id=unique("msg"),
        shop_id="fast",
        customer=f"u:{user}",
        journey="free_shipping",
        step=0,
        template="free_shipping_nudge",
        variables={"cart_id": "c1"},
        created_at=stack.clock(),
        saved_as=SavedAs(key=f"u:{user}", version=saved + 1),
    )
    stack.cloud.outbox.send(message.model_dump_json())

    # When the router tries it on each of its five receives, seconds apart
    for _ in range(5):
        stack.settle()
        stack.clock.at += timedelta(seconds=NOT_SAVED_RETRY_SECONDS)
    stack.settle()

    # Then it is parked in the outbox's dead-letter queue, saying why, and nothing was sent
    [parked] = [m.as_sqs()["MessageAttributes"]["reason"]["StringValue"] for m in stack.cloud.outbox_dlq]
    assert parked == (
        f"gave up after 5 attempts: StateNotSavedError: customer record u:{user} not yet saved as version {saved + 1}"
    )
    assert stack.sent() == []
