"""Signed requests that resist replay: what the HTTP channels send, and the verifier receivers import.

Every signed request carries ``X-Policy-Engine-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is
HMAC-SHA256, keyed with the channel's ``secret``, of::

    <t> "." <Idempotency-Key header> "." <request path, with its query> "." <body bytes>

So a captured request cannot be replayed later (the timestamp is signed and checked against a tolerance
window), at another endpoint (the path is signed), or as another message (the key and body are signed).
A receiver verifies with::

    from policy_engine.deliver.signing import verify_signature

    ok = verify_signature(secret, request.headers.get("X-Policy-Engine-Signature"), body=raw_body,
                          idempotency_key=request.headers.get("Idempotency-Key"), path=request.path,
                          tolerance=300)

and, to refuse a replay inside the window too, remembers the idempotency keys it has acted on (it must
deduplicate by key anyway). Several ``v1=`` entries may appear while a secret is being rotated; any one
that matches is enough.

This module imports only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "TOLERANCE_SECONDS", "sign_request", "signature_header", "verify_signature"]

SIGNATURE_HEADER = "X-Policy-Engine-Signature"
TOLERANCE_SECONDS = 300
"""How far a request's timestamp may be from the receiver's clock, by default (5 minutes)."""


def sign_request(secret: str, *, timestamp: int, idempotency_key: str, path: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp.key.path.body`` under ``secret``."""
    signed = f"{timestamp}.{idempotency_key}.{path}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, *, idempotency_key: str, path: str, body: bytes,
                     timestamp: int | None = None) -> str:
    """The value of the signature header for a request sent now (or at ``timestamp``)."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = sign_request(secret, timestamp=moment, idempotency_key=idempotency_key, path=path, body=body)
    return f"t={moment},v1={digest}"


def verify_signature(secret: str, header: str | None, *, body: bytes, idempotency_key: str | None, path: str,
                     tolerance: float = TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """Whether a received request is signed with ``secret`` and was signed within ``tolerance`` seconds of
    ``now`` (default: the receiver's clock). Constant-time comparison; a malformed header is simply False."""
    if not header or idempotency_key is None:
        return False
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance:
        return False
    expected = sign_request(secret, timestamp=timestamp, idempotency_key=idempotency_key, path=path, body=body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
