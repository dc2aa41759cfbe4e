"""The opt-out line of a message: only where a baseline requires it, in the customer's language.

A baseline that requires an opt-out on a channel makes the engine list ``opt_out`` in the action's
``content_rules``; only then does the channel append a line. The text comes from the channel's settings:

```toml
[channels.sms]
opt_out_text = "Reply STOP to opt out."          # one text for every language, or a table by language:

[channels.sms.opt_out_text]
default = "Reply STOP to opt out."
"zh-CN" = "回复TD退订"
```

Environment variables work too: ``POLICY_ENGINE_SMS_OPT_OUT_TEXT`` (the default) and
``POLICY_ENGINE_SMS_OPT_OUT_TEXT_ZH_CN`` (one language, ``_`` for ``-``). For a message in language L
(``zh-CN``) the line is the configured text for L, else for its base language (``zh``), else the channel's
built-in text for L or its base language, else the configured default, else the built-in English one. So a
Chinese message never gets an English "Reply STOP" unless a person configured exactly that.

The rule this module keeps: a configured opt-out text that is empty where the policy requires one is a
configuration error before anything is sent (:func:`opt_out_problems`), never a message without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.deliver.settings import setting_env_var
from policy_engine.deliver.templates import with_opt_out
from policy_engine.hookspecs import Message
from policy_engine.policy.content_rules import OPT_OUT

__all__ = ["OPT_OUT_SETTING", "configured_texts", "opt_out_line", "opt_out_problems", "with_required_opt_out"]

OPT_OUT_SETTING = "opt_out_text"
_ENV_PREFIX = OPT_OUT_SETTING + "_"
DEFAULT = "default"


def configured_texts(settings: Mapping[str, Any]) -> dict[str, str]:
    """The opt-out texts a channel's settings configure, by lower-case language tag (``default`` too)."""
    texts: dict[str, str] = {}
    value = settings.get(OPT_OUT_SETTING)
    if isinstance(value, Mapping):
        texts.update({str(k).lower(): str(v) for k, v in value.items()})
    elif value is not None:
        texts[DEFAULT] = str(value)
    for key, text in settings.items():
        if key.startswith(_ENV_PREFIX) and len(key) > len(_ENV_PREFIX):  # from the environment
            texts[key[len(_ENV_PREFIX):].replace("_", "-").lower()] = str(text)
    return texts


def _candidates(language: str | None) -> list[str]:
    if not language:
        return []
    tag = language.lower()
    base = tag.split("-")[0]
    return [tag, base] if base != tag else [tag]


def opt_out_line(settings: Mapping[str, Any], language: str | None, builtin: Mapping[str, str]) -> str:
    """The opt-out line for a message in ``language`` (see the module doc for the order); ``builtin`` is
    the channel's own texts by language, with ``en`` as the last resort."""
    configured = configured_texts(settings)
    wanted = _candidates(language)
    own = {k.lower(): v for k, v in builtin.items()}
    for tag in wanted:
        if tag in configured:
            return configured[tag]
    for tag in wanted:
        if tag in own:
            return own[tag]
    if DEFAULT in configured:
        return configured[DEFAULT]
    return own.get("en", "")


def with_required_opt_out(message: Message, action: Mapping[str, Any], settings: Mapping[str, Any],
                          builtin: Mapping[str, str], language: str | None) -> Message:
    """The message with its opt-out line when the action's content rules require one, else unchanged."""
    if OPT_OUT not in (action.get("content_rules") or ()):
        return message
    return with_opt_out(message, opt_out_line(settings, message.language or language, builtin))


def opt_out_problems(channel: str, settings: Mapping[str, Any]) -> list[str]:
    """Configured opt-out texts that are empty, one sentence each naming the setting to fix."""
    problems = []
    value = settings.get(OPT_OUT_SETTING)
    for tag, text in sorted(configured_texts(settings).items()):
        if text.strip():
            continue
        if tag == DEFAULT and not isinstance(value, Mapping):
            where = f"[channels.{channel}] {OPT_OUT_SETTING} (or {setting_env_var(channel, OPT_OUT_SETTING)})"
        else:
            env = setting_env_var(channel, f"{OPT_OUT_SETTING}_{tag.replace('-', '_')}")
            where = f"[channels.{channel}.{OPT_OUT_SETTING}] \"{tag}\" (or {env})"
        problems.append(f"{where} is empty, and the policy requires an opt-out line on {channel}")
    return problems
