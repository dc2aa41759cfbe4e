"""Caps and the pause after a conversation: rolling-window limits on contacts, per channel or across
channels, counted from the contact history plus the actions already chosen in the same decision.

A cap allows at most ``max`` attempts (or conversations) on its channels within the last ``days`` local
days, today included. A cap names channels, channel kinds (``call`` covers voice calls and agent tasks: a
person's call is a call), or neither (every channel that reaches the customer), and may bind only accounts
of some regions (``regions``: a Massachusetts cap binds US-MA accounts). A pause after a conversation
forbids contact on its channels for ``days`` local days, the conversation day being day 1. Candidates are
taken in priority order, so a more important action claims cap room first. Under ``extends`` a cap with the
same channels, kinds, regions, window and count may only be lowered, and a pause with the same channels
only lengthened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from policy_engine.guardrails.base import (
    Candidate,
    GuardrailFamily,
    GuardrailState,
    PolicyUse,
    Reason,
    RelationalPlan,
    SqlCheck,
    Verdict,
    counted,
    suppress,
)
from policy_engine.guardrails.sql import days_after, days_before, days_between, iso_day, text, text_list
from policy_engine.guardrails.words import GROUPS, LimitText, covered, plural
from policy_engine.policy.channels import ChannelSpec
from policy_engine.policy.models import AfterConversation, Cap, PolicyFile
from policy_engine.policy.origins import CapKey, OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["CAPS", "Caps", "cap_origin", "pause_origin"]


def cap_origin(cap: Cap) -> OriginKey:
    """The origin key of a cap: its channels, window and count."""
    return OriginKey("caps", cap.key)


def pause_origin(rule: AfterConversation) -> OriginKey:
    """The origin key of a pause after a conversation: its channels and kinds."""
    return OriginKey("after_conversation", _pause_key(rule))


def _pause_key(rule: AfterConversation) -> tuple[str, ...]:
    return tuple(sorted(rule.channels)) + tuple(f"kind:{kind}" for kind in sorted(rule.kinds))


def _what(channels: Sequence[str], kinds: Sequence[str]) -> str:
    """How a detail names the channels a rule covers: 'voice', 'sms/call', 'all channels'."""
    named = [*channels, *kinds]
    return "/".join(named) if named else "all channels"


class Caps(GuardrailFamily):
    """``frequency_cap``: rolling caps and the pause after a conversation."""

    name = "caps"
    reasons = (Reason.FREQUENCY_CAP,)
    has_row_check = True
    settings = frozenset({"caps", "after_conversation"})
    group = GROUPS[1]

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Each cap and each pause the file writes."""
        guardrails = source.model.guardrails
        for index, cap in enumerate(guardrails.caps):
            record(cap_origin(cap), "guardrails", "caps", index)
        for index, rule in enumerate(guardrails.after_conversation):
            record(pause_origin(rule), "guardrails", "after_conversation", index)

    def tighten(self, merge: Tightening) -> None:
        """Lower caps and longer pauses win; a raised cap or a shortened pause is a loosening."""
        base, child = merge.base.guardrails, merge.child.model.guardrails
        caps = {cap.key: cap for cap in base.caps}
        order = [cap.key for cap in base.caps]
        for index, cap in enumerate(child.caps):
            old = caps.get(cap.key)
            if old is not None and cap.max > old.max:
                channels = ", ".join([*cap.channels, *cap.kinds]) or "all channels"
                regions = f" in {', '.join(cap.regions)}" if cap.regions else ""
                merge.loosens(cap_origin(cap), ("guardrails", "caps", index, "max"),
                              f"raises the cap on {channels} over {cap.days} day{'s' if cap.days != 1 else ''}"
                              f"{regions} to {cap.max}; {{base}} allows {old.max}")
                continue
            if old is None:
                order.append(cap.key)
            caps[cap.key] = cap
        merge.guardrails["caps"] = [caps[key] for key in order]

        pauses = {_pause_key(rule): rule for rule in base.after_conversation}
        for index, rule in enumerate(child.after_conversation):
            key = _pause_key(rule)
            old_rule = pauses.get(key)
            if old_rule is not None and rule.days < old_rule.days:
                merge.loosens(pause_origin(rule), ("guardrails", "after_conversation", index, "days"),
                              f"shortens the pause after a conversation to {rule.days} days; {{base}} requires "
                              f"{old_rule.days}")
                continue
            pauses[key] = rule
        merge.guardrails["after_conversation"] = list(pauses.values())

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """The pause after a conversation, then every cap covering the channel."""
        paused = _pause_after_conversation(candidate, state)
        if paused is not None or not state.info(candidate.channel).counts_as_attempt:
            return paused
        return _over_a_cap(candidate, state)

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """The pauses after a conversation, then each cap covering the channel, counting chosen contacts."""
        info = plan.channels.info(candidate.channel)
        index = plan.channels
        facts = plan.facts
        checks: list[SqlCheck] = []
        for rule in plan.guardrails.after_conversation:
            names_some = bool(rule.channels or rule.kinds)
            if (names_some and not index.covers(rule.channels, rule.kinds, candidate.channel)) or (
                    not names_some and not info.counts_as_attempt):
                continue
            last = facts.last_conversation(index.names(rule.channels, rule.kinds) if names_some else None)
            tail = text(f"; no {candidate.channel} contact for {counted(rule.days, 'day')} after a conversation "
                        "(allowed from ")
            checks.append(SqlCheck(f"{days_between(last, 'today')} < {rule.days}", Reason.FREQUENCY_CAP,
                                   f"'conversation on ' || {iso_day(last)} || {tail} || "
                                   f"{iso_day(days_after(last, rule.days))} || ')'", plan.source(pause_origin(rule))))
        if not info.counts_as_attempt:
            return checks
        for cap in plan.guardrails.caps:
            if not index.covers(cap.channels, cap.kinds, candidate.channel):
                continue
            conversations = cap.count == "conversations"
            names_some = bool(cap.channels or cap.kinds)
            past = facts.contacts(index.names(cap.channels, cap.kinds) if names_some else None, cap.days,
                                  conversations_only=conversations, excluding=() if names_some else index.not_contacts)
            planned = "0" if conversations else plan.planned(cap.channels, cap.kinds)
            one, many = ("conversation", "conversations") if conversations else ("contact attempt", "contact attempts")
            what = _what(cap.channels, cap.kinds)
            in_region = f"region IN {text_list(cap.regions)} AND " if cap.regions else ""
            detail = (f"CAST({past} AS VARCHAR) || {text(' ' + what + ' ')} || CASE WHEN {past} = 1 THEN "
                      f"{text(one)} ELSE {text(many)} END || ' from ' || {iso_day(days_before('today', cap.days - 1))}"
                      f" || ' to ' || {iso_day('today')} || CASE WHEN {planned} > 0 THEN ' plus ' || "
                      f"CAST({planned} AS VARCHAR) || ' planned today' ELSE '' END || "
                      f"{text(f' (limit {cap.max} in ' + counted(cap.days, 'day') + ')')}")
            checks.append(SqlCheck(f"{in_region}{past} + {planned} >= {cap.max}", Reason.FREQUENCY_CAP, detail,
                                   plan.source(cap_origin(cap))))
        return checks

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``frequency_cap`` when a cap or a pause covers some action's channel."""
        guardrails = use.policy.guardrails

        index = use.index

        def capped(info: ChannelSpec) -> bool:
            named = any((rule.channels or rule.kinds) and index.covers(rule.channels, rule.kinds, info.name)
                        for rule in guardrails.after_conversation)
            if not info.counts_as_attempt:
                return named
            return named or any(index.covers(cap.channels, cap.kinds, info.name) for cap in guardrails.caps) or any(
                not rule.channels and not rule.kinds for rule in guardrails.after_conversation)

        return {Reason.FREQUENCY_CAP} if any(capped(info) for info in use.channels) else set()

    def check_policy(self, checker: PolicyChecker) -> None:
        """The channels named by caps and pauses exist."""
        guardrails = checker.own.guardrails
        for index, cap in enumerate(guardrails.caps):
            for position, channel in enumerate(cap.channels):
                checker.channel(channel, ("guardrails", "caps", index, "channels", position))
        for index, rule in enumerate(guardrails.after_conversation):
            for position, channel in enumerate(rule.channels):
                checker.channel(channel, ("guardrails", "after_conversation", index, "channels", position))


    def describe(self, key: OriginKey, policy: PolicyFile) -> LimitText | None:
        """A cap as "at most N contact attempts on ... in any D days", a pause in days after a conversation."""
        guardrails = policy.guardrails
        if key.setting == "caps" and isinstance(key.qualifier, CapKey):
            cap = next((cap for cap in guardrails.caps if cap.key == key.qualifier), None)
            if cap is None:
                return None
            regions = f" (accounts in {', '.join(cap.regions)})" if cap.regions else ""
            counted_as = "contact attempt" if cap.count == "attempts" else "conversation"
            return LimitText(self.group, f"cap {cap.id}" if cap.id else "cap",
                             f"at most {plural(cap.max, counted_as)} on {covered(cap.channels, cap.kinds)} in any "
                             f"{plural(cap.days, 'day')}{regions}")
        rule = next((rule for rule in guardrails.after_conversation if pause_origin(rule) == key), None)
        if rule is None:
            return None
        return LimitText(self.group, "pause after a conversation",
                         f"no contact on {covered(rule.channels, rule.kinds)} for {plural(rule.days, 'day')} "
                         "after a conversation (the conversation day is day 1)")


def _pause_after_conversation(candidate: Candidate, state: GuardrailState) -> Verdict | None:
    """No contact on a pause's channels until its days after the last conversation on them have passed."""
    info = state.info(candidate.channel)
    index = state.channels
    for rule in state.guardrails.after_conversation:
        names_some = bool(rule.channels or rule.kinds)
        if names_some and not index.covers(rule.channels, rule.kinds, candidate.channel):
            continue
        if not names_some and not info.counts_as_attempt:
            continue
        last = state.ctx.view.last_conversation(index.names(rule.channels, rule.kinds) if names_some else None)
        if last is not None and (state.ctx.today - last).days < rule.days:
            until = last + timedelta(days=rule.days)
            return suppress(candidate, Reason.FREQUENCY_CAP,
                            f"conversation on {last.isoformat()}; no {candidate.channel} contact for "
                            f"{counted(rule.days, 'day')} after a conversation (allowed from {until.isoformat()})",
                            state.source(pause_origin(rule)))
    return None


def _over_a_cap(candidate: Candidate, state: GuardrailState) -> Verdict | None:
    """The first cap covering the channel (and binding the account's region) that is reached."""
    index = state.channels
    today = state.ctx.today
    region = state.ctx.account.region
    for cap in state.guardrails.caps:
        if (cap.regions and region not in cap.regions) or not index.covers(cap.channels, cap.kinds, candidate.channel):
            continue
        conversations = cap.count == "conversations"
        names_some = bool(cap.channels or cap.kinds)
        past = state.ctx.view.contacts(index.names(cap.channels, cap.kinds) if names_some else None, cap.days,
                                       conversations_only=conversations,
                                       excluding=() if names_some else index.not_contacts)
        planned = 0 if conversations else state.chosen_attempts(cap.channels, cap.kinds)
        if past + planned >= cap.max:
            what = ("conversation" if past == 1 else "conversations") if conversations else (
                "contact attempt" if past == 1 else "contact attempts")
            start = today - timedelta(days=cap.days - 1)
            extra = f" plus {planned} planned today" if planned else ""
            return suppress(candidate, Reason.FREQUENCY_CAP,
                            f"{past} {_what(cap.channels, cap.kinds)} {what} from {start.isoformat()} to "
                            f"{today.isoformat()}{extra} (limit {cap.max} in {counted(cap.days, 'day')})",
                            state.source(cap_origin(cap)))
    return None


CAPS = Caps()
