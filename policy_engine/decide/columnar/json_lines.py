"""The decisions as JSON Lines written by the plan itself: one text per account, the bytes `Decision.to_dict`
and ``write_decisions`` give (key order, ``", "`` and ``": "`` separators, non-ASCII kept).

Used for ``dry-run --format jsonl`` when every text of the policy that can reach a decision is free of the
rarer control characters (DuckDB writes their escapes in upper case, Python in lower case); otherwise, and
for the other formats, :mod:`.output` builds Decision objects in Python.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from policy_engine.decide.columnar.plan import Plan
from policy_engine.decide.engine import offer_terms
from policy_engine.guardrails import content_rules_for
from policy_engine.guardrails.sql import text
from policy_engine.policy.loader import LoadedPolicy

__all__ = ["JsonLines"]

_RARE_CONTROL = re.compile("[\x00-\x07\x0b\x0e-\x1f\x7f]")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _quoted(sql: str) -> str:
    """A SQL text expression as a JSON string (or ``null``)."""
    return f"COALESCE(CAST(TO_JSON({sql}) AS VARCHAR), 'null')"


def _iso_instant(utc: str, offset: str) -> str:
    """``datetime.isoformat()`` of the instant ``utc`` (TIMESTAMP) at the UTC offset ``offset`` (seconds)."""
    local = f"({utc} + TO_SECONDS({offset}))"
    fraction = f"CASE WHEN MICROSECOND({local}) % 1000000 = 0 THEN '' ELSE STRFTIME({local}, '.%f') END"
    magnitude = f"ABS({offset})"
    seconds = (f"CASE WHEN {magnitude} % 60 = 0 THEN '' ELSE ':' || LPAD(CAST({magnitude} % 60 AS VARCHAR), 2, '0') "
               "END")
    zone = (f"CASE WHEN {offset} < 0 THEN '-' ELSE '+' END || LPAD(CAST({magnitude} // 3600 AS VARCHAR), 2, '0') "
            f"|| ':' || LPAD(CAST(({magnitude} % 3600) // 60 AS VARCHAR), 2, '0') || {seconds}")
    return f"(STRFTIME({local}, '%Y-%m-%dT%H:%M:%S') || {fraction} || {zone})"


def _joined(item: str, place: str, places: int) -> str:
    """The items of a group's rows at places 1 to ``places`` (unique within the group; a row with no place
    takes none), joined by ``", "`` in the order of their places; ``''`` when no row has a place.

    One filtered aggregate per place: several times cheaper in DuckDB than gathering the long texts into a
    list to sort, or an ordered ``STRING_AGG``."""
    if places < 1:
        return "''"
    picks = ", ".join(f"MAX({item}) FILTER (WHERE {place} = {number})" for number in range(1, places + 1))
    return f"CONCAT_WS(', ', {picks})"


class JsonLines:
    """The SQL that writes each account's decision line, in input order."""

    def __init__(self, loaded: LoadedPolicy, plan: Plan) -> None:
        self.loaded = loaded
        self.plan = plan
        self.policy = loaded.policy

    def usable(self) -> bool:
        """Whether every text of the policy that can reach a decision is written alike by DuckDB and Python."""
        texts = [json.dumps(self.loaded.stamp()), *(str(value) for value in self.loaded.sources.values())]
        texts += [hold.description or "" for hold in self.policy.holds]
        texts += [check.detail for spec in self.plan.candidates for check in spec.checks]
        texts += [spec.candidate.action + (spec.candidate.template or "") + (spec.candidate.stage or "")
                  for spec in self.plan.candidates]
        texts += [json.dumps(offer_terms(offer), ensure_ascii=False) for offer in self.policy.offers]
        return not any(_RARE_CONTROL.search(value) for value in texts)

    def _per_candidate(self, texts: list[str]) -> str:
        """A SQL text that is one constant per candidate (``v.action_index``)."""
        whens = " ".join(f"WHEN {index} THEN {text(value)}" for index, value in enumerate(texts))
        return f"CASE v.action_index {whens} END"

    def _action(self) -> str:
        """The JSON object of a planned action, over a verdict row joined with its account. What is the same
        for every row of a candidate (its action, channel, template, notice, priority, content rules) is one
        constant per candidate; only the instants, the offer and the key are written per row."""
        if not self.plan.candidates:
            return "CAST(NULL AS VARCHAR)"
        policy_id = self.policy.policy.id
        offer_ids = [offer.id for offer in self.policy.offers]
        heads, tails, offers = [], [], []
        for index, spec in enumerate(self.plan.candidates):
            candidate = spec.candidate
            heads.append(f'{{"action": {_json(candidate.action)}, "channel": {_json(candidate.channel)}, '
                         f'"template": {_json(candidate.template)}, "send_at": "')
            tails.append(f'", "priority": {int(candidate.priority)}{self._rules_json(candidate.channel)}')
            if candidate.offer and candidate.offer in offer_ids:
                offer_index = offer_ids.index(candidate.offer)
                terms = text(_json(offer_terms(self.policy.offers[offer_index])))
                offers.append(f"WHEN {index} THEN CASE WHEN d.offer_{offer_index} THEN {terms} ELSE 'null' END")
        notices = [f'", "notice": {_json(spec.candidate.notice)}, "offer": ' for spec in self.plan.candidates]
        offer = f"CASE v.action_index {' '.join(offers)} ELSE 'null' END" if offers else "'null'"
        escalations = [index for index, spec in enumerate(self.plan.candidates) if spec.escalation]
        promise_at = _iso_instant("d.promise_escalation_at_utc", "d.promise_escalation_offset")
        suffix = (f"CASE WHEN v.action_index = {escalations[0]} THEN 'promise:' || {promise_at} ELSE '' END"
                  if escalations else "''")
        key = (f"LEFT(SHA256({text(policy_id + '|')} || v.account_id || '|' || v.action || '|' || "
               f"STRFTIME(d.today, '%Y-%m-%d') || '|' || {suffix}), 32)")
        return (f"({self._per_candidate(heads)} || v.send_at || {self._per_candidate(notices)} || {offer} || "
                f"', \"idempotency_key\": \"' || {key} || {self._per_candidate(tails)} || "
                "CASE WHEN v.not_after IS NULL THEN '' ELSE ', \"not_before\": \"' || v.send_at || "
                "'\", \"not_after\": \"' || v.not_after || '\"' END || '}')")

    def _rules_json(self, channel: str) -> str:
        rules = content_rules_for(self.policy.guardrails, channel, self.loaded.channels)
        return f', "content_rules": {_json(list(rules))}' if rules else ""

    def _suppression(self) -> str:
        """The JSON object of a suppressed action: its action and channel are one constant per candidate."""
        if not self.plan.candidates:
            return "CAST(NULL AS VARCHAR)"
        heads = [f'{{"action": {_json(spec.candidate.action)}, "channel": {_json(spec.candidate.channel)}, '
                 '"reason": ' for spec in self.plan.candidates]
        return (f"({self._per_candidate(heads)} || TO_JSON(v.reason) || ', \"detail\": ' || TO_JSON(v.detail) || "
                "CASE WHEN v.source IS NULL OR v.source = '' THEN '' ELSE ', \"source\": ' || TO_JSON(v.source) END "
                "|| '}')")

    def _list(self, names: list[tuple[str, str]]) -> str:
        """A JSON list of the names whose SQL boolean holds, in the given order."""
        if not names:
            return "'[]'"
        parts = ", ".join(f"CASE WHEN COALESCE({held}, FALSE) THEN {text(_json(name))} END" for name, held in names)
        return f"('[' || CONCAT_WS(', ', {parts}) || ']')"

    def query(self, as_of: datetime, ranks: int, first: int = 0, last: int | None = None) -> str:
        """``SELECT position, line`` for the accounts at input positions ``first`` to ``last`` (inclusive;
        None: to the end), in input order; ``ranks``: the most candidates an account has (the verdicts'
        largest rank)."""
        plan = self.plan
        policy = self.policy
        head = '{"account_id": '
        stamp = f', "as_of": {_json(as_of.isoformat())}, "policy": {_json(self.loaded.stamp())}, "dpd": '
        held: dict[str, list[str]] = {}
        for hold in policy.holds:
            held.setdefault(hold.id, []).append(f"d.{plan.hold_active(hold.id)}")
        if policy.guardrails.pause_while_promise_active:
            held.setdefault("promise_active", []).append("COALESCE(d.promise_active_count, 0) > 0")
        holds_sql = self._list([(name, " OR ".join(f"({sql})" for sql in conditions))
                                for name, conditions in sorted(held.items())])
        offers = self._list([(offer.id, f"d.offer_{index}") for index, offer in enumerate(policy.offers)])
        variant = ("CASE WHEN d.variant IS NULL THEN '' ELSE ', \"variant\": ' || TO_JSON(d.variant) END"
                   if policy.variants else "''")
        segment = _quoted("d.segment") if policy.segments else "'null'"
        in_scope = (f"{text(head)} || TO_JSON(d.account_id) || {text(stamp)} || CAST(d.dpd AS VARCHAR) || "
                    f"', \"segment\": ' || {segment} || ', \"stage\": ' || {_quoted('d.stage')} || "
                    f"', \"holds\": ' || {holds_sql} || ', \"actions\": [' || COALESCE(l.actions, '') || "
                    f"'], \"suppressed\": [' || COALESCE(l.suppressed, '') || '], \"offers\": ' || {offers} || "
                    f"{variant} || '}}'")
        out_of_scope = (f"{text(head)} || TO_JSON(d.account_id) || {text(stamp)} || CAST(d.dpd AS VARCHAR) || "
                        "', \"segment\": null, \"stage\": null, \"holds\": [], \"actions\": [], \"suppressed\": [], "
                        "\"offers\": [], \"in_scope\": false}'")
        # a planned action's place: by send_at, priority, action (unique in a decision); a suppressed one's: its rank
        place = ("CASE WHEN v.verdict = 0 THEN ROW_NUMBER() OVER (PARTITION BY v.position, v.verdict = 0 "
                 "ORDER BY v.send_at_utc, v.priority, v.action) END")
        items = (f"SELECT v.position, v.verdict, v.rank, {place} AS place, CASE WHEN v.verdict = 0 THEN "
                 f"{self._action()} ELSE {self._suppression()} END AS item "
                 "FROM verdicts v JOIN decided d ON d.position = v.position "
                 f"WHERE {self._between('v.position', first, last)}")
        actions = _joined("item", "place", ranks)
        suppressed = _joined("item", "CASE WHEN verdict <> 0 THEN rank END", ranks)
        lists = f"SELECT position, {actions} AS actions, {suppressed} AS suppressed FROM ({items}) GROUP BY position"
        return (f"SELECT d.position, CASE WHEN d.in_scope THEN {in_scope} ELSE {out_of_scope} END AS line "
                f"FROM decided d LEFT JOIN ({lists}) l ON l.position = d.position "
                f"WHERE {self._between('d.position', first, last)} ORDER BY d.position")

    @staticmethod
    def _between(column: str, first: int, last: int | None) -> str:
        return f"{column} >= {int(first)}" + (f" AND {column} <= {int(last)}" if last is not None else "")

    def lines(self, connection: Any, as_of: datetime, size: int, accounts_per_query: int = 100_000) -> Iterator[str]:
        """Each account's line (without the newline), in input order: one query per ``accounts_per_query``
        input positions (so the lists of one slice of the portfolio are built at a time, in bounded
        memory), each fetched ``size`` rows at a time."""
        count = connection.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM decided").fetchall()[0][0]
        ranks = connection.execute("SELECT COALESCE(MAX(rank), 0) FROM verdicts").fetchall()[0][0]
        for first in range(0, count, accounts_per_query):
            cursor = connection.cursor()
            cursor.execute(self.query(as_of, ranks, first, first + accounts_per_query - 1))
            while True:
                chunk = cursor.fetchmany(size)
                if not chunk:
                    break
                for _, line in chunk:
                    yield line
            cursor.close()
