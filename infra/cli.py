"""The ``nudge`` command: the local stack, the demo, and operator commands for shop configurations."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from infra.admin import ConfigInvalidError, apply_config, load_config
from shared.models.config import CHANNELS

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "events" / "demo-shop.yaml"
FAST_CONFIG = DEMO_CONFIG.with_name("fast-shop.yaml")  # the same engine with journeys that wait seconds
PACED_CONFIG = DEMO_CONFIG.with_name("paced-shop.yaml")  # journeys that wait seconds, one message a day


def _say(line: str) -> None:
    print(line, flush=True)


def serve(port: int, configs: list[Path], log_level: str) -> int:
    """Run the local stack in the foreground until Ctrl-C."""
    import faulthandler

    from infra.local.stack import LocalStack

    # `kill -USR1 <pid>` prints every thread's stack (to see where a stack that does not stop is waiting)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # Ctrl-C (SIGINT) stops it even when started from a script in the background, whose SIGINT the shell ignores:
    # Python leaves an inherited "ignore" as it is, and the stack would then run until killed.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = LocalStack(configs=configs, port=port, log_level=log_level, console=_say)
    _say("starting the local stack ...")
    try:
        stack.start()
    except KeyboardInterrupt:  # Ctrl-C while it starts: undo what started
        _say("stopping ...")
        stack.stop()
        _say("stopped")
        return 0
    _say(f"nudge local stack on {stack.base_url}")
    _say(f"  emulator (moto) on {stack.endpoint_url}; shops loaded: {', '.join(str(c) for c in configs) or 'none'}")
    for route in stack.deployment.routes:
        _say(f"  {route.method:4} {stack.base_url}{route.path}  -> {route.function}")
    for source in stack.deployment.queue_sources:
        _say(f"  poll {source.queue_url.rsplit('/', 1)[-1]} (batch {source.batch_size}) -> {source.function}")
    for topic in stack.deployment.topic_sources:
        _say(f"  SNS  {topic.topic_arn.rsplit(':', 1)[-1]} -> {topic.function}")
    _say("Ctrl-C stops it.")
    # The HTTP API takes connections only now (earlier ones are refused); scripts wait for this line or GET /health.
    _say(f"ready: {stack.base_url} (GET {stack.base_url}/health answers 200)")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        # Wake up twice a second: a signal that the kernel hands to another of the stack's threads only sets a flag,
        # which Python's handler (KeyboardInterrupt) acts on when the main thread next runs; an untimed wait on a
        # lock might never return for it (seen in CI: the stack ran on after Ctrl-C).
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        _say("stopping ...")
        stack.stop()
        _say("stopped")
    return 0


def demo(configs: list[Path]) -> int:
    """Start the local stack on a free port, play the demo shop's story through it, stop."""
    from infra.demo import Demo
    from infra.local.stack import LocalStack, emails_to
    from infra.metering import ApiCallMeter
    from shared import aws

    _say("Starting the local stack (moto, provisioned from template.yaml) ...")
    with LocalStack(configs=configs, log_level="ERROR") as stack:
        meter = ApiCallMeter()
        for service in ("dynamodb", "sqs", "stepfunctions", "sesv2", "sns"):
            meter.attach(aws.client(service))
        _say(f"nudge local stack on {stack.base_url}; shops from {', '.join(str(c) for c in configs)}")
        demo = Demo(stack.base_url, stack.wait_idle, meter, out=_say, providers=stack.providers, mails=emails_to)
        demo.run()
    return 0


def validate(path: Path, strict: bool = False) -> int:
    """Validate the document's shape, render every template against a sample customer, and warn about every
    preferred channel the shop cannot send on (``strict``: those warnings are problems too)."""
    from shared.content import validate_templates

    config = load_config(path)
    problems = validate_templates(config)
    warnings = config.channel_warnings()
    if strict:
        problems = [*problems, *warnings]
    if problems:
        raise ConfigInvalidError(path, problems)
    for warning in warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    journeys = ", ".join(sorted(config.journeys)) or "none"
    caveat = f"; {len(warnings)} warning(s)" if warnings else ""
    _say(f"{path}: valid (shop {config.shop.id}; journeys: {journeys}; every template renders{caveat})")
    return 0


def send(args: argparse.Namespace) -> int:
    """An operator's message: onto the outbox, like a journey step's; the router decides channel and consent."""
    import os
    import uuid

    from shared import clock
    from shared.adapters.queue import StandardQueue
    from shared.models.messages import OutboxMessage

    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    variables = dict(item.split("=", 1) for item in args.var if "=" in item)
    message = OutboxMessage(
        message_id=args.message_id or f"operator-{uuid.uuid4()}",
        shop_id=args.shop,
        customer=f"u:{args.customer}",
        journey="operator",
        step=0,
        template=args.template,
        channels=args.channel,
        variables=variables,
        transactional=args.transactional,
        created_at=clock.now(),
    )
    StandardQueue(args.queue_url).send(message.model_dump_json())
    _say(f"queued {message.message_id} for {args.customer} ({args.template})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nudge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the local stack in the foreground on 127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8787)
    serve_cmd.add_argument("--config", type=Path, action="append", default=[], help="shop config YAML (repeatable)")
    serve_cmd.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    demo_cmd = commands.add_parser("demo", help="play the demo shop step by step on a fresh local stack")
    demo_cmd.add_argument("--config", type=Path, action="append", default=[])

    config_cmd = commands.add_parser("config", help="shop configuration files").add_subparsers(
        dest="action", required=True
    )
    validate_cmd = config_cmd.add_parser("validate", help="explain every problem of a shop config, with its path")
    validate_cmd.add_argument("file", type=Path)
    validate_cmd.add_argument(
        "--strict", action="store_true", help="warnings (e.g. a preferred channel without provider settings) fail"
    )

    send_cmd = commands.add_parser("send", help="put one message on the outbox (the router checks consent, once)")
    send_cmd.add_argument("--queue-url", required=True, help="the outbox queue (OutboxQueue of the stack)")
    send_cmd.add_argument("--shop", required=True)
    send_cmd.add_argument("--customer", required=True, help="the shop's userId")
    send_cmd.add_argument("--template", required=True, help="message kind, e.g. cart_reminder")
    send_cmd.add_argument("--channel", action="append", choices=list(CHANNELS), help="narrow the channels, in order")
    send_cmd.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="template variable")
    send_cmd.add_argument("--message-id", help="idempotency: the same id is sent at most once (default: new)")
    send_cmd.add_argument("--transactional", action="store_true")
    send_cmd.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local stack's emulator")

    shops_cmd = commands.add_parser("shops", help="shops in a deployed stack").add_subparsers(
        dest="action", required=True
    )
    apply_cmd = shops_cmd.add_parser("apply", help="validate a shop config and store it (keys hashed)")
    apply_cmd.add_argument("file", type=Path)
    apply_cmd.add_argument("--table", required=True, help="the ShopsTableName output of the stack")

    offers_cmd = commands.add_parser("offers", help="offer codes").add_subparsers(dest="action", required=True)
    upload_cmd = offers_cmd.add_parser("upload", help="add a file of discount codes to a pool (one code a line)")
    upload_cmd.add_argument("file", type=Path)
    upload_cmd.add_argument("--pool", required=True, help="the pool's name, as the shop config's offers name it")
    upload_cmd.add_argument("--api", required=True, help="the stack's HTTP API, e.g. http://127.0.0.1:8787")
    upload_cmd.add_argument("--key", required=True, help="a secret key of the shop")

    key_cmd = offers_cmd.add_parser("webhook-key", help="the key a shop's endpoint verifies offer webhooks with")
    key_cmd.add_argument("--shop", required=True)
    key_cmd.add_argument("--secret-arn", required=True, help="the SigningSecretArn output of the stack")
    key_cmd.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local stack's emulator")

    catalog_cmd = commands.add_parser("catalog", help="the shop's products").add_subparsers(
        dest="action", required=True
    )
    import_cmd = catalog_cmd.add_parser(
        "import", help="post a Google Merchant Center feed (text or XML) to the shop's catalogue, checked first"
    )
    import_cmd.add_argument("file", type=Path, help="the feed: tab-separated text, RSS 2.0 or Atom")
    import_cmd.add_argument("--shop", required=True, help="the shop's id; the key must be one of its keys")
    import_cmd.add_argument("--api", required=True, help="the stack's HTTP API, e.g. http://127.0.0.1:8787")
    import_cmd.add_argument("--key", required=True, help="a secret key of the shop")

    segment_cmd = commands.add_parser("segment", help="the shop's segments").add_subparsers(
        dest="action", required=True
    )
    export_cmd = segment_cmd.add_parser("export", help="every member of a segment, e.g. for a retargeting audience")
    export_cmd.add_argument("name", help="the segment's name in the shop config")
    export_cmd.add_argument("--api", required=True, help="the stack's HTTP API, e.g. http://127.0.0.1:8787")
    export_cmd.add_argument("--key", required=True, help="a secret key of the shop")
    export_cmd.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export_cmd.add_argument("--hashed", action="store_true", help="SHA-256 of normalized e-mail and phone")
    export_cmd.add_argument("--output", type=Path, help="a file (default: standard output)")

    campaign_cmd = commands.add_parser("campaign", help="campaigns: one message to a segment").add_subparsers(
        dest="action", required=True
    )
    for action, target, helped in (
        ("create", "file", "post a campaign from a JSON file (- reads standard input)"),
        ("show", "id", "the campaign's status and progress"),
        ("cancel", "id", "cancel a campaign until it is done: nobody not told yet is told"),
    ):
        action_cmd = campaign_cmd.add_parser(action, help=helped)
        action_cmd.add_argument("target", metavar=target.upper())
        action_cmd.add_argument("--api", required=True, help="the stack's HTTP API, e.g. http://127.0.0.1:8787")
        action_cmd.add_argument("--key", required=True, help="a secret key of the shop")

    customer_cmd = commands.add_parser("customer", help="one customer, as support reads them").add_subparsers(
        dest="action", required=True
    )
    for action, helped in (
        ("show", "the profile, consents, carts, orders and insights"),
        ("timeline", "events, decisions, messages, engagement and orders, newest first"),
        ("export", "everything held about the customer, one JSON document (GDPR Art. 15, 20)"),
        ("erase", "erase everything held about the customer (GDPR Art. 17); a suppression record stays"),
    ):
        action_cmd = customer_cmd.add_parser(action, help=helped)
        action_cmd.add_argument("customer_id", metavar="ID", help="the shop's userId")
        action_cmd.add_argument("--api", required=True, help="the stack's HTTP API, e.g. http://127.0.0.1:8787")
        action_cmd.add_argument("--key", required=True, help="a secret key of the shop")
        action_cmd.add_argument("--output", type=Path, help="write the JSON to this file (default: standard output)")

    journey_cmd = commands.add_parser("journey", help="pause or resume a journey, no deploy").add_subparsers(
        dest="action", required=True
    )
    for action, helped in (
        ("pause", "its marketing messages wait (deferred, at most max_deferral) until it is resumed"),
        ("resume", "its waiting messages go out at their next look (within the hour)"),
    ):
        action_cmd = journey_cmd.add_parser(action, help=helped)
        action_cmd.add_argument("name", help="the journey's name in the shop's config")
        action_cmd.add_argument("--shop", required=True)
        shops_arg = action_cmd.add_mutually_exclusive_group(required=True)
        shops_arg.add_argument("--table", help="the ShopsTableName output of the stack")
        shops_arg.add_argument("--stack", help="a deployed stack's name: its ShopsTableName output")
        action_cmd.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local stack's emulator")

    keys_cmd = commands.add_parser("keys", help="a shop's API keys").add_subparsers(dest="action", required=True)
    rotate_cmd = keys_cmd.add_parser(
        "rotate", help="a new key, printed once; the shop's old keys of that kind stop after the grace period"
    )
    rotate_cmd.add_argument("--shop", required=True)
    rotate_cmd.add_argument("--kind", required=True, choices=("write", "secret"))
    rotate_cmd.add_argument("--grace", default="P7D", help="how long the old keys keep working (ISO 8601; P7D)")
    rotate_cmd.add_argument("--config", type=Path, help="the shop's config file: its key list gets the new key's hash")
    table_arg = rotate_cmd.add_mutually_exclusive_group(required=True)
    table_arg.add_argument("--table", help="the ShopsTableName output of the stack")
    table_arg.add_argument("--stack", help="a deployed stack's name: its ShopsTableName output")
    rotate_cmd.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local stack's emulator")

    dlq_cmd = commands.add_parser(
        "dlq", help="the dead-letter queues: what was parked, why; move it back"
    ).add_subparsers(dest="action", required=True)
    for action, helped in (
        ("list", "each parked message: id, reason, when, what it is (nothing is consumed)"),
        ("show", "the messages named, whole"),
        ("redrive", "move the messages named (default: all) back to the queue they came from"),
    ):
        action_cmd = dlq_cmd.add_parser(action, help=helped)
        action_cmd.add_argument("ids", nargs="*" if action != "show" else "+", metavar="ID", help="SQS message ids")
        action_cmd.add_argument("--queue", choices=("events", "outbox"), help="which, with --stack")
        action_cmd.add_argument("--stack", help="a deployed stack's name: its dead-letter queues' outputs")
        action_cmd.add_argument("--queue-url", help="the dead-letter queue's URL (e.g. the local stack's)")
        action_cmd.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local stack's emulator")

    dates_cmd = commands.add_parser("dates", help="birthdays and occasions").add_subparsers(
        dest="action", required=True
    )
    run_cmd = dates_cmd.add_parser("run", help="sweep a day's birthdays and occasions again (a missed day)")
    run_cmd.add_argument("--day", help="YYYY-MM-DD, from a week ago to tomorrow (default: the next UTC day)")
    run_cmd.add_argument("--api", required=True, help="the stack's HTTP API, e.g. http://127.0.0.1:8787")
    run_cmd.add_argument("--key", required=True, help="a secret key of the shop")

    report_cmd = commands.add_parser(
        "report", help="the journey report (uplift, conversions) and the churn report, as tables and charts"
    )
    report_cmd.add_argument("--api", required=True, help="the stack's HTTP API, e.g. http://127.0.0.1:8787")
    report_cmd.add_argument("--key", required=True, help="a secret key of the shop")
    report_cmd.add_argument("--from", dest="start", help="first day, YYYY-MM-DD (default: 30 days to --to)")
    report_cmd.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (default: today, UTC)")
    report_cmd.add_argument("--charts", type=Path, help="write report.json and PNG charts into this directory")

    simulate_cmd = commands.add_parser(
        "simulate", help="replay a Segment history in virtual time; one JSON line per message nudge would send"
    )
    simulate_cmd.add_argument("--config", type=Path, required=True, help="shop config YAML")
    simulate_cmd.add_argument(
        "--events", type=Path, required=True, help="history: JSONL, one Segment message with its timestamp a line"
    )
    simulate_cmd.add_argument("--summary", action="store_true", help="end with a line of totals per journey")
    simulate_cmd.add_argument(
        "--until", help="stop at this ISO 8601 time, or this long after the last message (P0D: at it); default: idle"
    )
    simulate_cmd.add_argument(
        "--emulator",
        choices=("memory", "moto"),
        default="memory",
        help="memory: the in-memory adapters (fast, the default); moto: the AWS adapters against moto (slower)",
    )
    simulate_cmd.add_argument(
        "--report", type=Path, metavar="DIR", help="write the journey report there: report.json and PNG charts"
    )
    simulate_cmd.add_argument(
        "--open-rate", type=float, default=0.0, help="share of e-mails, pushes, in-app messages opened (model; 0)"
    )
    simulate_cmd.add_argument(
        "--click-rate", type=float, default=0.0, help="share of messages clicked, of those opened (model; 0)"
    )

    bench_cmd = commands.add_parser(
        "bench", help="AWS calls and list-price cost per event on a synthetic shop; core speed; cold imports"
    )
    from infra.bench.cli import add_arguments as bench_arguments

    bench_arguments(bench_cmd)

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args.port, args.config or [DEMO_CONFIG], args.log_level)
        if args.command == "demo":
            return demo(args.config or [DEMO_CONFIG, FAST_CONFIG, PACED_CONFIG])
        if args.command == "config":
            return validate(args.file, strict=args.strict)
        if args.command == "send":
            return send(args)
        if args.command == "simulate":
            from infra.simulate import EngagementModel, run_cli

            for name in ("open_rate", "click_rate"):
                if not 0 <= getattr(args, name) <= 1:
                    parser.error(f"--{name.replace('_', '-')}: a share from 0 to 1, not {getattr(args, name)}")
            model = EngagementModel(args.open_rate, args.click_rate) if args.open_rate or args.click_rate else None
            return run_cli(
                args.config,
                args.events,
                summary=args.summary,
                until=args.until,
                emulator=args.emulator,
                report_dir=args.report,
                engagement=model,
            )
        if args.command == "report":
            from infra.report_cli import run as report

            return report(args.api, args.key, args.start, args.end, args.charts)
        if args.command == "bench":
            from infra.bench.cli import run_cli as bench

            return bench(args)
        if args.command == "offers" and args.action == "upload":
            from infra.offers_cli import upload

            return upload(args.file, args.pool, args.api, args.key)
        if args.command == "offers":
            import os

            from infra.offers_cli import webhook_keys

            if args.endpoint_url:
                os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
            return webhook_keys(args.shop, args.secret_arn)
        if args.command == "catalog":
            from infra.catalog_cli import import_feed

            return import_feed(args.file, args.shop, args.api, args.key)
        if args.command == "campaign":
            from infra.campaign_cli import run

            return run(args.action, args.target, args.api, args.key)
        if args.command == "journey":
            import os

            from infra.admin import UnknownJourneyError, pause_journey
            from infra.stack_outputs import StackOutputError, shops_table

            if args.endpoint_url:
                os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
            try:
                table = shops_table(args.table, args.stack)
                paused = pause_journey(args.shop, args.name, table, paused=args.action == "pause")
            except (UnknownJourneyError, StackOutputError) as error:
                print(f"journey: {error}", file=sys.stderr)
                return 1
            _say(f"shop {args.shop}: {args.name} {args.action}d; paused now: {', '.join(sorted(paused)) or 'none'}")
            return 0
        if args.command == "keys":
            import os

            from infra.keys_cli import rotate

            if args.endpoint_url:
                os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
            return rotate(args.shop, args.kind, args.grace, args.config, args.table, args.stack)
        if args.command == "dlq":
            import os

            from infra.dlq_cli import run as dead_letters

            if args.endpoint_url:
                os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
            return dead_letters(args.action, args.ids, args.queue, args.stack, args.queue_url)
        if args.command == "customer":
            from infra.campaign_cli import customer

            return customer(args.action, args.customer_id, args.api, args.key, args.output)
        if args.command == "dates":
            from infra.campaign_cli import sweep_dates

            return sweep_dates(args.day, args.api, args.key)
        if args.command == "segment":
            from infra.segment_cli import export

            return export(args.name, args.api, args.key, args.format, args.hashed, args.output)
        if args.command == "shops":
            from shared.adapters.shops import ShopDirectoryError

            try:
                config = apply_config(args.file, args.table)
            except ShopDirectoryError as error:
                print(f"{args.file}: not stored: {error}", file=sys.stderr)
                return 2
            _say(f"stored shop {config.shop.id} in {args.table}")
            return 0
    except ConfigInvalidError as error:
        print(f"{error}", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
