"""Webhook signatures, Stripe's scheme: HMAC-SHA256 over "<timestamp>.<body>".

The header names the timestamp once and carries one `v1=` signature per live secret, so
during a rotation (old and new secret both live for an overlap) a receiver holding either
verifies the message:

    Smartroom-Signature: t=1767225600,v1=5257a8...,v1=9f86d0...

A receiver recomputes HMAC-SHA256(secret, f"{t}.{raw body}"), compares in constant time,
and refuses a timestamp more than `tolerance_s` away from its own clock (replays).

    header = signature_header(["whsec_..."], body, timestamp=1767225600)
    verify(header, body, ["whsec_..."], now=1767225630)          # raises SignatureError
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

HEADER = "Smartroom-Signature"
EVENT_HEADER = "Smartroom-Event-Id"
TYPE_HEADER = "Smartroom-Event-Type"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The signature header is missing, malformed, stale, or matches no secret."""


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(live_secrets: Sequence[str], body: bytes, *, timestamp: int) -> str:
    if not live_secrets:
        raise ValueError("an endpoint needs at least one live secret to sign with")
    parts = [f"t={timestamp}", *(f"{SCHEME}={sign(s, body, timestamp)}" for s in live_secrets)]
    return ",".join(parts)


def parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} item {item!r}")
        if key == "t":
            if not value.isdigit():
                raise SignatureError(f"{HEADER} timestamp {value!r} is not a number")
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError(f"{HEADER} has no t= timestamp")
    if not signatures:
        raise SignatureError(f"{HEADER} has no {SCHEME}= signature")
    return timestamp, signatures


def verify(
    header: str | None,
    body: bytes,
    known_secrets: Sequence[str],
    *,
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a delivery; return its timestamp. Raises `SignatureError` saying why not."""
    if not header:
        raise SignatureError(f"no {HEADER} header")
    timestamp, signatures = parse_header(header)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(
            f"timestamp {timestamp} is {abs(now - timestamp)} s from now "
            f"(tolerance {tolerance_s} s)"
        )
    for secret in known_secrets:
        expected = sign(secret, body, timestamp)
        if any(hmac.compare_digest(expected, s) for s in signatures):
            return timestamp
    raise SignatureError("no signature matches a known secret")
