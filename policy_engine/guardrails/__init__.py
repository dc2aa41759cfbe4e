"""The guardrails, applied to every candidate action in one documented order.

1. ``hold`` / ``promise_active`` / ``time_barred``   contact must stop
2. ``no_consent`` / ``no_contact_point``            the channel cannot be used for this customer
3. ``missing_notice`` / ``notice_waiting_period``    a prerequisite notice is absent or too recent
4. ``already_sent`` / ``cadence``                    the action ran today, or too recently for its cadence
5. ``frequency_cap``                                per-channel and cross-channel rolling caps, and the
                                                    restriction after a conversation (counting actions
                                                    already chosen in the same decision)
6. ``quiet_hours`` / ``holiday``                     ``send_at`` = earliest allowed instant today, or none
7. ``daily_cap``                                    contacts per local day, highest priority first

Candidates are processed in priority order (1 first), so a more important action claims cap room first.
Each check returns a :class:`Suppression` or None; the first suppression stops the candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from policy_engine.decide.decision import PlannedAction, Suppression
from policy_engine.decide.facts import FactContext
from policy_engine.policy.channels import ChannelKind, ChannelSpec
from policy_engine.policy.merge import Origins
from policy_engine.policy.models import Guardrails, Hold, Requirement

__all__ = ["Candidate", "GuardrailState", "GUARDRAILS", "contact_window", "is_day_off"]

TIME_SENSITIVE = frozenset({"call", "text", "email"})
DAY_SENSITIVE = frozenset({"call", "text", "email", "agent"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Candidate:
    """An action the rules selected, before guardrails."""

    action: str
    channel: str
    template: str | None
    notice: str | None
    offer: str | None
    requires: tuple[Requirement, ...]
    every_days: int | None
    at_most: tuple[int, int] | None
    once: bool
    priority: int
    stage: str | None
    order: int
    key_suffix: str = ""


@dataclass
class GuardrailState:
    """Everything a guardrail needs for one account's decision."""

    ctx: FactContext
    guardrails: Guardrails
    holds: list[Hold]
    active_holds: list[str]
    origins: Origins
    channels: Mapping[str, ChannelSpec]
    chosen: list[PlannedAction] = field(default_factory=list)
    send_at: datetime | None = None

    def info(self, channel: str) -> ChannelSpec:
        """Channel facts, defaulting to a text-like channel for unknown plugin channels."""
        return self.channels.get(channel) or ChannelSpec(channel, ChannelKind.TEXT)

    def source(self, key: str) -> str | None:
        """Where a limit was written, e.g. 'baseline us-ma, policies/baselines/us-ma.toml:14:1'."""
        origin = self.origins.get(key)
        return str(origin) if origin else None


Check = Callable[[Candidate, GuardrailState], Suppression | None]


def _suppress(c: Candidate, reason: str, detail: str, source: str | None = None) -> Suppression:
    return Suppression(c.action, c.channel, reason, detail, source)


def check_holds(c: Candidate, s: GuardrailState) -> Suppression | None:
    """Holds from flags and history events; an active promise; time-barred debt for legal action."""
    for hold in s.holds:
        if hold.id not in s.active_holds:
            continue
        applies = (not hold.channels or c.channel in hold.channels) and c.channel not in hold.except_channels
        if applies:
            return _suppress(c, "hold", f"hold '{hold.id}' is active"
                             + (f": {hold.description}" if hold.description else ""), s.source(f"hold:{hold.id}"))
    g = s.guardrails
    if g.pause_while_promise_active and not c.key_suffix:
        promise = s.ctx.active_promise
        if promise is not None:
            return _suppress(c, "promise_active", f"promise to pay {promise.amount or ''} due "
                             f"{promise.due.isoformat()} is active".replace("pay  due", "pay due"),
                             s.source("pause_while_promise_active"))
    if s.info(c.channel).kind == "legal" and g.legal and g.legal.time_barred_after_days:
        since_payment = s.ctx.view.days_since_last_payment()
        age = s.ctx.dpd if since_payment is None else min(s.ctx.dpd, since_payment)
        if age > g.legal.time_barred_after_days:
            return _suppress(c, "time_barred", f"debt unpaid for {age} days; legal action is barred after "
                             f"{g.legal.time_barred_after_days}", s.source("legal.time_barred_after_days"))
    return None


def check_consent(c: Candidate, s: GuardrailState) -> Suppression | None:
    """The channel's contact point must be on file and consent must not be refused (or unknown where denied)."""
    info = s.info(c.channel)
    if info.contact_point and not getattr(s.ctx.account.contact, info.contact_point, None):
        return _suppress(c, "no_contact_point", f"no {info.contact_point} on file for {c.channel}")
    key = info.consent_key or (c.channel if c.channel in s.guardrails.unknown_consent else None)
    if key:
        consent = s.ctx.consent(key)
        if consent is False:
            return _suppress(c, "no_consent", f"the customer refused or revoked {key} consent")
        if consent is None and s.guardrails.unknown_consent.get(key) == "deny":
            return _suppress(c, "no_consent", f"{key} consent is unknown and the policy treats unknown as no",
                             s.source(f"unknown_consent.{key}"))
    return None


def check_prerequisites(c: Candidate, s: GuardrailState) -> Suppression | None:
    """Each required notice must have been served at least N local days ago."""
    for req in c.requires:
        served = s.ctx.view.notice_delivered_on(req.notice)
        wait = req.delivered_days_ago.gte
        if served is None:
            return _suppress(c, "missing_notice", f"notice '{req.notice}' has not been served")
        age = (s.ctx.today - served).days
        if age < wait:
            ready = served + timedelta(days=wait)
            return _suppress(c, "notice_waiting_period", f"notice '{req.notice}' served on {served.isoformat()} "
                             f"is {age} days old; {wait} required (allowed from {ready.isoformat()})",
                             s.source(f"requires:{c.action}"))
    return None


def check_cadence(c: Candidate, s: GuardrailState) -> Suppression | None:
    """Once, every N days, at most N times in D days; and never twice on one local day."""
    view = s.ctx.view
    last = view.last_contact_by_action(c.action)
    if c.once and view.action_count(c.action) > 0:
        done_on = last.isoformat() if last else "an earlier day"
        return _suppress(c, "already_sent", f"'{c.action}' runs once and was done on {done_on}")
    if last is not None and last == s.ctx.today:
        return _suppress(c, "already_sent", f"'{c.action}' was already done today ({last.isoformat()})")
    if c.every_days and last is not None:
        since = (s.ctx.today - last).days
        if since < c.every_days:
            return _suppress(c, "cadence", f"'{c.action}' last done {last.isoformat()} ({since} days ago); "
                             f"runs every {c.every_days} days")
    if c.at_most:
        times, days = c.at_most
        done = s.ctx.view.action_count_in(c.action, days)
        if done >= times:
            return _suppress(c, "cadence", f"'{c.action}' done {done} times in the last {days} days; at most {times}")
    return None


def _chosen_on(s: GuardrailState, channels: list[str]) -> int:
    return sum(1 for a in s.chosen if (not channels or a.channel in channels) and s.info(a.channel).counts_as_attempt)


def check_caps(c: Candidate, s: GuardrailState) -> Suppression | None:
    """Rolling-window caps per channel and across channels, and the pause after a conversation."""
    info = s.info(c.channel)
    for rule in s.guardrails.after_conversation:
        if rule.channels and c.channel not in rule.channels:
            continue
        if not rule.channels and not info.counts_as_attempt:
            continue
        last = s.ctx.view.last_conversation(rule.channels or None)
        if last is not None and (s.ctx.today - last).days < rule.days:
            until = last + timedelta(days=rule.days)
            return _suppress(c, "frequency_cap", f"conversation on {last.isoformat()}; no {c.channel} contact for "
                             f"{rule.days} days after a conversation (allowed from {until.isoformat()})",
                             s.source(f"after_conversation:{tuple(sorted(rule.channels))}"))
    if not info.counts_as_attempt:
        return None
    for cap in s.guardrails.caps:
        if cap.channels and c.channel not in cap.channels:
            continue
        conversations = cap.count == "conversations"
        past = s.ctx.view.contacts(cap.channels or None, cap.days, conversations_only=conversations)
        planned = 0 if conversations else _chosen_on(s, cap.channels)
        if past + planned >= cap.max:
            what = "conversations" if conversations else "contact attempts"
            on = "/".join(cap.channels) if cap.channels else "all channels"
            start = s.ctx.today - timedelta(days=cap.days - 1)
            extra = f" plus {planned} planned today" if planned else ""
            return _suppress(c, "frequency_cap", f"{past} {on} {what} from {start.isoformat()} to "
                             f"{s.ctx.today.isoformat()}{extra} (limit {cap.max} in {cap.days} days)",
                             s.source(f"cap:{cap.key}"))
    return None


def contact_window(g: Guardrails, channel: str) -> tuple[time, time] | None:
    """The local clock window for a channel, or None when any time is fine."""
    hours = g.channel_hours.get(channel) or g.contact_hours
    return (hours.start, hours.end) if hours else None


def is_day_off(g: Guardrails, day: Any) -> str | None:
    """Why ``day`` is closed for contact (holiday name or weekday), or None."""
    if day in g.extra_holidays:
        return f"{day.isoformat()} is a bank holiday of the policy"
    if WEEKDAYS[day.weekday()] in g.days_off:
        return f"no contact on {WEEKDAYS[day.weekday()]}"
    if g.holidays:
        name = _holiday_name(g.holidays, day)
        if name:
            return f"{day.isoformat()} is a public holiday ({name}, calendar {g.holidays})"
    return None


_CALENDARS: dict[tuple[str, int], Any] = {}


def _holiday_name(code: str, day: Any) -> str | None:
    key = (code, day.year)
    cal = _CALENDARS.get(key)
    if cal is None:
        country, _, subdiv = code.partition("-")
        cal = holiday_calendars.country_holidays(country, subdiv=subdiv or None, years=day.year,
                                                 language="en_US")
        _CALENDARS[key] = cal
    name = cal.get(day)
    return str(name) if name else None


def check_hours(c: Candidate, s: GuardrailState) -> Suppression | None:
    """Quiet hours, days off and public holidays; sets ``send_at`` to the earliest allowed instant today."""
    info = s.info(c.channel)
    local = s.ctx.as_of.astimezone(s.ctx.tz)
    s.send_at = local
    if info.kind in DAY_SENSITIVE:
        closed = is_day_off(s.guardrails, s.ctx.today)
        if closed:
            key = "extra_holidays" if "bank holiday" in closed else ("days_off" if "no contact on" in closed
                                                                     else "holidays")
            return _suppress(c, "holiday", closed, s.source(key))
    if info.kind not in TIME_SENSITIVE:
        return None
    window = contact_window(s.guardrails, c.channel)
    if window is None:
        return None
    start, end = window
    key = f"channel_hours.{c.channel}" if c.channel in s.guardrails.channel_hours else "contact_hours"
    if not s.ctx.account.timezone and s.guardrails.candidate_timezones:
        return _common_window(c, s, start, end, key)
    now = local.time().replace(tzinfo=None)
    if end != time(0, 0) and now >= end:
        return _suppress(c, "quiet_hours", f"it is {now.strftime('%H:%M')} local time; {c.channel} contact is "
                         f"allowed {start.strftime('%H:%M')}-{end.strftime('%H:%M')}", s.source(key))
    if now < start:
        s.send_at = datetime.combine(s.ctx.today, start, tzinfo=s.ctx.tz)
    return None


def _common_window(c: Candidate, s: GuardrailState, start: time, end: time, key: str) -> Suppression | None:
    """The account's time zone is unknown: only instants inside the window in every candidate zone."""
    as_of = s.ctx.as_of
    opens: list[datetime] = []
    closes: list[datetime] = []
    for name in s.guardrails.candidate_timezones:
        zone = ZoneInfo(name)  # zoneinfo caches zones itself
        day = as_of.astimezone(zone).date()
        opens.append(datetime.combine(day, start, tzinfo=zone))
        close_day = day + timedelta(days=1) if end == time(0, 0) else day
        closes.append(datetime.combine(close_day, end, tzinfo=zone))
    latest_open, earliest_close = max(opens), min(closes)
    zones = ", ".join(s.guardrails.candidate_timezones)
    hours = f"{start.strftime('%H:%M')}-{end.strftime('%H:%M')}"
    if as_of >= earliest_close or latest_open >= earliest_close:
        return _suppress(c, "quiet_hours", f"time zone unknown: {c.channel} contact is allowed only while it is "
                         f"{hours} in every candidate zone ({zones}); today that window has closed",
                         s.source("candidate_timezones") or s.source(key))
    if as_of < latest_open:
        s.send_at = latest_open.astimezone(s.ctx.tz)
    return None


def check_daily_cap(c: Candidate, s: GuardrailState) -> Suppression | None:
    """At most N contacts per local day, across channels that count as contact attempts."""
    limit = s.guardrails.max_contacts_per_day
    if limit is None or not s.info(c.channel).counts_as_attempt:
        return None
    done = s.ctx.view.contacts_today(None)
    planned = _chosen_on(s, [])
    if done + planned >= limit:
        return _suppress(c, "daily_cap", f"{done} contacts already today plus {planned} planned; at most {limit} "
                         "per day (priority decides which go)", s.source("max_contacts_per_day"))
    return None


GUARDRAILS: tuple[tuple[str, Check], ...] = (
    ("holds", check_holds),
    ("consent", check_consent),
    ("prerequisites", check_prerequisites),
    ("cadence", check_cadence),
    ("caps", check_caps),
    ("hours", check_hours),
    ("daily_cap", check_daily_cap),
)
