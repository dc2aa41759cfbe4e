"""History index and the guardrail queries over one account's events (local-day windows)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.data import HistoryEvent, HistoryIndex, HistoryView, Rejects

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def ev(at: str, type: str = "contact", **fields: Any) -> HistoryEvent:
    """An event for account A1; contacts default to an SMS that was sent."""
    if type == "contact":
        fields.setdefault("channel", "sms")
        fields.setdefault("outcome", "sent")
    return HistoryEvent.model_validate(
        {"account_id": fields.pop("account_id", "A1"), "at": at, "type": type, **fields}
    )


def view(events: list[HistoryEvent], as_of: str, tz: ZoneInfo = SHANGHAI) -> HistoryView:
    return HistoryView(events, datetime.fromisoformat(as_of), tz)


# -- index -------------------------------------------------------------------------------------------------


def test_index_sorts_by_time_keeping_input_order_for_ties() -> None:
    late = ev("2026-11-03T10:00:00+08:00", action="late")
    tie_a = ev("2026-11-02T10:00:00+08:00", action="tie_a")
    tie_b = ev("2026-11-02T02:00:00+00:00", action="tie_b")  # same instant as tie_a
    other = ev("2026-11-01T10:00:00+08:00", account_id="B9")
    index = HistoryIndex.from_events([late, tie_a, other, tie_b])
    assert [e.action for e in index.for_account("A1")] == ["tie_a", "tie_b", "late"]
    assert index.for_account("B9") == (other,)
    assert index.for_account("nobody") == ()
    assert len(index) == 4 and "B9" in index and "nobody" not in index
    assert sorted(index.accounts()) == ["A1", "B9"]

    earliest = ev("2026-10-30T10:00:00+08:00", action="earliest")
    index.add(earliest)
    assert [e.action for e in index.for_account("A1")] == ["earliest", "tie_a", "tie_b", "late"]


def test_index_loads_several_files_with_rejects(tmp_path: Path) -> None:
    first = tmp_path / "h1.jsonl"
    first.write_text(
        '{"account_id": "A1", "at": "2026-11-02T10:00:00+08:00", "type": "payment", "amount": 5}\n'
        '{"account_id": "A1", "at": "2026-11-02T10:00", "type": "payment", "amount": 5}\n',
        encoding="utf-8",
    )
    second = tmp_path / "h2.csv"
    second.write_text("account_id,at,type,amount\nA1,2026-11-01T10:00:00+08:00,payment,7\n", encoding="utf-8")
    rejects = Rejects()
    index = HistoryIndex.load([first, second], rejects=rejects)
    assert [e.amount for e in index.for_account("A1")] == [Decimal("7"), Decimal("5")]
    assert [(e.line, e.reason) for e in rejects.errors] == [(2, "at '2026-11-02T10:00' has no UTC offset")]
    assert len(HistoryIndex.load(second)) == 1


# -- windows -----------------------------------------------------------------------------------------------


def test_seven_day_window_is_today_and_six_local_days_before() -> None:
    events = [
        ev("2026-11-21T23:59:59+08:00"),  # day 8 back: out
        ev("2026-11-21T16:00:00+00:00"),  # 2026-11-22 00:00 Shanghai: in
        ev("2026-11-25T12:00:00+08:00", channel="voice", outcome="conversation"),
        ev("2026-11-28T08:59:00+08:00", channel="voice", outcome="no_answer"),
        ev("2026-11-28T09:00:01+08:00"),  # after as_of: ignored
    ]
    v = view(events, "2026-11-28T09:00:00+08:00")
    assert v.today == date(2026, 11, 28)
    assert v.contacts(None, 7) == 3
    assert v.contacts(None, 8) == 4
    assert v.contacts(["voice"], 7) == 2
    assert v.contacts("voice", 7) == 2  # a single channel name is not split into letters
    assert v.contacts(["voice"], 7, conversations_only=True) == 1
    assert v.contacts(["sms"], 7, conversations_only=True) == 0
    assert v.contacts_today() == 1
    assert v.contacts_today(["sms"]) == 0
    assert len(v.events) == 4
    with pytest.raises(ValueError, match="at least 1 day"):
        v.contacts(None, 0)


def test_days_are_counted_in_the_account_zone_not_utc() -> None:
    # 2026-11-27T20:00Z is 2026-11-28 04:00 in Shanghai but 15:00 on 2026-11-27 in New York.
    events = [ev("2026-11-27T20:00:00+00:00")]
    assert view(events, "2026-11-28T01:00:00+00:00", SHANGHAI).contacts_today() == 1
    assert view(events, "2026-11-28T06:00:00+00:00", NEW_YORK).contacts_today() == 0


def test_window_across_the_autumn_dst_change_in_new_york() -> None:
    # 2026-11-01 has 25 hours in New York (EDT -> EST at 02:00 local).
    events = [
        ev("2026-11-01T03:59:00+00:00", action="oct31"),  # 23:59 EDT on Oct 31
        ev("2026-11-01T05:30:00+00:00", action="first_0130"),  # 01:30 EDT
        ev("2026-11-01T06:30:00+00:00", action="second_0130"),  # 01:30 EST
        ev("2026-11-02T04:30:00+00:00", action="nov1_late"),  # 23:30 EST on Nov 1
        ev("2026-11-02T05:30:00+00:00", action="nov2"),  # 00:30 EST on Nov 2
    ]
    # as_of 2026-11-07 12:00 EST: 7 days = Nov 1 .. Nov 7 (6 x 24 h + a 25 h day, so 169 hours back).
    v = view(events, "2026-11-07T12:00:00-05:00", NEW_YORK)
    assert v.contacts(None, 7) == 4
    assert v.last_contact_by_action("second_0130") == date(2026, 11, 1)
    assert v.last_contact_by_action("nov1_late") == date(2026, 11, 1)
    # One day later the whole of Nov 1 falls out, including the event 23:30 EST that day.
    assert view(events, "2026-11-08T00:30:00-05:00", NEW_YORK).contacts(None, 7) == 1


def test_days_since_conversation_across_spring_dst_counts_calendar_days() -> None:
    # Only 167 hours separate these instants (2026-03-08 has 23 hours), yet it is 7 local days.
    events = [ev("2026-03-07T23:30:00-05:00", channel="voice", outcome="conversation")]
    v = view(events, "2026-03-14T23:30:00-04:00", NEW_YORK)
    assert v.last_conversation() == date(2026, 3, 7)
    assert v.days_since_last_conversation() == 7
    assert v.days_since_last_conversation(["email"]) is None
    # Restriction of 7 days after a conversation on D covers D..D+6: on D+6 days_since is 6 (< 7).
    assert view(events, "2026-03-13T23:59:00-04:00", NEW_YORK).days_since_last_conversation() == 6


def test_as_of_must_be_aware() -> None:
    with pytest.raises(ValueError, match="has no UTC offset"):
        HistoryView([], datetime(2026, 11, 1, 9), SHANGHAI)


# -- actions and notices -----------------------------------------------------------------------------------


def notice(day: str, outcome: str, action: str, notice_id: str, channel: str = "letter") -> HistoryEvent:
    """A contact at 10:00 Shanghai time carrying a notice."""
    return ev(f"{day}T10:00:00+08:00", channel=channel, outcome=outcome, action=action, notice=notice_id)


def test_actions_and_notices() -> None:
    events = [
        notice("2026-11-01", "failed", "pre_legal", "pre_legal"),
        notice("2026-11-03", "sent", "pre_legal", "pre_legal"),
        notice("2026-11-05", "delivered", "pl_mail", "pre_legal", channel="email"),
        notice("2026-11-06", "delivered", "arrears", "arrears"),
        notice("2026-11-07", "failed", "default", "default"),
        notice("2026-11-08", "sent", "pre_legal", "pre_legal"),
    ]
    v = view(events, "2026-11-07T12:00:00+08:00")
    assert v.notice_delivered_on("pre_legal") == date(2026, 11, 3)  # the failed letter did not serve it
    assert v.notice_delivered_on("default") is None
    assert v.notice_delivered_on("unknown") is None
    assert v.notices_sent("pre_legal") == 2
    assert v.notices_sent() == 3
    assert v.action_count("pre_legal") == 2  # every attempt counts; the one after as_of does not
    assert v.last_contact_by_action("pre_legal") == date(2026, 11, 3)
    assert v.last_contact_by_action("nothing") is None


# -- payments and promises ---------------------------------------------------------------------------------


def test_payments() -> None:
    events = [
        ev("2026-11-02T09:00:00+08:00", "payment", amount=30),
        ev("2026-11-02T11:00:00+08:00", "payment", amount="20.50"),
        ev("2026-11-05T23:30:00+08:00", "payment", amount=10),
        ev("2026-11-06T00:30:00+08:00", "payment", amount=1000),
    ]
    v = view(events, "2026-11-08T09:00:00+08:00")
    assert v.last_payment() == date(2026, 11, 6)
    assert v.days_since_last_payment() == 2
    start = datetime.fromisoformat("2026-11-02T10:00:00+08:00")
    assert v.paid_between(start, date(2026, 11, 5)) == Decimal("30.50")
    assert view([], "2026-11-08T09:00:00+08:00").days_since_last_payment() is None


def test_promise_kept_by_payments_summing_to_the_amount() -> None:
    events = [
        ev("2026-11-01T09:00:00+08:00", "payment", amount=500),  # before the promise: does not count
        ev("2026-11-01T10:00:00+08:00", "promise", amount=100, due="2026-11-10"),
        ev("2026-11-04T10:00:00+08:00", "payment", amount=60),
        ev("2026-11-10T23:59:00+08:00", "payment", amount=40),
    ]
    (state,) = view(events, "2026-11-20T09:00:00+08:00").promises(grace_days=2)
    assert (state.status, state.paid, state.broken_on, state.due) == (
        "kept",
        Decimal("100"),
        None,
        date(2026, 11, 10),
    )
    # Before the second payment it is still running.
    (early,) = view(events, "2026-11-10T12:00:00+08:00").promises(grace_days=2)
    assert (early.status, early.paid) == ("active", Decimal("60"))


def test_promise_active_through_grace_then_broken() -> None:
    events = [
        ev("2026-11-01T10:00:00+08:00", "promise", amount=100, due="2026-11-10"),
        ev("2026-11-11T10:00:00+08:00", "payment", amount=100),  # after due: does not keep it
    ]
    last_grace_day = view(events, "2026-11-12T23:59:00+08:00")
    active = last_grace_day.active_promise(grace_days=2)
    assert active is not None and active.status == "active" and active.amount == Decimal("100")
    assert last_grace_day.broken_promises(2) == 0

    next_day = view(events, "2026-11-13T00:00:00+08:00")
    (state,) = next_day.promises(grace_days=2)
    assert (state.status, state.broken_on) == ("broken", date(2026, 11, 13))
    assert next_day.active_promise(2) is None
    assert next_day.broken_promises(2) == 1
    assert next_day.broken_promises(2, days=1) == 1
    later = view(events, "2026-11-20T09:00:00+08:00")
    assert later.broken_promises(2, days=7) == 0  # broken on 11-13, window 11-14..11-20
    assert later.broken_promises(2, days=8) == 1


def test_promise_without_amount_is_kept_by_any_payment() -> None:
    events = [
        ev("2026-11-01T10:00:00+08:00", "promise", due="2026-11-03"),
        ev("2026-11-02T10:00:00+08:00", "payment", amount="0.01"),
    ]
    (state,) = view(events, "2026-11-09T10:00:00+08:00").promises(0)
    assert state.status == "kept" and state.amount is None


def test_newer_promise_supersedes_an_active_one_but_not_a_broken_one() -> None:
    events = [
        ev("2026-10-01T10:00:00+08:00", "promise", amount=50, due="2026-10-05", action="p1"),  # broken 10-08
        ev("2026-11-01T10:00:00+08:00", "promise", amount=100, due="2026-11-10", action="p2"),
        ev(
            "2026-11-05T10:00:00+08:00", "promise", amount=40, due="2026-11-20", action="p3"
        ),  # p2 active then
    ]
    states = view(events, "2026-11-25T10:00:00+08:00").promises(grace_days=2)
    assert [(s.promise.action, s.status, s.broken_on) for s in states] == [
        ("p1", "broken", date(2026, 10, 8)),
        ("p3", "broken", date(2026, 11, 23)),
    ]
    current = view(events, "2026-11-06T10:00:00+08:00")
    active = current.active_promise(2)
    assert active is not None and active.promise.action == "p3"
    assert [s.status for s in current.promises(2)] == ["broken", "active"]


def test_promise_kept_before_a_newer_one_stays_kept() -> None:
    events = [
        ev("2026-11-01T10:00:00+08:00", "promise", amount=50, due="2026-11-10", action="p1"),
        ev("2026-11-02T10:00:00+08:00", "payment", amount=50),
        ev("2026-11-03T10:00:00+08:00", "promise", amount=70, due="2026-11-12", action="p2"),
    ]
    states = view(events, "2026-11-04T10:00:00+08:00").promises(1)
    assert [(s.promise.action, s.status) for s in states] == [("p1", "kept"), ("p2", "active")]


# -- holds and consent -------------------------------------------------------------------------------------


def test_event_holds() -> None:
    base = [
        ev("2026-11-01T10:00:00+08:00", "dispute_opened"),
        ev("2026-11-02T10:00:00+08:00", "dispute_resolved"),
        ev("2026-11-03T10:00:00+08:00", "hardship_started"),
    ]
    assert view(base, "2026-11-04T10:00:00+08:00").event_holds() == {"hardship"}
    assert view(base, "2026-11-01T12:00:00+08:00").event_holds() == {"dispute"}  # resolution not yet
    more = [
        *base,
        ev("2026-11-04T10:00:00+08:00", "dispute_opened"),
        ev("2026-11-05T10:00:00+08:00", "hardship_ended"),
        ev("2026-11-06T10:00:00+08:00", "cease_request"),
    ]
    assert view(more, "2026-11-07T10:00:00+08:00").event_holds() == {"dispute", "cease_contact"}
    assert view(more, "2026-11-05T12:00:00+08:00").event_holds() == {"dispute"}
    assert view([], "2026-11-05T12:00:00+08:00").event_holds() == set()


def test_consent_override_takes_the_latest_event_for_the_channel() -> None:
    events = [
        ev("2026-11-01T10:00:00+08:00", "consent", channel="sms", granted=True),
        ev("2026-11-02T10:00:00+08:00", "consent", channel="sms", granted="no"),
        ev("2026-11-03T10:00:00+08:00", "consent", channel="email", granted=True),
        ev("2026-11-09T10:00:00+08:00", "consent", channel="sms", granted=True),
    ]
    v = view(events, "2026-11-05T10:00:00+08:00")
    assert v.consent_override("sms") is False
    assert v.consent_override("email") is True
    assert v.consent_override("voice") is None


def test_index_gives_back_exactly_the_events_it_was_given_in_time_order() -> None:
    raw = [
        {"account_id": "A1", "type": "promise", "at": "2026-11-20T10:00:00+08:00", "amount": 120.5,
         "due": "2026-11-25"},
        {"account_id": "A1", "type": "consent", "at": "2026-11-19T10:00:00+08:00", "channel": "sms", "granted": False},
        {"account_id": "A1", "type": "contact", "at": "2026-11-21T10:00:00+08:00", "channel": "letter",
         "outcome": "delivered", "action": "arrears_letter", "notice": "arrears_notice"},
    ]
    events = [HistoryEvent.model_validate(r) for r in raw]
    index = HistoryIndex.from_events(events)
    back = index.for_account("A1")
    assert back == (events[1], events[0], events[2])
    assert [e.to_json_dict() for e in back] == [events[1].to_json_dict(), events[0].to_json_dict(),
                                                 events[2].to_json_dict()]
    assert back[1].model_copy(update={"amount": None}).amount is None
    assert index.for_account("nobody") == ()
