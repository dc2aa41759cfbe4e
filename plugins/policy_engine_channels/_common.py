"""Helpers the built-in channels share: settings access, signed JSON POSTs, safe file names."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from policy_engine._exceptions import PermanentDeliveryError, TransientDeliveryError
from policy_engine.deliver.settings import ChannelSettings
from policy_engine.hookspecs import DeliveryResult

SIGNATURE_HEADER = "X-Policy-Engine-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def channel_settings(name: str, settings: Mapping[str, Any] | None) -> ChannelSettings:
    """``settings`` as ChannelSettings (plain dicts from tests or callers are wrapped)."""
    if isinstance(settings, ChannelSettings):
        return settings
    return ChannelSettings(name, settings or {})


def sign(secret: str, body: bytes) -> str:
    """The signature header value for a body: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether a received body carries a valid signature (constant-time comparison)."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


def post_signed_json(
    url: str, payload: Mapping[str, Any], *, secret: str | None, idempotency_key: str, timeout: float
) -> DeliveryResult:
    """POST ``payload`` as JSON with the idempotency key (and a signature when ``secret`` is set).

    2xx is delivered (``id`` of the JSON reply is the provider id; ``outcome`` is passed on); timeouts,
    connection errors, 408/425/429 and 5xx raise TransientDeliveryError; other statuses are permanent.
    """
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"{url}: timed out after {timeout}s") from exc
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
    snippet = response.text[:200]
    if response.status_code in RETRYABLE_STATUS:
        raise TransientDeliveryError(f"{url}: HTTP {response.status_code}: {snippet}")
    if not 200 <= response.status_code < 300:
        raise PermanentDeliveryError(f"{url}: HTTP {response.status_code}: {snippet}")
    reply: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            reply = parsed
    except ValueError:
        pass
    provider_id = reply.get("id") or response.headers.get("X-Request-Id")
    return DeliveryResult(
        "delivered",
        provider_id=str(provider_id) if provider_id is not None else None,
        detail=f"HTTP {response.status_code}",
        outcome=reply.get("outcome") if isinstance(reply.get("outcome"), str) else None,
    )


def safe_name(key: str) -> str:
    """A file name made from an idempotency key: readable prefix plus a hash, never a path."""
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:60]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{readable}-{digest}"


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so readers see the old content or the whole new content, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def contact(account: Mapping[str, Any], point: str) -> str:
    """The account's contact point (``phone``, ``email``, ``address``); permanent failure when absent."""
    value = (account.get("contact") or {}).get(point)
    if not value:
        raise PermanentDeliveryError(f"account {account.get('account_id')!r} has no contact.{point}")
    return str(value)
