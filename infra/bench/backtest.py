"""``nudge bench``: the backtest at scale, a long history streamed through ``nudge simulate``'s memory deployment.

The history is :func:`infra.bench.shop.months`: a fixed population of shoppers, period after period, made as the
replay reads it and never written anywhere. It goes through :class:`infra.simulate.Simulation` exactly as
``nudge simulate`` replays a file (the real handlers on the in-memory adapters, virtual time, virtual timers),
until nothing is left to do.

Measured, in a process of its own (so the memory is the backtest's alone): the wall time, the part of it spent
making the traffic (not the replay's), events per second of the replay, the resident set size as the history
passes each quarter and its high-water mark (Linux's ``VmHWM``).

``python -m infra.bench.backtest --events N`` runs it and prints the figures as JSON (``nudge bench`` does that).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from infra.bench import shop

DEFAULT_EVENTS = 1_000_000
DEFAULT_SHOPPERS = 1_000
CHECKPOINTS = (0.25, 0.5, 0.75, 1.0)  # of the history, where the resident set size is read


@dataclass
class BacktestFigures:
    """One backtest: what it replayed, how long it took, how much memory it held."""

    events: int
    shoppers: int
    seed: int
    requests: int
    rejected: int
    virtual_start: str
    virtual_end: str
    virtual_days: float
    wall_seconds: float  # the whole run: setting up, making the traffic, replaying it and the timers after it
    setup_seconds: float
    generate_seconds: float  # of the wall time, making the traffic
    timer_executions: int
    outcomes: dict[str, int]
    customers: int  # customer records at the end (live ones and merged pointers)
    ledger_entries: int  # messages in the send ledger at the end
    peak_rss_mb: float  # high-water mark of the resident set size (VmHWM)
    rss_mb: list[tuple[int, float]] = field(default_factory=list)  # (events replayed, resident set size then)

    @property
    def replay_seconds(self) -> float:
        """The wall time of the replay itself: without setting up and without making the traffic."""
        return self.wall_seconds - self.setup_seconds - self.generate_seconds

    @property
    def events_per_second(self) -> float:
        return self.events / self.replay_seconds if self.replay_seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "replay_seconds": self.replay_seconds, "events_per_second": self.events_per_second}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> BacktestFigures:
        fields = {name: document[name] for name in cls.__dataclass_fields__}
        fields["rss_mb"] = [(int(events), float(mb)) for events, mb in document["rss_mb"]]
        return cls(**fields)


def rss_mb() -> float | None:
    """The resident set size now (Linux: ``/proc/self/statm``), in MB; None where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * resource.getpagesize() / 1e6


def peak_rss_mb(status: Path = Path("/proc/self/status")) -> float:
    """The resident set size's high-water mark of this process's own memory, in MB: Linux's ``VmHWM``.

    Not ``getrusage``'s ``ru_maxrss`` where ``VmHWM`` can be read: Linux carries ``ru_maxrss`` over ``exec``, so a
    backtest started by ``nudge bench`` would report the bench's own high-water mark from before it started
    (``ru_maxrss``, in KB on Linux, is the fallback elsewhere)."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except (OSError, IndexError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


class _Timed:
    """An iterator that adds the time spent making each item to ``seconds``."""

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items
        self.seconds = 0.0

    def __iter__(self) -> Iterator[Any]:
        clock = time.perf_counter
        while True:
            started = clock()
            try:
                item = next(self._items)
            except StopIteration:
                self.seconds += clock() - started
                return
            self.seconds += clock() - started
            yield item


def run_backtest(
    config_path: Path,
    events: int = DEFAULT_EVENTS,
    shoppers: int = DEFAULT_SHOPPERS,
    seed: int = shop.SEED,
    progress: Callable[[str], None] | None = None,
) -> BacktestFigures:
    """Replay ``events`` messages of ``shoppers`` shoppers' traffic in memory, in this process."""
    import itertools

    from infra.admin import load_config
    from infra.simulate import Outcome, Simulation, history_of

    if events < 1 or shoppers < 1:
        raise ValueError("events and shoppers must be at least 1")
    config = load_config(config_path)
    traffic = _Timed(itertools.islice(history_of(shop.months(shoppers, seed), source="generated history"), events))
    outcomes: Counter[str] = Counter()
    marks = sorted({max(1, round(events * share)) for share in CHECKPOINTS})
    readings: list[tuple[int, float]] = []
    reported = [time.monotonic()]

    def report(outcome: Outcome) -> None:
        outcomes[outcome.status] += 1

    def on_progress(done: int, total: int, now: datetime) -> None:
        while marks and done >= marks[0]:
            readings.append((marks.pop(0), rss_mb() or 0.0))
        if progress is not None and time.monotonic() - reported[0] >= 30:
            reported[0] = time.monotonic()
            progress(f"backtest: {done:,}/{events:,} events, virtual {now:%Y-%m-%d}, RSS {rss_mb() or 0:,.0f} MB")

    simulation = Simulation(
        config,
        iter(traffic),
        report,
        progress=on_progress,
        warn=progress or (lambda line: None),
        total=events,
    )
    summary = simulation.run()
    cloud = getattr(simulation.stage, "cloud", None)
    totals = summary.as_json()
    return BacktestFigures(
        events=summary.events,
        shoppers=shoppers,
        seed=seed,
        requests=summary.requests,
        rejected=summary.rejected,
        virtual_start=totals["virtual_start"],
        virtual_end=totals["virtual_end"],
        virtual_days=totals["virtual_days"],
        wall_seconds=summary.wall_seconds,
        setup_seconds=summary.setup_seconds,
        generate_seconds=traffic.seconds,
        timer_executions=summary.timer_executions,
        outcomes=dict(sorted(outcomes.items())),
        customers=len(cloud.customers.items) if cloud is not None else 0,
        ledger_entries=len(cloud.ledger.items) if cloud is not None else 0,
        peak_rss_mb=peak_rss_mb(),
        rss_mb=readings,
    )


def run_in_subprocess(
    config_path: Path, events: int, shoppers: int, seed: int, err: IO[str] | None = None
) -> BacktestFigures:
    """:func:`run_backtest` in a fresh interpreter: its memory figures are the backtest's alone."""
    import os
    import subprocess

    command = [
        sys.executable,
        "-m",
        "infra.bench.backtest",
        "--config",
        str(config_path),
        "--events",
        str(events),
        "--shoppers",
        str(shoppers),
        "--seed",
        str(seed),
    ]
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    with subprocess.Popen(
        command, cwd=root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        said: list[str] = []
        for line in process.stderr:  # its progress, as it goes
            said.append(line)
            if err is not None:
                err.write(line)
                err.flush()
        output = process.stdout.read()
    if process.returncode != 0:
        raise RuntimeError(f"the backtest failed (exit {process.returncode}): {''.join(said).strip()[-2000:]}")
    return BacktestFigures.from_json(json.loads(output.splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    from infra.bench.pricing import DEFAULT_CONFIG

    parser = argparse.ArgumentParser(prog="python -m infra.bench.backtest", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--shoppers", type=int, default=DEFAULT_SHOPPERS)
    parser.add_argument("--seed", type=int, default=shop.SEED)
    args = parser.parse_args(argv)
    figures = run_backtest(
        args.config, args.events, args.shoppers, args.seed, progress=lambda line: print(line, file=sys.stderr)
    )
    print(json.dumps(figures.as_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
