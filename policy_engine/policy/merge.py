"""Tighten-only merging of a policy onto the baselines it extends.

A policy may narrow contact hours, lower caps, lengthen waiting periods and add holds; it may never do the
opposite. Every loosening is an error that names the policy's line and the baseline's line. Every
effective limit remembers where it came from (:class:`Origin`), so explanations can cite it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from policy_engine._exceptions import Issue, Location
from policy_engine.policy.errors import format_path
from policy_engine.policy.models import Cap, ContactHours, Guardrails, Hold, LegalRules, PolicyFile
from policy_engine.policy.source import SourceFile

__all__ = ["Origin", "Origins", "guardrail_origins", "merge_onto"]


@dataclass(frozen=True)
class Origin:
    """Where an effective limit was written: policy id, kind and file location."""

    policy_id: str
    kind: str
    location: Location

    def __str__(self) -> str:
        return f"{self.kind} {self.policy_id}, {self.location}"


Origins = dict[str, Origin]


def _end(t: time) -> int:
    return 24 * 60 if t == time(0, 0) else t.hour * 60 + t.minute


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _hours_text(h: ContactHours) -> str:
    return f"{h.start.strftime('%H:%M')}-{h.end.strftime('%H:%M')}"


def guardrail_origins(src: SourceFile) -> Origins:
    """Origins of every guardrail and hold a single file writes."""
    meta = src.model.policy
    g = src.model.guardrails
    out: Origins = {}

    def put(key: str, *path: str | int) -> None:
        out[key] = Origin(meta.id, meta.kind, src.location(*path))

    for name in ("contact_hours", "holidays", "max_contacts_per_day", "pause_while_promise_active",
                 "days_off", "extra_holidays", "max_installment_months", "candidate_timezones"):
        if name in g.model_fields_set:
            put(name, "guardrails", name)
    for ch in g.channel_hours:
        put(f"channel_hours.{ch}", "guardrails", "channel_hours", ch)
    for i, cap in enumerate(g.caps):
        put(f"cap:{cap.key}", "guardrails", "caps", i)
    for i, rule in enumerate(g.after_conversation):
        put(f"after_conversation:{tuple(sorted(rule.channels))}", "guardrails", "after_conversation", i)
    for ch in g.unknown_consent:
        put(f"unknown_consent.{ch}", "guardrails", "unknown_consent", ch)
    if g.legal:
        for name in g.legal.model_fields_set:
            put(f"legal.{name}", "guardrails", "legal", name)
    if g.content:
        for name in g.content.model_fields_set:
            put(f"content.{name}", "guardrails", "content", name)
    for i, hold in enumerate(src.model.holds):
        put(f"hold:{hold.id}", "holds", i)
    return out


class _Merger:
    """Merge one child file onto an already-effective base, collecting loosening issues."""

    def __init__(self, base: PolicyFile, base_origins: Origins, child: SourceFile, strict_tighten: bool):
        self.base = base
        self.base_origins = base_origins
        self.child = child
        self.strict = strict_tighten
        self.issues: list[Issue] = []
        self.origins: Origins = dict(base_origins)
        self.origins.update(guardrail_origins(child))

    def loosens(self, key: str, path: tuple[str | int, ...], message: str) -> None:
        if not self.strict:
            return
        origin = self.base_origins.get(key)
        related = (origin.location,) if origin else ()
        whose = f"{origin.kind} {origin.policy_id}" if origin else "the baseline"
        self.issues.append(Issue(self.child.location(*path), format_path(path),
                                 message.replace("{base}", whose), code="loosens_baseline",
                                 hint="a policy may only tighten what it extends", related=related))

    def guardrails(self) -> Guardrails:
        b, c = self.base.guardrails, self.child.model.guardrails
        updates: dict[str, Any] = {}
        given = c.model_fields_set

        if c.contact_hours and b.contact_hours and (
                _minutes(c.contact_hours.start) < _minutes(b.contact_hours.start)
                or _end(c.contact_hours.end) > _end(b.contact_hours.end)):
            self.loosens("contact_hours", ("guardrails", "contact_hours"),
                         f"widens contact hours to {_hours_text(c.contact_hours)}; {{base}} allows only "
                         f"{_hours_text(b.contact_hours)}")
        updates["contact_hours"] = _narrowest(b.contact_hours, c.contact_hours)

        channel_hours = dict(b.channel_hours)
        for ch, hours in c.channel_hours.items():
            ref = b.channel_hours.get(ch) or b.contact_hours
            if ref and (_minutes(hours.start) < _minutes(ref.start) or _end(hours.end) > _end(ref.end)):
                key = f"channel_hours.{ch}" if ch in b.channel_hours else "contact_hours"
                self.loosens(key, ("guardrails", "channel_hours", ch),
                             f"widens {ch} hours to {_hours_text(hours)}; {{base}} allows only {_hours_text(ref)}")
            channel_hours[ch] = _narrowest(ref, hours) or hours
        updates["channel_hours"] = channel_hours
        updates["days_off"] = sorted(set(b.days_off) | set(c.days_off),
                                     key=["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index)
        if "holidays" in given and b.holidays and c.holidays != b.holidays and not (
                c.holidays or "").startswith(b.holidays + "-"):
            self.loosens("holidays", ("guardrails", "holidays"),
                         f"replaces the holiday calendar '{b.holidays}' of {{base}} with '{c.holidays}' "
                         f"(a policy may only add a subdivision such as '{b.holidays}-XX')")
        keeps_calendar = not b.holidays or c.holidays == b.holidays or (c.holidays or "").startswith(b.holidays + "-")
        updates["holidays"] = c.holidays if "holidays" in given and keeps_calendar else b.holidays
        updates["extra_holidays"] = sorted(set(b.extra_holidays) | set(c.extra_holidays))
        # more candidate zones only narrow the common window: the union is always the stricter
        updates["candidate_timezones"] = sorted(set(b.candidate_timezones) | set(c.candidate_timezones))

        if c.max_contacts_per_day is not None and b.max_contacts_per_day is not None \
                and c.max_contacts_per_day > b.max_contacts_per_day:
            self.loosens("max_contacts_per_day", ("guardrails", "max_contacts_per_day"),
                         f"raises max_contacts_per_day to {c.max_contacts_per_day}; {{base}} allows "
                         f"{b.max_contacts_per_day}")
        updates["max_contacts_per_day"] = _lowest(b.max_contacts_per_day, c.max_contacts_per_day)
        if c.max_installment_months is not None and b.max_installment_months is not None \
                and c.max_installment_months > b.max_installment_months:
            self.loosens("max_installment_months", ("guardrails", "max_installment_months"),
                         f"raises max_installment_months to {c.max_installment_months}; {{base}} allows "
                         f"{b.max_installment_months}")
        updates["max_installment_months"] = _lowest(b.max_installment_months, c.max_installment_months)

        updates["caps"] = self._caps(b.caps, c.caps)
        updates["after_conversation"] = self._after_conversation(b, c)

        consent = dict(b.unknown_consent)
        for ch, rule in c.unknown_consent.items():
            if b.unknown_consent.get(ch) == "deny" and rule == "allow":
                self.loosens(f"unknown_consent.{ch}", ("guardrails", "unknown_consent", ch),
                             f"treats unknown {ch} consent as 'allow'; {{base}} requires 'deny'")
            consent[ch] = "deny" if "deny" in (rule, consent.get(ch)) else rule
        updates["unknown_consent"] = consent

        if b.pause_while_promise_active and c.pause_while_promise_active is False:
            self.loosens("pause_while_promise_active", ("guardrails", "pause_while_promise_active"),
                         "stops pausing contact during an active promise; {base} requires the pause")
        # the stricter wins: once a baseline pauses contact during a promise, nothing turns that off
        updates["pause_while_promise_active"] = (
            True if b.pause_while_promise_active else c.pause_while_promise_active
        )
        updates["content"] = self._content(b, c)
        updates["legal"] = self._legal(b.legal, c.legal)
        return b.model_copy(update=updates)

    def _caps(self, base: list[Cap], child: list[Cap]) -> list[Cap]:
        merged = {cap.key: cap for cap in base}
        order = [cap.key for cap in base]
        for i, cap in enumerate(child):
            old = merged.get(cap.key)
            if old is not None and cap.max > old.max:
                chans = ", ".join(cap.channels) or "all channels"
                self.loosens(f"cap:{cap.key}", ("guardrails", "caps", i, "max"),
                             f"raises the cap on {chans} over {cap.days} day{'s' if cap.days != 1 else ''} "
                             f"to {cap.max}; "
                             f"{{base}} allows {old.max}")
                continue
            if old is None:
                order.append(cap.key)
            merged[cap.key] = cap
        return [merged[k] for k in order]

    def _after_conversation(self, b: Guardrails, c: Guardrails) -> list[Any]:
        merged = {tuple(sorted(r.channels)): r for r in b.after_conversation}
        for i, rule in enumerate(c.after_conversation):
            key = tuple(sorted(rule.channels))
            old = merged.get(key)
            if old is not None and rule.days < old.days:
                self.loosens(f"after_conversation:{key}", ("guardrails", "after_conversation", i, "days"),
                             f"shortens the pause after a conversation to {rule.days} days; {{base}} requires "
                             f"{old.days}")
                continue
            merged[key] = rule
        return list(merged.values())

    def _content(self, b: Guardrails, c: Guardrails) -> Any:
        if c.content is None:
            return b.content
        if b.content is None:
            return c.content
        if b.content.voicemail_limited_content and "voicemail_limited_content" in c.content.model_fields_set \
                and not c.content.voicemail_limited_content:
            self.loosens("content.voicemail_limited_content",
                         ("guardrails", "content", "voicemail_limited_content"),
                         "turns off limited-content voicemail; {base} requires it")
        return c.content.model_copy(update={
            "opt_out_required": sorted(set(b.content.opt_out_required) | set(c.content.opt_out_required)),
            "voicemail_limited_content": b.content.voicemail_limited_content or c.content.voicemail_limited_content,
        })

    def _legal(self, b: LegalRules | None, c: LegalRules | None) -> LegalRules | None:
        if c is None or b is None:
            return c or b
        path = ("guardrails", "legal")
        if "min_dpd" in c.model_fields_set and c.min_dpd < b.min_dpd:
            self.loosens("legal.min_dpd", path + ("min_dpd",),
                         f"allows legal action from DPD {c.min_dpd}; {{base}} requires at least {b.min_dpd}")
        if b.require_notice and "require_notice" in c.model_fields_set and not c.require_notice:
            self.loosens("legal.require_notice", path + ("require_notice",),
                         "drops the written notice required before legal action by {base}")
        if "min_notice_days" in c.model_fields_set and c.min_notice_days < b.min_notice_days:
            self.loosens("legal.min_notice_days", path + ("min_notice_days",),
                         f"shortens the wait after the pre-legal notice to {c.min_notice_days} days; {{base}} "
                         f"requires {b.min_notice_days}")
        if b.time_barred_after_days and (c.time_barred_after_days or 10**9) > b.time_barred_after_days \
                and "time_barred_after_days" in c.model_fields_set:
            self.loosens("legal.time_barred_after_days", path + ("time_barred_after_days",),
                         f"extends the limitation period to {c.time_barred_after_days} days; {{base}} sets "
                         f"{b.time_barred_after_days}")
        return LegalRules(
            min_dpd=max(b.min_dpd, c.min_dpd),
            require_notice=b.require_notice or c.require_notice,
            notice_channels=sorted(set(c.notice_channels) & set(b.notice_channels)) or b.notice_channels,
            min_notice_days=max(b.min_notice_days, c.min_notice_days),
            time_barred_after_days=_lowest(b.time_barred_after_days, c.time_barred_after_days),
            description=c.description or b.description,
        )

    def holds(self) -> list[Hold]:
        merged = {h.id: h for h in self.base.holds}
        order = [h.id for h in self.base.holds]
        for i, hold in enumerate(self.child.model.holds):
            old = merged.get(hold.id)
            if old is not None:
                fewer = bool(hold.channels and (not old.channels or not set(old.channels) <= set(hold.channels)))
                exempt = bool(set(hold.except_channels) - set(old.except_channels))
                if old.when != hold.when or fewer or exempt:
                    if old.when != hold.when:
                        what, key = f"changes the condition of hold '{hold.id}' of {{base}}", "when"
                    else:
                        what, key = (f"narrows hold '{hold.id}' of {{base}} to fewer channels",
                                     "channels" if fewer else "except_channels")
                    self.loosens(f"hold:{hold.id}", ("holds", i, key),
                                 f"{what}; a baseline hold cannot be dropped, changed or narrowed (add a new "
                                 "hold with another id instead)")
                    continue
            else:
                order.append(hold.id)
            merged[hold.id] = hold
        return [merged[k] for k in order]


def _narrowest(a: ContactHours | None, b: ContactHours | None) -> ContactHours | None:
    """The intersection of two contact windows (the stricter of both), or whichever exists."""
    if a is None or b is None:
        return a or b
    start = a.start if _minutes(a.start) >= _minutes(b.start) else b.start
    end = a.end if _end(a.end) <= _end(b.end) else b.end
    if _end(end) <= _minutes(start):  # disjoint windows cannot be intersected: keep the baseline's
        return a
    return ContactHours(start=start, end=end)


def _lowest(a: int | None, b: int | None) -> int | None:
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


def _by_id(base: list[Any], child: list[Any]) -> list[Any]:
    merged = {x.id: x for x in base}
    order = [x.id for x in base]
    for x in child:
        if x.id not in merged:
            order.append(x.id)
        merged[x.id] = x
    return [merged[k] for k in order]


def merge_onto(base: PolicyFile, base_origins: Origins, child: SourceFile,
               strict_tighten: bool = True) -> tuple[PolicyFile, Origins, list[Issue]]:
    """The child's effective policy over ``base``; issues list every loosening found."""
    m = _Merger(base, base_origins, child, strict_tighten)
    c = child.model
    templates = {k: dict(v) for k, v in base.templates.items()}
    for tid, per_locale in c.templates.items():
        templates.setdefault(tid, {}).update(per_locale)
    effective = c.model_copy(update={
        "guardrails": m.guardrails(),
        "holds": m.holds(),
        "notices": _by_id(base.notices, c.notices),
        "segments": c.segments or base.segments,
        "stages": c.stages or base.stages,
        "offers": _by_id(base.offers, c.offers),
        "escalation": c.escalation if c.escalation.broken_promise else base.escalation,
        "templates": templates,
        "variants": c.variants or base.variants,
        "bank": c.bank or base.bank,
    })
    return effective, m.origins, m.issues
