"""Calls through a voice provider's HTTP API, with the US limited-content rule for what is played.

What a call plays may end up on a voicemail, so the template must be a *limited-content message*: a
name, a business name that does not reveal debt collection, a request to call back and a number. Any
mention of debt, amounts or payment is a template validation error, and a rendered message that still
contains one is refused at send time.

Settings (``[channels.voice]`` or ``POLICY_ENGINE_VOICE_*``): ``url`` (required), ``secret`` (signs
the body when set), ``caller_id``, ``timeout`` (seconds, default 10). The provider deduplicates by the
``Idempotency-Key`` header and may answer ``{"id": ..., "outcome": "no_answer"|"voicemail"|...}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from policy_engine._exceptions import Issue, Location, PermanentDeliveryError
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine_channels._common import channel_settings, contact, post_signed_json

SPEC = ChannelSpec(
    name="voice",
    kind="call",
    contact_point="phone",
    content_rules=("limited_content_voicemail",),
    idempotent_provider=True,
    consent_key="voice",
    description="outbound calls via a voice provider's HTTP API",
    required_settings=("url",),
)

_WORDS = (
    r"debts?", r"owe[sd]?", r"owing", r"overdue", r"past[\s-]+due", r"arrears?", r"delinquen\w*",
    r"balances?", r"amounts?", r"payments?", r"pay", r"repay\w*", r"collect\w*", r"default\w*",
    r"outstanding", r"late", r"minimum[\s_-]+due",
)
FORBIDDEN = re.compile(r"\b(?:" + "|".join(_WORDS) + r")\b", re.IGNORECASE)
FORBIDDEN_CJK = re.compile(r"欠款|欠费|逾期|债务|还款|催收|金额|账单|违约|拖欠")
MONEY = re.compile(r"[$¥€£]\s*\d|\d[\d,]*\.\d{2}\b")
FORBIDDEN_FIELDS = re.compile(
    r"\baccount\.(?:balance|amount_past_due|minimum_due|delinquent_since)\b|\bdpd\b|\boffer\b"
)


def limited_content_problems(text: str) -> list[tuple[int, str]]:
    """(line, what) for every word, amount or variable a limited-content message must not contain."""
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines() or [text], start=1):
        for pattern in (FORBIDDEN, FORBIDDEN_CJK, MONEY, FORBIDDEN_FIELDS):
            for match in pattern.finditer(line):
                problems.append((number, match.group(0)))
    return problems


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The voice channel."""
    return [SPEC]


@hookimpl
def policy_engine_validate_template(channel: ChannelSpec, template_id: str, source: str) -> list[Issue] | None:
    """A voice template must be a limited-content message."""
    if channel.name != SPEC.name:
        return None
    return [
        Issue(
            Location(f"<template {template_id}>", line),
            template_id,
            f"voice messages may reach a voicemail and must be limited-content: {found!r} reveals the debt",
            code="limited_content_voicemail",
            hint="use a name, a neutral business name, a request to call back and a callback number only",
        )
        for line, found in limited_content_problems(source)
    ]


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
) -> DeliveryResult | None:
    """Ask the provider to place the call."""
    if channel.name != SPEC.name:
        return None
    # the policy's baseline decides (US Reg F: limited-content voicemail); the engine marks the action
    required = "limited_content_voicemail" in (action.get("content_rules") or ())
    problems = limited_content_problems(message.text) if required else []
    if problems:
        words = ", ".join(sorted({found for _, found in problems}))
        raise PermanentDeliveryError(f"limited_content_voicemail: the message mentions {words}; not called")
    conf = channel_settings(channel.name, settings)
    payload = {
        "idempotency_key": action["idempotency_key"],
        "to": contact(account, "phone"),
        "caller_id": conf.get("caller_id"),
        "script": message.text,
        "language": message.language or account.get("language"),
        "account_id": account.get("account_id"),
        "action": action.get("action"),
    }
    secret = conf.get("secret")
    return post_signed_json(
        str(conf.require("url")),
        payload,
        secret=str(secret) if secret else None,
        idempotency_key=str(action["idempotency_key"]),
        timeout=conf.get_float("timeout", 10.0),
    )
