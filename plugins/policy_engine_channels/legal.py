"""Legal referrals: a JSON file per referral in a drop folder, or a signed POST to a webhook.

The referral carries the account's arrears, the policy that decided it, and the notice history read
from the ledger (every written notice already sent), so counsel can see the prerequisites were met.
Settings (``[channels.legal]`` or ``POLICY_ENGINE_LEGAL_*``): ``drop_folder``, or ``url`` with
``secret`` (and ``timeout``). A referral written twice replaces the same file; the webhook receiver
deduplicates by ``Idempotency-Key``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from policy_engine._exceptions import PluginError
from policy_engine.deliver.settings import typed_problems
from policy_engine.hookspecs import ChannelContext, ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import (
    HTTP_SETTING_KINDS,
    channel_settings,
    http_client,
    post_signed_json,
    safe_name,
    write_atomically,
)

SPEC = BUILTIN_CHANNELS["legal"]
"""The channel, as the core's built-in catalogue declares it."""

ACCOUNT_FIELDS = (
    "account_id", "customer_id", "region", "currency", "balance", "amount_past_due", "minimum_due",
    "delinquent_since", "product", "language", "contact",
)


def build_referral(
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    decision: Mapping[str, Any],
    history: Iterable[Mapping[str, Any]],
    message: Message,
) -> dict[str, Any]:
    """The referral document: account, decision context, and the notices in the account's ``history``."""
    notices = [dict(ev) for ev in history if ev.get("type") == "contact" and ev.get("notice")]
    return {
        "idempotency_key": action["idempotency_key"],
        "account": {k: account[k] for k in ACCOUNT_FIELDS if k in account},
        "decision": {
            "as_of": decision.get("as_of"),
            "policy": dict(decision.get("policy") or {}),
            "dpd": decision.get("dpd"),
            "stage": decision.get("stage"),
        },
        "action": dict(action),
        "notice_history": notices,
        "summary": message.text,
    }


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The legal channel."""
    return [SPEC]


@hookimpl
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
    """``timeout`` is a number; ``drop_folder``, ``url`` and ``secret`` are text."""
    return typed_problems(channel.name, settings, {**HTTP_SETTING_KINDS, "drop_folder": "text"})


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    decision: Mapping[str, Any],
    channel_context: ChannelContext,
) -> DeliveryResult:
    """Deliver the referral to the drop folder or the webhook."""
    conf = channel_settings(channel.name, settings)
    history = channel_context.account_history(str(account.get("account_id")))
    referral = build_referral(action, account, decision, history, message)
    key = str(action["idempotency_key"])
    if conf.get("drop_folder"):
        name = safe_name(key) + ".json"
        body = json.dumps(referral, ensure_ascii=False, indent=2, sort_keys=True, default=str)
        write_atomically(Path(str(conf["drop_folder"])) / name, body.encode("utf-8"))
        return DeliveryResult("delivered", provider_id=name, detail="referral written")
    if conf.get("url"):
        client, own = http_client(conf, channel_context)
        try:
            return post_signed_json(
                str(conf["url"]), referral, secret=str(conf.require("secret")), idempotency_key=key,
                timeout=conf.get_float("timeout", 10.0), client=client,
            )
        finally:
            if own:
                client.close()
    raise PluginError("channel 'legal': set drop_folder or url (with secret) in [channels.legal]")
