"""``nudge bench``: each handler module's cold import, in a fresh interpreter with the Lambda environment, with
compiled bytecode and without."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from infra.bench.pricing import REGION, ROOT

# ---------------------------------------------------------------- cold imports

# How each import is measured: with the modules' bytecode compiled beforehand (what a layer that ships .pyc gives),
# and from source (nothing compiled and nothing written: a read-only code directory without .pyc, as Lambda's is).
BYTECODE, SOURCE = "bytecode", "source"
MODES = (BYTECODE, SOURCE)
MODE_LABELS = {BYTECODE: ".pyc", SOURCE: "no .pyc"}


@dataclass
class ImportColumn:
    """One way of importing (with bytecode or from source): median ms of bare boto3 and of each handler module."""

    boto3_ms: float
    handlers: dict[str, float]  # function -> ms

    def ratio(self, name: str) -> float:
        return self.handlers[name] / self.boto3_ms if self.boto3_ms else 0.0


@dataclass
class ImportFigures:
    """Median import time of each handler module and of bare boto3, fresh interpreters, one run, in both modes."""

    runs: int
    columns: dict[str, ImportColumn]  # BYTECODE, SOURCE -> figures
    slowest: str  # the handler slowest to import with bytecode
    heaviest: list[tuple[str, float]]  # top-level packages by own import time in it (ms)

    @property
    def worst(self) -> tuple[str, str, float]:
        """The handler and mode with the largest ratio to bare boto3: (function, mode, ratio)."""
        return max(
            ((name, mode, column.ratio(name)) for mode, column in self.columns.items() for name in column.handlers),
            key=lambda item: item[2],
        )


def handler_modules(root: Path = ROOT) -> dict[str, str]:
    """Each function in ``root``'s template.yaml and the module its Handler names."""
    from infra.template import function_property, load_template, resources_of_type

    template = load_template(root / "template.yaml")
    return {
        logical_id.removesuffix("Function"): str(function_property(template, resource, "Handler")).rsplit(".", 1)[0]
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
    }


def template_environment(root: Path = ROOT) -> dict[str, str]:
    """The variables ``root``'s template.yaml's Globals give every function, where they are values rather than
    references to resources (a parameter stands for its default)."""
    from infra.template import load_template, target_of

    template = load_template(root / "template.yaml")
    parameters = template.get("Parameters", {})
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    env = {}
    for name, value in variables.items():
        if isinstance(value, str | int | float | bool):
            env[name] = str(value)
        elif (target := target_of(value)) in parameters and "Default" in parameters[target]:
            env[name] = str(parameters[target]["Default"])
    return env


def lambda_environment(root: Path = ROOT) -> dict[str, str]:
    """What a function's interpreter sees in Lambda (values that matter at import: tracing on, service names, the
    template's own settings)."""
    from infra.template import load_template

    declared = (
        load_template(root / "template.yaml")
        .get("Globals", {})
        .get("Function", {})
        .get("Environment", {})
        .get("Variables", {})
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POWERTOOLS_", "AWS_", "PYDANTIC_"))
        and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        and k not in declared  # a resource name a local stack of this process exported: not the template's value
    }
    env.update(template_environment(root))
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "nudge-bench",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    return env


def mode_environment(env: dict[str, str], mode: str, cache: str) -> dict[str, str]:
    """``env`` for one mode. Both keep bytecode under ``cache`` (``PYTHONPYCACHEPREFIX``), not in the code's own
    ``__pycache__`` folders, so what was compiled before the run does not count: with bytecode, a warm-up import
    fills ``cache`` first; from source, ``cache`` stays empty and nothing is written (``PYTHONDONTWRITEBYTECODE``),
    so every interpreter compiles every module it imports."""
    env = {**env, "PYTHONPYCACHEPREFIX": cache}
    if mode == SOURCE:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _import_ms(module: str, env: dict[str, str], root: Path = ROOT) -> float:
    """CPU time (user + system) of ``import module`` in a fresh interpreter. Not the wall clock: on a shared machine
    the wall clock also counts the time the process waited for a core, which has nothing to do with the import."""
    code = f"import time\nt = time.process_time()\nimport {module}\nprint(time.process_time() - t)"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    return float(done.stdout.strip()) * 1000


def _heaviest_packages(module: str, env: dict[str, str], root: Path, top: int = 5) -> list[tuple[str, float]]:
    """Own import time per top-level package (``-X importtime``), largest first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=root,
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


def functions_refused(functions: list[str] | None, root: Path = ROOT) -> str | None:
    """Why ``--import-functions`` cannot be measured (it names no function, or one template.yaml does not have), or
    None when it can (None: every function)."""
    if functions is None:
        return None
    known = handler_modules(root)
    unknown = sorted(set(functions) - set(known))
    if functions and not unknown:
        return None
    return f"--import-functions {','.join(unknown) or '(empty)'}: choose among {', '.join(sorted(known))}"


def import_times(runs: int = 7, root: Path = ROOT, functions: list[str] | None = None) -> ImportFigures:
    """Median cold import per handler and for ``import boto3``, with bytecode and from source.

    One warm-up round compiles each module's bytecode into a cache of this run. Then ``runs`` rounds: in each, every
    module is imported by a fresh interpreter once with bytecode and once from source, one right after the other, so
    that the machine's drift hits both modes and every module alike; the order of the modules turns by one each
    round. Each module's figure is its median over the rounds; each mode's ratio is against bare boto3's median in
    the same mode. ``root`` is the checkout whose handlers are imported (another one gives earlier code's figures by
    the same method); ``functions``, if given, the functions measured (by default every one in template.yaml).

    Raises ValueError naming a function template.yaml does not have (:func:`functions_refused`)."""
    handlers = handler_modules(root)
    if functions is not None:
        refused = functions_refused(functions, root)
        if refused is not None:
            raise ValueError(refused)
        handlers = {name: module for name, module in handlers.items() if name in functions}
    modules = {"boto3": "boto3", **handlers}
    base = lambda_environment(root)
    with tempfile.TemporaryDirectory(prefix="nudge-pyc-") as compiled, tempfile.TemporaryDirectory() as empty:
        envs = {BYTECODE: mode_environment(base, BYTECODE, compiled), SOURCE: mode_environment(base, SOURCE, empty)}
        for module in modules.values():
            _import_ms(module, envs[BYTECODE], root)
        samples: dict[str, dict[str, list[float]]] = {mode: {name: [] for name in modules} for mode in MODES}
        names = list(modules)
        for round_ in range(runs):
            turn = round_ % len(names)
            for name in names[turn:] + names[:turn]:
                for mode in MODES:
                    samples[mode][name].append(_import_ms(modules[name], envs[mode], root))
        if os.listdir(empty):
            raise RuntimeError("an import from source wrote bytecode; the figures without .pyc would be wrong")
        columns = {}
        for mode in MODES:
            medians = {name: statistics.median(values) for name, values in samples[mode].items()}
            columns[mode] = ImportColumn(medians.pop("boto3"), medians)
        slowest = max(columns[BYTECODE].handlers, key=columns[BYTECODE].ratio)
        heaviest = _heaviest_packages(modules[slowest], envs[BYTECODE], root)
    return ImportFigures(runs, columns, slowest, heaviest)


def instructions_executed(cachegrind_report: str) -> int:
    """The total of executed instructions (``I refs``) in valgrind cachegrind's summary."""
    match = re.search(r"I\s+refs:\s+([\d,]+)", cachegrind_report)
    if match is None:
        raise ValueError("no 'I refs' line in the cachegrind report")
    return int(match.group(1).replace(",", ""))


def import_instructions(root: Path = ROOT) -> dict[str, int]:
    """Instructions executed to import bare boto3 and each handler module with bytecode, minus those of an empty
    interpreter, counted by valgrind's cachegrind without cache simulation. Unlike a time, the count does not move with
    the machine's load (it is not a time either: an instruction that waits for memory counts once). Needs valgrind."""
    modules = {"boto3": "boto3", **handler_modules(root)}
    with tempfile.TemporaryDirectory(prefix="nudge-pyc-") as compiled:
        env = mode_environment(lambda_environment(root), BYTECODE, compiled)
        for module in modules.values():
            _import_ms(module, env, root)

        def counted(code: str) -> int:
            cachegrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
            done = subprocess.run(
                [*cachegrind, sys.executable, "-c", code],
                env=env,
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            )
            return instructions_executed(done.stderr)

        empty = counted("pass")
        return {name: counted(f"import {module}") - empty for name, module in modules.items()}
