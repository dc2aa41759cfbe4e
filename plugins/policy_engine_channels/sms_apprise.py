"""SMS through apprise: any of the SMS services apprise supports (Twilio, Vonage, AWS SNS, ...).

Settings (``[channels.sms_apprise]`` or ``POLICY_ENGINE_SMS_APPRISE_*``): ``url`` (required), an apprise
URL in which ``{phone}`` is replaced by the customer's number, e.g.
``twilio://ACCOUNT_SID:AUTH_TOKEN@+15550100/{phone}``; ``opt_out_text`` (a text, or a table by language;
appended only where the policy's baseline requires an opt-out, in the message's language).

We use apprise rather than one client per SMS vendor because it is a well-kept library that already
speaks dozens of provider APIs. apprise passes no idempotency key to providers, so this channel does not
declare ``idempotent_provider``: a send interrupted by a crash is reported for review, never repeated.
apprise does not say whether a failed notification reached the provider (a timeout after the request was
sent looks like a refused connection), so every failed send is *ambiguous*: held for a person, never
retried by dispatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine._exceptions import AmbiguousDeliveryError
from policy_engine.deliver.opt_out import with_required_opt_out
from policy_engine.deliver.settings import typed_problems
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import channel_settings, contact

OPT_OUT_TEXTS = {"en": "Reply STOP to opt out.", "zh": "回复TD退订"}
DEFAULT_OPT_OUT = OPT_OUT_TEXTS["en"]

SPEC = BUILTIN_CHANNELS["sms_apprise"]
"""The channel, as the core's built-in catalogue declares it."""


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The sms_apprise channel."""
    return [SPEC]


@hookimpl
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
    """``url`` is text."""
    return typed_problems(channel.name, settings, {"url": "text"})


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
) -> DeliveryResult:
    """Send the text through the apprise URL configured for this channel."""
    import apprise  # noqa: PLC0415  (imported only when this channel sends)

    conf = channel_settings(channel.name, settings)
    url = str(conf.require("url")).replace("{phone}", contact(account, "phone"))
    text = with_required_opt_out(message, action, conf, OPT_OUT_TEXTS, account.get("language")).text
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return DeliveryResult("permanent_failure", None, "apprise does not understand the configured url")
    if notifier.notify(body=text, title=message.subject or ""):
        return DeliveryResult("delivered", None, None, "sent")
    raise AmbiguousDeliveryError("apprise could not confirm the message reached the service")
