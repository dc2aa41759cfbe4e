"""Contact hours and days off: contact only inside the allowed local clock window, never on a day off.

The window is the channel's own (``channel_hours``), else its kind's (``kind_hours``: ``call`` covers voice
calls and agent tasks, since a person's call is a call), else the general ``contact_hours``, in the
customer's local time, narrowed to the hours the customer asked for (``preferred_hours``). ``send_at`` is
the earliest allowed instant at or after ``as_of`` on the same local day and ``not_after`` the end of that
day's window; when the day has none left, the action is ``quiet_hours``. Public holidays (a calendar such as
``CN``, or per region such as ``US-MA``), the policy's extra holidays and weekly days off close the day for
calls, texts, e-mails and agent tasks (``holiday``). When the customer may be in several zones (the record
lists ``timezones``, or has no zone and the baseline lists candidate zones), only instants inside the
window in every zone are allowed. Under ``extends`` windows only narrow, days off and holidays only add,
and a holiday calendar may only gain a subdivision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from policy_engine.guardrails.base import (
    Candidate,
    GuardrailFamily,
    GuardrailState,
    PolicyUse,
    Reason,
    RelationalPlan,
    SqlCheck,
    Verdict,
    contact_kind,
    suppress,
)
from policy_engine.guardrails.words import GROUPS
from policy_engine.policy.models import WEEKDAYS, ContactHours, Guardrails
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["DAY_SENSITIVE", "HOURS", "Hours", "TIME_SENSITIVE", "business_days_after", "calendar_of",
           "contact_window", "is_day_off"]

TIME_SENSITIVE = frozenset({"call", "agent", "text", "email"})
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


def kind_hours_key(kind: str) -> OriginKey:
    """The origin key of the contact hours of one channel kind."""
    return OriginKey("kind_hours", kind)


def region_calendar_key(region: str) -> OriginKey:
    """The origin key of one region's holiday calendar."""
    return OriginKey("holidays_by_region", region)


def _window_of(guardrails: Guardrails, channel: str, kind: str) -> tuple[ContactHours, OriginKey] | None:
    """The hours that bind a channel of ``kind`` (call for calls and agent tasks), and where they are set."""
    if channel in guardrails.channel_hours:
        return guardrails.channel_hours[channel], channel_hours_key(channel)
    if kind in guardrails.kind_hours:
        return guardrails.kind_hours[kind], kind_hours_key(kind)
    if guardrails.contact_hours is not None:
        return guardrails.contact_hours, CONTACT_HOURS
    return None


def contact_window(guardrails: Guardrails, channel: str, kind: str = "") -> tuple[time, time] | None:
    """The local clock window for a channel (of ``kind``), or None when any time is fine."""
    found = _window_of(guardrails, channel, kind)
    return (found[0].start, found[0].end) if found else None


def calendar_of(guardrails: Guardrails, region: str | None) -> str | None:
    """The public-holiday calendar of an account in ``region``: the region's own, else the policy's."""
    if region is not None and region in guardrails.holidays_by_region:
        return guardrails.holidays_by_region[region]
    return guardrails.holidays


def is_day_off(guardrails: Guardrails, day: date, region: str | None = None) -> str | None:
    """Why ``day`` is closed for contact (holiday name or weekday), or None."""
    return _closed(guardrails, day, region)[1]


def business_days_after(day: date, count: int, calendar: str | None) -> date:
    """The ``count``-th business day after ``day``: weekends and the calendar's public holidays skipped."""
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and not (calendar and _holiday_name(calendar, current)):
            remaining -= 1
    return current


def _closed(guardrails: Guardrails, day: date, region: str | None) -> tuple[OriginKey | None, str | None]:
    """The setting that closes ``day`` and why, or (None, None)."""
    if day in guardrails.extra_holidays:
        return EXTRA_HOLIDAYS, f"{day.isoformat()} is a bank holiday of the policy"
    weekday = WEEKDAYS[day.weekday()]
    if weekday in guardrails.days_off:
        return DAYS_OFF, f"no contact on {weekday}"
    calendar = calendar_of(guardrails, region)
    if calendar:
        name = _holiday_name(calendar, day)
        if name:
            key = HOLIDAY_CALENDAR if calendar == guardrails.holidays else region_calendar_key(region or "")
            return key, f"{day.isoformat()} is a public holiday ({name}, calendar {calendar})"
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
    settings = frozenset({"contact_hours", "channel_hours", "kind_hours", "days_off", "holidays", "holidays_by_region",
                          "extra_holidays", "candidate_timezones"})
    group = GROUPS[0]

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Each window, calendar and day off the file writes."""
        guardrails = source.model.guardrails
        for key in (CONTACT_HOURS, HOLIDAY_CALENDAR, DAYS_OFF, EXTRA_HOLIDAYS, CANDIDATE_ZONES):
            if key.setting in guardrails.model_fields_set:
                record(key, "guardrails", key.setting)
        for channel in guardrails.channel_hours:
            record(channel_hours_key(channel), "guardrails", "channel_hours", channel)
        for kind in guardrails.kind_hours:
            record(kind_hours_key(kind), "guardrails", "kind_hours", kind)
        for region in guardrails.holidays_by_region:
            record(region_calendar_key(region), "guardrails", "holidays_by_region", region)

    def tighten(self, merge: Tightening) -> None:
        """Windows intersect, days off and holidays add up, candidate zones add up."""
        _tighten_windows(merge)
        _tighten_days(merge)

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """Days off and public holidays; quiet hours; sets ``send_at`` to the earliest allowed instant today
        and ``not_after`` to the end of today's window."""
        info = state.info(candidate.channel)
        guardrails = state.guardrails
        ctx = state.ctx
        local = ctx.as_of.astimezone(ctx.tz)
        state.send_at = local
        state.not_after = None
        if info.kind in DAY_SENSITIVE:
            key, closed = _closed(guardrails, ctx.today, ctx.account.region)
            if key is not None and closed is not None:
                return suppress(candidate, Reason.HOLIDAY, closed, state.source(key))
        if info.kind not in TIME_SENSITIVE:
            return None
        found = _window_of(guardrails, candidate.channel, contact_kind(info))
        preferred = ctx.account.preferred_hours
        if found is None and preferred is None:
            return None
        if found is None:
            hours, key = ContactHours(start=time(0, 0), end=time(0, 0)), None
        else:
            hours, key = found
        if preferred is not None:
            narrowed = _intersection(hours, preferred.start, preferred.end)
            if narrowed is None:
                return suppress(candidate, Reason.QUIET_HOURS,
                                f"the customer asked to be contacted {_clock(preferred.start)}-{_clock(preferred.end)}"
                                f", outside the {candidate.channel} hours {_text(hours)}",
                                state.source(key) if key else None)
            hours = narrowed
        start, end = hours.start, hours.end
        zones = _candidate_zones(state)
        if zones:
            return _common_window(candidate, state, start, end, key, zones)
        now = local.time().replace(tzinfo=None)
        asked = " (as the customer asked)" if preferred is not None else ""
        if end != time(0, 0) and now >= end:
            return suppress(candidate, Reason.QUIET_HOURS,
                            f"it is {now.strftime('%H:%M')} local time; {candidate.channel} contact is allowed "
                            f"{_clock(start)}-{_clock(end)}{asked}", state.source(key) if key else None)
        if now < start:
            state.send_at = datetime.combine(ctx.today, start, tzinfo=ctx.tz)
        close_day = ctx.today + timedelta(days=1) if end == time(0, 0) else ctx.today
        state.not_after = datetime.combine(close_day, end, tzinfo=ctx.tz)
        return None

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """The verdict of this check for the account's hours key, looked up in the plan's hours table.

        The verdict depends only on the channel, the account's zone(s), preferred hours and region (``as_of``
        is one instant per run), so the plan runs this row check once per distinct key, in Python, and joins
        the result (``hours_reason``, ``hours_detail``, ``hours_source``, ``send_at`` and ``not_after``).
        """
        del candidate, plan
        return [SqlCheck("hours_reason = 'holiday'", Reason.HOLIDAY, "hours_detail", source_sql="hours_source"),
                SqlCheck("hours_reason = 'quiet_hours'", Reason.QUIET_HOURS, "hours_detail",
                         source_sql="hours_source")]

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``quiet_hours`` when a window covers a call, text or e-mail; ``holiday`` with any closed day."""
        guardrails = use.policy.guardrails
        reasons: set[Reason] = set()
        if any(info.kind in TIME_SENSITIVE and contact_window(guardrails, info.name, contact_kind(info)) is not None
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
            _check_calendar(checker, guardrails.holidays, ("guardrails", "holidays"))
        for region, calendar in guardrails.holidays_by_region.items():
            _check_calendar(checker, calendar, ("guardrails", "holidays_by_region", region))


def _tighten_windows(merge: Tightening) -> None:
    """contact_hours, channel_hours and kind_hours: the intersection of base and child, never wider."""
    base, child = merge.base.guardrails, merge.child.model.guardrails
    if child.contact_hours and base.contact_hours and _wider(child.contact_hours, base.contact_hours):
        merge.loosens(CONTACT_HOURS, ("guardrails", "contact_hours"),
                      f"widens contact hours to {_text(child.contact_hours)}; {{base}} allows only "
                      f"{_text(base.contact_hours)}")
    merge.guardrails["contact_hours"] = narrowest(base.contact_hours, child.contact_hours)
    merge.guardrails["channel_hours"] = _narrowed_each(merge, "channel_hours", channel_hours_key)
    merge.guardrails["kind_hours"] = _narrowed_each(merge, "kind_hours", kind_hours_key)


def _narrowed_each(merge: Tightening, setting: str, key_of: Callable[[str], OriginKey]) -> dict[str, ContactHours]:
    """A per-channel (or per-kind) table of hours: each child entry narrowed to the base's entry, else to
    the base's contact hours; wider is a loosening."""
    base, child = merge.base.guardrails, merge.child.model.guardrails
    base_table: dict[str, ContactHours] = getattr(base, setting)
    merged = dict(base_table)
    for name, hours in getattr(child, setting).items():
        reference = base_table.get(name) or base.contact_hours
        if reference and _wider(hours, reference):
            key = key_of(name) if name in base_table else CONTACT_HOURS
            merge.loosens(key, ("guardrails", setting, name),
                          f"widens {name} hours to {_text(hours)}; {{base}} allows only {_text(reference)}")
        merged[name] = narrowest(reference, hours) or hours
    return merged


def _tighten_days(merge: Tightening) -> None:
    """Holiday calendars may only gain a subdivision; days off, extra holidays and candidate zones add up."""
    base, child = merge.base.guardrails, merge.child.model.guardrails
    by_region = dict(base.holidays_by_region)
    for region, calendar in child.holidays_by_region.items():
        old = by_region.get(region) or base.holidays
        if old and calendar != old and not calendar.startswith(old + "-"):
            merge.loosens(region_calendar_key(region) if region in base.holidays_by_region else HOLIDAY_CALENDAR,
                          ("guardrails", "holidays_by_region", region),
                          f"replaces the holiday calendar '{old}' of {{base}} for {region} with '{calendar}'")
            continue
        by_region[region] = calendar
    merge.guardrails["holidays_by_region"] = dict(sorted(by_region.items()))
    merge.guardrails["days_off"] = sorted(set(base.days_off) | set(child.days_off), key=WEEKDAYS.index)

    given = "holidays" in child.model_fields_set
    keeps_calendar = not base.holidays or child.holidays == base.holidays or (
        child.holidays or "").startswith(base.holidays + "-")
    if given and base.holidays and not keeps_calendar:
        merge.loosens(HOLIDAY_CALENDAR, ("guardrails", "holidays"),
                      f"replaces the holiday calendar '{base.holidays}' of {{base}} with '{child.holidays}' "
                      f"(a policy may only add a subdivision such as '{base.holidays}-XX')")
    merge.guardrails["holidays"] = child.holidays if given and keeps_calendar else base.holidays
    merge.guardrails["extra_holidays"] = sorted(set(base.extra_holidays) | set(child.extra_holidays))
    # more candidate zones only narrow the common window: the union is always the stricter
    merge.guardrails["candidate_timezones"] = sorted(set(base.candidate_timezones) | set(child.candidate_timezones))


def _check_calendar(checker: PolicyChecker, code: str, path: tuple[str | int, ...]) -> None:
    from policy_engine.policy.suggest import did_you_mean  # noqa: PLC0415  (only needed with a calendar)

    country, _, subdivision = code.partition("-")
    supported = holiday_calendars.list_supported_countries()
    if country not in supported:
        checker.error(path, f"unknown holiday calendar '{code}'"
                      f"{did_you_mean(country, supported)}", "unknown_holidays",
                      "use an ISO 3166 country code such as CN, US, GB, optionally with a subdivision: US-MA")
    elif subdivision and subdivision not in supported[country]:
        checker.error(path, f"'{subdivision}' is not a subdivision of {country}"
                      f"{did_you_mean(subdivision, supported[country])}", "unknown_holidays")


def _clock(moment: time) -> str:
    return moment.strftime("%H:%M")


def _intersection(hours: ContactHours, start: time, end: time) -> ContactHours | None:
    """``hours`` narrowed to ``start``-``end`` (the customer's preference), or None when they do not meet."""
    new_start = start if _minutes(start) > _minutes(hours.start) else hours.start
    new_end = end if _end_minutes(end) < _end_minutes(hours.end) else hours.end
    if _end_minutes(new_end) <= _minutes(new_start):
        return None
    return ContactHours(start=new_start, end=new_end)


def _candidate_zones(state: GuardrailState) -> tuple[str, ...]:
    """The zones the customer may be in when one zone is not known for sure: those the record lists, else
    the baseline's candidates for a record without a zone."""
    account = state.ctx.account
    if account.timezones:
        return account.candidate_zones
    if not account.timezone and state.guardrails.candidate_timezones:
        return tuple(state.guardrails.candidate_timezones)
    return ()


def _common_window(candidate: Candidate, state: GuardrailState, start: time, end: time,
                   key: OriginKey | None, zones: tuple[str, ...]) -> Verdict | None:
    """Only instants inside the window in every zone the customer may be in."""
    as_of = state.ctx.as_of
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
        listed = state.ctx.account.timezones
        why = "the customer may be in several time zones" if listed else "time zone unknown"
        source = state.source(key) if key else None
        return suppress(candidate, Reason.QUIET_HOURS,
                        f"{why}: {candidate.channel} contact is allowed only while it is {hours} in "
                        f"every candidate zone ({', '.join(zones)}); today that window has closed",
                        source if listed else (state.source(CANDIDATE_ZONES) or source))
    if as_of < latest_open:
        state.send_at = latest_open.astimezone(state.ctx.tz)
    state.not_after = earliest_close.astimezone(state.ctx.tz)
    return None


HOURS = Hours()
