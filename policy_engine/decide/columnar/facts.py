"""History facts as grouped aggregates: every fact a condition or guardrail asks for becomes one column.

The plan asks :class:`HistoryFacts` for a fact (``contacts(['sms'], 7)``, ``last contact of action x``);
it answers with the SQL expression that reads the fact from the account's row and remembers the
aggregate that computes it. :meth:`HistoryFacts.statement` then writes one ``GROUP BY account_key`` over
the relation ``ev`` (the account's events at or before ``as_of``, with their local day ``local_day``, the
account's ``today`` and the order ``seq``), with every fact asked for.
"""

from __future__ import annotations

from collections.abc import Collection

from policy_engine.guardrails.sql import days_before, days_between, text, text_list

__all__ = ["HistoryFacts"]

_SERVED = "('sent', 'delivered')"


def _in(column: str, values: Collection[str] | None) -> str:
    if values is None:
        return "TRUE"
    if not values:
        return "FALSE"
    return f"{column} IN {text_list(sorted(values))}"


def _not_in(column: str, values: Collection[str]) -> str:
    return f"{column} NOT IN {text_list(sorted(values))}" if values else "TRUE"


class HistoryFacts:
    """The aggregates the plan needs, each a column of the ``facts`` relation."""

    def __init__(self) -> None:
        self._columns: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self.deemed = False
        """Whether notices are deemed served some business days after posting (the policy says so)."""
        self.deemed_service = False
        """Whether some fact reads ``deemed_day`` (posted notices deemed served after business days)."""
        self.promises = False
        """Whether some fact reads the promise states (the ``promise_*`` columns)."""
        self.broken_windows: set[int] = set()
        """The windows (days) some fact counts broken promises in."""
        self.breathing = False
        """Whether some fact reads the breathing space state (``ev`` then needs ``breathing_start_seq``)."""

    def _aggregate(self, sql: str, default: str | None = None) -> str:
        column = self._names.get(sql)
        if column is None:
            column = self._names[sql] = f"fact_{len(self._names)}"
            self._columns[column] = sql
        return f"COALESCE({column}, {default})" if default is not None else column

    # -- contacts ---------------------------------------------------------------------------------------

    def contacts(self, channels: Collection[str] | None, days: int, *, conversations_only: bool = False,
                 excluding: Collection[str] = ()) -> str:
        """Contact attempts (or conversations) on ``channels`` (None: all but ``excluding``) in ``days`` days."""
        where = [
            "type = 'contact'", f"local_day >= {days_before('today', days - 1)}", "local_day <= today",
            "counts_as_attempt IS DISTINCT FROM FALSE", _in("channel", channels), _not_in("channel", excluding),
        ]
        if conversations_only:
            where.append("outcome = 'conversation'")
        return self._aggregate(f"COUNT(*) FILTER (WHERE {' AND '.join(where)})", "0")

    def last_conversation(self, channels: Collection[str] | None) -> str:
        """Local day of the latest conversation on ``channels`` (None: all)."""
        return self._aggregate("MAX(local_day) FILTER (WHERE type = 'contact' AND outcome = 'conversation' AND "
                               f"{_in('channel', channels)})")

    def first_contact(self, excluding: Collection[str]) -> str:
        """Local day of the first contact attempt on a channel not in ``excluding``."""
        return self._aggregate("MIN(local_day) FILTER (WHERE type = 'contact' AND counts_as_attempt IS DISTINCT "
                               f"FROM FALSE AND {_not_in('channel', excluding)})")

    def last_of_action(self, action: str) -> str:
        """Local day of the latest contact ``action`` produced."""
        return self._aggregate(f"MAX(local_day) FILTER (WHERE type = 'contact' AND action = {text(action)})")

    def count_of_action(self, action: str, days: int | None = None) -> str:
        """Contacts ``action`` produced (in the last ``days`` days, today included)."""
        window = f" AND local_day >= {days_before('today', days - 1)} AND local_day <= today" if days else ""
        return self._aggregate(f"COUNT(*) FILTER (WHERE type = 'contact' AND action = {text(action)}{window})", "0")

    # -- notices ----------------------------------------------------------------------------------------

    def delivered_on(self, notice: str) -> str:
        """Local day a notice first went out (a contact with it, sent or delivered)."""
        return self._aggregate(f"MIN(local_day) FILTER (WHERE type = 'contact' AND notice = {text(notice)} AND "
                               f"outcome IN {_SERVED})")

    def served_on(self, notice: str, deemed: bool) -> str:
        """Local day a notice was served: delivered, or (``deemed``) deemed served after posting."""
        if not deemed:
            return self.delivered_on(notice)
        self.deemed_service = True
        return self._aggregate(f"MIN(deemed_day) FILTER (WHERE type = 'contact' AND notice = {text(notice)} AND "
                               f"outcome IN {_SERVED})")

    def notices_sent(self, notice: str | None) -> str:
        """Served contacts carrying ``notice`` (None: any notice)."""
        which = "notice IS NOT NULL" if notice is None else f"notice = {text(notice)}"
        return self._aggregate(f"COUNT(*) FILTER (WHERE type = 'contact' AND {which} AND outcome IN {_SERVED})", "0")

    # -- payments, consent, holds -----------------------------------------------------------------------

    def last_payment(self) -> str:
        """Local day of the latest payment."""
        return self._aggregate("MAX(local_day) FILTER (WHERE type = 'payment')")

    def days_since_last_payment(self) -> str:
        """Local days from the latest payment to today (NULL without one)."""
        return days_between(self.last_payment(), "today")

    def consent_override(self, channel: str) -> str:
        """``granted`` of the latest consent event for ``channel`` (NULL without one)."""
        return self._aggregate(f"ARG_MAX(granted, seq) FILTER (WHERE type = 'consent' AND channel = {text(channel)})")

    def open_state(self, started: str, ended: str) -> str:
        """Whether the latest of the ``started``/``ended`` events is a start."""
        latest = self._aggregate(f"ARG_MAX(type, seq) FILTER (WHERE type IN ({text(started)}, {text(ended)}))")
        return f"COALESCE({latest} = {text(started)}, FALSE)"

    def any_event(self, kind: str) -> str:
        """Whether some event of type ``kind`` happened."""
        return f"({self._aggregate(f'COUNT(*) FILTER (WHERE type = {text(kind)})', '0')} > 0)"

    def in_breathing_space(self, standard_days: int, after_treatment_days: int) -> str:
        """Whether the latest breathing space still runs today (a standard one for ``standard_days`` from its
        start unless ended; a mental health crisis one until ``after_treatment_days`` after its end)."""
        self.breathing = True
        latest = "seq = breathing_start_seq"
        kind = self._aggregate(f"MAX(breathing_space) FILTER (WHERE {latest})")
        start = self._aggregate(f"MAX(local_day) FILTER (WHERE {latest})")
        ended = self._aggregate("MAX(local_day) FILTER (WHERE type = 'breathing_space_ended' AND "
                                "seq > breathing_start_seq)")
        return (f"COALESCE(CASE WHEN {start} IS NULL THEN FALSE WHEN {kind} = 'mental_health_crisis' THEN "
                f"{ended} IS NULL OR {days_between(ended, 'today')} < {after_treatment_days} ELSE {ended} IS NULL "
                f"AND {days_between(start, 'today')} < {standard_days} END, FALSE)")

    def consent(self, channel: str) -> str:
        """Consent for ``channel``: the latest consent event wins over the record; NULL when unknown."""
        path = text('$."' + channel.replace('"', '\\"') + '"')
        return (f"COALESCE({self.consent_override(channel)}, "
                f"TRY_CAST(JSON_EXTRACT_STRING(consent, {path}) AS BOOLEAN))")

    # -- promises (the promise_* columns the plan's promise relations give) -----------------------------

    def has_active_promise(self) -> str:
        """Whether a promise to pay runs at ``as_of``."""
        self.promises = True
        return "(COALESCE(promise_active_count, 0) > 0)"

    def active_promise_amount(self) -> str:
        """The running promise's amount as written (NULL without an amount)."""
        self.promises = True
        return "promise_active_amount_text"

    def active_promise_due(self) -> str:
        """The running promise's due date."""
        self.promises = True
        return "promise_active_due"

    def broken_promises(self, days: int | None) -> str:
        """Promises broken (in the last ``days`` days when given)."""
        self.promises = True
        if days is None:
            return "COALESCE(promise_broken_count, 0)"
        self.broken_windows.add(int(days))
        return f"COALESCE(promise_broken_in_{int(days)}, 0)"

    def served_notice(self, notice: str) -> str:
        """Local day a notice was served, as the policy's service rules say."""
        return self.served_on(notice, self.deemed)

    # -- the statement ----------------------------------------------------------------------------------

    def statement(self) -> str:
        """``SELECT account_key, <every fact> FROM ev GROUP BY account_key`` (the account's input position)."""
        columns = "".join(f", {sql} AS {column}" for column, sql in self._columns.items())
        return f"SELECT account_key{columns} FROM ev GROUP BY account_key"

    @property
    def columns(self) -> list[str]:
        """The fact columns asked for so far."""
        return list(self._columns)
