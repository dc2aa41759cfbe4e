"""Helpers the built-in channels share: settings access, signed JSON POSTs on a pooled client, safe file names."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from policy_engine._exceptions import AmbiguousDeliveryError, PermanentDeliveryError, TransientDeliveryError
from policy_engine.deliver.redact import redact_url_credentials
from policy_engine.deliver.settings import ChannelSettings
from policy_engine.deliver.signing import SIGNATURE_HEADER, signature_header, verify_signature
from policy_engine.hookspecs import ChannelContext, DeliveryResult
from policy_engine_channels._http import HttpClient, NoAnswer, NotSent

IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
HTTP_SETTING_KINDS: dict[str, str | tuple[str, ...]] = {"timeout": "number", "url": "text", "secret": "text",
                                                         "ca_file": "text"}
"""The settings every HTTP channel reads, by kind (checked before a run)."""


def channel_settings(name: str, settings: Mapping[str, Any] | None) -> ChannelSettings:
    """``settings`` as ChannelSettings (plain dicts from tests or callers are wrapped)."""
    if isinstance(settings, ChannelSettings):
        return settings
    return ChannelSettings(name, settings or {})


def sign(secret: str, body: bytes, *, idempotency_key: str = "", path: str = "/") -> str:
    """The signature header value for a request sent now (``t=...,v1=...``, see
    :mod:`policy_engine.deliver.signing`)."""
    return signature_header(secret, idempotency_key=idempotency_key, path=path, body=body)


def verify(secret: str, body: bytes, signature: str | None, *, idempotency_key: str | None = "",
           path: str = "/") -> bool:
    """Whether a received request carries a valid, recent signature (constant-time comparison)."""
    return verify_signature(secret, signature, body=body, idempotency_key=idempotency_key, path=path)


def http_client(conf: ChannelSettings, channel_context: ChannelContext | None) -> tuple[HttpClient, bool]:
    """The channel's pooled client for this dispatch (shared through the channel context), and whether the
    caller must close it (no context: a client for this one send)."""
    timeout = conf.get_float("timeout", 10.0)
    ca_file = str(conf["ca_file"]) if conf.get("ca_file") else None

    def make() -> HttpClient:
        return HttpClient(timeout=timeout, ca_file=ca_file)

    if channel_context is None or not hasattr(channel_context, "shared"):
        return make(), True
    return channel_context.shared(f"http:{conf.channel}:{timeout}:{ca_file}", make), False


def post_signed_json(
    url: str, payload: Mapping[str, Any], *, secret: str | None, idempotency_key: str, timeout: float,
    client: HttpClient | None = None,
) -> DeliveryResult:
    """POST ``payload`` as JSON with the idempotency key (and a signature when ``secret`` is set), on the
    pooled ``client`` (or a client for this one request).

    2xx is delivered (``id`` of the JSON reply is the provider id; ``outcome`` is passed on). A request
    that never reached the server whole (refused, connect timeout), 408/425/429 and 5xx raise
    TransientDeliveryError; a request sent without an answer (read timeout, disconnect) raises
    AmbiguousDeliveryError, which dispatch retries with the same key because these providers deduplicate
    by it; other statuses are permanent. Errors name the URL without its credentials.
    """
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key}
    shown = _shown(url)
    if secret:
        headers[SIGNATURE_HEADER] = signature_header(secret, idempotency_key=idempotency_key, path=_signed_path(url),
                                                     body=body)
    own = client is None
    active = client if client is not None else HttpClient(timeout=timeout)
    try:
        reply = active.post(url, body, headers)
    except NotSent as exc:
        raise TransientDeliveryError(f"{shown}: {exc}") from exc
    except NoAnswer as exc:
        raise AmbiguousDeliveryError(f"{shown}: {exc}") from exc
    finally:
        if own:
            active.close()
    snippet = reply.body[:200].decode("utf-8", "replace")
    if reply.status in RETRYABLE_STATUS:
        raise TransientDeliveryError(f"{shown}: HTTP {reply.status}: {snippet}")
    if not 200 <= reply.status < 300:
        raise PermanentDeliveryError(f"{shown}: HTTP {reply.status}: {snippet}")
    answer: dict[str, Any] = {}
    try:
        parsed = json.loads(reply.body or b"{}")
        if isinstance(parsed, dict):
            answer = parsed
    except ValueError:
        pass
    provider_id = answer.get("id") or reply.headers.get("x-request-id")
    return DeliveryResult(
        "delivered",
        provider_id=str(provider_id) if provider_id is not None else None,
        detail=f"HTTP {reply.status}",
        outcome=answer.get("outcome") if isinstance(answer.get("outcome"), str) else None,
    )


@lru_cache(maxsize=256)
def _signed_path(url: str) -> str:
    """The path (and query) of ``url`` as the signature covers it; a channel posts to one URL, read once."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@lru_cache(maxsize=256)
def _shown(url: str) -> str:
    """``url`` without its credentials, as errors name it."""
    return redact_url_credentials(url)


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
