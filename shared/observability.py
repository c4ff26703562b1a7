"""Logger, Tracer and Metrics, created once for every function.

Service name and metrics namespace come from the POWERTOOLS_* environment the template sets. The log formatter
masks e-mail addresses and phone numbers in every line, whatever put them there: a safety net behind the rule that
handlers log ids, never traits.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# International format (E.164 with optional separators): bare digit runs would also hit dates and epochs.
_PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d")


def mask_pii(text: str) -> str:
    """Replace e-mail addresses and phone numbers in ``text`` with placeholders."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with PII masked in the serialized line."""

    def serialize(self, log: Any) -> str:
        return mask_pii(super().serialize(log))


# One service and one namespace for every function (the template sets the same through POWERTOOLS_*); named here
# too so that code imported before the environment is set (tests, the local stack) logs and measures the same way.
SERVICE = "nudge"
logger = Logger(service=SERVICE, logger_formatter=MaskingFormatter())
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)
