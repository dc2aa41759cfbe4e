"""Semantic checks of an effective policy: references, reachability, stage coverage, legal safeguards.

Each check returns located :class:`Issue` objects. Errors make the policy unusable; warnings are shown
(and fail ``validate --strict``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from policy_engine._exceptions import Issue, Location
from policy_engine.guardrails import FAMILIES, REASONS
from policy_engine.guardrails.content import content_key
from policy_engine.policy.channels import ChannelKind
from policy_engine.policy.conditions import OPERATORS, Condition, iter_compares
from policy_engine.policy.jurisdictions import baseline_for, regions_named
from policy_engine.policy.models import Action, Expectation, Stage
from policy_engine.policy.origins import OriginKey
from policy_engine.policy.suggest import allowed_list, did_you_mean
from policy_engine.policy.templates import BANK_FIELDS, TEMPLATE_VARIABLES, validate_template

if TYPE_CHECKING:
    from policy_engine.policy.loader import LoadedPolicy

__all__ = ["PolicyChecker", "REASONS", "check_policy"]



class PolicyChecker:
    """Collects the located issues of one loaded policy; guardrail families add theirs through it.

    ``policy`` is the effective policy (baselines merged), ``own`` what the checked file itself writes
    (for locations).
    """

    def __init__(self, loaded: LoadedPolicy) -> None:
        self.loaded = loaded
        self.policy = loaded.policy
        self.src = loaded.source
        self.issues: list[Issue] = []
        self.channels = loaded.channels
        self.own = self.src.model  # what this file itself writes (for locations)

    def at(self, *path: str | int) -> Location:
        """The location of a key path in the checked file."""
        return self.src.location(*path)

    def error(self, path: tuple[str | int, ...], message: str, code: str, hint: str | None = None,
              related: tuple[Location, ...] = ()) -> None:
        """An error at ``path``."""
        self.issues.append(Issue(self.at(*path), _fmt(path), message, "error", code, hint, related))

    def warn(self, path: tuple[str | int, ...], message: str, code: str, hint: str | None = None) -> None:
        """A warning at ``path``."""
        self.issues.append(Issue(self.at(*path), _fmt(path), message, "warning", code, hint))

    # --------------------------------------------------------------- helpers
    def channel(self, name: str, path: tuple[str | int, ...]) -> None:
        """An error at ``path`` unless ``name`` is a channel of the catalogue."""
        if name not in self.channels:
            self.error(path, f"unknown channel '{name}'{did_you_mean(name, self.channels)}", "unknown_channel",
                       f"registered channels: {allowed_list(self.channels)}")

    def actions(self) -> Iterator[tuple[int, Stage, int, Action]]:
        """(stage index, stage, action index, action) of every stage action of the effective policy."""
        for si, stage in enumerate(self.policy.stages):
            for ai, action in enumerate(stage.actions):
                yield si, stage, ai, action

    def known(self, path: tuple[str | int, ...], what: str, value: str, names: Collection[str],
              hint: str | None = None) -> None:
        """An error at ``path`` unless ``value`` is one of ``names``: "unknown <what> '<value>'" with the
        closest name, code ``unknown_<what>``."""
        if value not in names:
            self.error(path, f"unknown {what} '{value}'{did_you_mean(value, names)}", f"unknown_{what}", hint)

    def condition(self, cond: Condition | None, path: tuple[str | int, ...]) -> None:
        """Errors for the unknown channels, notices and segments a condition names."""
        notices = {n.id for n in self.policy.notices}
        segments = {s.id for s in self.policy.segments}
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
        self.jurisdiction()
        for family in FAMILIES:
            family.check_policy(self)
        self.segments()
        self.stages()
        self.references()
        self.offers()
        self.templates()
        self.content_rules()
        self.variants()
        self.tests()
        return self.issues

    def jurisdiction(self) -> None:
        """A policy for a jurisdiction (or governing its regions) extends that jurisdiction's baseline."""
        meta = self.own.policy
        if meta.kind == "baseline":
            return
        extended = {source.model.policy.id for source in self.loaded.chain}
        wanted: list[tuple[str, tuple[str | int, ...], str]] = []
        if meta.jurisdiction:
            wanted.append((meta.jurisdiction, ("policy", "jurisdiction"), "jurisdiction"))
        wanted += [(region, ("policy", "applies_to"), "applies_to") for region in regions_named(meta.applies_to)]
        reported: set[str] = set()
        for region, path, where in wanted:
            baseline = baseline_for(region)
            if baseline is None or baseline in extended or baseline in reported:
                continue
            reported.add(baseline)
            self.error(path, f"{where} names {region}, but the policy does not extend baseline '{baseline}': "
                       f"its accounts would be decided without that jurisdiction's guardrails", "missing_baseline",
                       f'add "baseline:{baseline}" to extends')

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
            + ([(self.policy.escalation.broken_promise.action.id, ("escalation", "broken_promise", "action", "id"))]
               if self.policy.escalation.broken_promise else []))
        dup("notice", [(n.id, ("notices", i, "id")) for i, n in enumerate(self.own.notices)])
        dup("offer", [(o.id, ("offers", i, "id")) for i, o in enumerate(self.own.offers)])
        dup("hold", [(h.id, ("holds", i, "id")) for i, h in enumerate(self.own.holds)])
        dup("variant", [(v.id, ("variants", i, "id")) for i, v in enumerate(self.own.variants)])

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
        ranges = self._stage_ranges()
        self._dpd_gaps(sorted(ranges))

    def _stage_ranges(self) -> list[tuple[int, float, int]]:
        """Warn of stages that take everyone, cannot be reached, overlap an earlier one or have no actions;
        give each DPD range (from, to, stage index)."""
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
        return ranges

    def _dpd_gaps(self, spans: list[tuple[int, float, int]]) -> None:
        """Warn of the DPD no stage covers, between the sorted ranges and past the last one."""
        reach = 0.0
        first = True
        before: int | None = None  # the stage whose range reaches furthest so far
        for a, b, i in spans:
            if a > reach + 1 and not (first and a <= 1):  # a gap: point at the stage that follows it
                after = self.own.stages[i]
                extend = (f"extend stage '{self.own.stages[before].id}' to dpd.to = {a - 1}, or "
                          if before is not None else "")
                self.warn(("stages", i, "dpd"), f"no stage covers DPD {int(reach) + 1}-{a - 1}, the days before "
                          f"stage '{after.id}' starts at DPD {a}", "dpd_gap",
                          f"{extend}start stage '{after.id}' at dpd.from = {int(reach) + 1}")
            if b >= reach:
                reach, before = b, i
            first = False
        if spans and reach != float("inf"):
            self.warn(("stages",), f"no stage covers DPD {int(reach) + 1} and above: accounts past DPD {int(reach)}"
                      " get no action", "dpd_gap", "give the last stage an open end: dpd = { from = N }")

    def references(self) -> None:
        names = self._reference_names()
        for si, _stage, ai, action in self.actions():
            self._action_references(("stages", si, "actions", ai), action, names)
        bp = self.policy.escalation.broken_promise
        if bp:
            self.channel(bp.action.channel, ("escalation", "broken_promise", "action", "channel"))
            if bp.action.offer:
                self.known(("escalation", "broken_promise", "action", "offer"), "offer", bp.action.offer,
                           names["offer"][0])

    def _reference_names(self) -> dict[str, tuple[set[str], str | None]]:
        """Per kind an action may name (notice, offer, segment, variant): the policy's ids, and the hint an
        unknown one gets."""
        notices = {n.id for n in self.policy.notices}
        offers = {o.id for o in self.policy.offers}
        segments = {s.id for s in self.policy.segments}
        variants = {v.id for v in self.policy.variants}
        return {
            "notice": (notices, f"notices: {allowed_list(notices)}" if notices else "define it under [[notices]]"),
            "offer": (offers, f"offers: {allowed_list(offers)}" if offers else None),
            "segment": (segments, f"segments: {allowed_list(segments)}" if segments else None),
            "variant": (variants,
                        f"variants: {allowed_list(variants)}" if variants else "declare it under [[variants]]"),
        }

    def _action_references(self, base: tuple[str | int, ...], action: Action,
                           names: Mapping[str, tuple[set[str], str | None]]) -> None:
        """Errors for the channel, segments, variants, notices and offer an action names that do not exist."""
        self.channel(action.channel, base + ("channel",))
        for j, segment in enumerate(action.segments):
            self.known(base + ("segments", j), "segment", segment, *names["segment"])
        for j, variant in enumerate(action.variants):
            self.known(base + ("variants", j), "variant", variant, *names["variant"])
        if action.notice:
            self.known(base + ("notice",), "notice", action.notice, *names["notice"])
        if action.offer:
            self.known(base + ("offer",), "offer", action.offer, *names["offer"])
        for j, requirement in enumerate(action.requires):
            self.known(base + ("requires", j, "notice"), "notice", requirement.notice, *names["notice"])
        self.condition(action.when, base + ("when",))

    def notice_senders(self) -> dict[str, list[tuple[Stage, Action]]]:
        """Which stage actions send each notice."""
        senders: dict[str, list[tuple[Stage, Action]]] = {}
        for _, stage, _, action in self.actions():
            if action.notice:
                senders.setdefault(action.notice, []).append((stage, action))
        return senders

    def offers(self) -> None:
        for i, offer in enumerate(self.own.offers):
            self.condition(offer.when, ("offers", i, "when"))

    def templates(self) -> None:
        templates = self.policy.templates
        locale = self.policy.policy.locale
        refs: list[tuple[str, tuple[str | int, ...]]] = []
        for si, _, ai, action in self.actions():
            if action.template:
                refs.append((action.template, ("stages", si, "actions", ai, "template")))
        for i, notice in enumerate(self.own.notices):  # own index: baseline notices come first in self.policy
            if notice.template:
                refs.append((notice.template, ("notices", i, "template")))
        bp = self.policy.escalation.broken_promise
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
        """Every template text must only use variables and fields that exist (bank.* only what [bank]
        defines), and nothing the sandbox refuses; one error per template text, listing what is wrong."""
        allowed = dict(TEMPLATE_VARIABLES)
        bank = self.policy.bank
        set_in_bank = frozenset(k for k, v in (bank.model_dump() if bank else {}).items() if v is not None)
        allowed["bank"] = set_in_bank
        for tid, per_locale in self.own.templates.items():
            for locale, text in per_locale.items():
                for part, source in (("body", text.body), ("subject", text.subject)):
                    if source is None:
                        continue
                    found = validate_template(source, allowed)
                    if not found:
                        continue
                    problems = [self._template_problem(issue, bank is not None) for issue in found]
                    self.error(("templates", tid, locale, part), f"template '{tid}' ({locale}): " + "; ".join(problems),
                               "template_variable", _known_hint(found))

    @staticmethod
    def _template_problem(issue: Issue, has_bank: bool) -> str:
        """One problem of a template text, with its line when the text has several."""
        message = issue.message
        if issue.path.startswith("bank.") and not has_bank:
            message += " (add a [bank] table with name, phone, url, address, email)"
        elif issue.path.startswith("bank.") and issue.path.removeprefix("bank.") in BANK_FIELDS:
            message = f"{issue.path} is not set in the [bank] table"
        line = f" (line {issue.location.line} of the text)" if issue.location.line > 1 else ""
        return message + line

    def content_rules(self) -> None:
        """Templates of call actions must be limited-content where the baseline requires it (Reg F).

        The channel catalogue's template check says what a channel's content rules forbid; the problems of
        one template text are one error, naming every call action that uses it.
        """
        content = self.policy.guardrails.content
        if content is None or not content.voicemail_limited_content:
            return
        own_templates = self.own.templates
        users: dict[tuple[str, str], list[str]] = {}
        for _, _, _, action in self.actions():
            spec = self.channels.get(action.channel)
            if spec is None or spec.kind != ChannelKind.CALL or not action.template:
                continue
            users.setdefault((action.template, spec.name), [])
            if action.id not in users[(action.template, spec.name)]:
                users[(action.template, spec.name)].append(action.id)
        origin = self.origins_text(content_key("voicemail_limited_content"))
        for (template_id, channel), actions in users.items():
            spec = self.channels.get(channel)
            assert spec is not None
            for locale, text in own_templates.get(template_id, {}).items():
                found = self.channels.template_issues(spec, template_id, text.body)
                if not found:
                    continue
                named = ("call actions " if len(actions) > 1 else "call action ") + ", ".join(f"'{a}'" for a in actions)
                hints = list(dict.fromkeys(i.hint for i in found if i.hint))
                self.error(("templates", template_id, locale, "body"),
                           f"template '{template_id}' ({locale}) is used by {named}: "
                           f"{_grouped([i.message for i in found])}{origin}", "limited_content_voicemail",
                           "; ".join(hints) or None)

    def origins_text(self, key: OriginKey) -> str:
        """`` (required by baseline X)`` for the file that set ``key``, or nothing."""
        origin = self.loaded.origins.get(key)
        return f" (required by {origin.whose})" if origin else ""

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
        if self.policy.escalation.broken_promise:
            actions.add(self.policy.escalation.broken_promise.action.id)
        for i, test in enumerate(self.own.tests):
            self._test_references(i, test.expect, actions)

    def _test_references(self, i: int, expect: Expectation, actions: set[str]) -> None:
        """Errors for what the expectations of test ``i`` name that the policy does not have: a misspelt
        action, reason, stage, segment or hold would only show up as a failing test later."""
        for j, exp in enumerate(expect.actions or []):
            self.known(self._expected(("tests", i, "expect", "actions", j)), "action", exp.action, actions)
        for j, sup in enumerate(expect.suppressed or []):
            self.known(self._expected(("tests", i, "expect", "suppressed", j)), "action", sup.action, actions)
            if ":" not in sup.reason:
                self.known(("tests", i, "expect", "suppressed", j, "reason"), "reason", sup.reason, REASONS,
                           f"reasons: {allowed_list(REASONS)}")
        known = {"stage": {s.id for s in self.policy.stages} | {"none"},
                 "segment": {s.id for s in self.policy.segments} | {"none"}}
        for kind in ("stage", "segment"):
            value = getattr(expect, kind)
            if value is not None:
                self.known(("tests", i, "expect", kind), kind, value, known[kind],
                           f"{kind}s: {allowed_list(known[kind])}")
        holds = {h.id for h in self.policy.holds} | {"promise_active"}
        for j, hold in enumerate(expect.holds or []):
            self.known(("tests", i, "expect", "holds", j), "hold", hold, holds, f"holds: {allowed_list(holds)}")


def _fmt(path: tuple[str | int, ...]) -> str:
    from policy_engine.policy.errors import format_path  # noqa: PLC0415

    return format_path(path)


def check_policy(loaded: LoadedPolicy) -> list[Issue]:
    """Every semantic issue of a loaded policy, errors and warnings, in file order."""
    issues = PolicyChecker(loaded).run()
    return sorted(issues, key=lambda i: (i.location.line, i.location.column))


def _known_hint(found: list[Issue]) -> str | None:
    """What may be used instead, for the problems of one template text: the one hint, or per owner."""
    hints = {i.path.rsplit(".", 1)[0] if "." in i.path else "variables": i.hint.removeprefix("known: ")
             for i in found if i.hint and i.hint.startswith("known: ") and not i.hint.endswith("known: ")}
    if len(found) == 1:
        return found[0].hint if found[0].hint and not found[0].hint.endswith("known: ") else None
    return "known " + "; ".join(f"{owner}: {known}" for owner, known in hints.items()) if hints else None


def _grouped(messages: list[str]) -> str:
    """Several messages as one: their shared lead-in (up to ': ') once, then what each adds, without repeats
    ("...: 'owe', 'balance' (each reveals the debt)")."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    leads = {m.rsplit(": ", 1)[0] for m in unique if ": " in m}
    if not (len(leads) == 1 and all(": " in m for m in unique)):
        return "; ".join(unique)
    lead = leads.pop()
    tails = [m.rsplit(": ", 1)[1] for m in unique]
    shared = os.path.commonprefix([tail[::-1] for tail in tails])[::-1]
    end = shared[shared.find(" ") + 1:] if " " in shared else ""
    if end and all(len(tail) > len(end) + 1 for tail in tails):
        items = [tail[: -len(end) - 1] for tail in tails]
        return f"{lead}: {', '.join(items)} (each {end})"
    return f"{lead}: " + "; ".join(tails)
