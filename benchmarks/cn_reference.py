"""The peers of the columnar benchmark: a reference subset of the CN policy, written twice by hand.

    .venv/bin/python benchmarks/cn_reference.py duckdb ACCOUNTS.jsonl HISTORY.jsonl OUT.jsonl
    .venv/bin/python benchmarks/cn_reference.py python ACCOUNTS.jsonl HISTORY.jsonl OUT.jsonl

Both read the generated JSON Lines files of cn_portfolio.py and write the same bytes: one line per action
that goes out, ``{"account_id","action","channel","send_at"}``, ordered by account, priority and action.
The subset of policies/examples/cn-card-issuer.toml they implement (what a person would write by hand to
get an idea of the floor; the engine does much more: every hold, promises, notices, offers, holidays,
every cap, the suppression record of every action):

* an account with any hold flag (dispute, hardship, deceased, bankruptcy, attorney, cease_contact) or
  ``attributes.serious_illness`` gets nothing;
* DPD = today (local, Asia/Shanghai) minus ``delinquent_since``; the stage by DPD (1-29, 30-59, 60-89,
  90+); the segment: low_risk (score >= 700 and no prior delinquency), high_risk (score < 580 or 3 prior
  delinquencies or more), else standard;
* the stage's actions (:data:`ACTIONS`) for the segment and balance, whose channel has its contact point
  (a phone; e-mail also needs consent.email = true), whose cadence has passed (days since the last contact
  carrying the action id >= every_days);
* the weekly SMS cap: no text when 3 or more were sent in the last 7 local days;
* the daily cap: at most 3 contacts a local day, counting today's earlier contacts, by priority;
* quiet hours: texts and e-mails 08:30-21:00, calls and agent tasks 09:00-20:00 local; ``send_at`` is the
  as-of moment inside the window, else the window's next start.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cn_portfolio import AS_OF  # noqa: E402  (the benchmark's one decision moment)

SHANGHAI: Final = timezone(timedelta(hours=8))
HOLD_FLAGS: Final = ("dispute", "hardship", "deceased", "bankruptcy", "attorney", "cease_contact")
DAILY_CAP: Final = 3
WEEKLY_SMS_CAP: Final = 3
# (stage, action, channel, priority, every_days, only for segment or "", minimum balance or 0)
ACTIONS: Final = (
    ("early", "early_care_call", "agent", 10, 7, "high_risk", 0),
    ("early", "early_voice", "voice", 20, 4, "not_low", 0),
    ("early", "early_sms", "sms", 30, 5, "", 0),
    ("early", "early_email", "email", 40, 7, "", 0),
    ("mid", "mid_agent_explain", "agent", 15, 14, "", 3000),
    ("mid", "mid_call", "voice", 20, 2, "", 0),
    ("mid", "mid_sms", "sms", 30, 5, "", 0),
    ("late", "late_installment_60", "agent", 10, 7, "", 10000),
    ("late", "late_call", "voice", 20, 2, "", 0),
    ("late", "late_sms", "sms", 30, 5, "", 0),
    ("pre_legal", "pre_legal_agent", "agent", 10, 7, "", 3000),
    ("pre_legal", "pre_legal_call", "voice", 20, 3, "", 0),
)
WINDOWS: Final = {"sms": ("08:30", "21:00"), "email": ("08:30", "21:00"),
                  "voice": ("09:00", "20:00"), "agent": ("09:00", "20:00")}


def _send_at(channel: str) -> str:
    """The first moment at or after the as-of instant inside the channel's local window."""
    local = AS_OF.astimezone(SHANGHAI)
    start, end = (datetime.combine(local.date(), datetime.strptime(text, "%H:%M").time(), SHANGHAI)
                  for text in WINDOWS[channel])
    if local < start:
        moment = start
    elif local < end:
        moment = local
    else:
        moment = start + timedelta(days=1)
    return moment.isoformat()


def _day_number(moment: str) -> int:
    """The local (Shanghai) day of an ISO timestamp, as days since 1970-01-01."""
    return int((datetime.fromisoformat(moment).timestamp() + 8 * 3600) // 86400)


def _stage(dpd: int) -> str | None:
    if dpd >= 90:
        return "pre_legal"
    if dpd >= 60:
        return "late"
    if dpd >= 30:
        return "mid"
    return "early" if dpd >= 1 else None


def _segment(account: dict[str, Any]) -> str:
    score, prior = account.get("credit_score"), account.get("prior_delinquencies")
    if score is not None and prior is not None and score >= 700 and prior == 0:
        return "low_risk"
    if (score is not None and score < 580) or (prior is not None and prior >= 3):
        return "high_risk"
    return "standard"


def decide_in_python(accounts: Path, history: Path, output: Path) -> None:
    """The subset in plain Python: history indexed per account in a dict, then one pass over accounts."""
    today = (AS_OF.astimezone(SHANGHAI).date() - date(1970, 1, 1)).days
    last_by_action: dict[tuple[str, str], int] = {}
    sms_week: dict[str, int] = {}
    contacts_today: dict[str, int] = {}
    with history.open(encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if event["type"] != "contact":
                continue
            account_id, day = event["account_id"], _day_number(event["at"])
            if day > today:
                continue
            action = event.get("action")
            if action is not None:
                key = (account_id, action)
                last_by_action[key] = max(day, last_by_action.get(key, day))
            if event.get("channel") == "sms" and day > today - 7:
                sms_week[account_id] = sms_week.get(account_id, 0) + 1
            if day == today:
                contacts_today[account_id] = contacts_today.get(account_id, 0) + 1
    send_at = {channel: _send_at(channel) for channel in WINDOWS}
    by_stage: dict[str, list[tuple[Any, ...]]] = {}
    for row in ACTIONS:
        by_stage.setdefault(row[0], []).append(row)
    with accounts.open(encoding="utf-8") as lines, output.open("w", encoding="utf-8") as out:
        for line in lines:
            account = json.loads(line)
            flags = account.get("flags") or {}
            if any(flags.get(flag) for flag in HOLD_FLAGS) or (account.get("attributes") or {}).get("serious_illness"):
                continue
            dpd = today - (date.fromisoformat(account["delinquent_since"]) - date(1970, 1, 1)).days
            stage = _stage(dpd)
            if stage is None:
                continue
            segment, account_id = _segment(account), account["account_id"]
            contact, consent = account.get("contact") or {}, account.get("consent") or {}
            room = DAILY_CAP - contacts_today.get(account_id, 0)
            for _, action, channel, _, every_days, only, minimum in by_stage[stage]:
                if room <= 0:
                    break
                if only == "high_risk" and segment != "high_risk" or only == "not_low" and segment == "low_risk":
                    continue
                if account["balance"] < minimum or not contact.get("phone") and channel != "email":
                    continue
                if channel == "email" and not (contact.get("email") and consent.get("email") is True):
                    continue
                last = last_by_action.get((account_id, action))
                if last is not None and today - last < every_days:
                    continue
                if channel == "sms" and sms_week.get(account_id, 0) >= WEEKLY_SMS_CAP:
                    continue
                room -= 1
                record = {"account_id": account_id, "action": action, "channel": channel,
                          "send_at": send_at[channel]}
                out.write(json.dumps(record, separators=(",", ":")) + "\n")


_DUCKDB_QUERY: Final = """
WITH accounts AS (
    SELECT * FROM read_json({accounts}, format = 'newline_delimited', columns = {{
        account_id: 'VARCHAR', balance: 'DOUBLE', delinquent_since: 'DATE', credit_score: 'INTEGER',
        prior_delinquencies: 'INTEGER',
        contact: 'STRUCT(phone VARCHAR, email VARCHAR)', consent: 'STRUCT(email BOOLEAN)',
        flags: 'STRUCT(dispute BOOLEAN, hardship BOOLEAN, deceased BOOLEAN, bankruptcy BOOLEAN,
                       attorney BOOLEAN, cease_contact BOOLEAN)',
        attributes: 'STRUCT(serious_illness BOOLEAN)'}})
),
contacts AS (
    SELECT account_id, channel, action,
           CAST(floor((epoch(CAST("at" AS TIMESTAMPTZ)) + 28800) / 86400) AS INTEGER) AS day
    FROM read_json({history}, format = 'newline_delimited', columns = {{
        account_id: 'VARCHAR', "at": 'VARCHAR', type: 'VARCHAR', channel: 'VARCHAR', action: 'VARCHAR'}})
    WHERE type = 'contact'
),
facts AS (
    SELECT account_id,
           count(*) FILTER (WHERE channel = 'sms' AND day > {today} - 7 AND day <= {today}) AS sms_week,
           count(*) FILTER (WHERE day = {today}) AS contacts_today
    FROM contacts WHERE day <= {today} GROUP BY account_id
),
last_action AS (
    SELECT account_id, action, max(day) AS last_day FROM contacts
    WHERE day <= {today} AND action IS NOT NULL GROUP BY account_id, action
),
rules(stage, action, channel, priority, every_days, only_for, minimum) AS (VALUES {actions}),
windows(channel, send_at) AS (VALUES {windows}),
decided AS (
    SELECT a.*, {today} - (a.delinquent_since - DATE '1970-01-01') AS dpd,
           CASE WHEN a.credit_score >= 700 AND a.prior_delinquencies = 0 THEN 'low_risk'
                WHEN a.credit_score < 580 OR a.prior_delinquencies >= 3 THEN 'high_risk'
                ELSE 'standard' END AS segment
    FROM accounts a
    WHERE NOT (coalesce(a.flags.dispute, false) OR coalesce(a.flags.hardship, false)
               OR coalesce(a.flags.deceased, false) OR coalesce(a.flags.bankruptcy, false)
               OR coalesce(a.flags.attorney, false) OR coalesce(a.flags.cease_contact, false)
               OR coalesce(a.attributes.serious_illness, false))
),
staged AS (
    SELECT *, CASE WHEN dpd >= 90 THEN 'pre_legal' WHEN dpd >= 60 THEN 'late' WHEN dpd >= 30 THEN 'mid'
                   WHEN dpd >= 1 THEN 'early' END AS stage
    FROM decided
),
candidates AS (
    SELECT s.account_id, r.action, r.channel, r.priority, coalesce(f.contacts_today, 0) AS contacts_today
    FROM staged s
    JOIN rules r ON r.stage = s.stage
    LEFT JOIN facts f ON f.account_id = s.account_id
    LEFT JOIN last_action l ON l.account_id = s.account_id AND l.action = r.action
    WHERE (r.only_for = '' OR r.only_for = 'high_risk' AND s.segment = 'high_risk'
           OR r.only_for = 'not_low' AND s.segment <> 'low_risk')
      AND s.balance >= r.minimum
      AND (CASE WHEN r.channel = 'email' THEN coalesce(s.contact.email, '') <> '' AND s.consent.email IS TRUE
                ELSE coalesce(s.contact.phone, '') <> '' END)
      AND (l.last_day IS NULL OR {today} - l.last_day >= r.every_days)
      AND NOT (r.channel = 'sms' AND coalesce(f.sms_week, 0) >= {weekly_sms_cap})
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY priority, action) AS rank FROM candidates
)
SELECT r.account_id, r.action, r.channel, w.send_at
FROM ranked r JOIN windows w USING (channel)
WHERE r.rank <= {daily_cap} - r.contacts_today
ORDER BY r.account_id, r.priority, r.action
"""


def _sql_text(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else str(value)


def duckdb_query(accounts: Path, history: Path) -> str:
    """The subset as one DuckDB SQL query over the two JSON Lines files."""
    today = (AS_OF.astimezone(SHANGHAI).date() - date(1970, 1, 1)).days
    actions = ", ".join("(" + ", ".join(_sql_text(value) for value in row) + ")" for row in ACTIONS)
    windows = ", ".join(f"({_sql_text(channel)}, {_sql_text(_send_at(channel))})" for channel in WINDOWS)
    return _DUCKDB_QUERY.format(accounts=_sql_text(str(accounts)), history=_sql_text(str(history)), today=today,
                                actions=actions, windows=windows, daily_cap=DAILY_CAP,
                                weekly_sms_cap=WEEKLY_SMS_CAP)


def decide_in_duckdb(accounts: Path, history: Path, output: Path) -> None:
    """The subset as one DuckDB query, written by DuckDB's own JSON writer."""
    import duckdb

    connection = duckdb.connect(config={"threads": 2, "memory_limit": "1GB", "preserve_insertion_order": True})
    connection.execute("SET enable_progress_bar = false")
    query = duckdb_query(accounts, history)
    connection.execute(f"COPY ({query}) TO {_sql_text(str(output))} (FORMAT json)")
    connection.close()


def main(argv: list[str]) -> int:
    """``duckdb|python ACCOUNTS HISTORY OUT``: decide the subset with one of the peers."""
    if len(argv) != 4 or argv[0] not in ("duckdb", "python"):
        print(__doc__, file=sys.stderr)
        return 2
    peer, accounts, history, output = argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3])
    (decide_in_duckdb if peer == "duckdb" else decide_in_python)(accounts, history, output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
