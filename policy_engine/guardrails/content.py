"""Content rules: what a channel's messages must carry (an opt-out) or must not carry (a voicemail
that says more than a limited-content message may).

The engine attaches the rules that apply to each planned action (``content_rules``); the channel plugin
enforces them when it renders and sends. Under ``extends`` the channels needing an opt-out only add up,
and limited-content voicemail, once required, stays required.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from policy_engine.guardrails.base import GuardrailFamily
from policy_engine.guardrails.words import GROUPS
from policy_engine.policy.channels import ChannelSpec
from policy_engine.policy.models import Guardrails
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["CONTENT", "Content", "content_key", "content_rules_for"]


def content_key(setting: str) -> OriginKey:
    """The origin key of one ``[guardrails.content]`` setting."""
    return OriginKey(f"content.{setting}")


def content_rules_for(guardrails: Guardrails, channel: str, catalogue: Mapping[str, ChannelSpec]) -> tuple[str, ...]:
    """The content rules the effective guardrails impose on ``channel`` (the channel plugin enforces them)."""
    content = guardrails.content
    if content is None:
        return ()
    rules = []
    if channel in content.opt_out_required:
        rules.append("opt_out")
    info = catalogue.get(channel)
    if content.voicemail_limited_content and info is not None and info.kind == "call":
        rules.append("limited_content_voicemail")
    return tuple(rules)


class Content(GuardrailFamily):
    """Opt-out text and limited-content voicemail (no suppression reason: plugins enforce them)."""

    name = "content"
    settings = frozenset({"content.opt_out_required", "content.voicemail_limited_content", "content.description"})
    group = GROUPS[2]

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Each content setting the file writes."""
        content = source.model.guardrails.content
        if content:
            for setting in content.model_fields_set:
                record(content_key(setting), "guardrails", "content", setting)

    def tighten(self, merge: Tightening) -> None:
        """Opt-out channels add up; limited-content voicemail cannot be turned off."""
        base, child = merge.base.guardrails.content, merge.child.model.guardrails.content
        if child is None or base is None:
            merge.guardrails["content"] = child or base
            return
        if base.voicemail_limited_content and "voicemail_limited_content" in child.model_fields_set \
                and not child.voicemail_limited_content:
            merge.loosens(content_key("voicemail_limited_content"),
                          ("guardrails", "content", "voicemail_limited_content"),
                          "turns off limited-content voicemail; {base} requires it")
        merge.guardrails["content"] = child.model_copy(update={
            "opt_out_required": sorted(set(base.opt_out_required) | set(child.opt_out_required)),
            "voicemail_limited_content": base.voicemail_limited_content or child.voicemail_limited_content,
        })

    def check_policy(self, checker: PolicyChecker) -> None:
        """The channels that need an opt-out exist."""
        content = checker.own.guardrails.content
        if content:
            for position, channel in enumerate(content.opt_out_required):
                checker.channel(channel, ("guardrails", "content", "opt_out_required", position))


CONTENT = Content()
