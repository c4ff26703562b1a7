"""The local runtime runs a function the way Lambda does: a busy function gets another execution environment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from infra.local.provision import FunctionSpec
from infra.local.runtime import FunctionRuntime

SPEC = FunctionSpec("FakeFunction", "tests.infra.fake_function.handler", {}, 128, 10)


def event(name: str) -> dict:
    return {"id": name, "started": threading.Event(), "proceed": threading.Event()}


def test_a_second_invocation_is_served_while_the_first_is_still_running():
    # Given an invocation that runs until told to finish
    runtime = FunctionRuntime(SPEC)
    long, short = event("long"), event("short")
    short["proceed"].set()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(runtime.invoke, long)
        assert long["started"].wait(5)

        # When another arrives meanwhile, Then it is answered before the first finishes, with its own event
        assert pool.submit(runtime.invoke, short).result(timeout=5) == "short"
        assert not first.done()
        long["proceed"].set()
        assert first.result(timeout=5) == "long"  # its module state was not overwritten by the other invocation
    assert runtime.environments == 2
    assert runtime.invocations == 2


def test_one_at_a_time_reuses_one_environment_of_its_own():
    import tests.infra.fake_function as module

    runtime = FunctionRuntime(SPEC)
    for name in ("a", "b", "c"):
        one = event(name)
        one["proceed"].set()
        assert runtime.invoke(one) == name
    assert runtime.environments == 1
    # the environment is its own copy of the module: a second runtime (another deployment) starts cold
    assert module.current is None


def test_each_environment_builds_its_wiring_once_and_the_handler_is_given_it():
    built: list[object] = []

    def wiring() -> object:
        built.append(object())
        return built[-1]

    runtime = FunctionRuntime(SPEC, wiring=wiring)
    answers = []
    for name in ("a", "b"):
        one = {**event(name), "answer": "wiring"}
        one["proceed"].set()
        answers.append(runtime.invoke(one))
    assert len(built) == 1 and answers == [built[0], built[0]]


def test_the_schedule_player_invokes_a_daily_schedule_at_its_time_and_once_a_day():
    import time as wall
    from datetime import UTC, datetime, time, timedelta

    from infra.local.pollers import SchedulePlayer
    from infra.local.provision import ScheduleSource

    invoked: list[dict[str, object]] = []

    class Runtime:
        def invoke(self, event: dict[str, object]) -> None:
            invoked.append(event)

    now = [datetime(2026, 12, 4, 11, 59, 59, tzinfo=UTC)]
    source = ScheduleSource("FanOutFunction", time(12, 0), {"schedule": "dates"})
    assert source.next_after(now[0]) == datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert source.next_after(datetime(2026, 12, 4, 12, tzinfo=UTC)) == datetime(2026, 12, 5, 12, tzinfo=UTC)
    player = SchedulePlayer([source], {"FanOutFunction": Runtime()}, clock=lambda: now[0])  # type: ignore[dict-item]
    player.start()
    try:
        now[0] += timedelta(seconds=2)  # 12:00:01: due
        deadline = wall.monotonic() + 40  # the player looks again within a second of its due time
        while not invoked and wall.monotonic() < deadline:
            wall.sleep(0.05)
    finally:
        player.stop()
    assert invoked == [{"schedule": "dates"}]
