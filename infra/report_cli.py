"""``nudge report --api URL --key K [--from D] [--to D] [--charts DIR]``: the journey report and the churn report of a
shop as tables, and with ``--charts`` as PNG charts (``report.json`` beside them): a funnel per journey, the
conversion rate of each variant with its 95 % interval, the churn curves of first-time and repeat buyers.
``nudge simulate --report DIR`` writes the same for a backtest.

The charts need matplotlib, the ``charts`` extra (``pip install 'nudge[charts]'``): it is imported only here, when
charts are asked for, and never by a Lambda function.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

FUNNEL = ("sent", "delivered", "opened", "clicked", "converted")


class ChartsUnavailableError(RuntimeError):
    """matplotlib is not installed (the ``charts`` extra)."""


# ---------------------------------------------------------------- tables


def _percent(rate: Mapping[str, float] | None) -> str:
    if rate is None:
        return "-"
    return f"{rate['rate'] * 100:.1f}% [{rate['low'] * 100:.1f}-{rate['high'] * 100:.1f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in header], *[[("-" if c is None else str(c)) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return [lines[0], "  ".join("-" * width for width in widths), *lines[1:]]


def journey_tables(report: Mapping[str, Any]) -> str:
    """The journey report as text: per journey its groups and uplift, then a row per step, variant and channel."""
    lines = [f"Journey report {report['from']} to {report['to']}"]
    if not report["journeys"]:
        lines.append("  (nothing counted in this range)")
    for journey in report["journeys"]:
        groups, uplift = journey["groups"], journey["uplift"]
        treated, held = groups["treatment"], groups["holdout"]
        lines += ["", f"{journey['journey']}"]
        lines.append(
            f"  entered {treated['entered']} (+{held['entered']} held out), reached {treated['reached']},"
            f" converted {treated['converted']} ({_percent(treated['conversion_rate'])}),"
            f" revenue {treated['revenue']:.2f}"
        )
        if uplift is not None:
            relative = f", {uplift['relative'] * 100:+.1f}% relative" if uplift["relative"] is not None else ""
            lines.append(
                f"  holdout converted {held['converted']} ({_percent(held['conversion_rate'])});"
                f" uplift {uplift['absolute'] * 100:+.2f} points{relative}, p = {uplift['p_value']:.3g}"
            )
        rows = [
            [
                step["step"],
                step["variant"],
                step["channel"],
                step["sent"],
                step["held_out"],
                step["suppressed"],
                step["delivered"],
                step["opened"],
                step["clicked"],
                step["converted"],
                f"{step['revenue']:.2f}",
                _percent(step["conversion_rate"]),
                ", ".join(f"{reason} {n}" for reason, n in step["suppressed_by_reason"].items()) or None,
            ]
            for step in journey["steps"]
        ]
        header = (
            "step",
            "variant",
            "channel",
            "sent",
            "held out",
            "suppr.",
            "deliv.",
            "opened",
            "clicked",
            "conv.",
            "revenue",
            "conv./sent [95%]",
            "suppressed by reason",
        )
        lines += ["  " + line for line in _table(header, rows)]
    return "\n".join(lines)


def churn_tables(report: Mapping[str, Any]) -> str:
    """The churn report as text: one row per month (whatever months and fields the report has)."""
    months = report.get("months") or []
    lines = [f"Churn report {report.get('from', '')} to {report.get('to', '')}"]
    if months:
        header = list(months[0].keys())
        rows = [[_plain(month.get(name)) for name in header] for month in months]
        lines += ["  " + line for line in _table(header, rows)]
    at_risk = report.get("at_risk")
    if at_risk is not None:
        lines.append(f"  at risk now: {json.dumps(at_risk)}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, dict):
        return " ".join(f"{key}={_plain(item)}" for key, item in value.items())
    return value


# ---------------------------------------------------------------- charts


def write_charts(journeys: Mapping[str, Any], churn: Mapping[str, Any] | None, directory: Path) -> list[Path]:
    """PNG charts of the reports into ``directory``: ``funnel-<journey>.png`` and ``conversion-<journey>.png`` per
    journey with sends, ``churn.png`` when a churn report with months is given. Returns the files written."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ChartsUnavailableError("charts need matplotlib: pip install 'nudge[charts]'") from error
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for journey in journeys["journeys"]:
        steps = journey["steps"]
        stages = [name for name in FUNNEL if name != "delivered" or any(step[name] for step in steps)]
        totals = [sum(step[name] for step in steps) for name in stages]  # no delivery events: no delivered bar
        if not totals[0]:
            continue
        name = _file_name(journey["journey"])
        figure, axes = plt.subplots(figsize=(7, 4))
        axes.bar(stages, totals, color="#4c72b0")
        for x, value in enumerate(totals):
            axes.annotate(str(value), (x, value), ha="center", va="bottom")
        axes.set_title(f"{journey['journey']}: funnel {journeys['from']} to {journeys['to']}")
        axes.set_ylabel("messages")
        written.append(_save(plt, figure, directory / f"funnel-{name}.png"))
        rated = [step for step in steps if step["conversion_rate"] is not None]
        groups = [g for g in ("treatment", "holdout") if journey["groups"][g]["conversion_rate"] is not None]
        labels = [f"step {s['step']} {s['variant'] or ''} {s['channel'] or ''}".strip() for s in rated]
        rates = [s["conversion_rate"] for s in rated]
        labels += [f"in journey: {g}" for g in groups]
        rates += [journey["groups"][g]["conversion_rate"] for g in groups]
        if not rates:
            continue
        figure, axes = plt.subplots(figsize=(7, 0.6 * len(rates) + 1.5))
        values = [r["rate"] * 100 for r in rates]
        errors = [[(r["rate"] - r["low"]) * 100 for r in rates], [(r["high"] - r["rate"]) * 100 for r in rates]]
        axes.barh(labels, values, xerr=errors, color="#55a868", capsize=4)
        axes.set_xlabel("conversion rate, % (95 % interval)")
        axes.set_title(f"{journey['journey']}: conversion per variant and group")
        axes.invert_yaxis()
        written.append(_save(plt, figure, directory / f"conversion-{name}.png"))
    months = (churn or {}).get("months") or []
    curves = {key: [_flat(m).get(key) for m in months] for key in _churn_curves(months)}
    curves = {key: values for key, values in curves.items() if any(isinstance(v, int | float) for v in values)}
    if curves:  # no rate known yet (a first month): no chart
        figure, axes = plt.subplots(figsize=(7, 4))
        labels = [m.get("month", str(i)) for i, m in enumerate(months)]
        for key, values in curves.items():
            points = [v * 100 if isinstance(v, int | float) else float("nan") for v in values]
            axes.plot(range(len(labels)), points, marker="o", label=key)
        axes.set_xticks(range(len(labels)), labels)  # every month, also one no rate is known for yet
        axes.set_ylim(0, 105)
        axes.set_ylabel("%")
        axes.set_title("churn per month")
        axes.legend()
        written.append(_save(plt, figure, directory / "churn.png"))
    return written


def _churn_curves(months: Sequence[Mapping[str, Any]]) -> list[str]:
    """The churn report's rate fields (numbers between 0 and 1 whose name says churn or retention)."""
    if not months:
        return []
    keys = {key for month in months for key in _flat(month)}  # a rate may be null in the first month
    return sorted(key for key in keys if ("churn" in key or "retention" in key) and "rate" in key)


def _flat(month: Mapping[str, Any]) -> dict[str, Any]:
    """A month's fields, a nested one (``churn_rate: {first_time, repeat, total}``) as ``churn_rate.first_time``."""
    flat: dict[str, Any] = {}
    for key, value in month.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{part}": item for part, item in value.items()})
        else:
            flat[key] = value
    return flat


def _file_name(journey: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in journey)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(journeys: Mapping[str, Any], churn: Mapping[str, Any] | None, directory: Path) -> list[Path]:
    """``report.json`` (both reports) and, where matplotlib is installed, the charts; the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    document = directory / "report.json"
    document.write_text(json.dumps({"journeys": journeys, "churn": churn}, indent=2) + "\n", encoding="utf-8")
    return [document, *write_charts(journeys, churn, directory)]


# ---------------------------------------------------------------- the command


def _get(api: str, key: str, path: str, query: Mapping[str, str | None]) -> Any:
    from infra.campaign_cli import api_json

    params = urllib.parse.urlencode({name: value for name, value in query.items() if value})
    return api_json(api, key, "GET", path + (f"?{params}" if params else ""))


def run(api: str, key: str, start: str | None, end: str | None, charts: Path | None, months: int = 6) -> int:
    """Print both reports; with ``charts``, write report.json and the charts there. 0, or 1 with the refusal."""
    try:
        journeys = _get(api, key, "/v1/reports/journeys", {"from": start, "to": end})
        churn = _churn(api, key, journeys["to"], months)
    except urllib.error.HTTPError as error:
        print(f"report: {error.code} {error.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"report: cannot reach {api}: {error.reason}", file=sys.stderr)
        return 1
    print(journey_tables(journeys))
    if churn is not None:
        print()
        print(churn_tables(churn))
    if charts is not None:
        try:
            files = write_report(journeys, churn, charts)
        except ChartsUnavailableError as error:
            print(f"report: {error}", file=sys.stderr)
            return 1
        print()
        for path in files:
            print(f"wrote {path}")
    return 0


def _churn(api: str, key: str, end: str, months: int) -> Any:
    """The churn report of the ``months`` months to ``end``'s, or None where the stack has none (404)."""
    last = end[:7]
    year, month = int(last[:4]), int(last[5:7])
    index = year * 12 + month - 1 - (months - 1)
    first = f"{index // 12:04d}-{index % 12 + 1:02d}"
    try:
        return _get(api, key, "/v1/reports/churn", {"from": first, "to": last})
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
