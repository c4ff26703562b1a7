"""Deferred package __init__: submodules import alone, the package's names resolve one submodule each, and anything
else gives the package exactly as a normal import would; every handler imports only the parts of Powertools it uses."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.lazy_packages import defer_init

ROOT = Path(__file__).resolve().parents[2]

INIT = """
from .light import Light
from .tool import tool
from lazypkg.heavy import Heavy as Renamed

RAN = True
__all__ = ["Light", "Renamed", "tool"]
"""


@pytest.fixture
def lazypkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    package = tmp_path / "lazypkg"
    package.mkdir()
    (package / "__init__.py").write_text(INIT)
    (package / "light.py").write_text("class Light: ...\n")
    (package / "heavy.py").write_text("class Heavy: ...\n")
    (package / "tool.py").write_text("def tool() -> str:\n    return 'the function'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazypkg"
    for name in [name for name in sys.modules if name == "lazypkg" or name.startswith("lazypkg.")]:
        del sys.modules[name]


def test_a_submodule_imports_without_the_package_init(lazypkg: str) -> None:
    package = defer_init(lazypkg)

    from lazypkg.light import Light

    assert Light.__module__ == "lazypkg.light"
    assert "RAN" not in vars(package)
    assert "lazypkg.heavy" not in sys.modules


def test_a_name_of_the_init_loads_only_its_own_submodule(lazypkg: str) -> None:
    defer_init(lazypkg)

    from lazypkg import Light, tool

    assert Light.__module__ == "lazypkg.light"
    assert tool() == "the function"
    assert "lazypkg.heavy" not in sys.modules
    assert "RAN" not in vars(sys.modules[lazypkg])


def test_any_other_name_runs_the_init_once_and_the_package_is_whole(lazypkg: str) -> None:
    package = defer_init(lazypkg)

    assert package.__all__ == ["Light", "Renamed", "tool"]

    assert package.RAN is True
    assert package.Renamed.__module__ == "lazypkg.heavy"
    assert type(package) is type(sys)  # a plain module again
    with pytest.raises(AttributeError):
        _ = package.missing


def test_a_submodule_named_like_a_function_of_the_init_does_not_hide_it(lazypkg: str) -> None:
    defer_init(lazypkg)

    # the import system sets the submodule on its package, as the __init__'s own import of it does
    importlib.import_module("lazypkg.tool")

    from lazypkg import tool

    assert callable(tool) and tool() == "the function"


def test_a_package_imported_already_is_left_as_it_is(lazypkg: str) -> None:
    import lazypkg

    assert defer_init(lazypkg.__name__) is lazypkg
    assert lazypkg.RAN is True


HANDLERS = ["ingest", "state_updater", "channel_router", "customer_api", "public_api", "feedback"]
# Never needed by any handler at import: Powertools' other resolvers and event classes, asyncio (Powertools' batch
# module imports it for its async processor), the X-Ray SDK (tracing starts at the first traced call), Powertools'
# parser models.
NEVER = [
    "asyncio.base_events",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.parameters.ssm",
    "aws_xray_sdk",
]
# What one handler does not use although a neighbour does (loaded at the first use, if ever).
NOT_BY = {
    "channel_router": [
        "jinja2",
        "shared.content.renderer",
        "shared.adapters.channels.email",
        "shared.models.segment",  # it arms timers, never reads a shop's Segment events
    ],
    "public_api": [
        "shared.adapters.channels.email",
        "shared.adapters.channels.push",
        "shared.core.notifications",
        "shared.models.segment",  # it makes feedback events, never reads a shop's Segment events
        "shared.models.config",  # read at the first inbox call (the shop's keys), never for an unsubscribe
    ],
    "customer_api": ["shared.models.config", "jinja2"],  # it looks up keys, never reads a shop's configuration
    "feedback": [
        "shared.adapters.channels.email",
        "shared.adapters.channels.inbox",
        "jinja2",
        "shared.models.config",  # it names channels, never reads a shop's configuration
        "shared.models.segment",
    ],
    "ingest": ["shared.models.state", "shared.models.config", "jinja2"],
}


def _imported_by(function: str, probes: list[str]) -> dict[str, bool]:
    code = (
        f"import json, sys, functions.{function}.handler\n"
        f"print(json.dumps({{name: name in sys.modules for name in {probes!r}}}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("function", HANDLERS)
def test_a_handler_imports_only_the_parts_it_uses(function: str) -> None:
    probes = NEVER + NOT_BY.get(function, [])

    loaded = _imported_by(function, probes)

    assert [name for name, present in loaded.items() if present] == []


def test_after_a_handler_the_narrowed_packages_still_offer_everything() -> None:
    code = (
        "import functions.ingest.handler\n"
        "from aws_lambda_powertools.event_handler import AppSyncResolver, APIGatewayRestResolver\n"
        "from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent, event_source\n"
        "from aws_lambda_powertools.utilities.parameters import get_parameter\n"
        "import aws_lambda_powertools.event_handler as handlers\n"
        "import asyncio\n"
        "async def answer() -> int:\n"
        "    await asyncio.sleep(0)\n"
        "    return 42\n"
        "print(len(handlers.__all__), callable(event_source), callable(get_parameter), asyncio.run(answer()))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    count, source_callable, parameter_callable, answer = done.stdout.split()
    assert int(count) > 10 and source_callable == parameter_callable == "True" and answer == "42"
