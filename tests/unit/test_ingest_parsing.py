"""Ingest's edge: what a shop's request turns into, or the precise reason it is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.service.ingest import (
    MAX_EVENT_BYTES,
    RequestRejectedError,
    load_body,
    parse_messages,
    stamp,
    write_key_from,
)
from tests.factories import identify, product, track

NOW = datetime(2026, 11, 2, 10, 1, tzinfo=UTC)


def rejected(endpoint: str, body: dict) -> RequestRejectedError:
    with pytest.raises(RequestRejectedError) as caught:
        parse_messages(endpoint, load_body(endpoint, json.dumps(body)))
    return caught.value


def test_an_invalid_item_names_its_index_field_and_rule():
    error = rejected(
        "batch",
        {"batch": [track("Product Viewed", product()), track("Product Added", {"product_id": "a", "price": -3})]},
    )
    assert error.status == 400
    assert [e.as_json() for e in error.errors] == [
        {"index": 1, "field": "properties.price", "rule": "Input should be greater than or equal to 0"}
    ]


def test_every_message_needs_a_user_or_anonymous_id():
    error = rejected("track", {"event": "Product Viewed", "properties": product()})
    assert error.errors[0].rule == "Value error, userId or anonymousId is required"


def test_track_needs_an_event_and_types_must_be_known():
    error = rejected("batch", {"batch": [{"type": "track", "userId": "u"}, {"type": "launch", "userId": "u"}]})
    assert [(e.index, e.field) for e in error.errors] == [(0, "event"), (1, "(message)")]
    assert "type must be one of track, identify" in error.errors[1].rule


def test_consent_needs_channel_status_source_and_notice():
    error = rejected("track", track("Consent Updated", {"channel": "fax", "status": "granted"}))
    assert {e.field for e in error.errors} == {"properties.channel", "properties.source", "properties.notice_version"}


def test_unknown_event_names_are_accepted():
    [message] = parse_messages("track", track("Gift Card Redeemed", {"amount": 5}))
    assert message.event == "Gift Card Redeemed" and message.properties == {"amount": 5}


def test_numeric_user_ids_are_taken_as_strings():
    [message] = parse_messages("identify", identify(userId=12345))
    assert message.userId == "12345"


def test_too_large_requests_are_refused_with_413():
    big = track("Product Viewed", {"blob": "x" * MAX_EVENT_BYTES})
    with pytest.raises(RequestRejectedError) as single:
        load_body("track", json.dumps(big))
    assert single.value.status == 413
    error = rejected("batch", {"batch": [track("Product Viewed"), big]})
    assert (error.status, error.errors[0].index) == (413, 1)


def test_a_batch_message_over_the_limit_once_written_out_is_413_even_when_the_body_is_shorter():
    # Given a batch whose message is 17 KB as sent, but 60 KB written out: 9e15 is written 9000000000000000.0
    numbers = "[" + ",".join(["9e15"] * 3_200) + "]"
    text = '{"batch":[{"type":"track","event":"Numbers","userId":"u1","properties":{"n":' + numbers + "}}]}"
    assert len(text) < MAX_EVENT_BYTES

    # When it is parsed with the body as received, Then the message is measured and refused
    with pytest.raises(RequestRejectedError) as refused:
        parse_messages("batch", load_body("batch", text), text)
    assert (refused.value.status, refused.value.errors[0].index) == (413, 0)

    # And a short batch is accepted whole without measuring each message
    short = '{"batch":[{"type":"track","event":"A","userId":"u1"},{"type":"track","event":"B","userId":"u1"}]}'
    assert [m.event for m in parse_messages("batch", load_body("batch", short), short)] == ["A", "B"]


def test_batch_context_and_sent_at_apply_to_every_item_unless_the_item_has_its_own():
    body = {
        "batch": [track("A"), track("B", context={"locale": "fr-FR"})],
        "context": {"locale": "de-DE", "timezone": "Europe/Berlin"},
        "sentAt": "2026-11-02T10:00:00Z",
    }
    first, second = parse_messages("batch", body)
    assert (first.context.locale, first.context.timezone) == ("de-DE", "Europe/Berlin")
    assert (second.context.locale, second.context.timezone) == ("fr-FR", "Europe/Berlin")
    assert first.sentAt == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_client_clock_skew_is_corrected_the_segment_way():
    # The device clock runs 5 minutes fast: it says it happened at 10:00 and was sent at 10:05; we got it at 10:01.
    [message] = parse_messages(
        "track", track("Product Viewed", product(), timestamp="2026-11-02T10:00:00Z", sentAt="2026-11-02T10:05:00Z")
    )
    assert stamp(message, NOW, None).timestamp == NOW - timedelta(minutes=5)


def test_timestamps_more_than_a_day_ahead_are_refused():
    [message] = parse_messages("track", track("Product Viewed", product(), timestamp="2026-11-04T10:00:00Z"))
    with pytest.raises(RequestRejectedError) as caught:
        stamp(message, NOW, 3)
    assert (caught.value.status, caught.value.errors[0].field, caught.value.errors[0].index) == (400, "timestamp", 3)


def test_messages_without_id_or_timestamp_get_ours():
    [message] = parse_messages("track", {"event": "X", "userId": "u"})
    stamped = stamp(message, NOW, None)
    assert stamped.messageId.startswith("nudge-") and stamped.timestamp == NOW


def test_write_key_from_basic_auth_or_body():
    basic = "Basic " + base64.b64encode(b"key-123:").decode()
    assert write_key_from(basic, {}) == "key-123"
    assert write_key_from(None, {"writeKey": "key-456"}) == "key-456"
    assert write_key_from("Basic !!!", {"writeKey": "x"}) is None
    assert write_key_from(None, {}) is None
