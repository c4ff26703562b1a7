"""What a campaign costs and how long it takes (J12), measured on the emulator and scaled to 1 M and 10 M members.

``python -m infra.bench.campaign [--customers 400] [--rate 50 500 1000]`` replays, metered, through the real handlers
on moto (``nudge simulate --emulator moto``, as the bench's pipeline does): a shop whose customers sign up with
e-mail consent, once without and once with a campaign to all of them; the difference is the campaign's own work:
its fan-out (Step Functions, the fan-out function's pages, the parallel scan), each member's ``Campaign Due`` event
(the events queue, the updater's read and write), and each message (the outbox, the router's ledger and progress
writes, SES). Per member, those counts price at the list prices of ``infra.bench.pricing`` for 1 M and 10 M members.
Lambda is priced per request only (the emulator's durations are not Lambda's). The time is the members over the
campaign's ``rate_per_second``: the sweep's parts pace themselves to it together.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.bench.pipeline import Probe, history_of
from infra.bench.pricing import FAN_OUT_ASL, PRICES, fan_out_transitions
from shared.models.config import ShopConfig
from shared.service.campaigns import SWEEP_PAGE, SWEEP_PARTS

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
SCALES = (1_000_000, 10_000_000)


@dataclass(frozen=True)
class Usage:
    """Billed units of one metered run."""

    write_units: float
    read_units: float
    sqs_requests: float
    lambda_requests: float
    sent: int


def shop_config() -> ShopConfig:
    """The demo shop without journeys (the campaign's messages alone), with a segment of every subscriber."""
    from infra.bench.pricing import DEFAULT_CONFIG

    document = ShopConfig.from_yaml_file(DEFAULT_CONFIG).model_dump(mode="json", exclude_unset=True)
    document["journeys"] = {}
    document["segments"] = {"subscribers": {"consent": "email"}}
    return ShopConfig.model_validate(document)


def email_consent(user: str, message_id: str, at: str) -> dict[str, Any]:
    """The customer's e-mail consent, given at sign-up."""
    consent = {"channel": "email", "status": "granted", "source": "signup-form", "notice_version": "v3"}
    properties = {"event": "Consent Updated", "userId": user, "messageId": message_id, "timestamp": at}
    return {"type": "track", **properties, "properties": consent}


def history(customers: int, campaign: bool) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for n in range(customers):
        user, at = f"c{n}", (T0 + timedelta(seconds=n)).isoformat()
        traits = {"email": f"{user}@example.com", "firstName": "Jo"}
        bodies.append({"type": "identify", "userId": user, "messageId": f"i{n}", "timestamp": at, "traits": traits})
        bodies.append(email_consent(user, f"c{n}", at))
    if campaign:
        start = T0 + timedelta(seconds=customers + 60)
        bodies.append(
            {
                "type": "campaign",
                "timestamp": start.isoformat(),
                "id": "bench",
                "segment": "subscribers",
                "template": "welcome",
                "send_at": (start + timedelta(hours=1)).isoformat(),
                "rate_per_second": 1000,
            }
        )
    return bodies


def metered(config: ShopConfig, bodies: list[dict[str, Any]]) -> Usage:
    from infra.simulate import Simulation

    sent = 0

    def report(outcome: Any) -> None:
        nonlocal sent
        sent += outcome.status == "sent"

    probe = Probe()
    simulation = Simulation(
        config, history_of(bodies), report, warn=lambda line: None, instrument=probe, emulator="moto"
    )
    try:
        simulation.run()
    finally:
        probe.close()
    meter = probe.meter
    return Usage(
        write_units=meter.write_units,
        read_units=sum(meter.scoped_read_units.values()),
        sqs_requests=sum(meter.scoped_sqs_requests.values()),
        lambda_requests=sum(usage.invocations for usage in probe.functions.values()),
        sent=sent,
    )


def estimate(customers: int, rates: tuple[int, ...]) -> dict[str, Any]:
    config = shop_config()
    without, with_campaign = metered(config, history(customers, False)), metered(config, history(customers, True))
    members = with_campaign.sent - without.sent
    assert members == customers, f"the campaign reached {members} of {customers}"
    per_member = {
        "dynamodb_write": (with_campaign.write_units - without.write_units) / members,
        "dynamodb_read": (with_campaign.read_units - without.read_units) / members,
        "sqs_request": (with_campaign.sqs_requests - without.sqs_requests) / members,
        "lambda_request": (with_campaign.lambda_requests - without.lambda_requests) / members,
        "ses_email": 1.0,
    }
    asl = json.loads(FAN_OUT_ASL.read_text(encoding="utf-8"))
    scaled = []
    for size in SCALES:
        pages = SWEEP_PARTS * math.ceil(size / SWEEP_PARTS / SWEEP_PAGE)
        units = {name: per * size for name, per in per_member.items()}
        units["sfn_transition"] = fan_out_transitions(asl, 1, SWEEP_PARTS, pages)
        dollars = {name: units[name] * PRICES[name].each for name in units}
        scaled.append(
            {
                "members": size,
                "units": units,
                "dollars": dollars,
                "engine_dollars": sum(v for k, v in dollars.items() if k != "ses_email"),
                "hours_at_rate": {rate: size / rate / 3600 for rate in rates},
            }
        )
    return {"customers": customers, "per_member": per_member, "scaled": scaled}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Measured on {result['customers']:,} members (`python -m infra.bench.campaign --customers "
        f"{result['customers']}`), per member: "
        + ", ".join(f"{name} {value:.3f}" for name, value in result["per_member"].items())
        + ".",
        "",
        "| members | DynamoDB writes | DynamoDB reads | SQS | Lambda requests | Step Functions | engine $ | SES $ "
        "| hours at 50 / 500 / 1,000 a second |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["scaled"]:
        d, u = row["dollars"], row["units"]
        hours = " / ".join(f"{h:,.1f}" for h in row["hours_at_rate"].values())
        lines.append(
            f"| {row['members']:,} | ${d['dynamodb_write']:,.2f} ({u['dynamodb_write']:,.0f} units) "
            f"| ${d['dynamodb_read']:,.2f} | ${d['sqs_request']:,.2f} | ${d['lambda_request']:,.2f} "
            f"| ${d['sfn_transition']:,.2f} ({u['sfn_transition']:,} transitions) | **${row['engine_dollars']:,.2f}** "
            f"| ${d['ses_email']:,.2f} | {hours} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--rate", type=int, nargs="+", default=[50, 500, 1000])
    args = parser.parse_args(argv)
    print(markdown(estimate(args.customers, tuple(args.rate))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
