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


def _sorted_join(keys: str, item: str, where: str) -> str:
    """The texts ``item`` of a group's rows where ``where`` holds, joined by ``", "`` in the order of
    ``keys`` (unique within the group); NULL when no row holds.

    The same text as ``STRING_AGG(item, ', ' ORDER BY keys)``, several times faster in DuckDB: the rows are
    gathered unordered and each group's short list is sorted after."""
    fields = ", ".join(f"key_{index} := {key.strip()}" for index, key in enumerate(keys.split(",")))
    return (f"ARRAY_TO_STRING(LIST_TRANSFORM(LIST_SORT(LIST(STRUCT_PACK({fields}, item := {item})) "
            f"FILTER (WHERE {where})), lambda entry: entry.item), ', ')")


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

    def _action(self) -> str:
        """The JSON object of a planned action, over a verdict row joined with its account."""
        if not self.plan.candidates:
            return "CAST(NULL AS VARCHAR)"
        policy_id = self.policy.policy.id
        offer_ids = [offer.id for offer in self.policy.offers]
        whens_offer, whens_rest = [], []
        for spec in self.plan.candidates:
            candidate = spec.candidate
            action = text(candidate.action)
            offer = "'null'"
            if candidate.offer and candidate.offer in offer_ids:
                index = offer_ids.index(candidate.offer)
                offer = (f"CASE WHEN d.offer_{index} THEN {text(_json(offer_terms(self.policy.offers[index])))} "
                         "ELSE 'null' END")
            whens_offer.append(f"WHEN {action} THEN {offer}")
            head = (f'{{"action": {_json(candidate.action)}, "channel": {_json(candidate.channel)}, '
                    f'"template": {_json(candidate.template)}, "send_at": ')
            whens_rest.append(f"WHEN {action} THEN {text(head)}")
        escalations = [spec.candidate.action for spec in self.plan.candidates if spec.escalation]
        promise_at = _iso_instant("d.promise_escalation_at_utc", "d.promise_escalation_offset")
        suffix = (f"CASE WHEN v.action = {text(escalations[0])} THEN 'promise:' || {promise_at} ELSE '' END"
                  if escalations else "''")
        key = (f"LEFT(SHA256({text(policy_id + '|')} || v.account_id || '|' || v.action || '|' || "
               f"STRFTIME(d.today, '%Y-%m-%d') || '|' || {suffix}), 32)")
        notices = " ".join(f"WHEN {text(spec.candidate.action)} THEN {text(_json(spec.candidate.notice))}"
                           for spec in self.plan.candidates)
        rules = " ".join(
            f"WHEN {text(spec.candidate.action)} THEN "
            f"{text(self._rules_json(spec.candidate.channel))}" for spec in self.plan.candidates)
        return (f"(CASE v.action {' '.join(whens_rest)} END || '\"' || v.send_at || '\", \"notice\": ' || "
                f"CASE v.action {notices} END || ', \"offer\": ' || CASE v.action {' '.join(whens_offer)} END || "
                f"', \"idempotency_key\": \"' || {key} || '\", \"priority\": ' || CAST(v.priority AS VARCHAR) || "
                f"CASE v.action {rules} END || "
                "CASE WHEN v.not_after IS NULL THEN '' ELSE ', \"not_before\": \"' || v.send_at || "
                "'\", \"not_after\": \"' || v.not_after || '\"' END || '}')")

    def _rules_json(self, channel: str) -> str:
        rules = content_rules_for(self.policy.guardrails, channel, self.loaded.channels)
        return f', "content_rules": {_json(list(rules))}' if rules else ""

    @staticmethod
    def _suppression() -> str:
        return ("('{\"action\": ' || TO_JSON(v.action) || ', \"channel\": ' || TO_JSON(v.channel) || "
                "', \"reason\": ' || TO_JSON(v.reason) || ', \"detail\": ' || TO_JSON(v.detail) || "
                "CASE WHEN v.source IS NULL OR v.source = '' THEN '' ELSE ', \"source\": ' || TO_JSON(v.source) END "
                "|| '}')")

    def _list(self, names: list[tuple[str, str]]) -> str:
        """A JSON list of the names whose SQL boolean holds, in the given order."""
        if not names:
            return "'[]'"
        parts = ", ".join(f"CASE WHEN COALESCE({held}, FALSE) THEN {text(_json(name))} END" for name, held in names)
        return f"('[' || CONCAT_WS(', ', {parts}) || ']')"

    def query(self, as_of: datetime, first: int = 0, last: int | None = None) -> str:
        """``SELECT position, line`` for the accounts at input positions ``first`` to ``last`` (inclusive;
        None: to the end), in input order."""
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
        actions = _sorted_join("v.send_at_utc, v.priority, v.action", self._action(), "v.verdict = 0")
        suppressed = _sorted_join("v.rank", self._suppression(), "v.verdict <> 0")
        lists = (f"SELECT v.position, {actions} AS actions, {suppressed} AS suppressed "
                 "FROM verdicts v JOIN decided d ON d.position = v.position "
                 f"WHERE {self._between('v.position', first, last)} GROUP BY v.position")
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
        for first in range(0, count, accounts_per_query):
            cursor = connection.cursor()
            cursor.execute(self.query(as_of, first, first + accounts_per_query - 1))
            while True:
                chunk = cursor.fetchmany(size)
                if not chunk:
                    break
                for _, line in chunk:
                    yield line
            cursor.close()
