"""Generate the sample portfolio in examples/portfolio/ (deterministic: rerunning gives the same bytes).

    python examples/make_portfolio.py

Writes, in the account and history formats of the policy guide:

* ``accounts.jsonl``               300 accounts, one JSON object per line
* ``accounts.csv``                 the same accounts, nested fields as dotted columns (``flags.dispute``)
* ``history.jsonl``                their history events, in time order
* ``accounts_with_errors.jsonl``   a copy of accounts.jsonl with 3 malformed rows, for the reject demo

The reference moment is ``as_of = 2026-11-28T09:00:00+08:00``; every history event is before it. That
instant is 09:00 in Shanghai, 01:00 in London and the evening of 2026-11-27 in the United States, so the
accounts' DPD and "today" are computed in each account's own time zone.

Regions CN, US, US-MA, US-NYC and UK, with matching time zones, currencies and languages. The first
accounts of each region are named cases (``attributes.demo_case`` says which), so every one of these is
present: every stage's DPD range and its edges, every flag, unknown / refused consent, missing contact
points, active / kept / broken promises, open and resolved disputes, recent conversations, cease requests,
consent and hardship events, notices of various ages (pre-legal warnings 10 and 40 days old), payments,
time-barred debt. The rest are random accounts with plausible histories. Action and notice ids match the
example policies in policies/examples/, so cadences and prerequisites apply when those policies run.

Standard library only. Phone numbers, e-mail domains and addresses are fictional (555-01xx numbers,
Ofcom's 07700 900xxx drama range, example.com).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SEED = 20261128
AS_OF = datetime(2026, 11, 28, 9, 0, tzinfo=timezone(timedelta(hours=8)))
OUT = Path(__file__).resolve().parent / "portfolio"

FLAGS = ("dispute", "cease_contact", "bankruptcy", "deceased", "attorney", "breathing_space", "hardship")


@dataclass(frozen=True)
class Region:
    """One region of the portfolio and how its accounts look."""

    code: str
    count: int
    prefix: str
    family: str  # which example policy's action ids apply: CN, US or UK
    currency: str
    language: str
    zones: tuple[str, ...]
    balance: tuple[int, int]  # whole currency units
    score: tuple[int, int, int, int]  # scale from, to; mean and spread of a delinquent book


REGIONS = (
    Region("CN", 100, "CN", "CN", "CNY", "zh-CN", ("Asia/Shanghai",), (500, 80000), (350, 850, 670, 80)),
    Region("US", 70, "US", "US", "USD", "en-US",
           ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles"),
           (200, 15000), (300, 850, 665, 70)),
    Region("US-MA", 30, "MA", "US", "USD", "en-US", ("America/New_York",), (200, 15000), (300, 850, 665, 70)),
    Region("US-NYC", 30, "NYC", "US", "USD", "en-US", ("America/New_York",), (200, 15000), (300, 850, 665, 70)),
    Region("UK", 70, "UK", "UK", "GBP", "en-GB", ("Europe/London",), (150, 12000), (0, 999, 780, 110)),
)

# Recurring actions of each example policy, by DPD range: (from, to, [(action id, channel), ...]).
STAGE_ACTIONS: dict[str, list[tuple[int, int | None, list[tuple[str, str]]]]] = {
    "CN": [
        (1, 29, [("early_sms", "sms"), ("early_email", "email"), ("early_voice", "voice")]),
        (30, 59, [("mid_call", "voice"), ("mid_sms", "sms"), ("mid_agent_explain", "agent")]),
        (60, 89, [("late_call", "voice"), ("late_sms", "sms"), ("late_rate_reduction", "agent")]),
        (90, None, [("pre_legal_call", "voice"), ("pre_legal_agent", "agent")]),
    ],
    "US": [
        (1, 29, [("early_sms", "sms"), ("early_email", "email"), ("early_call", "voice")]),
        (30, 89, [("mid_call", "voice"), ("mid_sms", "sms"), ("mid_email", "email"), ("hardship_outreach", "agent")]),
        (90, None, [("late_call", "voice"), ("late_email", "email"), ("settlement_review", "agent")]),
    ],
    "UK": [
        (1, 29, [("early_call", "voice"), ("early_sms", "sms"), ("early_email", "email")]),
        (30, 59, [("arrears_call", "voice"), ("arrears_email", "email"), ("debt_advice_referral", "agent")]),
        (60, 89, [("default_call", "voice"), ("repayment_plan_review", "agent")]),
        (90, None, [("recovery_call", "voice"), ("settlement_review", "agent")]),
    ],
}

# Written notices each example policy sends, at the DPD it sends them: (DPD, action id, notice id).
LETTERS: dict[str, list[tuple[int, str, str]]] = {
    "CN": [(30, "arrears_letter", "arrears_notice"), (90, "pre_legal_letter", "pre_legal_warning")],
    "US": [(1, "validation_letter", "validation_notice"), (90, "pre_legal_letter", "pre_legal_warning")],
    "UK": [(30, "arrears_notice_letter", "arrears_notice"), (60, "default_notice_letter", "default_notice"),
           (90, "letter_of_claim_letter", "letter_of_claim")],
}

ESCALATION = {"CN": "broken_promise_escalation", "US": "broken_promise_review", "UK": "broken_arrangement_review"}

CN_CITIES = ("上海市浦东新区", "北京市朝阳区", "广州市天河区", "深圳市南山区", "成都市武侯区", "杭州市西湖区",
             "武汉市江汉区", "南京市鼓楼区", "西安市雁塔区", "重庆市渝中区")
US_PLACES = {
    "America/New_York": (("Albany", "NY", "122"), ("Atlanta", "GA", "303"), ("Miami", "FL", "331")),
    "America/Chicago": (("Chicago", "IL", "606"), ("Dallas", "TX", "752"), ("Omaha", "NE", "681")),
    "America/Denver": (("Denver", "CO", "802"), ("Boise", "ID", "837"), ("Santa Fe", "NM", "875")),
    "America/Phoenix": (("Phoenix", "AZ", "850"), ("Tucson", "AZ", "857"), ("Mesa", "AZ", "852")),
    "America/Los_Angeles": (("Los Angeles", "CA", "900"), ("Seattle", "WA", "981"), ("Portland", "OR", "972")),
}
US_REGION_PLACES = {"US-MA": (("Boston", "MA", "021"), ("Worcester", "MA", "016"), ("Springfield", "MA", "011")),
                    "US-NYC": (("New York", "NY", "100"), ("Brooklyn", "NY", "112"), ("Bronx", "NY", "104"))}
US_AREA = {"America/New_York": "212", "America/Chicago": "312", "America/Denver": "303",
           "America/Phoenix": "602", "America/Los_Angeles": "213"}
UK_TOWNS = (("Leeds", "LS1"), ("Bristol", "BS1"), ("Manchester", "M1"), ("Cardiff", "CF10"), ("Norwich", "NR1"),
            ("Sheffield", "S1"), ("Glasgow", "G1"), ("Belfast", "BT1"))
STREETS = ("High", "Church", "Station", "Mill", "Park", "Main", "Oak", "Maple", "Bridge", "Market")


@dataclass
class Account:
    """An account being built, and its history events."""

    region: Region
    index: int
    rng: random.Random
    zone: str
    data: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.data["account_id"])

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def today(self) -> date:
        """The local date of AS_OF for this account."""
        return AS_OF.astimezone(self.tz).date()

    @property
    def dpd(self) -> int:
        since = self.data.get("delinquent_since")
        return 0 if since is None else (self.today - date.fromisoformat(since)).days

    def set_dpd(self, dpd: int) -> None:
        if dpd <= 0:
            self.data["delinquent_since"] = None
            self.data["amount_past_due"] = 0
        else:
            self.data["delinquent_since"] = (self.today - timedelta(days=dpd)).isoformat()
            self.data["amount_past_due"] = _past_due(self.rng, self.data["balance"], self.data["minimum_due"], dpd)

    def at(self, days_ago: int, hour: int = 10, minute: int = 0) -> str:
        """An ISO timestamp ``days_ago`` local days before today, at a local time; always before AS_OF."""
        moment = datetime.combine(self.today - timedelta(days=days_ago), time(hour, minute), tzinfo=self.tz)
        if moment >= AS_OF:
            raise ValueError(f"{self.id}: event at {moment.isoformat()} is not before as_of")
        return moment.isoformat()

    def event(self, days_ago: int, type_: str, hour: int = 10, minute: int = 0, **fields: Any) -> None:
        self.events.append({"account_id": self.id, "at": self.at(days_ago, hour, minute), "type": type_, **fields})

    def contact(self, days_ago: int, channel: str, outcome: str, action: str | None = None,
                notice: str | None = None, hour: int = 10, minute: int = 0) -> None:
        fields: dict[str, Any] = {"channel": channel, "outcome": outcome}
        if action:
            fields["action"] = action
        if notice:
            fields["notice"] = notice
        self.event(days_ago, "contact", hour, minute, **fields)


def _money(cents: int) -> float:
    return round(cents / 100, 2)


def _past_due(rng: random.Random, balance: float, minimum: float, dpd: int) -> float:
    cycles = dpd // 30 + 1
    cents = min(int(balance * 100), int(minimum * 100) * cycles + rng.randrange(0, 5000))
    return _money(cents)


def stage_actions(family: str, dpd: int) -> list[tuple[str, str]]:
    for lo, hi, actions in STAGE_ACTIONS[family]:
        if dpd >= lo and (hi is None or dpd <= hi):
            return actions
    return []


# ------------------------------------------------------------------------------------------- base account
def new_account(region: Region, index: int, rng: random.Random) -> Account:
    zone = region.zones[rng.randrange(len(region.zones))]
    acct = Account(region, index, rng, zone)
    number = f"{index + 1:04d}"
    account_id = f"{region.prefix}-{number}"
    lo, hi = region.balance
    balance = _money(rng.randrange(lo * 100, hi * 100))
    minimum = _money(max(int(balance * 100 * rng.choice((0.03, 0.04, 0.05))), min(int(balance * 100), 2500)))
    low, high, mean, spread = region.score
    score = min(high, max(low, round(rng.gauss(mean, spread)))) if rng.random() > 0.05 else None
    d = acct.data
    d["account_id"] = account_id
    d["customer_id"] = f"C-{account_id}"
    d["region"] = region.code
    d["timezone"] = zone
    d["currency"] = region.currency
    d["balance"] = balance
    d["amount_past_due"] = 0
    d["minimum_due"] = minimum
    d["delinquent_since"] = None
    d["credit_score"] = score
    d["prior_delinquencies"] = rng.choices((0, 1, 2, 3, 4), weights=(55, 25, 12, 6, 2))[0]
    d["product"] = rng.choice(("classic", "gold", "platinum"))
    d["language"] = region.language
    d["contact"] = _contact_points(region, acct, index, rng)
    d["consent"] = {"sms": True, "email": True, "voice": True}
    if rng.random() < 0.15:
        del d["consent"]["email"]  # unknown
    d["flags"] = {}
    d["attributes"] = {}
    return acct


def _contact_points(region: Region, acct: Account, index: int, rng: random.Random) -> dict[str, str]:
    n = index + 1
    street = STREETS[rng.randrange(len(STREETS))]
    if region.family == "CN":
        city = CN_CITIES[rng.randrange(len(CN_CITIES))]
        phone = f"+86138{rng.randrange(10**8):08d}"
        address = f"{city}示例路{rng.randrange(1, 999)}号"
    elif region.family == "US":
        places = US_REGION_PLACES.get(region.code) or US_PLACES[acct.zone]
        city, state, zip3 = places[rng.randrange(len(places))]
        area = {"US-MA": "617", "US-NYC": "212"}.get(region.code, US_AREA[acct.zone])
        phone = f"+1{area}55501{n % 100:02d}"
        address = f"{rng.randrange(1, 9999)} {street} St, {city}, {state} {zip3}{rng.randrange(100):02d}"
    else:
        town, postcode = UK_TOWNS[rng.randrange(len(UK_TOWNS))]
        phone = f"+447700900{n % 1000:03d}"
        address = f"{rng.randrange(1, 300)} {street} Road, {town} {postcode} {rng.randrange(1, 9)}AB"
    return {"phone": phone, "email": f"{region.prefix.lower()}{n:04d}@example.com", "address": address}


# ------------------------------------------------------------------------------------------- histories
def add_letters(acct: Account, skip: tuple[str, ...] = ()) -> None:
    """The written notices an account at its DPD has already been sent (a day or two after each threshold)."""
    for threshold, action, notice in LETTERS[acct.region.family]:
        if notice in skip:
            continue
        days_ago = acct.dpd - threshold - acct.rng.randrange(0, 3)
        if days_ago >= 1:
            outcome = "delivered" if acct.rng.random() < 0.8 else "sent"
            acct.contact(days_ago, "letter", outcome, action, notice, hour=11)


def add_background(acct: Account, days: int = 21, rate: float = 0.3) -> None:
    """A plausible trail of reminders, calls and agent tasks over the last ``days`` days."""
    rng = acct.rng
    for days_ago in range(min(days, acct.dpd - 1), 0, -1):
        if rng.random() >= rate:
            continue
        actions = stage_actions(acct.region.family, acct.dpd - days_ago)
        if not actions:
            continue
        action, channel = actions[rng.randrange(len(actions))]
        outcome = {
            "voice": lambda: rng.choices(("no_answer", "voicemail", "conversation", "failed"), (55, 20, 20, 5))[0],
            "sms": lambda: rng.choices(("delivered", "failed"), (92, 8))[0],
            "email": lambda: rng.choices(("sent", "delivered", "failed"), (60, 35, 5))[0],
            "agent": lambda: rng.choices(("conversation", "no_answer"), (50, 50))[0],
        }[channel]()
        acct.contact(days_ago, channel, outcome, action, hour=rng.randrange(10, 18), minute=rng.randrange(60))


def add_payments(acct: Account) -> None:
    rng = acct.rng
    if acct.dpd == 0 or rng.random() < 0.55:
        return
    days_ago = rng.randrange(1, min(acct.dpd, 90) + 1)
    amount = _money(rng.randrange(2000, max(2001, int(acct.data["minimum_due"] * 100) + 1)))
    acct.event(days_ago, "payment", hour=rng.randrange(9, 21), amount=amount)


def plain(acct: Account) -> None:
    """A random delinquent account with a history that fits its DPD."""
    rng = acct.rng
    bucket = rng.choices(((1, 29), (30, 59), (60, 89), (90, 179), (180, 720)), weights=(35, 25, 17, 15, 8))[0]
    acct.set_dpd(rng.randrange(bucket[0], bucket[1] + 1))
    add_letters(acct)
    add_background(acct)
    add_payments(acct)
    # a few recorded circumstances the example policies use (UK segments, CN hold)
    extra = {"UK": (("vulnerable", 0.05), ("income_shock", 0.08)), "CN": (("serious_illness", 0.02),)}
    for name, rate in extra.get(acct.region.family, ()):
        if rng.random() < rate:
            acct.data["attributes"][name] = True


# ------------------------------------------------------------------------------------------- named cases
Case = Callable[[Account], None]


def at_dpd(dpd: int, then: Case | None = None, letters: bool = True, background: bool = True) -> Case:
    def case(acct: Account) -> None:
        acct.set_dpd(dpd)
        if letters:
            add_letters(acct)
        if background:
            add_background(acct)
        if then:
            then(acct)
    return case


def flag(name: str, dpd: int = 45) -> Case:
    return at_dpd(dpd, lambda a: a.data["flags"].update({name: True}))


def attribute(name: str, value: Any, dpd: int = 40) -> Case:
    return at_dpd(dpd, lambda a: a.data["attributes"].update({name: value}))


def consent_unknown(acct: Account) -> None:
    at_dpd(15)(acct)
    acct.data["consent"] = {}


def consent_refused(acct: Account) -> None:
    at_dpd(20)(acct)
    acct.data["consent"] = {"sms": False, "email": False, "voice": True}


def without(*points: str, dpd: int = 35) -> Case:
    def case(acct: Account) -> None:
        at_dpd(dpd, letters="address" not in points)(acct)
        for p in points:
            acct.data["contact"].pop(p, None)
    return case


def promise_active(acct: Account) -> None:
    at_dpd(40, background=False)(acct)
    acct.contact(2, "voice", "conversation", stage_actions(acct.region.family, 38)[0][0], hour=11)
    acct.event(2, "promise", hour=11, minute=5, amount=_money(int(acct.data["amount_past_due"] * 100)),
               due=(acct.today + timedelta(days=5)).isoformat())


def promise_kept(acct: Account) -> None:
    at_dpd(50, background=False)(acct)
    amount = _money(min(int(acct.data["amount_past_due"] * 100), 30000))
    acct.contact(12, "voice", "conversation", stage_actions(acct.region.family, 38)[0][0], hour=11)
    acct.event(12, "promise", hour=11, minute=5, amount=amount, due=(acct.today - timedelta(days=6)).isoformat())
    acct.event(7, "payment", hour=15, amount=amount)


def promise_broken(escalated: bool) -> Case:
    def case(acct: Account) -> None:
        at_dpd(55, background=False)(acct)
        acct.contact(12, "voice", "conversation", stage_actions(acct.region.family, 43)[0][0], hour=11)
        acct.event(12, "promise", hour=11, minute=5, amount=_money(int(acct.data["minimum_due"] * 100)),
                   due=(acct.today - timedelta(days=6)).isoformat())
        if escalated:
            acct.contact(2, "agent", "conversation", ESCALATION[acct.region.family], hour=14)
    return case


def dispute_open(acct: Account) -> None:
    at_dpd(38)(acct)
    acct.event(5, "dispute_opened", hour=16)


def dispute_resolved(acct: Account) -> None:
    at_dpd(48)(acct)
    acct.event(20, "dispute_opened", hour=16)
    acct.event(3, "dispute_resolved", hour=12)


def conversation(days_ago: int) -> Case:
    def case(acct: Account) -> None:
        at_dpd(33, background=False)(acct)
        acct.contact(days_ago, "voice", "conversation", stage_actions(acct.region.family, 33 - days_ago)[0][0],
                     hour=15)
    return case


def consent_event(channel: str, granted: bool) -> Case:
    def case(acct: Account) -> None:
        at_dpd(18)(acct)
        if granted:
            acct.data["consent"].pop(channel, None)
        acct.event(4, "consent", hour=12, channel=channel, granted=granted)
    return case


def cease_request(acct: Account) -> None:
    at_dpd(42)(acct)
    acct.event(6, "cease_request", hour=12)


def hardship_events(ended: bool) -> Case:
    def case(acct: Account) -> None:
        at_dpd(75)(acct)
        if ended:
            acct.event(60, "hardship_started", hour=12)
            acct.event(5, "hardship_ended", hour=12)
        else:
            acct.event(15, "hardship_started", hour=12)
    return case


def payment_recent(acct: Account) -> None:
    at_dpd(65)(acct)
    acct.event(3, "payment", hour=13, amount=_money(int(acct.data["minimum_due"] * 100)))


def calls_this_week(acct: Account) -> None:
    """Calls on each of the last six days: weekly call caps bite."""
    at_dpd(36, background=False)(acct)
    action = stage_actions(acct.region.family, 36)[0][0]
    for days_ago in range(1, 7):
        acct.contact(days_ago, "voice", "no_answer", action if days_ago % 2 else None, hour=9 + days_ago)


def notice_aged(notice: str, days_old: int, dpd: int) -> Case:
    """An account whose ``notice`` was served exactly ``days_old`` days ago (others as usual)."""
    def case(acct: Account) -> None:
        acct.set_dpd(dpd)
        add_letters(acct, skip=(notice,))
        action = next(a for _, a, n in LETTERS[acct.region.family] if n == notice)
        acct.contact(days_old, "letter", "delivered", action, notice, hour=11)
        add_background(acct)
    return case


def letter_failed(notice: str, dpd: int) -> Case:
    """The ``notice`` letter came back undelivered; the notices that would follow it were never sent."""
    def case(acct: Account) -> None:
        acct.set_dpd(dpd)
        letters = LETTERS[acct.region.family]
        threshold, action = next((t, a) for t, a, n in letters if n == notice)
        add_letters(acct, skip=tuple(n for t, _, n in letters if t >= threshold))
        acct.contact(dpd - 31, "letter", "failed", action, notice, hour=11)
        add_background(acct)
    return case


def legal_referred(acct: Account) -> None:
    notice_aged("pre_legal_warning", 45, 140)(acct)
    acct.contact(5, "legal", "sent", "legal_referral", hour=11)


def validation_pending(acct: Account) -> None:
    at_dpd(2, letters=False, background=False)(acct)


COMMON: list[tuple[str, Case]] = [
    ("current", at_dpd(0, letters=False, background=False)),
    ("dpd_1", at_dpd(1)), ("dpd_29", at_dpd(29)), ("dpd_30", at_dpd(30)), ("dpd_59", at_dpd(59)),
    ("dpd_60", at_dpd(60)), ("dpd_89", at_dpd(89)), ("dpd_90", at_dpd(90)), ("dpd_400", at_dpd(400)),
    ("flag_dispute", flag("dispute")), ("flag_cease_contact", flag("cease_contact")),
    ("flag_bankruptcy", flag("bankruptcy", 70)), ("flag_deceased", flag("deceased", 100)),
    ("flag_attorney", flag("attorney", 95)), ("flag_hardship", flag("hardship", 65)),
    ("flag_breathing_space", flag("breathing_space", 50)),
    ("consent_unknown", consent_unknown), ("consent_refused", consent_refused),
    ("no_phone", without("phone")), ("no_email", without("email", dpd=12)), ("no_address", without("address")),
    ("no_contact_points", without("phone", "email", "address", dpd=20)),
    ("promise_active", promise_active), ("promise_kept", promise_kept),
    ("promise_broken", promise_broken(escalated=False)), ("promise_broken_escalated", promise_broken(escalated=True)),
    ("dispute_open", dispute_open), ("dispute_resolved", dispute_resolved),
    ("conversation_yesterday", conversation(1)), ("conversation_3_days_ago", conversation(3)),
    ("consent_revoked_sms", consent_event("sms", False)), ("consent_granted_email", consent_event("email", True)),
    ("cease_request", cease_request),
    ("hardship_started", hardship_events(ended=False)), ("hardship_ended", hardship_events(ended=True)),
    ("payment_recent", payment_recent), ("calls_this_week", calls_this_week),
]

BY_FAMILY: dict[str, list[tuple[str, Case]]] = {
    "CN": [
        ("arrears_notice_5_days", notice_aged("arrears_notice", 5, 40)),
        ("pre_legal_warning_10_days", notice_aged("pre_legal_warning", 10, 105)),
        ("pre_legal_warning_40_days", notice_aged("pre_legal_warning", 40, 135)),
        ("pre_legal_warning_40_days_large", notice_aged("pre_legal_warning", 40, 160)),
        ("legal_referred", legal_referred),
        ("serious_illness", attribute("serious_illness", True)),
    ],
    "US": [
        ("validation_pending", validation_pending),
        ("validation_failed", letter_failed("validation_notice", 40)),
        ("pre_legal_warning_10_days", notice_aged("pre_legal_warning", 10, 105)),
        ("pre_legal_warning_40_days", notice_aged("pre_legal_warning", 40, 135)),
        ("time_barred", at_dpd(2000)),
    ],
    "UK": [
        ("vulnerable", attribute("vulnerable", True, 35)),
        ("income_shock", attribute("income_shock", True, 45)),
        ("arrears_notice_failed", letter_failed("arrears_notice", 65)),
        ("default_notice_10_days", notice_aged("default_notice", 10, 75)),
        ("letter_of_claim_10_days", notice_aged("letter_of_claim", 10, 105)),
        ("letter_of_claim_40_days", notice_aged("letter_of_claim", 40, 135)),
        ("time_barred", at_dpd(2300)),
    ],
}


def build_region(region: Region, rng: random.Random) -> list[Account]:
    cases = BY_FAMILY[region.family] + COMMON
    if region.code in ("US-MA", "US-NYC"):  # small regions: the essentials plus their own cap cases
        cases = [c for c in cases if c[0] in (
            "current", "dpd_1", "dpd_30", "dpd_90", "flag_dispute", "flag_cease_contact", "consent_unknown",
            "no_phone", "promise_active", "promise_broken", "conversation_yesterday", "calls_this_week",
            "validation_pending", "pre_legal_warning_10_days", "pre_legal_warning_40_days")]
    accounts: list[Account] = []
    for i in range(region.count):
        acct = new_account(region, i, rng)
        if i < len(cases):
            name, case = cases[i]
            acct.data["attributes"]["demo_case"] = name
            case(acct)
        else:
            plain(acct)
        if i and i % 15 == 0:  # several accounts may share a customer
            acct.data["customer_id"] = accounts[-1].data["customer_id"]
        accounts.append(acct)
    return accounts


# ------------------------------------------------------------------------------------------- output
ACCOUNT_KEYS = ("account_id", "customer_id", "region", "timezone", "currency", "balance", "amount_past_due",
                "minimum_due", "delinquent_since", "credit_score", "prior_delinquencies", "product", "language",
                "contact", "consent", "flags", "attributes")
EVENT_KEYS = ("account_id", "at", "type", "channel", "outcome", "action", "notice", "amount", "due", "granted")


def account_record(acct: Account) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ACCOUNT_KEYS:
        value = acct.data.get(key)
        if value is None or value == {}:
            continue
        out[key] = value
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return str(value)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for key in ACCOUNT_KEYS:
        if key in ("contact", "consent", "flags"):
            subkeys = {"contact": ("phone", "email", "address"), "consent": ("sms", "email", "voice"),
                       "flags": FLAGS}[key]
            columns.extend(f"{key}.{s}" for s in subkeys)
        elif key == "attributes":
            names = sorted({a for r in records for a in r.get("attributes", {})})
            columns.extend(f"attributes.{a}" for a in names)
        else:
            columns.append(key)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for r in records:
            row = []
            for col in columns:
                head, _, tail = col.partition(".")
                value = r.get(head, {}).get(tail) if tail else r.get(head)
                row.append(_cell(value))
            writer.writerow(row)


BAD_ROWS = (
    # 1. not valid JSON (the line was cut off)
    '{"account_id": "BAD-0001", "region": "CN", "timezone": "Asia/Shanghai", "balance": 4200.0, "contact": {"phone": ',
    # 2. balance is not a number
    '{"account_id": "BAD-0002", "region": "US", "timezone": "America/Chicago", "currency": "USD", '
    '"balance": "12,500.OO", "delinquent_since": "2026-10-01"}',
    # 3. a date that does not exist
    '{"account_id": "BAD-0003", "region": "UK", "timezone": "Europe/London", "currency": "GBP", '
    '"balance": 980.5, "delinquent_since": "2026-02-30"}',
)


def main() -> None:
    rng = random.Random(SEED)
    accounts: list[Account] = []
    for region in REGIONS:
        accounts.extend(build_region(region, rng))
    records = [account_record(a) for a in accounts]
    order = {a.id: n for n, a in enumerate(accounts)}
    events = [e for a in accounts for e in a.events]
    events.sort(key=lambda e: (datetime.fromisoformat(e["at"]), order[e["account_id"]]))
    events = [{k: e[k] for k in EVENT_KEYS if k in e} for e in events]

    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / "accounts.jsonl", records)
    write_csv(OUT / "accounts.csv", records)
    write_jsonl(OUT / "history.jsonl", events)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    for offset, bad in zip((7, 120, len(lines) + 2), BAD_ROWS, strict=True):  # +2: the two already inserted
        lines.insert(offset, bad)
    (OUT / "accounts_with_errors.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")

    by_region = {r.code: sum(1 for a in accounts if a.region is r) for r in REGIONS}
    print(f"as_of {AS_OF.isoformat()}: {len(records)} accounts {by_region}, {len(events)} history events")
    print(f"written to {OUT}: accounts.jsonl, accounts.csv, history.jsonl, accounts_with_errors.jsonl "
          f"(+{len(BAD_ROWS)} malformed rows)")


if __name__ == "__main__":
    main()
