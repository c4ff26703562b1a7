"""``nudge bench``: each handler module's cold import, in a fresh interpreter with the Lambda environment."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass

from infra.bench.pricing import REGION, ROOT, TEMPLATE

# ---------------------------------------------------------------- cold imports


@dataclass
class ImportFigures:
    """Median import time of each handler module and of bare boto3, fresh interpreters, the same run."""

    runs: int
    boto3_ms: float
    handlers: dict[str, float]  # function -> ms
    heaviest: list[tuple[str, float]]  # top-level packages by own import time in the slowest handler (ms)

    def ratio(self, name: str) -> float:
        return self.handlers[name] / self.boto3_ms if self.boto3_ms else 0.0

    @property
    def worst(self) -> tuple[str, float]:
        name = max(self.handlers, key=self.handlers.__getitem__)
        return name, self.ratio(name)


def handler_modules() -> dict[str, str]:
    """Each function in template.yaml and the module its Handler names."""
    from infra.template import function_property, load_template, resources_of_type

    template = load_template(TEMPLATE)
    return {
        logical_id.removesuffix("Function"): str(function_property(template, resource, "Handler")).rsplit(".", 1)[0]
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
    }


def lambda_environment() -> dict[str, str]:
    """What a function's interpreter sees in Lambda (values that matter at import: tracing on, service names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "nudge-bench",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "nudge",
            "POWERTOOLS_METRICS_NAMESPACE": "nudge",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    return env


def _import_ms(module: str, env: dict[str, str]) -> float:
    code = f"import time\nt = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.strip()) * 1000


def _heaviest_packages(module: str, env: dict[str, str], top: int = 5) -> list[tuple[str, float]]:
    """Own import time per top-level package (``-X importtime``), largest first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    own: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if match:
            package = match.group(2).split(".")[0]
            own[package] = own.get(package, 0.0) + int(match.group(1)) / 1000
    heaviest = sorted(own.items(), key=lambda item: -item[1])[:top]
    return [(name, round(ms, 1)) for name, ms in heaviest]


def import_times(runs: int = 5) -> ImportFigures:
    """Median cold import per handler and for ``import boto3``: one warm-up round (bytecode caches), then ``runs``
    rounds, each round one fresh interpreter per module, interleaved so drift hits all alike."""
    modules = {"boto3": "boto3", **handler_modules()}
    env = lambda_environment()
    for module in modules.values():
        _import_ms(module, env)
    samples: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(runs):
        for name, module in modules.items():
            samples[name].append(_import_ms(module, env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    boto3_ms = medians.pop("boto3")
    slowest = max(medians, key=medians.__getitem__)
    return ImportFigures(runs, boto3_ms, medians, _heaviest_packages(modules[slowest], env))
