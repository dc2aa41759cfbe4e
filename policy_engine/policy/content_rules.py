"""The content rules the core knows by name, and what each forbids in a message.

A baseline decides which rules apply to an action (the engine lists them in the action's
``content_rules``); a channel declares which it obeys (``ChannelSpec.content_rules``). This module
keeps the one definition of what a rule forbids, so the policy checker (before a run) and the channel
(at send time) refuse the same texts.

- ``opt_out``: every message carries an opt-out line; the channel appends it, nothing to check here.
- ``limited_content_voicemail``: what a call plays may reach a voicemail, so it names no debt, amount
  or payment (US Reg F limited-content message).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from policy_engine._exceptions import Issue, Location

if TYPE_CHECKING:
    from policy_engine.policy.channels import ChannelSpec

__all__ = [
    "CONTENT_RULES",
    "LIMITED_CONTENT_VOICEMAIL",
    "OPT_OUT",
    "builtin_content_issues",
    "limited_content_issues",
    "limited_content_problems",
]

OPT_OUT = "opt_out"
LIMITED_CONTENT_VOICEMAIL = "limited_content_voicemail"
CONTENT_RULES: tuple[str, ...] = (OPT_OUT, LIMITED_CONTENT_VOICEMAIL)
"""Content rules the core knows by name; plugins may declare their own with a prefix (``acme:``)."""

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


def limited_content_issues(template_id: str, source: str) -> list[Issue]:
    """The limited-content problems of a template text, one located Issue each."""
    return [
        Issue(
            Location(f"<template {template_id}>", line),
            template_id,
            f"voice messages may reach a voicemail and must be limited-content: {found!r} reveals the debt",
            code=LIMITED_CONTENT_VOICEMAIL,
            hint="use a name, a neutral business name, a request to call back and a callback number only",
        )
        for line, found in limited_content_problems(source)
    ]


def builtin_content_issues(channel: ChannelSpec, template_id: str, source: str) -> list[Issue]:
    """The problems the core's content rules that ``channel`` declares find in a template text."""
    if LIMITED_CONTENT_VOICEMAIL in channel.content_rules:
        return limited_content_issues(template_id, source)
    return []
