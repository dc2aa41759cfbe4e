"""Contact hours and days off: contact only inside the allowed local clock window, never on a day off.

The window is the channel's own (``channel_hours``) or the general ``contact_hours``, in the customer's
local time. ``send_at`` is the earliest allowed instant at or after ``as_of`` on the same local day; when
the day has none left, the action is ``quiet_hours``. Public holidays (a calendar such as ``CN`` or
``US-MA``), the policy's extra holidays and weekly days off close the day for calls, texts, e-mails and
agent tasks (``holiday``). When the account's time zone is unknown and the baseline lists candidate zones,
only instants inside the window in every candidate zone are allowed. Under ``extends`` windows only
narrow, days off and holidays only add, and a holiday calendar may only gain a subdivision.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from policy_engine.decide.decision import Suppression
from policy_engine.guardrails.base import Candidate, GuardrailFamily, GuardrailState, PolicyUse, Reason, suppress
from policy_engine.policy.models import WEEKDAYS, ContactHours, Guardrails
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["DAY_SENSITIVE", "HOURS", "Hours", "TIME_SENSITIVE", "contact_window", "is_day_off"]

TIME_SENSITIVE = frozenset({"call", "text", "email"})
"""Channel kinds that contact hours apply to."""
DAY_SENSITIVE = frozenset({"call", "text", "email", "agent"})
"""Channel kinds that holidays and days off apply to."""

CONTACT_HOURS = OriginKey("contact_hours")
CANDIDATE_ZONES = OriginKey("candidate_timezones")
EXTRA_HOLIDAYS = OriginKey("extra_holidays")
DAYS_OFF = OriginKey("days_off")
HOLIDAY_CALENDAR = OriginKey("holidays")


def channel_hours_key(channel: str) -> OriginKey:
    """The origin key of one channel's own contact hours."""
    return OriginKey("channel_hours", channel)


def contact_window(guardrails: Guardrails, channel: str) -> tuple[time, time] | None:
    """The local clock window for a channel, or None when any time is fine."""
    hours = guardrails.channel_hours.get(channel) or guardrails.contact_hours
    return (hours.start, hours.end) if hours else None


def is_day_off(guardrails: Guardrails, day: date) -> str | None:
    """Why ``day`` is closed for contact (holiday name or weekday), or None."""
    return _closed(guardrails, day)[1]


def _closed(guardrails: Guardrails, day: date) -> tuple[OriginKey | None, str | None]:
    """The setting that closes ``day`` and why, or (None, None)."""
    if day in guardrails.extra_holidays:
        return EXTRA_HOLIDAYS, f"{day.isoformat()} is a bank holiday of the policy"
    weekday = WEEKDAYS[day.weekday()]
    if weekday in guardrails.days_off:
        return DAYS_OFF, f"no contact on {weekday}"
    if guardrails.holidays:
        name = _holiday_name(guardrails.holidays, day)
        if name:
            return HOLIDAY_CALENDAR, f"{day.isoformat()} is a public holiday ({name}, calendar {guardrails.holidays})"
    return None, None


_CALENDARS: dict[tuple[str, int], Any] = {}


def _holiday_name(code: str, day: date) -> str | None:
    key = (code, day.year)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        country, _, subdivision = code.partition("-")
        calendar = holiday_calendars.country_holidays(country, subdiv=subdivision or None, years=day.year,
                                                      language="en_US")
        _CALENDARS[key] = calendar
    name = calendar.get(day)
    return str(name) if name else None


def _end_minutes(clock: time) -> int:
    return 24 * 60 if clock == time(0, 0) else clock.hour * 60 + clock.minute


def _minutes(clock: time) -> int:
    return clock.hour * 60 + clock.minute


def _text(hours: ContactHours) -> str:
    return f"{hours.start.strftime('%H:%M')}-{hours.end.strftime('%H:%M')}"


def _wider(hours: ContactHours, reference: ContactHours) -> bool:
    return _minutes(hours.start) < _minutes(reference.start) or _end_minutes(hours.end) > _end_minutes(reference.end)


def narrowest(first: ContactHours | None, second: ContactHours | None) -> ContactHours | None:
    """The intersection of two contact windows (the stricter of both), or whichever exists."""
    if first is None or second is None:
        return first or second
    start = first.start if _minutes(first.start) >= _minutes(second.start) else second.start
    end = first.end if _end_minutes(first.end) <= _end_minutes(second.end) else second.end
    if _end_minutes(end) <= _minutes(start):  # disjoint windows cannot be intersected: keep the baseline's
        return first
    return ContactHours(start=start, end=end)


class Hours(GuardrailFamily):
    """``quiet_hours`` and ``holiday``; sets the candidate's ``send_at``."""

    name = "hours"
    reasons = (Reason.QUIET_HOURS, Reason.HOLIDAY)
    has_row_check = True

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Each window, calendar and day off the file writes."""
        guardrails = source.model.guardrails
        for key in (CONTACT_HOURS, HOLIDAY_CALENDAR, DAYS_OFF, EXTRA_HOLIDAYS, CANDIDATE_ZONES):
            if key.setting in guardrails.model_fields_set:
                record(key, "guardrails", key.setting)
        for channel in guardrails.channel_hours:
            record(channel_hours_key(channel), "guardrails", "channel_hours", channel)

    def tighten(self, merge: Tightening) -> None:
        """Windows intersect, days off and holidays add up, candidate zones add up."""
        base, child = merge.base.guardrails, merge.child.model.guardrails
        given = child.model_fields_set
        if child.contact_hours and base.contact_hours and _wider(child.contact_hours, base.contact_hours):
            merge.loosens(CONTACT_HOURS, ("guardrails", "contact_hours"),
                          f"widens contact hours to {_text(child.contact_hours)}; {{base}} allows only "
                          f"{_text(base.contact_hours)}")
        merge.guardrails["contact_hours"] = narrowest(base.contact_hours, child.contact_hours)

        channel_hours = dict(base.channel_hours)
        for channel, hours in child.channel_hours.items():
            reference = base.channel_hours.get(channel) or base.contact_hours
            if reference and _wider(hours, reference):
                key = channel_hours_key(channel) if channel in base.channel_hours else CONTACT_HOURS
                merge.loosens(key, ("guardrails", "channel_hours", channel),
                              f"widens {channel} hours to {_text(hours)}; {{base}} allows only {_text(reference)}")
            channel_hours[channel] = narrowest(reference, hours) or hours
        merge.guardrails["channel_hours"] = channel_hours
        merge.guardrails["days_off"] = sorted(set(base.days_off) | set(child.days_off), key=WEEKDAYS.index)

        keeps_calendar = not base.holidays or child.holidays == base.holidays or (
            child.holidays or "").startswith(base.holidays + "-")
        if "holidays" in given and base.holidays and not keeps_calendar:
            merge.loosens(HOLIDAY_CALENDAR, ("guardrails", "holidays"),
                          f"replaces the holiday calendar '{base.holidays}' of {{base}} with '{child.holidays}' "
                          f"(a policy may only add a subdivision such as '{base.holidays}-XX')")
        merge.guardrails["holidays"] = child.holidays if "holidays" in given and keeps_calendar else base.holidays
        merge.guardrails["extra_holidays"] = sorted(set(base.extra_holidays) | set(child.extra_holidays))
        # more candidate zones only narrow the common window: the union is always the stricter
        merge.guardrails["candidate_timezones"] = sorted(set(base.candidate_timezones) | set(child.candidate_timezones))

    def check(self, candidate: Candidate, state: GuardrailState) -> Suppression | None:
        """Days off and public holidays; quiet hours; sets ``send_at`` to the earliest allowed instant today."""
        info = state.info(candidate.channel)
        guardrails = state.guardrails
        local = state.ctx.as_of.astimezone(state.ctx.tz)
        state.send_at = local
        if info.kind in DAY_SENSITIVE:
            key, closed = _closed(guardrails, state.ctx.today)
            if key is not None and closed is not None:
                return suppress(candidate, Reason.HOLIDAY, closed, state.source(key))
        if info.kind not in TIME_SENSITIVE:
            return None
        window = contact_window(guardrails, candidate.channel)
        if window is None:
            return None
        start, end = window
        key = channel_hours_key(candidate.channel) if candidate.channel in guardrails.channel_hours else CONTACT_HOURS
        if not state.ctx.account.timezone and guardrails.candidate_timezones:
            return _common_window(candidate, state, start, end, key)
        now = local.time().replace(tzinfo=None)
        if end != time(0, 0) and now >= end:
            return suppress(candidate, Reason.QUIET_HOURS,
                            f"it is {now.strftime('%H:%M')} local time; {candidate.channel} contact is allowed "
                            f"{start.strftime('%H:%M')}-{end.strftime('%H:%M')}", state.source(key))
        if now < start:
            state.send_at = datetime.combine(state.ctx.today, start, tzinfo=state.ctx.tz)
        return None

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``quiet_hours`` when a window covers a call, text or e-mail; ``holiday`` with any closed day."""
        guardrails = use.policy.guardrails
        reasons: set[Reason] = set()
        if any(info.kind in TIME_SENSITIVE and contact_window(guardrails, info.name) is not None
               for info in use.channels):
            reasons.add(Reason.QUIET_HOURS)
        closes = bool(guardrails.holidays or guardrails.extra_holidays or guardrails.days_off)
        if closes and any(info.kind in DAY_SENSITIVE for info in use.channels):
            reasons.add(Reason.HOLIDAY)
        return reasons

    def check_policy(self, checker: PolicyChecker) -> None:
        """Channel hours name real channels; the holiday calendar exists."""
        guardrails = checker.own.guardrails
        for channel in guardrails.channel_hours:
            checker.channel(channel, ("guardrails", "channel_hours", channel))
        if guardrails.holidays:
            _check_calendar(checker, guardrails.holidays)


def _check_calendar(checker: PolicyChecker, code: str) -> None:
    from policy_engine.policy.suggest import did_you_mean  # noqa: PLC0415  (only needed with a calendar)

    country, _, subdivision = code.partition("-")
    supported = holiday_calendars.list_supported_countries()
    if country not in supported:
        checker.error(("guardrails", "holidays"), f"unknown holiday calendar '{code}'"
                      f"{did_you_mean(country, supported)}", "unknown_holidays",
                      "use an ISO 3166 country code such as CN, US, GB, optionally with a subdivision: US-MA")
    elif subdivision and subdivision not in supported[country]:
        checker.error(("guardrails", "holidays"), f"'{subdivision}' is not a subdivision of {country}"
                      f"{did_you_mean(subdivision, supported[country])}", "unknown_holidays")


def _common_window(candidate: Candidate, state: GuardrailState, start: time, end: time,
                   key: OriginKey) -> Suppression | None:
    """The account's time zone is unknown: only instants inside the window in every candidate zone."""
    as_of = state.ctx.as_of
    zones = state.guardrails.candidate_timezones
    opens: list[datetime] = []
    closes: list[datetime] = []
    for name in zones:
        zone = ZoneInfo(name)  # zoneinfo caches zones itself
        day = as_of.astimezone(zone).date()
        opens.append(datetime.combine(day, start, tzinfo=zone))
        close_day = day + timedelta(days=1) if end == time(0, 0) else day
        closes.append(datetime.combine(close_day, end, tzinfo=zone))
    latest_open, earliest_close = max(opens), min(closes)
    hours = f"{start.strftime('%H:%M')}-{end.strftime('%H:%M')}"
    if as_of >= earliest_close or latest_open >= earliest_close:
        return suppress(candidate, Reason.QUIET_HOURS,
                        f"time zone unknown: {candidate.channel} contact is allowed only while it is {hours} in "
                        f"every candidate zone ({', '.join(zones)}); today that window has closed",
                        state.source(CANDIDATE_ZONES) or state.source(key))
    if as_of < latest_open:
        state.send_at = latest_open.astimezone(state.ctx.tz)
    return None


HOURS = Hours()
