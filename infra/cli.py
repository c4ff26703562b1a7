"""The ``nudge`` command: the local stack, the demo, and operator commands for shop configurations."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from infra.admin import ConfigInvalidError, apply_config, load_config

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "events" / "demo-shop.yaml"


def _say(line: str) -> None:
    print(line, flush=True)


def serve(port: int, configs: list[Path], log_level: str) -> int:
    """Run the local stack in the foreground until Ctrl-C."""
    from infra.local.stack import LocalStack

    stack = LocalStack(configs=configs, port=port, log_level=log_level, console=_say)
    stack.start()
    _say(f"nudge local stack on {stack.base_url}")
    _say(f"  emulator (moto) on {stack.endpoint_url}; shops loaded: {', '.join(str(c) for c in configs) or 'none'}")
    for route in stack.deployment.routes:
        _say(f"  {route.method:4} {stack.base_url}{route.path}  -> {route.function}")
    for source in stack.deployment.queue_sources:
        _say(f"  poll {source.queue_url.rsplit('/', 1)[-1]} (batch {source.batch_size}) -> {source.function}")
    _say("Ctrl-C stops it.")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
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
    from infra.local.stack import LocalStack
    from infra.metering import ApiCallMeter
    from shared import aws

    _say("Starting the local stack (moto, provisioned from template.yaml) ...")
    with LocalStack(configs=configs, log_level="ERROR") as stack:
        meter = ApiCallMeter()
        for service in ("dynamodb", "sqs", "stepfunctions"):
            meter.attach(aws.client(service))
        _say(f"nudge local stack on {stack.base_url}; demo shop from {', '.join(str(c) for c in configs)}")
        Demo(base_url=stack.base_url, wait_idle=stack.wait_idle, meter=meter, out=_say).run()
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

    shops_cmd = commands.add_parser("shops", help="shops in a deployed stack").add_subparsers(
        dest="action", required=True
    )
    apply_cmd = shops_cmd.add_parser("apply", help="validate a shop config and store it (keys hashed)")
    apply_cmd.add_argument("file", type=Path)
    apply_cmd.add_argument("--table", required=True, help="the ShopsTableName output of the stack")

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args.port, args.config or [DEMO_CONFIG], args.log_level)
        if args.command == "demo":
            return demo(args.config or [DEMO_CONFIG])
        if args.command == "config":
            config = load_config(args.file)
            _say(f"{args.file}: valid (shop {config.shop.id}, {len(config.journeys)} journey(s))")
            return 0
        if args.command == "shops":
            config = apply_config(args.file, args.table)
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
