"""Request bodies as they arrive: base64 from API Gateway, then gzip or deflate, never inflated past the limit.

A compressed body is inflated with ``zlib.decompressobj(...).decompress(data, max_length)``, asking for at most the
remaining allowance plus one byte at a time, so a gzip bomb costs the work of ``limit + 1`` output bytes and ends in
``BodyTooLargeError``; the whole inflated body never exists in memory.
"""

from __future__ import annotations

import base64
import binascii
import zlib

SUPPORTED_ENCODINGS = ("identity", "gzip", "deflate")
_GZIP = 16 + zlib.MAX_WBITS  # gzip header and trailer
_ZLIB = zlib.MAX_WBITS  # RFC 1950: what HTTP calls deflate
_RAW_DEFLATE = -zlib.MAX_WBITS  # RFC 1951 without a wrapper, which some clients send as deflate


class BodyError(Exception):
    """The body cannot be read; the message names the rule it broke."""


class BodyTooLargeError(BodyError):
    """The (inflated) body is larger than the limit."""

    def __init__(self, limit: int, inflated: bool) -> None:
        what = "inflated body" if inflated else "body"
        super().__init__(f"the {what} is more than {limit} bytes; the limit is {limit}")
        self.limit = limit


class UnsupportedEncodingError(BodyError):
    """A Content-Encoding nudge does not decode."""


def raw_bytes(body: str | None, is_base64_encoded: bool) -> bytes:
    """The bytes the client sent: API Gateway passes binary bodies (any Content-Encoding) base64-encoded."""
    if not body:
        return b""
    if not is_base64_encoded:
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise BodyError("the body is marked base64-encoded but is not valid base64") from error


def content_coding(header: str | None) -> str:
    """The one content coding of a ``Content-Encoding`` header (``identity`` when absent); several are refused."""
    codings = [part.strip().lower() for part in (header or "").split(",") if part.strip()]
    codings = [coding for coding in codings if coding != "identity"]
    if not codings:
        return "identity"
    if len(codings) > 1:
        raise UnsupportedEncodingError(f"Content-Encoding {header!r}: at most one of gzip or deflate is accepted")
    coding = "gzip" if codings[0] == "x-gzip" else codings[0]
    if coding not in SUPPORTED_ENCODINGS:
        raise UnsupportedEncodingError(
            f"Content-Encoding {codings[0]!r} is not supported; send the body as is, gzip or deflate"
        )
    return coding


def decoded(data: bytes, coding: str, limit: int) -> bytes:
    """``data`` decoded from ``coding`` (see ``content_coding``), at most ``limit`` bytes.

    Raises BodyTooLargeError past the limit (after producing at most ``limit + 1`` bytes) and BodyError for a
    stream that is corrupt or cut short.
    """
    if coding == "identity":
        if len(data) > limit:
            raise BodyTooLargeError(limit, inflated=False)
        return data
    if not data:
        return b""
    if coding == "gzip":
        return _inflate(data, _GZIP, limit, "gzip")
    # deflate means the zlib format (RFC 9110), but raw deflate is common enough to accept: a zlib stream starts
    # with a header whose first two bytes, read as a big-endian number, are a multiple of 31 (RFC 1950).
    zlib_wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
    return _inflate(data, _ZLIB if zlib_wrapped else _RAW_DEFLATE, limit, "deflate")


def _inflate(data: bytes, wbits: int, limit: int, coding: str) -> bytes:
    out = bytearray()
    pending = data
    while True:  # one pass per gzip member (a gzip body may be several concatenated members)
        inflater = zlib.decompressobj(wbits)
        try:
            while True:
                out += inflater.decompress(pending, limit + 1 - len(out))
                if len(out) > limit:
                    raise BodyTooLargeError(limit, inflated=True)
                if inflater.eof:
                    break
                pending = inflater.unconsumed_tail
                if not pending:
                    raise BodyError(f"the {coding} stream ends before its end (Content-Encoding: {coding})")
        except zlib.error as error:
            raise BodyError(f"the body is not a valid {coding} stream (Content-Encoding: {coding}): {error}") from error
        pending = inflater.unused_data
        if not pending or wbits != _GZIP:
            if pending:
                raise BodyError(f"bytes follow the end of the {coding} stream (Content-Encoding: {coding})")
            return bytes(out)
