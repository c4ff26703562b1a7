"""Compressed request bodies: gzip and deflate accepted, limits on the inflated size, bombs cut short."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib

import pytest

from shared.service import body as bodies
from shared.service.ingest import MAX_BATCH_BYTES, MAX_EVENT_BYTES, RequestRejectedError, request_body

EVENT = {"userId": "anna", "event": "Product Viewed", "properties": {"product_id": "p1"}}
TEXT = json.dumps(EVENT)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _rejected(*args: object) -> RequestRejectedError:
    with pytest.raises(RequestRejectedError) as caught:
        request_body(*args)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),  # RFC 9110 deflate: zlib-wrapped
        ("deflate", _raw_deflate),  # what some clients send as deflate
    ],
)
def test_a_compressed_body_reads_as_the_json_the_client_compressed(encoding: str, compress: object) -> None:
    # Given an event compressed the way the client says (API Gateway hands the bytes over base64-encoded)
    sent = _b64(compress(TEXT.encode()))  # type: ignore[operator]
    # When ingest reads the body
    text = request_body("track", sent, True, encoding)
    # Then it is the JSON the client compressed
    assert json.loads(text) == EVENT


def test_a_plain_body_is_read_as_is_whether_or_not_api_gateway_base64_encoded_it() -> None:
    # Given the same JSON as API Gateway passes text and as it passes bytes it took for binary
    # Then both read the same
    assert request_body("track", TEXT, False, None) == TEXT
    assert request_body("batch", _b64(TEXT.encode()), True, "identity") == TEXT


def test_gzip_of_several_members_reads_as_their_concatenation() -> None:
    # Given a gzip body written as two members (as streaming compressors may)
    half = len(TEXT) // 2
    sent = gzip.compress(TEXT[:half].encode()) + gzip.compress(TEXT[half:].encode())
    # Then ingest reads the whole text
    assert request_body("track", _b64(sent), True, "gzip") == TEXT


def test_the_size_limit_applies_to_the_inflated_body() -> None:
    # Given a gzip body that is small on the wire but inflates past the 32 KB per-event limit
    inflated = json.dumps({**EVENT, "properties": {"padding": "x" * MAX_EVENT_BYTES}}).encode()
    sent = gzip.compress(inflated)
    assert len(sent) < 1024
    # When it is posted to /v1/track
    error = _rejected("track", _b64(sent), True, "gzip")
    # Then it is refused as too large, naming the limit of the inflated body
    assert error.status == 413
    assert f"inflated body is more than {MAX_EVENT_BYTES} bytes" in error.message


def test_a_batch_may_inflate_to_its_own_larger_limit() -> None:
    # Given a gzip batch that inflates to 400 KB (over the event limit, under the batch limit)
    items = [{**EVENT, "messageId": f"m{i}", "properties": {"padding": "x" * 3000}} for i in range(130)]
    inflated = json.dumps({"batch": items}).encode()
    assert MAX_EVENT_BYTES < len(inflated) < MAX_BATCH_BYTES
    # Then /v1/batch reads it whole
    assert len(request_body("batch", _b64(gzip.compress(inflated)), True, "gzip")) == len(inflated)


def test_a_gzip_bomb_is_refused_as_too_large_naming_the_limit() -> None:
    # Given 100 MB of zeros gzipped (about 100 KB on the wire, well under every limit as sent)
    bomb = gzip.compress(b"0" * (100 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < MAX_BATCH_BYTES
    # When ingest reads it as a batch
    error = _rejected("batch", _b64(bomb), True, "gzip")
    # Then it is a 413 that names the limit of the inflated body (the next test shows it is not inflated whole)
    assert error.status == 413
    assert str(MAX_BATCH_BYTES) in error.message or f"{MAX_BATCH_BYTES:,}" in error.message, error.message


def test_inflating_a_bomb_holds_no_more_than_the_limit_in_memory() -> None:
    # Given 100 MB of JSON-looking bytes gzipped, and memory tracing on
    bomb = gzip.compress(b"{" * (100 * 1024 * 1024))
    tracemalloc.start()
    try:
        # When it is inflated against the 500 KB batch limit
        with pytest.raises(bodies.BodyTooLargeError):
            bodies.decoded(bomb, "gzip", MAX_BATCH_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the peak is a small multiple of the limit, never the 100 MB the bomb holds
    assert peak < 4 * MAX_BATCH_BYTES, f"peak {peak} bytes"


@pytest.mark.parametrize(  # mtime=0: the same test ids in every process that collects them (pytest-xdist)
    ("encoding", "sent", "rule"),
    [
        ("gzip", b"this is not gzip at all", "not a valid gzip stream"),
        ("gzip", gzip.compress(TEXT.encode(), mtime=0)[:-12], "ends before its end"),
        ("gzip", gzip.compress(TEXT.encode(), mtime=0) + b"junk", "not a valid gzip stream"),
        ("deflate", zlib.compress(TEXT.encode())[:-3], "ends before its end"),
        ("deflate", b"\xff\xff\xff\xff", "not a valid deflate stream"),
        ("deflate", zlib.compress(TEXT.encode()) + b"junk", "bytes follow the end of the deflate stream"),
    ],
)
def test_a_corrupt_or_cut_stream_is_a_400_naming_the_encoding(encoding: str, sent: bytes, rule: str) -> None:
    # When a body that does not decode as its Content-Encoding is posted
    error = _rejected("track", _b64(sent), True, encoding)
    # Then it is a 400 that says which rule it broke
    assert error.status == 400
    assert rule in error.message
    assert f"Content-Encoding: {encoding}" in error.message


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_an_unknown_content_encoding_is_refused_with_415(encoding: str) -> None:
    # When the body is encoded in a way nudge does not decode
    error = _rejected("track", _b64(b"\x00\x01"), True, encoding)
    # Then it is a 415 that names the encodings nudge accepts
    assert error.status == 415
    assert "gzip" in error.message


def test_a_plain_body_over_the_limit_is_still_413_and_non_utf8_still_400() -> None:
    # Given an uncompressed body over 32 KB, and one that is not UTF-8
    assert _rejected("track", "x" * (MAX_EVENT_BYTES + 1), False, None).status == 413
    not_utf8 = _rejected("track", _b64(gzip.compress(b"\xff\xfe{}")), True, "gzip")
    assert (not_utf8.status, not_utf8.message) == (400, "body is not UTF-8 JSON")
