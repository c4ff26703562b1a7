"""Segment-compatible ingest: size limits, authentication, validation, clock-skew correction, enqueue.

All or nothing: every message of a request is parsed and checked before the first one is enqueued, so a rejected
request changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.adapters.queue import FifoEntry
from shared.models.events import SegmentEvent, as_utc, deduplication_id
from shared.models.segment import EVENT_TAG, MAX_DEPTH, MAX_EVENTS_PER_BATCH, TYPE_TAG, SegmentMessage
from shared.ports import EventQueue, Shops
from shared.service import body as bodies
from shared.service.browser import allows

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_FUTURE = timedelta(hours=24)
SINGLE_ENDPOINTS = ("track", "identify", "page", "screen", "group", "alias")
BATCH_ENDPOINTS = ("batch", "import")


@cache
def _message_adapter() -> TypeAdapter[Any]:
    """The validator of one Segment message, built at first use (not at import: a cold start pays it only once)."""
    return TypeAdapter(SegmentMessage)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a request was refused: which item, which field, which rule."""

    field: str
    rule: str
    index: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"field": self.field, "rule": self.rule}
        if self.index is not None:
            body = {"index": self.index, **body}
        return body


@dataclass
class RequestRejectedError(Exception):
    """The request changes nothing; ``status`` and ``errors`` say why."""

    status: int
    message: str
    errors: list[FieldError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "message": self.message}
        if self.errors:
            body["errors"] = [e.as_json() for e in self.errors]
        return body


def write_key_from(authorization: str | None, body: Mapping[str, Any]) -> str | None:
    """The write key: HTTP Basic user name (empty password), else ``writeKey`` in the body."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0] or None
    key = body.get("writeKey")
    return key if isinstance(key, str) and key else None


def _field_path(location: tuple[int | str, ...]) -> tuple[int | None, str]:
    """Split a pydantic error location into (batch index, dotted field), dropping discriminator tags."""
    parts = [p for p in location if not (isinstance(p, str) and p.startswith((TYPE_TAG, EVENT_TAG)))]
    index = None
    if len(parts) >= 2 and parts[0] == "batch" and isinstance(parts[1], int):
        index, parts = parts[1], parts[2:]
    return index, ".".join(str(p) for p in parts) or "(message)"


def _errors(error: ValidationError, index: int | None = None) -> list[FieldError]:
    found = []
    for detail in error.errors(include_url=False, include_input=False):
        item_index, path = _field_path(tuple(detail["loc"]))
        found.append(FieldError(field=path, rule=detail["msg"], index=item_index if index is None else index))
    return found


@dataclass(frozen=True, slots=True)
class _NotFinite:
    """A number no float holds (``NaN``, ``Infinity``, ``1e400``), which ``json.loads`` would accept: kept as a
    marker, so that ``parse_messages`` refuses it naming its field."""

    text: str


def _finite_float(text: str) -> float | _NotFinite:
    number = float(text)
    return number if math.isfinite(number) else _NotFinite(text)


# A lone UTF-16 surrogate ("\udc00") is valid JSON but not Unicode: it has no UTF-8, so no queue or store takes it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate_at(value: Any, path: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where the first lone surrogate stands (in a key or a string), or None."""
    if isinstance(value, str):
        return path if _LONE_SURROGATE.search(value) else None
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        if isinstance(key, str) and _LONE_SURROGATE.search(key):
            return (*path, key)
        if len(path) <= MAX_DEPTH + 2 and (found := _lone_surrogate_at(child, (*path, key))) is not None:
            return found
    return None


def _load_json(raw: str, not_finite: list[_NotFinite] | None = None) -> dict[str, Any]:
    """The body as a JSON object; each number no float holds becomes a :class:`_NotFinite`, also put in
    ``not_finite`` when given (so a caller knows whether to look for them at all)."""
    seen = not_finite if not_finite is not None else []

    def constant(text: str) -> _NotFinite:
        seen.append(_NotFinite(text))
        return seen[-1]

    def number(text: str) -> float | _NotFinite:
        value = _finite_float(text)
        if isinstance(value, _NotFinite):
            seen.append(value)
        return value

    try:
        body = json.loads(raw, parse_constant=constant, parse_float=number)
    except RecursionError as error:
        rule = f"objects and arrays nest at most {MAX_DEPTH} levels deep"
        raise RequestRejectedError(400, "body is nested too deeply", [FieldError("(body)", rule)]) from error
    except ValueError as error:
        raise RequestRejectedError(400, "body is not valid JSON", [FieldError("(body)", str(error))]) from error
    if not isinstance(body, dict):
        raise RequestRejectedError(400, "body must be a JSON object", [FieldError("(body)", "must be an object")])
    if (_SURROGATE_ESCAPE.search(raw) or _LONE_SURROGATE.search(raw)) and (
        where := _lone_surrogate_at(body)
    ) is not None:
        # Refused, not repaired: replacing it would silently change the value (two ids could become one).
        index, path = _field_path(where)
        rule = "must be valid Unicode: a lone UTF-16 surrogate (\\ud800-\\udfff) has no UTF-8 form"
        raise RequestRejectedError(400, "invalid message(s); nothing was accepted", [FieldError(path, rule, index)])
    return body


def _unfit(value: Any, depth: int, path: tuple[str, ...]) -> tuple[str, str] | None:
    """(field, rule) of the first value no event may carry: a number that is not finite, or objects and arrays
    nested deeper than ``MAX_DEPTH`` (``depth`` is the level of ``value``, the message itself being level 1)."""
    if isinstance(value, _NotFinite):
        return ".".join(path), f"must be a finite number, not {value.text}"
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            shown = ".".join(path[:3]) + (".…" if len(path) > 3 else "")
            return shown, f"objects and arrays nest at most {MAX_DEPTH} levels deep, counting the message as one"
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            if isinstance(child, dict | list | _NotFinite) and (found := _unfit(child, depth + 1, (*path, str(key)))):
                return found
    return None


def _merge_batch_defaults(body: dict[str, Any]) -> list[Any]:
    """Items of a batch, with the batch's own ``context``, ``integrations`` and ``sentAt`` applied to each."""
    items = body.get("batch")
    if not isinstance(items, list):
        raise RequestRejectedError(400, "batch must be a list", [FieldError("batch", "must be a list of messages")])
    if not items:
        raise RequestRejectedError(400, "batch is empty", [FieldError("batch", "must hold at least one message")])
    if len(items) > MAX_EVENTS_PER_BATCH:
        raise RequestRejectedError(
            400, "too many messages", [FieldError("batch", f"at most {MAX_EVENTS_PER_BATCH} messages per batch")]
        )
    merged = []
    for item in items:
        if isinstance(item, dict):
            item = dict(item)
            for name in ("context", "integrations"):
                shared_part = body.get(name)
                if isinstance(shared_part, dict):
                    own = item.get(name)
                    item[name] = {**shared_part, **own} if isinstance(own, dict) else shared_part
            if "sentAt" in body and "sentAt" not in item:
                item["sentAt"] = body["sentAt"]
        merged.append(item)
    return merged


def load_body(endpoint: str, raw: str, not_finite: list[Any] | None = None) -> dict[str, Any]:
    """The request body as a JSON object, or RequestRejectedError (413 too large, 400 not a JSON object).

    ``not_finite``, when given, receives the numbers of the body no float holds (see :func:`parse_messages`)."""
    size = len(raw.encode())
    limit = MAX_BATCH_BYTES if endpoint in BATCH_ENDPOINTS else MAX_EVENT_BYTES
    if size > limit:
        raise RequestRejectedError(413, f"request is {size} bytes; the limit is {limit}")
    return _load_json(raw, not_finite)


# A compact JSON dump of a message read from an ASCII body is at most this many times the body's length: only a
# number can grow (``9e15`` is written ``9000000000000000.0``).
_DUMP_GROWTH = 5


def parse_messages(
    endpoint: str, body: dict[str, Any], text: str | None = None, not_finite: Sequence[Any] | None = None
) -> list[Any]:
    """Validate a request body into Segment messages, or raise RequestRejectedError (413 or 400).

    ``text`` is the body as received and ``not_finite`` what :func:`load_body` found in it, if the caller has them:
    a batch too short for any of its messages to reach the per-message limit is not measured message by message,
    and a body without numbers no float holds, and with too few brackets to nest too deep, is not walked for them
    (brackets in strings count too: the test may walk needlessly, never skip wrongly)."""
    batch = endpoint in BATCH_ENDPOINTS
    measure = batch and not (text is not None and len(text) * _DUMP_GROWTH <= MAX_EVENT_BYTES and text.isascii())
    walk = text is None or not_finite is None or bool(not_finite) or text.count("{") + text.count("[") > MAX_DEPTH
    items = _merge_batch_defaults(body) if batch else [{**body, "type": endpoint}]
    messages: list[Any] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        where = index if batch else None
        if walk and (unfit := _unfit(item, 1, ())):
            errors.append(FieldError(unfit[0] or "(message)", unfit[1], where))
            continue
        if measure and len(json.dumps(item, separators=(",", ":")).encode()) > MAX_EVENT_BYTES:
            raise RequestRejectedError(
                413, "a message is too large", [FieldError("(message)", f"at most {MAX_EVENT_BYTES} bytes", where)]
            )
        try:
            messages.append(_message_adapter().validate_python(item))
        except ValidationError as error:
            errors.extend(_errors(error, where))
    if errors:
        raise RequestRejectedError(400, "invalid message(s); nothing was accepted", errors)
    return messages


def body_limit(endpoint: str) -> int:
    """The most bytes a request body to ``endpoint`` may have, after any Content-Encoding is undone."""
    return MAX_BATCH_BYTES if endpoint in BATCH_ENDPOINTS else MAX_EVENT_BYTES


def request_body(endpoint: str, body: str | None, is_base64_encoded: bool, content_encoding: str | None) -> str:
    """The HTTP body as text: base64 (API Gateway's binary bodies) and gzip or deflate undone, the size limit applied
    to the inflated body; RequestRejectedError 413 (too large), 415 (unknown encoding) or 400 (corrupt, not UTF-8)."""
    limit = body_limit(endpoint)
    try:
        data = bodies.decoded(bodies.raw_bytes(body, is_base64_encoded), bodies.content_coding(content_encoding), limit)
    except bodies.BodyTooLargeError as error:
        raise RequestRejectedError(413, str(error)) from error
    except bodies.UnsupportedEncodingError as error:
        raise RequestRejectedError(415, str(error), [FieldError("(Content-Encoding)", str(error))]) from error
    except bodies.BodyError as error:
        raise RequestRejectedError(400, str(error), [FieldError("(body)", str(error))]) from error
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise RequestRejectedError(400, "body is not UTF-8 JSON", [FieldError("(body)", "must be UTF-8")]) from error


def stamp(message: Any, received_at: datetime, index: int | None) -> Any:
    """The message with a messageId and its ``timestamp`` corrected for client clock skew (the Segment way).

    ``timestamp = receivedAt - (sentAt - timestamp)``; a time more than 24 h ahead of ours is refused.
    """
    updates: dict[str, Any] = {}
    if not message.messageId:
        updates["messageId"] = f"nudge-{uuid.uuid4()}"
    try:
        happened = as_utc(message.timestamp) if message.timestamp else None
        if happened and message.sentAt:
            happened = received_at - (as_utc(message.sentAt) - happened)
    except OverflowError as error:  # valid ISO times near year 1 or 9999 leave datetime's range in UTC
        rule = "timestamp and sentAt must lie between years 1 and 9999 in UTC"
        raise RequestRejectedError(400, "time out of range", [FieldError("timestamp", rule, index)]) from error
    happened = happened or received_at
    if happened - received_at > MAX_FUTURE:
        raise RequestRejectedError(
            400,
            "timestamp is in the future",
            [FieldError("timestamp", "must not be more than 24 h after the time nudge received it", index)],
        )
    updates["timestamp"] = happened
    return message.model_copy(update=updates)


class Ingestor:
    """Turns one HTTP request into events on the customer queue, or refuses it whole."""

    def __init__(self, shops: Shops, queue: EventQueue, clock: Callable[[], datetime]) -> None:
        self._shops = shops
        self._queue = queue
        self._clock = clock

    def ingest(
        self, endpoint: str, raw_body: str, authorization: str | None, origin: str | None = None
    ) -> list[SegmentEvent]:
        """Accept the request and return the events enqueued; raises RequestRejectedError (nothing enqueued).

        ``origin`` is the browser's Origin header: a page on an origin the shop does not allow is refused (403).
        """
        received_at = as_utc(self._clock())
        not_finite: list[Any] = []
        body = load_body(endpoint, raw_body, not_finite)
        key = write_key_from(authorization, body)
        # The public write key (browsers, apps) or a secret key (the shop's own servers); each event remembers which,
        # because only a secret key may merge two known customers (the updater enforces it).
        shop = self._shops.authenticate(key) if key else None
        if shop is None:
            raise RequestRejectedError(401, "unknown or missing write key")
        if origin and not allows(self._shops.allowed_origins(shop.shop_id), origin):
            message = f"origin {origin} is not in the shop's allowed_origins; nothing was accepted"
            raise RequestRejectedError(403, message)
        messages = parse_messages(endpoint, body, raw_body, not_finite)
        batch = endpoint in BATCH_ENDPOINTS
        events = [
            SegmentEvent(
                shop_id=shop.shop_id,
                authority=shop.kind,
                received_at=received_at,
                message=stamp(message, received_at, index if batch else None),
            )
            for index, message in enumerate(messages)
        ]
        self._queue.send(
            [
                FifoEntry(
                    group_id=event.group,
                    deduplication_id=deduplication_id(event.shop_id, event.message_id),
                    body=event.model_dump_json(exclude_none=True),
                )
                for event in events
            ]
        )
        return events
