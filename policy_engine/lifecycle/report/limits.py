"""The limits a policy keeps, as a reviewer reads them: each effective guardrail, its value, and the file and
line that set it (the policy itself or a baseline it extends).

The list is read from the loaded policy's origins (every setting the guardrail families record) and its
merged guardrails, so it shows what the engine enforces, not what one file says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from policy_engine.policy.loader import LoadedPolicy
from policy_engine.policy.models import ContactHours, Guardrails, PolicyFile
from policy_engine.policy.origins import CapKey, Origin, OriginKey

__all__ = ["GROUPS", "Limit", "effective_limits"]

GROUPS = ("contact hours and days", "caps and pauses", "consent and contact points", "notices and waits",
          "legal safeguards", "holds", "other")
"""The order the report lists limits in."""

_GROUP_OF = {
    "contact_hours": 0, "channel_hours": 0, "kind_hours": 0, "days_off": 0, "holidays": 0,
    "holidays_by_region": 0, "extra_holidays": 0, "candidate_timezones": 0,
    "caps": 1, "after_conversation": 1, "max_contacts_per_day": 1, "pause_while_promise_active": 1,
    "unknown_consent": 2, "avoid_workplace": 2, "content.opt_out_required": 2,
    "content.voicemail_limited_content": 2,
    "notice": 3, "requires": 3, "posted_notice_served_after_business_days": 3, "validation_notice_within_days": 3,
    "hold": 5,
}


@dataclass(frozen=True)
class Limit:
    """One effective limit: its group, its name, its value in words, and who set it where."""

    group: str
    rule: str
    value: str
    source: str


def _words(value: Any) -> str:
    if isinstance(value, ContactHours):
        end = "24:00" if value.end.hour == 0 and value.end.minute == 0 else value.end.strftime("%H:%M")
        return f"{value.start.strftime('%H:%M')}–{end}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(item) for item in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{key} {_words(item)}" for key, item in value.items()) or "none"
    if hasattr(value, "model_dump"):
        return ", ".join(f"{key} {_words(item)}" for key, item in value.model_dump(by_alias=True).items()
                         if item not in (None, [], {}))
    return "not set" if value is None else str(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _covered(channels: Iterable[str], kinds: Iterable[str]) -> str:
    named = [*channels, *(f"{kind} (any channel)" for kind in kinds)]
    return ", ".join(named) if named else "every channel that contacts the customer"


def _cap(guardrails: Guardrails, key: CapKey) -> tuple[str, str]:
    cap = next((cap for cap in guardrails.caps if cap.key == key), None)
    if cap is None:
        return "cap", "-"
    regions = f" (accounts in {', '.join(cap.regions)})" if cap.regions else ""
    name = f"cap {cap.id}" if cap.id else "cap"
    return name, (f"at most {_plural(cap.max, cap.count[:-1])} on {_covered(cap.channels, cap.kinds)} in any "
                  f"{_plural(cap.days, 'day')}{regions}")


def _pause(guardrails: Guardrails, key: tuple[str, ...]) -> str:
    for rule in guardrails.after_conversation:
        if tuple(sorted(rule.channels)) + tuple(f"kind:{kind}" for kind in sorted(rule.kinds)) == key:
            return (f"no contact on {_covered(rule.channels, rule.kinds)} for {_plural(rule.days, 'day')} after "
                    "a conversation (the conversation day is day 1)")
    return "-"


def _attribute(root: Any, path: str) -> Any:
    value = root
    for part in path.split("."):
        value = getattr(value, part, None) if value is not None else None
    return value


def _limit(key: OriginKey, origin: Origin, policy: PolicyFile) -> Limit | None:
    guardrails = policy.guardrails
    setting, qualifier = key.setting, key.qualifier
    group = GROUPS[_GROUP_OF.get(setting, 4 if setting.startswith("legal.") else 6)]
    rule = setting if qualifier is None else f"{setting} {qualifier}" if isinstance(qualifier, str) else setting
    if setting.endswith("description"):
        return None
    if setting == "caps" and isinstance(qualifier, CapKey):
        rule, value = _cap(guardrails, qualifier)
    elif setting == "after_conversation" and isinstance(qualifier, tuple) and not isinstance(qualifier, CapKey):
        rule, value = "pause after a conversation", _pause(guardrails, qualifier)
    elif setting == "hold" and isinstance(qualifier, str):
        hold = next((hold for hold in policy.holds if hold.id == qualifier), None)
        stops = _covered(hold.channels, hold.kinds) if hold else "-"
        value = f"stops {stops}" + (f" — {hold.description}" if hold and hold.description else "")
    elif setting == "notice" and isinstance(qualifier, str):
        notice = next((notice for notice in policy.notices if notice.id == qualifier), None)
        parts = [part for part in (notice.title if notice else None,
                                   f"purpose {notice.purpose}" if notice and notice.purpose else None,
                                   notice.legal_basis if notice else None) if part]
        value = "; ".join(parts) or "a written notice"
    elif setting == "requires" and isinstance(qualifier, str):
        action = next((action for stage in policy.stages for action in stage.actions if action.id == qualifier), None)
        value = "; ".join(f"notice '{need.notice}' served at least {_plural(need.delivered_days_ago.gte, 'day')} "
                          "earlier" for need in (action.requires if action else [])) or "-"
        rule = f"before action {qualifier}"
    else:
        value_of = _attribute(guardrails, setting)
        if isinstance(qualifier, str) and isinstance(value_of, dict):
            value_of = value_of.get(qualifier)
        value = _words(value_of)
    where = origin.location
    line = f":{where.line}" if where.line else ""
    shown = rule.replace("legal.", "legal: ").replace("content.", "").replace("_", " ")
    return Limit(group, shown, value, f"{origin.whose}, {PurePath(where.file).name}{line}")


def effective_limits(loaded: LoadedPolicy) -> list[Limit]:
    """Every effective limit of ``loaded``, grouped (see :data:`GROUPS`), then by rule name."""
    found = [limit for key, origin in loaded.origins.items()
             if (limit := _limit(key, origin, loaded.policy)) is not None]
    return sorted(found, key=lambda limit: (GROUPS.index(limit.group), limit.rule, limit.value))
