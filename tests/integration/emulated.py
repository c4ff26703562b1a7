"""Everything template.yaml declares, in an in-process emulator (``mock_aws``), for tests that invoke one handler.

The resources are provisioned by the local stack's own provisioner, so a test's tables, queues and secret are the
template's (key schemas, FIFO settings), and the function environment is what the template gives the functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from moto import mock_aws

from infra.local.provision import REGION, Deployment, Provisioner
from infra.template import load_template
from shared import aws

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def emulated_template(monkeypatch: pytest.MonkeyPatch, signing_keys: str | None = None) -> Iterator[Deployment]:
    """Provision the template in moto and set the functions' environment (a test then builds the function's wiring
    with its ``from_environment()`` and injects it). ``signing_keys`` replaces the generated signing secret (one key
    per line) when a test needs to sign with a known key."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        # Its own stack name: the session's local stack may still be polling its queues in this process, and
        # inside mock_aws its clients would reach these backends.
        template = load_template(ROOT / "template.yaml")
        deployment = Provisioner(template, ROOT, aws.client, stack_name="nudge-handler-test").provision()
        if signing_keys is not None:
            aws.client("secretsmanager").put_secret_value(
                SecretId=deployment.physical["SigningSecret"], SecretString=signing_keys
            )
        for name, value in deployment.environment().items():
            monkeypatch.setenv(name, value)
        yield deployment
