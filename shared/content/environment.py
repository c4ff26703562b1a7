"""The two jinja2 sandboxes templates render in: one escapes HTML (the email HTML part), one does not (everything else).

Both are immutable sandboxes with ``StrictUndefined``: a template cannot reach dunder attributes, mutate the context
or call unsafe methods, and a misspelt variable is an error instead of an empty gap in a customer's message. The
same template file is compiled once per sandbox, so a part is escaped or not by what it is, not by who wrote it.
Environments are built on first use (never at import time) and kept for the life of the Lambda container.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, Template, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shared.content.formatting import format_date, format_money, format_percent
from shared.content.locales import FALLBACK_LOCALE

# Shop-written templates are trusted to be honest, not to be careful: cap the two operators that can make one
# expression eat the Lambda's memory ("{{ 'x' * 10**9 }}").
MAX_REPEAT_LENGTH = 100_000
MAX_EXPONENT = 100


class ContentSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox that also refuses runaway ``*`` and ``**``."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_REPEAT_LENGTH
                ):
                    raise SecurityError(f"repetition longer than {MAX_REPEAT_LENGTH}")
        return super().call_binop(context, operator, left, right)


def _locale(context: Context) -> str:
    return str(context.get("locale") or FALLBACK_LOCALE)


@pass_context
def _money(context: Context, amount: object, currency: str | None = None) -> str:
    return format_money(amount, currency or str(context.get("currency") or "EUR"), _locale(context))


@pass_context
def _percent(context: Context, value: object) -> str:
    return format_percent(value, _locale(context))


@pass_context
def _date(context: Context, value: object) -> str:
    return format_date(value, _locale(context))


def _finalize(value: object) -> object:
    # An optional value that is absent (a customer without a first name) prints as nothing, not "None";
    # an undefined name still raises (StrictUndefined).
    return "" if value is None else value


@cache
def environment(html: bool) -> ContentSandbox:
    """The sandbox for HTML parts (``html=True``, autoescaped) or for text parts (no escaping)."""
    env = ContentSandbox(
        loader=PackageLoader("shared", "templates"),
        undefined=StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        # Shipped template files never change inside a running Lambda: skip the stat() per render.
        auto_reload=False,
    )
    env.filters.update(money=_money, percent=_percent, date=_date)
    return env


@lru_cache(maxsize=512)
def compile_source(html: bool, source: str) -> Template:
    """Compile a template string from a shop's config once per container (raises TemplateSyntaxError)."""
    return environment(html).from_string(source)


@cache
def shipped_templates() -> frozenset[str]:
    """Names of the template files shipped in ``shared/templates`` (``de/cart_reminder.j2``, ...)."""
    return frozenset(environment(False).list_templates(extensions=["j2"]))
