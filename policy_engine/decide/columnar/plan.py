"""The relational plan of one loaded policy: the SQL statements, compiled once, that decide a portfolio.

Stages, each a relation built from the ones before:

1. ``acct``: the accounts with their zone, local ``today``, ``dpd`` and hours key;
2. ``ev``: the history events at or before ``as_of``, each with its local day (``zone_offsets``), its
   order per account (``seq``) and, when notices are deemed served after posting, its ``deemed_day``;
3. ``facts``: every history fact the policy and the guardrails ask for, one ``GROUP BY account_key``
   (the account's input position, a cheaper key than its id);
   ``promise_facts``: the promises' states (kept, active, broken, superseded) and the escalation due;
4. ``decided``: scope, first-match segment, holds, first-match stage and offers per account;
5. ``ready``: one row per applicable action (and the broken-promise escalation), ranked by
   (priority, order) within the account, with its first failing check that counts no chosen action;
6. ``verdicts``: one pass per rank through every guardrail in the documented order, the caps and the
   daily cap counting the actions already chosen in earlier ranks; the verdicts a counting check gave
   wait in ``counted`` for their texts, written once after the last pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from policy_engine.data.history import BREATHING_SPACE_AFTER_TREATMENT_DAYS, BREATHING_SPACE_DAYS
from policy_engine.decide.columnar.conditions import ConditionCompiler
from policy_engine.decide.columnar.facts import HistoryFacts
from policy_engine.decide.columnar.verdicts import VerdictSql, counts_chosen
from policy_engine.guardrails import ROW_CHECKS, Candidate
from policy_engine.guardrails.base import ChannelIndex, SqlCheck
from policy_engine.guardrails.hours import calendar_of
from policy_engine.guardrails.sql import days_after, days_before, text, text_list
from policy_engine.policy.loader import LoadedPolicy
from policy_engine.policy.models import Guardrails, Hold, Notice
from policy_engine.policy.origins import OriginKey

__all__ = ["CandidateSpec", "Plan"]

_EVENT_HOLDS = {"dispute": ("dispute_opened", "dispute_resolved"), "hardship": ("hardship_started", "hardship_ended")}


@dataclass(frozen=True)
class CandidateSpec:
    """One action the plan may select: the guardrails' candidate, and when it applies (SQL)."""

    candidate: Candidate
    applies: str
    checks: tuple[SqlCheck, ...] = ()
    escalation: bool = False


@dataclass(frozen=True)
class _Counter:
    channels: tuple[str, ...]
    kinds: tuple[str, ...]
    column: str


def _offset_case(spans: Sequence[tuple[str, datetime, datetime, int]]) -> str:
    """The UTC offset of ``h.at_utc`` in the account's zone ``a.zone``, as nested CASE expressions."""
    by_zone: dict[str, list[tuple[datetime, datetime, int]]] = {}
    for zone, start, end, offset in spans:
        by_zone.setdefault(zone, []).append((start, end, offset))
    zones = []
    for zone, ranges in by_zone.items():
        if len(ranges) == 1:
            zones.append(f"WHEN {text(zone)} THEN {ranges[0][2]}")
            continue
        whens = " ".join(f"WHEN h.at_utc < TIMESTAMP {text(end.isoformat(sep=' '))} THEN {offset}"
                         for _, end, offset in ranges[:-1])
        zones.append(f"WHEN {text(zone)} THEN CASE {whens} ELSE {ranges[-1][2]} END")
    return f"CASE a.zone {' '.join(zones)} END"


class Plan:
    """The SQL of one policy, built once; :meth:`statements` gives it for one ``as_of``."""

    def __init__(self, loaded: LoadedPolicy) -> None:
        self.loaded = loaded
        self.policy = loaded.policy
        self.guardrails: Guardrails = self.policy.guardrails
        self.holds: list[Hold] = list(self.policy.holds)
        self.channels = ChannelIndex(loaded.channels)
        self.notices: Mapping[str, Notice] = {notice.id: notice for notice in self.policy.notices}
        self.zone = self.policy.policy.timezone or "UTC"
        self.facts = HistoryFacts()
        self.facts.deemed = bool(self.guardrails.posted_notice_served_after_business_days)
        self._counters: dict[tuple[tuple[str, ...], tuple[str, ...]], _Counter] = {}
        self.conditions = ConditionCompiler(self.facts, self._flag, self.facts.consent)
        self._hold_columns = {hold.id: f"hold_{index}" for index, hold in enumerate(self.holds)}
        if self.guardrails.pause_while_promise_active:  # the decision lists the promise_active hold
            self.facts.has_active_promise()
        self.candidates = self._candidate_specs()
        self.decided = self._decided_select()
        self.checks_sql = self._verdict_sql()

    # -- what the families ask (RelationalPlan) ---------------------------------------------------------

    def source(self, key: OriginKey) -> str | None:
        """Where a limit was written."""
        return self.loaded.sources.get(key)

    def planned(self, channels: Sequence[str], kinds: Sequence[str]) -> str:
        """The column counting the contacts already chosen on these channels and kinds."""
        key = (tuple(channels), tuple(kinds))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter(key[0], key[1], f"planned_{len(self._counters)}")
        return f"COALESCE({counter.column}, 0)"

    def hold_active(self, hold_id: str) -> str:
        """The boolean column of a hold's condition."""
        return self._hold_columns[hold_id]

    def _flag(self, name: str) -> str:
        """A flag set on the record or opened by history events."""
        from policy_engine.decide.columnar.schema import FLAG_NAMES  # noqa: PLC0415

        parts = [f"flags_{name}"] if name in FLAG_NAMES else []
        if name in _EVENT_HOLDS:
            parts.append(self.facts.open_state(*_EVENT_HOLDS[name]))
        elif name == "cease_contact":
            parts.append(self.facts.any_event("cease_request"))
        elif name == "breathing_space":
            parts.append(self.facts.in_breathing_space(BREATHING_SPACE_DAYS, BREATHING_SPACE_AFTER_TREATMENT_DAYS))
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    # -- candidates -------------------------------------------------------------------------------------

    def _candidate_specs(self) -> list[CandidateSpec]:
        specs: list[CandidateSpec] = []
        for stage in self.policy.stages:
            for order, action in enumerate(stage.actions):
                notice = self.notices.get(action.notice) if action.notice else None
                candidate = Candidate(
                    action.id, action.channel, action.template, action.notice, action.offer, tuple(action.requires),
                    action.every_days, (action.at_most.times, action.at_most.days) if action.at_most else None,
                    action.once, action.priority, stage.id, order,
                    purpose=notice.purpose if notice else None,
                    threatens_legal_action=bool(notice and notice.threatens_legal_action))
                parts = [f"stage = {text(stage.id)}", self.conditions.condition(action.when)]
                if action.segments:
                    parts.append(f"segment IN {text_list(action.segments)}")
                if action.variants:
                    parts.append(f"COALESCE(variant IN {text_list(action.variants)}, FALSE)")
                specs.append(CandidateSpec(candidate, " AND ".join(parts)))
        broken = self.policy.escalation.broken_promise
        if broken is not None:
            follow_up = broken.action
            candidate = Candidate(follow_up.id, follow_up.channel, follow_up.template, None, follow_up.offer, (), None,
                                  None, False, follow_up.priority, None, -1, key_suffix="promise")
            self.facts.promises = True
            specs.append(CandidateSpec(candidate, "promise_escalation_at_utc IS NOT NULL", escalation=True))
        return [CandidateSpec(spec.candidate, spec.applies, tuple(self._checks(spec.candidate)), spec.escalation)
                for spec in specs]

    def _checks(self, candidate: Candidate) -> list[SqlCheck]:
        checks: list[SqlCheck] = []
        for family in ROW_CHECKS:
            checks.extend(family.relational(candidate, self))
        return checks

    def counters(self) -> list[tuple[str, list[str]]]:
        """(column, the candidate actions it counts when chosen) for every counter the caps ask for."""
        found: list[tuple[str, list[str]]] = []
        for counter in self._counters.values():
            actions = [spec.candidate.action for spec in self.candidates
                       if self.channels.covers(counter.channels, counter.kinds, spec.candidate.channel)
                       and self.channels.info(spec.candidate.channel).counts_as_attempt]
            found.append((counter.column, actions))
        return found

    # -- decided ----------------------------------------------------------------------------------------

    def _decided_select(self) -> str:
        """Scope, segment, holds, stage, offers: ``SELECT`` over ``acct`` joined with the facts."""
        policy = self.policy
        cond = self.conditions.condition
        scope = cond(policy.policy.applies_to) if policy.policy.applies_to is not None else "TRUE"
        if policy.segments:
            whens = " ".join(f"WHEN {cond(segment.when)} THEN {text(segment.id)}" for segment in policy.segments)
            segment = f"CASE {whens} ELSE 'none' END"
        else:
            segment = "CAST(NULL AS VARCHAR)"
        holds = "".join(f", {cond(hold.when)} AS {self._hold_columns[hold.id]}" for hold in self.holds)
        stage_whens = []
        for stage in policy.stages:
            parts = [cond(stage.when)]
            if stage.dpd is not None:
                if stage.dpd.from_ is not None:
                    parts.append(f"dpd >= {int(stage.dpd.from_)}")
                if stage.dpd.to is not None:
                    parts.append(f"dpd <= {int(stage.dpd.to)}")
            stage_whens.append(f"WHEN {' AND '.join(parts)} THEN {text(stage.id)}")
        chosen_stage = f"CASE {' '.join(stage_whens)} END" if stage_whens else "CAST(NULL AS VARCHAR)"
        offers = "".join(f", {cond(offer.when)} AS offer_{index}" for index, offer in enumerate(policy.offers))
        decided = (f"SELECT *{holds}, {chosen_stage} AS stage{offers} FROM "
                   f"(SELECT *, {segment} AS segment, {self._variant_sql()} AS variant FROM "
                   f"(SELECT *, {scope} AS in_scope FROM base))")
        if not self.candidates:
            return decided
        applies = ", ".join(f"COALESCE(in_scope AND {spec.applies}, FALSE) AS applies_{index}"
                            for index, spec in enumerate(self.candidates))
        return f"SELECT *, {applies} FROM ({decided})"

    def _variant_sql(self) -> str:
        """The champion/challenger variant (as :func:`policy_engine.decide.engine.variant_for`): the SHA-256
        of the account id, as a 256-bit number, modulo 100, into the cumulative weights. The modulo is
        taken over eight 32-bit chunks of the hex digest, each weighted by 2^(32k) mod 100."""
        variants = self.policy.variants
        if not variants:
            return "CAST(NULL AS VARCHAR)"
        chunks = " + ".join(
            f"CAST('0x' || SUBSTR(SHA256(account_id), {1 + 8 * index}, 8) AS BIGINT) * {pow(2, 32 * (7 - index), 100)}"
            for index in range(8))
        bucket = f"(({chunks}) % 100)"
        whens, cumulative = [], 0
        for variant in variants:
            cumulative += variant.weight
            whens.append(f"WHEN {bucket} < {cumulative} THEN {text(variant.id)}")
        return f"CASE {' '.join(whens)} ELSE {text(variants[-1].id)} END"

    # -- verdicts ---------------------------------------------------------------------------------------

    def _numbered_checks(self) -> list[tuple[int, list[tuple[int, SqlCheck]]]]:
        """(candidate index, [(check number, check)]) with the checks numbered in the documented order across
        the whole plan; a candidate's verdict is the number of its first failing check (0: it passes)."""
        numbered: list[tuple[int, list[tuple[int, SqlCheck]]]] = []
        number = 0
        for index, spec in enumerate(self.candidates):
            checks = []
            for check in spec.checks:
                number += 1
                checks.append((number, check))
            numbered.append((index, checks))
        return numbered

    def _verdict_sql(self) -> tuple[VerdictSql, VerdictSql]:
        """The verdict SQL of the checks that do not count chosen actions (evaluated once per candidate) and
        of those that do (the caps and the daily cap: evaluated in the pass of the candidate's rank)."""
        static: list[tuple[int, list[tuple[int, SqlCheck]]]] = []
        counting: list[tuple[int, list[tuple[int, SqlCheck]]]] = []
        for index, checks in self._numbered_checks():
            static.append((index, [(number, check) for number, check in checks if not counts_chosen(check)]))
            counting.append((index, [(number, check) for number, check in checks if counts_chosen(check)]))
        return VerdictSql(static), VerdictSql(counting)

    # -- statements ---------------------------------------------------------------------------------------

    def calendar_sql(self, region: str = "region") -> str:
        """The holiday calendar of an account's region (for notices deemed served after business days)."""
        guardrails = self.guardrails
        default = text(calendar_of(guardrails, None) or "")
        if not guardrails.holidays_by_region:
            return default
        whens = " ".join(f"WHEN {text(name)} THEN {text(calendar_of(guardrails, name) or '')}"
                         for name in sorted(guardrails.holidays_by_region))
        return f"(CASE {region} {whens} ELSE {default} END)"

    def acct_sql(self) -> str:
        """``acct``: the accounts with zone, today, dpd and their hours key."""
        zone = f"COALESCE(a.timezone, {text(self.zone)})"
        return (f"SELECT a.*, {zone} AS zone, d.today, "
                "CASE WHEN a.delinquent_since IS NULL THEN 0 ELSE GREATEST(0, DATE_DIFF('day', a.delinquent_since, "
                "d.today)) END AS dpd, k.hours_key "
                f"FROM accounts a JOIN zone_days d ON d.zone = {zone} "
                "JOIN hours_keys k ON k.timezone IS NOT DISTINCT FROM a.timezone "
                "AND k.timezones IS NOT DISTINCT FROM a.timezones AND k.preferred_start IS NOT DISTINCT FROM "
                "a.preferred_start AND k.preferred_end IS NOT DISTINCT FROM a.preferred_end "
                "AND k.region IS NOT DISTINCT FROM a.region")

    def ev_base_sql(self, as_of: datetime, spans: Sequence[tuple[str, datetime, datetime, int]] | None = None,
                    per_zone: bool = False) -> str:
        """``ev_base``: the events at or before ``as_of`` with their local day and order per account.

        With ``spans`` (zone, start, end, offset seconds: few enough to write out) the offset is a CASE
        expression; else a range join with the ``zone_offsets`` relation. With ``per_zone``, each account's
        events are those at or before its zone's ``as_of`` (``zone_days.as_of_utc``), not ``as_of``."""
        if spans is not None:
            offset, join = _offset_case(spans), ""
        else:
            offset = "o.offset_seconds"
            join = " JOIN zone_offsets o ON o.zone = a.zone AND h.at_utc >= o.start_utc AND h.at_utc < o.end_utc"
        if per_zone:
            instant, by_zone = "z.as_of_utc", " JOIN zone_days z ON z.zone = a.zone"
        else:
            instant, by_zone = f"TIMESTAMP {text(as_of.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' '))}", ""
        at_or_before = f"h.at_utc <= {instant}"
        # the order is numbered over three narrow columns and joined back: a window over every column of the
        # events would sort all of them
        order = ("SELECT h.position, ROW_NUMBER() OVER (PARTITION BY a.position ORDER BY h.at_utc, h.position) AS seq "
                 f"FROM history h JOIN acct a ON a.account_id = h.account_id{by_zone} WHERE {at_or_before}")
        return (f"SELECT h.*, a.today, a.region, CAST(h.at_utc + TO_SECONDS({offset}) AS DATE) AS local_day, "
                "a.position AS account_key, numbered.seq "
                f"FROM history h JOIN acct a ON a.account_id = h.account_id{join}{by_zone} "
                f"JOIN ({order}) numbered ON numbered.position = h.position WHERE {at_or_before}")

    ev_sql_plain = "SELECT e.* FROM ev_base e"
    """``ev`` when it adds nothing to ``ev_base`` (then a view, not a copy)."""

    def ev_sql(self) -> str:
        """``ev``: ``ev_base`` with, when needed, the latest breathing space's order and the deemed day."""
        columns = ["e.*"]
        joins = ""
        if self.facts.breathing:
            columns.append("MAX(CASE WHEN e.type = 'breathing_space_started' THEN e.seq END) "
                           "OVER (PARTITION BY e.account_key) AS breathing_start_seq")
        if self.facts.deemed_service:
            letters = [name for name, info in self.channels.catalogue.items() if info.kind == "letter"]
            posted = f"e.outcome = 'sent' AND e.channel IN {text_list(letters)}" if letters else "FALSE"
            columns.append(f"CASE WHEN {posted} THEN s.served ELSE e.local_day END AS deemed_day")
            calendar = self.calendar_sql("e.region")
            joins = f" LEFT JOIN deemed_service s ON s.calendar = {calendar} AND s.posted = e.local_day"
        return f"SELECT {', '.join(columns)} FROM ev_base e{joins}"

    def promise_sql(self) -> list[tuple[str, str]]:
        """(relation, SELECT) for the promise states and the per-account promise facts."""
        broken = self.policy.escalation.broken_promise
        grace = broken.grace_days if broken else 0
        follow_up = broken.action.id if broken else ""

        def met(paid: str, count: str) -> str:
            return f"(CASE WHEN amount IS NULL THEN {count} > 0 ELSE {count} > 0 AND {paid} >= amount END)"

        rows = ("SELECT p.account_key, p.seq, p.at_utc, p.at_offset_seconds, p.amount, p.amount_text, p.due, "
                "p.today, LEAD(p.at_utc) OVER (PARTITION BY p.account_key ORDER BY p.seq) AS newer_at, "
                "LEAD(p.local_day) OVER (PARTITION BY p.account_key ORDER BY p.seq) AS newer_day "
                "FROM ev p WHERE p.type = 'promise'")
        paid = ("SELECT p.account_key, p.seq, p.at_utc, p.at_offset_seconds, p.amount, p.amount_text, p.due, "
                "p.today, p.newer_at, p.newer_day, COALESCE(SUM(COALESCE(pay.amount, 0)), 0) AS paid, "
                "COUNT(pay.seq) AS payments, "
                "COALESCE(SUM(COALESCE(pay.amount, 0)) FILTER (WHERE pay.at_utc <= p.newer_at), 0) AS paid_before, "
                "COUNT(pay.seq) FILTER (WHERE pay.at_utc <= p.newer_at) AS payments_before "
                "FROM promise_rows p LEFT JOIN ev pay ON pay.account_key = p.account_key AND pay.type = 'payment' "
                "AND pay.at_utc >= p.at_utc AND pay.local_day <= p.due "
                "GROUP BY p.account_key, p.seq, p.at_utc, p.at_offset_seconds, p.amount, p.amount_text, p.due, "
                "p.today, p.newer_at, p.newer_day")
        follow = (f"SELECT account_key, MAX(local_day) AS followup_last FROM ev WHERE type = 'contact' AND "
                  f"action = {text(follow_up)} GROUP BY account_key")
        limit = days_after("due", grace)
        status = (f"CASE WHEN {met('paid', 'payments')} THEN 'kept' WHEN today <= {limit} THEN 'active' "
                  "ELSE 'broken' END")
        states = (f"SELECT s.*, {status} AS status, {days_after('due', grace + 1)} AS broken_on, f.followup_last "
                  "FROM promise_paid s LEFT JOIN promise_followup f ON f.account_key = s.account_key "
                  f"WHERE NOT (newer_at IS NOT NULL AND NOT {met('paid_before', 'payments_before')} "
                  f"AND newer_day <= {limit})")
        escalate = "(status = 'broken' AND NOT COALESCE(followup_last >= broken_on, FALSE))"
        ranked = ("SELECT *, ROW_NUMBER() OVER (PARTITION BY account_key, status ORDER BY seq DESC) AS newest, "
                  f"ROW_NUMBER() OVER (PARTITION BY account_key, {escalate} ORDER BY seq) AS oldest, "
                  f"{escalate} AS escalate FROM promise_states")
        windows = "".join(
            f", COUNT(*) FILTER (WHERE status = 'broken' AND broken_on >= {days_before('today', days - 1)} "
            f"AND broken_on <= today) AS promise_broken_in_{days}" for days in sorted(self.facts.broken_windows))
        facts = ("SELECT account_key, COUNT(*) FILTER (WHERE status = 'active') AS promise_active_count, "
                 "MAX(amount_text) FILTER (WHERE status = 'active' AND newest = 1) AS promise_active_amount_text, "
                 "MAX(due) FILTER (WHERE status = 'active' AND newest = 1) AS promise_active_due, "
                 "COUNT(*) FILTER (WHERE status = 'broken') AS promise_broken_count, "
                 "MAX(at_utc) FILTER (WHERE escalate AND oldest = 1) AS promise_escalation_at_utc, "
                 "MAX(at_offset_seconds) FILTER (WHERE escalate AND oldest = 1) AS promise_escalation_offset"
                 f"{windows} FROM promise_ranked GROUP BY account_key")
        return [("promise_rows", rows), ("promise_paid", paid), ("promise_followup", follow),
                ("promise_states", states), ("promise_ranked", ranked), ("promise_facts", facts)]

    def base_sql(self) -> str:
        """``base``: ``acct`` with its facts and promise facts (accounts without history get NULLs)."""
        promise = " LEFT JOIN promise_facts p ON p.account_key = a.position" if self.facts.promises else ""
        promise_columns = ", p.* EXCLUDE (account_key)" if self.facts.promises else ""
        return (f"SELECT a.*, f.* EXCLUDE (account_key){promise_columns} FROM acct a "
                f"LEFT JOIN facts f ON f.account_key = a.position{promise}")

    _CANDIDATE = ("position, account_id, action, channel, priority, action_order, action_stage, action_index, "
                  "send_at, send_at_utc, not_after")
    _NO_TEXT = "CAST(NULL AS VARCHAR)"

    def ready_sql(self) -> str:
        """``ready``: one row per applicable action, ranked by (priority, order) in the account, with the
        number of its first failing check of those that do not count chosen actions and that check's texts.

        Each candidate's rows come from its own SELECT over ``decided`` (and the contact-hours table of its
        channel), so a row meets only its own candidate's checks and the accounts' columns are never joined
        to the candidates: the passes by rank then read only the few columns the caps read."""
        parts = [self._ready_part(index, spec) for index, spec in enumerate(self.candidates)]
        if not parts:
            none = self._NO_TEXT
            return (f"SELECT position, account_id, '' AS action, '' AS channel, 0 AS priority, 0 AS action_order, "
                    f"'' AS action_stage, 0 AS action_index, {none} AS send_at, "
                    "CAST(NULL AS TIMESTAMP) AS send_at_utc, "
                    f"{none} AS not_after, 0 AS static_verdict, {none} AS static_reason, {none} AS static_detail, "
                    f"{none} AS static_source, FALSE AS settled, CAST(0 AS BIGINT) AS rank FROM decided WHERE FALSE")
        return " UNION ALL ".join(parts)

    def _rank(self, index: int) -> str:
        """The candidate's rank among the account's applicable candidates, by (priority, order): one more than
        the applicable candidates that come before it (no two candidates of one account share both)."""
        key = (self.candidates[index].candidate.priority, self.candidates[index].candidate.order)
        before = [f"CAST(applies_{other} AS BIGINT)" for other, spec in enumerate(self.candidates)
                  if (spec.candidate.priority, spec.candidate.order) < key]
        return " + ".join(["CAST(1 AS BIGINT)", *before])

    def _ready_part(self, index: int, spec: CandidateSpec) -> str:
        static, counting = self.checks_sql
        candidate = spec.candidate
        stage = "d.stage" if spec.escalation else text(candidate.stage or "")
        row = (f"SELECT {text(candidate.action)} AS action, {text(candidate.channel)} AS channel, "
               f"{candidate.priority} AS priority, {candidate.order} AS action_order, {stage} AS action_stage, "
               f"{index} AS action_index, h.reason AS hours_reason, h.detail AS hours_detail, "
               f"h.source AS hours_source, h.send_at, h.send_at_utc, h.not_after, {self._rank(index)} AS rank, d.* "
               f"FROM (SELECT * FROM decided WHERE applies_{index}) d "
               f"JOIN hours_lookup h ON h.hours_key = d.hours_key AND h.channel = {text(candidate.channel)}")
        reason, detail, source = static.texts("static_verdict", index)
        return (f"SELECT {self._CANDIDATE}, static_verdict, {reason} AS static_reason, {detail} AS static_detail, "
                f"{source} AS static_source, {counting.settled('static_verdict', index)} AS settled, rank "
                f"FROM (SELECT *, {static.number(index)} AS static_verdict FROM ({row}))")

    def settled_sql(self) -> str:
        """The verdicts of the candidates stopped by a check before any check that counts chosen actions:
        no pass can change them."""
        return (f"SELECT {self._CANDIDATE}, rank, static_verdict AS verdict, static_reason AS reason, "
                "static_detail AS detail, static_source AS source FROM ready WHERE settled")

    def pass_statements(self, rank: int) -> list[str]:
        """The statements of the pass of one rank: the verdicts of its unsettled candidates, the first failing
        check of those evaluated once (``ready``) and of those counting the actions chosen in earlier ranks.

        A verdict given by a check that counts chosen actions waits in ``counted``, with the counts it saw,
        for its texts: :meth:`counted_texts_sql` writes them once, after the last pass. The texts are most of
        a pass's SQL, and DuckDB plans every statement again, so written in each pass they were planned once
        per rank (a pass of the UK example: 43 ms with them, 11 ms without)."""
        columns = f"{self._CANDIDATE}, rank"
        if not self.counts_chosen():
            return [f"INSERT INTO verdicts SELECT {columns}, static_verdict AS verdict, static_reason AS reason, "
                    f"static_detail AS detail, static_source AS source FROM ready WHERE rank = {rank} AND NOT settled"]
        final = ("CASE WHEN static_verdict <> 0 AND (counted_verdict = 0 OR static_verdict < counted_verdict) "
                 "THEN static_verdict ELSE counted_verdict END")
        own = "COALESCE(counted_verdict <> 0 AND (static_verdict = 0 OR counted_verdict < static_verdict), FALSE)"
        counts = "".join(f", k.{column}" for column, _ in self.counters())
        counters = "".join(f", {column}" for column, _ in self.counters())
        join = " LEFT JOIN chosen k ON k.position = r.position" if self._counters else ""
        row = (f"SELECT r.*, d.* EXCLUDE (position, account_id, hours_key){counts} FROM ready r "
               f"JOIN decided d ON d.position = r.position{join} WHERE r.rank = {rank} AND NOT r.settled")
        return [  # a row is ``own`` when a counting check gave its verdict: its verdict is then that check's number
            f"CREATE TABLE pass_rows AS SELECT {columns}, {final} AS verdict, {own} AS own, "
            f"static_reason, static_detail, static_source{counters} "
            f"FROM (SELECT *, {self.checks_sql[1].number()} AS counted_verdict FROM ({row}))",
            f"INSERT INTO verdicts SELECT {columns}, verdict, static_reason AS reason, static_detail AS detail, "
            "static_source AS source FROM pass_rows WHERE NOT own",
            f"INSERT INTO counted SELECT {columns}, verdict AS counted_verdict{counters} FROM pass_rows WHERE own",
            "DROP TABLE pass_rows",
        ]

    def counts_chosen(self) -> bool:
        """Whether any check counts the actions chosen in earlier ranks (the passes then use ``counted``)."""
        return not self.checks_sql[1].empty

    def empty_counted_sql(self) -> str:
        """``counted`` before the first pass: the verdicts given by a check that counts chosen actions, with the
        counts it saw, waiting for their texts."""
        counters = "".join(f", CAST(NULL AS BIGINT) AS {column}" for column, _ in self.counters())
        return (f"SELECT {self._CANDIDATE}, rank, static_verdict AS counted_verdict{counters} FROM ready "
                "WHERE FALSE")

    def counted_texts_sql(self) -> str:
        """The verdicts waiting in ``counted`` with their texts: those of the check that gave them, over the
        account's facts and the counts the check saw."""
        reason, detail, source = self.checks_sql[1].texts("counted_verdict")
        return (f"SELECT {self._CANDIDATE}, rank, counted_verdict AS verdict, {reason} AS reason, "
                f"{detail} AS detail, {source} AS source "
                "FROM (SELECT c.*, d.* EXCLUDE (position, account_id, hours_key) FROM counted c "
                "JOIN decided d ON d.position = c.position)")

    def chosen_sql(self) -> str:
        """``chosen``: per account, the chosen actions each counter counts, over the verdicts so far."""
        sums = ", ".join(f"COUNT(*) FILTER (WHERE action IN {text_list(actions)}) AS {column}" if actions
                         else f"0 AS {column}" for column, actions in self.counters())
        return f"SELECT position, {sums} FROM verdicts WHERE verdict = 0 GROUP BY position"

    def empty_chosen_sql(self) -> str:
        """``chosen`` before the first pass: no action chosen yet."""
        zeros = ", ".join(f"0 AS {column}" for column, _ in self.counters())
        return f"SELECT position, {zeros} FROM decided WHERE FALSE"
