"""Semantic checks of an effective policy: references, reachability, stage coverage, legal safeguards.

Each check returns located :class:`Issue` objects. Errors make the policy unusable; warnings are shown
(and fail ``validate --strict``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from policy_engine._exceptions import Issue, Location
from policy_engine.policy.channels import ChannelKind
from policy_engine.policy.conditions import OPERATORS, Condition, iter_compares
from policy_engine.policy.models import Action, Stage
from policy_engine.policy.suggest import allowed_list, did_you_mean
from policy_engine.policy.templates import TEMPLATE_VARIABLES, validate_template

if TYPE_CHECKING:
    from policy_engine.policy.loader import LoadedPolicy

__all__ = ["check_policy", "REASONS"]

REASONS = (
    "quiet_hours", "holiday", "hold", "frequency_cap", "daily_cap", "cadence", "already_sent", "no_consent",
    "no_contact_point", "missing_notice", "notice_waiting_period", "promise_active", "time_barred",
)


class _Checker:
    def __init__(self, loaded: LoadedPolicy) -> None:
        self.loaded = loaded
        self.p = loaded.policy
        self.src = loaded.source
        self.issues: list[Issue] = []
        self.channels = loaded.channels
        self.own = self.src.model  # what this file itself writes (for locations)

    def at(self, *path: str | int) -> Location:
        return self.src.location(*path)

    def error(self, path: tuple[str | int, ...], message: str, code: str, hint: str | None = None,
              related: tuple[Location, ...] = ()) -> None:
        self.issues.append(Issue(self.at(*path), _fmt(path), message, "error", code, hint, related))

    def warn(self, path: tuple[str | int, ...], message: str, code: str, hint: str | None = None) -> None:
        self.issues.append(Issue(self.at(*path), _fmt(path), message, "warning", code, hint))

    # --------------------------------------------------------------- helpers
    def channel(self, name: str, path: tuple[str | int, ...]) -> None:
        if name not in self.channels:
            self.error(path, f"unknown channel '{name}'{did_you_mean(name, self.channels)}", "unknown_channel",
                       f"registered channels: {allowed_list(self.channels)}")

    def actions(self) -> Iterator[tuple[int, Stage, int, Action]]:
        for si, stage in enumerate(self.p.stages):
            for ai, action in enumerate(stage.actions):
                yield si, stage, ai, action

    def condition(self, cond: Condition | None, path: tuple[str | int, ...]) -> None:
        notices = {n.id for n in self.p.notices}
        segments = {s.id for s in self.p.segments}
        for cmp in iter_compares(cond):
            params = cmp.param_dict
            where = path + cmp.subpath
            fact_at = where[:-1] if cmp.subpath and cmp.subpath[-1] in OPERATORS else where
            for ch in params.get("channels", ()):
                self.channel(ch, fact_at + ("channels",))
            notice = params.get("notice")
            if notice and notice not in notices:
                self.error(fact_at + ("notice",), f"unknown notice '{notice}'{did_you_mean(notice, notices)}",
                           "unknown_notice",
                           f"notices: {allowed_list(notices)}" if notices else "define it under [[notices]]")
            if cmp.fact == "segment":
                values = cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)
                for v in values:
                    if isinstance(v, str) and v not in segments:
                        self.error(where, f"unknown segment '{v}'{did_you_mean(v, segments)}", "unknown_segment")
            if cmp.fact.startswith("consent."):
                self.channel(cmp.fact.split(".", 1)[1], where)

    # ---------------------------------------------------------------- checks
    def run(self) -> list[Issue]:
        self.duplicates()
        self.guardrail_channels()
        self.segments()
        self.stages()
        self.references()
        self.prerequisites()
        self.legal()
        self.offers()
        self.templates()
        self.content_rules()
        self.variants()
        self.tests()
        return self.issues

    def duplicates(self) -> None:
        def dup(kind: str, ids: list[tuple[str, tuple[str | int, ...]]]) -> None:
            seen: dict[str, tuple[str | int, ...]] = {}
            for ident, path in ids:
                if ident in seen:
                    self.error(path, f"duplicate {kind} id '{ident}' (first defined at {self.at(*seen[ident])})",
                               "duplicate_id")
                else:
                    seen[ident] = path
        dup("segment", [(s.id, ("segments", i, "id")) for i, s in enumerate(self.own.segments)])
        dup("stage", [(s.id, ("stages", i, "id")) for i, s in enumerate(self.own.stages)])
        dup("action", [(a.id, ("stages", si, "actions", ai, "id")) for si, _, ai, a in self.actions()]
            + ([(self.p.escalation.broken_promise.action.id, ("escalation", "broken_promise", "action", "id"))]
               if self.p.escalation.broken_promise else []))
        dup("notice", [(n.id, ("notices", i, "id")) for i, n in enumerate(self.own.notices)])
        dup("offer", [(o.id, ("offers", i, "id")) for i, o in enumerate(self.own.offers)])
        dup("hold", [(h.id, ("holds", i, "id")) for i, h in enumerate(self.own.holds)])
        dup("variant", [(v.id, ("variants", i, "id")) for i, v in enumerate(self.own.variants)])

    def guardrail_channels(self) -> None:
        g = self.own.guardrails
        for i, cap in enumerate(g.caps):
            for j, ch in enumerate(cap.channels):
                self.channel(ch, ("guardrails", "caps", i, "channels", j))
        for i, rule in enumerate(g.after_conversation):
            for j, ch in enumerate(rule.channels):
                self.channel(ch, ("guardrails", "after_conversation", i, "channels", j))
        for ch in g.channel_hours:
            self.channel(ch, ("guardrails", "channel_hours", ch))
        for ch in g.unknown_consent:
            self.channel(ch, ("guardrails", "unknown_consent", ch))
        if g.content:
            for j, ch in enumerate(g.content.opt_out_required):
                self.channel(ch, ("guardrails", "content", "opt_out_required", j))
        if g.holidays:
            self.holiday_calendar(g.holidays)
        for i, hold in enumerate(self.own.holds):
            for j, ch in enumerate(hold.channels):
                self.channel(ch, ("holds", i, "channels", j))
            self.condition(hold.when, ("holds", i, "when"))

    def holiday_calendar(self, code: str) -> None:
        import holidays  # noqa: PLC0415  (only needed when a calendar is named)

        country, _, subdiv = code.partition("-")
        supported = holidays.list_supported_countries()
        if country not in supported:
            self.error(("guardrails", "holidays"), f"unknown holiday calendar '{code}'"
                       f"{did_you_mean(country, supported)}", "unknown_holidays",
                       "use an ISO 3166 country code such as CN, US, GB, optionally with a subdivision: US-MA")
        elif subdiv and subdiv not in supported[country]:
            self.error(("guardrails", "holidays"), f"'{subdiv}' is not a subdivision of {country}"
                       f"{did_you_mean(subdiv, supported[country])}", "unknown_holidays")

    def segments(self) -> None:
        self.condition(self.own.policy.applies_to, ("policy", "applies_to"))
        catch_all: int | None = None
        for i, seg in enumerate(self.own.segments):
            if catch_all is not None:
                self.warn(("segments", i), f"segment '{seg.id}' is unreachable: segment "
                          f"'{self.own.segments[catch_all].id}' before it has no condition and matches everyone",
                          "unreachable")
            if seg.when is None and catch_all is None:
                catch_all = i
            self.condition(seg.when, ("segments", i, "when"))
        if self.own.segments and catch_all is None:
            self.warn(("segments",), "no catch-all segment: accounts matching no segment get segment 'none'",
                      "no_catch_all", "add a last [[segments]] with only an id")

    def stages(self) -> None:
        covered: list[tuple[int, float]] = []
        ranges: list[tuple[int, float, int]] = []
        for i, stage in enumerate(self.own.stages):
            if stage.dpd is None and stage.when is None:
                self.warn(("stages", i), f"stage '{stage.id}' has neither dpd nor when: it takes every account "
                          "that reaches it", "catch_all_stage")
            if stage.dpd is not None:
                lo, hi = stage.dpd.from_, float(stage.dpd.to) if stage.dpd.to is not None else float("inf")
                if stage.when is None and any(a <= lo and hi <= b for a, b in covered):
                    self.warn(("stages", i, "dpd"), f"stage '{stage.id}' is unreachable: earlier stages already "
                              f"take every account with DPD {stage.dpd}", "unreachable")
                for a, b, j in ranges:
                    if lo <= b and a <= hi and stage.when is None and self.own.stages[j].when is None:
                        self.warn(("stages", i, "dpd"), f"DPD {stage.dpd} of stage '{stage.id}' overlaps stage "
                                  f"'{self.own.stages[j].id}' ({self.own.stages[j].dpd}); the earlier stage wins",
                                  "dpd_overlap")
                if stage.when is None:
                    covered.append((lo, hi))
                ranges.append((lo, hi, i))
            self.condition(stage.when, ("stages", i, "when"))
            if not stage.actions:
                self.warn(("stages", i), f"stage '{stage.id}' has no actions", "empty_stage")
        spans = sorted((a, b) for a, b, _ in ranges)
        reach = 0.0
        first = True
        for a, b in spans:
            if a > reach + 1 and not (first and a <= 1):
                self.warn(("stages",), f"no stage covers DPD {int(reach) + 1}-{a - 1}", "dpd_gap")
            reach = max(reach, b)
            first = False
        if spans and reach != float("inf"):
            self.warn(("stages",), f"no stage covers DPD {int(reach) + 1} and above: accounts past DPD {int(reach)}"
                      " get no action", "dpd_gap", "give the last stage an open end: dpd = { from = N }")

    def references(self) -> None:
        notices = {n.id for n in self.p.notices}
        offers = {o.id for o in self.p.offers}
        segments = {s.id for s in self.p.segments}
        for si, _stage, ai, action in self.actions():
            base = ("stages", si, "actions", ai)
            self.channel(action.channel, base + ("channel",))
            for j, seg in enumerate(action.segments):
                if seg not in segments:
                    self.error(base + ("segments", j), f"unknown segment '{seg}'{did_you_mean(seg, segments)}",
                               "unknown_segment", f"segments: {allowed_list(segments)}" if segments else None)
            variants = {v.id for v in self.p.variants}
            for j, var in enumerate(action.variants):
                if var not in variants:
                    self.error(base + ("variants", j), f"unknown variant '{var}'{did_you_mean(var, variants)}",
                               "unknown_variant", f"variants: {allowed_list(variants)}" if variants
                               else "declare it under [[variants]]")
            if action.notice and action.notice not in notices:
                self.error(base + ("notice",), f"unknown notice '{action.notice}'"
                           f"{did_you_mean(action.notice, notices)}", "unknown_notice",
                           f"notices: {allowed_list(notices)}" if notices else "define it under [[notices]]")
            if action.offer and action.offer not in offers:
                self.error(base + ("offer",), f"unknown offer '{action.offer}'{did_you_mean(action.offer, offers)}",
                           "unknown_offer", f"offers: {allowed_list(offers)}" if offers else None)
            for j, req in enumerate(action.requires):
                if req.notice not in notices:
                    self.error(base + ("requires", j, "notice"), f"unknown notice '{req.notice}'"
                               f"{did_you_mean(req.notice, notices)}", "unknown_notice",
                               f"notices: {allowed_list(notices)}" if notices else "define it under [[notices]]")
            self.condition(action.when, base + ("when",))
        bp = self.p.escalation.broken_promise
        if bp:
            self.channel(bp.action.channel, ("escalation", "broken_promise", "action", "channel"))
            if bp.action.offer and bp.action.offer not in offers:
                self.error(("escalation", "broken_promise", "action", "offer"),
                           f"unknown offer '{bp.action.offer}'{did_you_mean(bp.action.offer, offers)}",
                           "unknown_offer")

    def _notice_senders(self) -> dict[str, list[tuple[Stage, Action]]]:
        senders: dict[str, list[tuple[Stage, Action]]] = {}
        for _, stage, _, action in self.actions():
            if action.notice:
                senders.setdefault(action.notice, []).append((stage, action))
        return senders

    def prerequisites(self) -> None:
        senders = self._notice_senders()
        notices = {n.id for n in self.p.notices}
        for si, stage, ai, action in self.actions():
            for j, req in enumerate(action.requires):
                path = ("stages", si, "actions", ai, "requires", j)
                if req.notice not in notices:
                    continue
                if req.notice not in senders:
                    self.error(path, f"prerequisite can never be met: no action sends notice '{req.notice}'",
                               "impossible_prerequisite",
                               f"add an action with notice = \"{req.notice}\" in an earlier stage")
                    continue
                earliest = min((s.dpd.from_ if s.dpd else 0) for s, _ in senders[req.notice])
                latest_here = stage.dpd.to if stage.dpd else None
                wait = req.delivered_days_ago.gte
                if latest_here is not None and earliest + wait > latest_here:
                    self.error(path, f"prerequisite can never be met: notice '{req.notice}' is sent at DPD "
                               f"{earliest} at the earliest, so it cannot be {wait} days old before stage "
                               f"'{stage.id}' ends at DPD {latest_here}", "impossible_prerequisite")

    def legal(self) -> None:
        rules = self.p.guardrails.legal
        senders = self._notice_senders()
        for si, stage, ai, action in self.actions():
            info = self.channels.get(action.channel)
            if info is None or info.kind != "legal":
                continue
            path = ("stages", si, "actions", ai)
            written = [r for r in action.requires if any(
                self.channels.get(a.channel) and self.channels[a.channel].kind == "letter"
                for _, a in senders.get(r.notice, []))]
            origin = self.loaded.origins.get("legal.require_notice") or self.loaded.origins.get("legal.min_dpd")
            cite = f" (required by {origin})" if origin else ""
            if rules is None:
                if not written:
                    self.warn(path, f"legal action '{action.id}' has no written-notice prerequisite; the seed's "
                              "practice 7 asks for a full written warning before legal means", "legal_without_notice")
                continue
            if rules.require_notice and not written:
                unsent = ", ".join(f"'{r.notice}'" for r in action.requires)
                why = f" ({unsent} is not sent by any letter action)" if unsent else ""
                self.error(path, f"legal action '{action.id}' has no prerequisite on a written notice{why}{cite}",
                           "legal_without_notice",
                           'add requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = '
                           f'{rules.min_notice_days} }} }} and a letter action that sends that notice',
                           related=(origin.location,) if origin else ())
            w_origin = self.loaded.origins.get("legal.min_notice_days")
            for req in written:
                if req.delivered_days_ago.gte < rules.min_notice_days:
                    self.error(path + ("requires", action.requires.index(req), "delivered_days_ago"),
                               f"waits {req.delivered_days_ago.gte} days after notice '{req.notice}'; "
                               f"{f'{w_origin.kind} {w_origin.policy_id}' if w_origin else 'the baseline'} "
                               f"requires at least {rules.min_notice_days}", "notice_wait_too_short",
                               related=(w_origin.location,) if w_origin else ())
            start = stage.dpd.from_ if stage.dpd else 0
            if start < rules.min_dpd:
                m_origin = self.loaded.origins.get("legal.min_dpd")
                self.error(path, f"legal action '{action.id}' is in stage '{stage.id}' which starts at DPD {start};"
                           f" legal action needs DPD of at least {rules.min_dpd}", "legal_too_early",
                           related=(m_origin.location,) if m_origin else ())

    def offers(self) -> None:
        cap = self.p.guardrails.max_installment_months
        for i, offer in enumerate(self.own.offers):
            self.condition(offer.when, ("offers", i, "when"))
            if cap and offer.kind in ("installment", "refinance") and offer.months and offer.months > cap:
                self.error(("offers", i, "months"), f"offer '{offer.id}' runs {offer.months} months; the baseline "
                           f"allows at most {cap}", "offer_too_long")

    def templates(self) -> None:
        templates = self.p.templates
        locale = self.p.policy.locale
        refs: list[tuple[str, tuple[str | int, ...]]] = []
        for si, _, ai, action in self.actions():
            if action.template:
                refs.append((action.template, ("stages", si, "actions", ai, "template")))
        for i, notice in enumerate(self.own.notices):  # own index: baseline notices come first in self.p
            if notice.template:
                refs.append((notice.template, ("notices", i, "template")))
        bp = self.p.escalation.broken_promise
        if bp and bp.action.template:
            refs.append((bp.action.template, ("escalation", "broken_promise", "action", "template")))
        self.template_texts()
        for name, path in refs:
            if name not in templates:
                self.error(path, f"unknown template '{name}'{did_you_mean(name, templates)}", "unknown_template",
                           f"define it as [templates.{name}.\"{locale or 'en-US'}\"]")
            elif locale and locale not in templates[name]:
                self.warn(path, f"template '{name}' has no text for the policy locale {locale} "
                          f"(has: {allowed_list(templates[name])})", "template_locale")

    def template_texts(self) -> None:
        """Every template text must only use variables that exist (bank.* only what [bank] defines)."""
        allowed = dict(TEMPLATE_VARIABLES)
        bank = self.p.bank
        allowed["bank"] = frozenset(k for k, v in (bank.model_dump() if bank else {}).items() if v is not None)
        for tid, per_locale in self.own.templates.items():
            for locale, text in per_locale.items():
                for part, source in (("body", text.body), ("subject", text.subject)):
                    if source is None:
                        continue
                    for issue in validate_template(source, allowed):
                        message = issue.message
                        if issue.path.startswith("bank.") and not bank:
                            message += " (add a [bank] table with name, phone, url, address, email)"
                        elif issue.path.startswith("bank."):
                            message += " (not set in the [bank] table)"
                        line = f", line {issue.location.line} of the text" if issue.location.line > 1 else ""
                        hint = issue.hint if issue.hint and not issue.hint.endswith("known: ") else None
                        self.error(("templates", tid, locale, part), f"template '{tid}' ({locale}{line}): {message}",
                                   "template_variable", hint)

    def content_rules(self) -> None:
        """Templates of call actions must be limited-content where the baseline requires it (Reg F).

        The channel catalogue's template check says what a channel's content rules forbid.
        """
        content = self.p.guardrails.content
        if content is None or not content.voicemail_limited_content:
            return
        own_templates = self.own.templates
        for _, _, _, action in self.actions():
            spec = self.channels.get(action.channel)
            if spec is None or spec.kind != ChannelKind.CALL or not action.template:
                continue
            for locale, text in own_templates.get(action.template, {}).items():
                for issue in self.channels.template_issues(spec, action.template, text.body):
                    origin = self.origins_text("content.voicemail_limited_content")
                    self.error(("templates", action.template, locale, "body"),
                               f"template '{action.template}' ({locale}) is used by call action "
                               f"'{action.id}': {issue.message}{origin}", "limited_content_voicemail",
                               issue.hint)

    def origins_text(self, key: str) -> str:
        origin = self.loaded.origins.get(key)
        return f" (required by {origin.kind} {origin.policy_id})" if origin else ""

    def variants(self) -> None:
        if self.own.variants:
            total = sum(v.weight for v in self.own.variants)
            if total != 100:
                self.error(("variants",), f"variant weights add up to {total}, not 100", "variant_weights")

    def _expected(self, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """`[j].action` when the expectation is a table, `[j]` when it is written as a bare action id."""
        return path + ("action",) if self.src.index.exact(path + ("action",)) else path

    def tests(self) -> None:
        actions = {a.id for _, _, _, a in self.actions()}
        if self.p.escalation.broken_promise:
            actions.add(self.p.escalation.broken_promise.action.id)
        for i, test in enumerate(self.own.tests):
            for j, exp in enumerate(test.expect.actions or []):
                if exp.action not in actions:
                    self.error(self._expected(("tests", i, "expect", "actions", j)), f"unknown action '{exp.action}'"
                               f"{did_you_mean(exp.action, actions)}", "unknown_action")
            for j, sup in enumerate(test.expect.suppressed or []):
                if sup.action not in actions:
                    self.error(self._expected(("tests", i, "expect", "suppressed", j)), f"unknown action '{sup.action}'"
                               f"{did_you_mean(sup.action, actions)}", "unknown_action")
                if sup.reason not in REASONS and ":" not in sup.reason:
                    self.error(("tests", i, "expect", "suppressed", j, "reason"), f"unknown reason '{sup.reason}'"
                               f"{did_you_mean(sup.reason, REASONS)}", "unknown_reason",
                               f"reasons: {allowed_list(REASONS)}")
            # a misspelt stage, segment or hold in a test would only show up as a failing test later
            expect = test.expect
            known = {"stage": {s.id for s in self.p.stages} | {"none"},
                     "segment": {s.id for s in self.p.segments} | {"none"}}
            for kind in ("stage", "segment"):
                value = getattr(expect, kind)
                if value is not None and value not in known[kind]:
                    self.error(("tests", i, "expect", kind), f"unknown {kind} '{value}'"
                               f"{did_you_mean(value, known[kind])}", f"unknown_{kind}",
                               f"{kind}s: {allowed_list(known[kind])}")
            holds = {h.id for h in self.p.holds} | {"promise_active"}
            for j, hold in enumerate(expect.holds or []):
                if hold not in holds:
                    self.error(("tests", i, "expect", "holds", j), f"unknown hold '{hold}'{did_you_mean(hold, holds)}",
                               "unknown_hold", f"holds: {allowed_list(holds)}")


def _fmt(path: tuple[str | int, ...]) -> str:
    from policy_engine.policy.errors import format_path  # noqa: PLC0415

    return format_path(path)


def check_policy(loaded: LoadedPolicy) -> list[Issue]:
    """Every semantic issue of a loaded policy, errors and warnings, in file order."""
    issues = _Checker(loaded).run()
    return sorted(issues, key=lambda i: (i.location.line, i.location.column))
