"""Readers for account and history files: formats, rejected rows, unusable inputs, warnings."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from policy_engine._exceptions import InputUnusableError, RowError
from policy_engine.data import (
    Account,
    HistoryEvent,
    Rejects,
    UnknownFieldsWarning,
    read_accounts,
    read_history,
)
from policy_engine.data.records import EARLIEST_DATE, LATEST_DATE, describe_validation_error

DATA = Path(__file__).parent.parent / "data_files"


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def reasons(rejects: Rejects) -> list[tuple[str, int, str]]:
    return [(Path(e.file).name, e.line, e.reason) for e in rejects.errors]


# -- JSON Lines --------------------------------------------------------------------------------------------


def test_jsonl_sample_reads_every_field_and_rejects_bad_row() -> None:
    rejects = Rejects()
    accounts = list(read_accounts(DATA / "accounts_sample.jsonl", rejects=rejects))
    assert [a.account_id for a in accounts] == ["A1", "A2"]
    a1, a2 = accounts
    assert a1.balance == Decimal("1250.40")
    assert a1.past_due == Decimal("310.00")
    assert a1.minimum_due == Decimal("35")
    assert a1.delinquent_since == date(2026, 10, 20)
    assert (a1.credit_score, a1.prior_delinquencies) == (640, 1)
    assert a1.contact.phone == "+12125550100" and a1.contact.address is None
    assert (a1.consent.sms, a1.consent.email, a1.consent.voice) == (True, True, None)
    assert a1.flags.active() == frozenset()
    assert a1.attributes == {"income_band": "B", "utilization": 0.82}
    assert str(a1.zone) == "America/New_York"
    assert a2.past_due == Decimal("8800.00")  # defaults to balance
    assert a2.flags.hardship is True and a2.flags.dispute is False
    assert reasons(rejects) == [("accounts_sample.jsonl", 4, "balance: 'abc' is not a number")]


def test_jsonl_money_is_read_exactly(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", '{"account_id": "A1", "balance": 12345678901234567.89}')
    (account,) = read_accounts(path)
    assert account.balance == Decimal("12345678901234567.89")


def test_each_kind_of_bad_row_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "accounts.jsonl",
        '{"account_id": "A1", "balance": 10}',
        "",
        '{"account_id": "A2", "balance": 10',
        '{"account_id": "A3", "balance": "abc"}',
        '{"account_id": "A1", "balance": 5}',
        "   ",
        '{"account_id": "A4", "balance": "7.5", "timezone": "Mars/Base"}',
        "[1, 2]",
        '{"balance": 1}',
        '{"account_id": "A5", "balance": 1, "delinquent_since": "2026-02-30", "credit_score": "high"}',
        '{"account_id": "A6", "balance": 3}',
    )
    rejects = Rejects()
    ids = [a.account_id for a in read_accounts(path, rejects=rejects)]
    assert ids == ["A1", "A6"]
    assert rejects.count == 7
    assert reasons(rejects) == [
        ("accounts.jsonl", 3, "not valid JSON: Expecting ',' delimiter (column 35)"),
        ("accounts.jsonl", 4, "balance: 'abc' is not a number"),
        ("accounts.jsonl", 5, "account_id A1 already appeared on line 1"),
        ("accounts.jsonl", 7, "timezone: 'Mars/Base' is not a known IANA time zone (e.g. America/New_York)"),
        ("accounts.jsonl", 8, "expected a JSON object, got an array"),
        ("accounts.jsonl", 9, "account_id is required"),
        (
            "accounts.jsonl",
            10,
            "delinquent_since: '2026-02-30' is not a date (YYYY-MM-DD); "
            "credit_score: 'high' is not a whole number",
        ),
    ]
    assert rejects.errors[1].raw == '{"account_id": "A3", "balance": "abc"}'
    assert rejects.errors[1].file == str(path)


def test_without_rejects_the_first_bad_row_raises(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", '{"account_id": "A1", "balance": 1}', '{"account_id": ""}')
    stream = read_accounts(path)
    assert next(stream).account_id == "A1"
    with pytest.raises(RowError) as info:
        next(stream)
    assert (info.value.line, info.value.reason) == (2, "account_id must not be empty; balance is required")
    assert str(info.value) == f"{path}:2: account_id must not be empty; balance is required"


def test_invalid_utf8_line_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"account_id": "A1", "balance": 1}\n{"account_id": "\xff", "balance": 1}\n')
    rejects = Rejects()
    assert [a.account_id for a in read_accounts(path, rejects=rejects)] == ["A1"]
    assert reasons(rejects) == [("a.jsonl", 2, "line 2 is not valid UTF-8 text")]


def test_timezone_must_be_iana_and_currency_iso(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.jsonl",
        '{"account_id": "A1", "balance": 1, "timezone": "Europe/London", "currency": "gbp"}',
        '{"account_id": "A2", "balance": 1, "timezone": "EST+5"}',
        '{"account_id": "A3", "balance": 1, "currency": "pounds"}',
    )
    rejects = Rejects()
    (account,) = read_accounts(path, rejects=rejects)
    assert account.timezone == "Europe/London" and account.currency == "GBP"
    assert reasons(rejects) == [
        ("a.jsonl", 2, "timezone: 'EST+5' is not a known IANA time zone (e.g. America/New_York)"),
        ("a.jsonl", 3, "currency: 'pounds' is not an ISO 4217 code such as USD"),
    ]


def test_plugin_channel_consent_and_null_means_absent(tmp_path: Path) -> None:
    line = {
        "account_id": 42,
        "balance": 1,
        "region": None,
        "consent": {"sms": None, "whatsapp": "yes"},
        "flags": {"dispute": None, "attorney": 1},
    }
    path = write_lines(tmp_path / "a.ndjson", json.dumps(line))
    (account,) = read_accounts(path)
    assert account.account_id == "42"
    assert account.region is None
    assert account.consent.get("whatsapp") is True and account.consent.get("sms") is None
    assert account.consent.get("telegram") is None
    assert account.flags.active() == frozenset({"attorney"})


# -- unknown fields ----------------------------------------------------------------------------------------


def test_unknown_fields_are_dropped_and_warned_once_per_file(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.jsonl",
        '{"account_id": "A1", "balance": 1, "nickname": "x", "flags": {"disput": true}}',
        '{"account_id": "A2", "balance": 1, "nickname": "y", "vip": true}',
    )
    rejects = Rejects()
    accounts = list(read_accounts(path, rejects=rejects))
    assert len(accounts) == 2 and accounts[0].flags.dispute is False
    assert rejects.warnings == [f"{path}: unknown fields ignored: nickname, flags.disput, vip"]
    assert rejects.count == 0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(read_accounts(path))
    messages = [str(w.message) for w in caught if issubclass(w.category, UnknownFieldsWarning)]
    assert messages == [f"{path}: unknown fields ignored: nickname, flags.disput, vip"]


# -- CSV ---------------------------------------------------------------------------------------------------


def test_csv_sample_nested_columns_booleans_and_empty_cells() -> None:
    rejects = Rejects()
    a1, a2 = read_accounts(DATA / "accounts_sample.csv", rejects=rejects)
    assert a1.contact.phone == "+16175550100" and a1.contact.email == "a1@example.com"
    assert (a1.consent.sms, a1.consent.email) == (True, None)
    assert a1.flags.dispute is False
    assert a1.attributes == {"income_band": "C"}
    assert a1.balance == Decimal("500.00") and a1.delinquent_since == date(2026, 10, 1)
    assert a2.delinquent_since is None and a2.contact.phone is None
    assert (a2.consent.sms, a2.consent.email, a2.flags.dispute) == (None, True, True)
    assert a2.attributes == {}
    assert reasons(rejects) == [
        ("accounts_sample.csv", 4, "consent.sms: 'maybe' is not a boolean (true/false, yes/no, 1/0)")
    ]


def test_csv_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "\ufeffaccount_id,balance,contact.address,flags.cease_contact\n"
        'A1,10,"1 Main St\nApt 2",No\n'
        "\n"
        "A2,abc,,\n"
        "A3,1,x\n"
        "A4,2,,YES\n",
        encoding="utf-8",
    )
    rejects = Rejects()
    a1, a4 = read_accounts(path, rejects=rejects)
    assert a1.contact.address == "1 Main St\nApt 2" and a1.flags.cease_contact is False
    assert a4.flags.cease_contact is True
    assert reasons(rejects) == [
        ("a.csv", 5, "balance: 'abc' is not a number"),
        ("a.csv", 6, "row has 3 cells but the header has 4"),
    ]
    assert rejects.errors[1].raw == "A3,1,x"


def test_csv_duplicate_header_is_unusable(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.csv", "account_id,balance,balance", "A1,1,2")
    with pytest.raises(InputUnusableError, match=r"a\.csv:1: column 'balance' appears more than once"):
        list(read_accounts(path))


def test_csv_history_with_granted_and_unknown_column(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "h.csv",
        "account_id,at,type,channel,granted,amount,due,note",
        "A1,2026-11-01T10:00:00+00:00,consent,sms,no,,,hello",
        "A1,2026-11-01T11:00:00+00:00,promise,,,120.50,2026-11-10,",
        "A1,2026-11-01T12:00:00+00:00,consent,email,perhaps,,,",
    )
    rejects = Rejects()
    consent, promise = read_history(path, rejects=rejects)
    assert (consent.type, consent.channel, consent.granted) == ("consent", "sms", False)
    assert (promise.amount, promise.due) == (Decimal("120.50"), date(2026, 11, 10))
    assert reasons(rejects) == [("h.csv", 4, "granted: 'perhaps' is not a boolean (true/false, yes/no, 1/0)")]
    assert rejects.warnings == [f"{path}: unknown fields ignored: note"]


# -- Parquet -----------------------------------------------------------------------------------------------


def test_parquet_flat_dotted_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    table = pa.table(
        {
            "account_id": ["A1", "A2", "A1", None],
            "balance": [Decimal("10.50"), Decimal("3"), Decimal("1"), Decimal("1")],
            "delinquent_since": [date(2026, 10, 1), None, None, None],
            "flags.dispute": [True, None, False, False],
            "consent.sms": [None, False, None, None],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    rejects = Rejects()
    a1, a2 = read_accounts(path, rejects=rejects)
    assert (a1.balance, a1.delinquent_since, a1.flags.dispute) == (Decimal("10.50"), date(2026, 10, 1), True)
    assert a2.consent.sms is False and a2.delinquent_since is None
    assert reasons(rejects) == [
        ("a.parquet", 3, "account_id A1 already appeared on line 1"),
        ("a.parquet", 4, "account_id is required"),
    ]
    assert json.loads(rejects.errors[1].raw or "")["balance"] == "1.00"


def test_parquet_struct_columns_and_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "h.parquet"
    table = pa.table(
        {
            "account_id": ["A1", "A1"],
            "at": pa.array(
                [datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 2, 10, tzinfo=UTC)],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "type": ["payment", "payment"],
            "amount": [12.5, 3.0],
        }
    )
    pq.write_table(table, path)
    events = list(read_history(path))
    assert [e.at for e in events] == [
        datetime(2026, 11, 1, 10, tzinfo=UTC),
        datetime(2026, 11, 2, 10, tzinfo=UTC),
    ]
    assert [e.amount for e in events] == [Decimal("12.5"), Decimal("3.0")]

    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table({"account_id": ["A1"], "at": [datetime(2026, 11, 1, 10)], "type": ["cease_request"]}), naive
    )
    rejects = Rejects()
    assert list(read_history(naive, rejects=rejects)) == []
    assert reasons(rejects) == [("naive.parquet", 1, "at '2026-11-01T10:00:00' has no UTC offset")]

    nested = tmp_path / "n.parquet"
    pq.write_table(
        pa.table({"account_id": ["A1"], "balance": [5], "contact": [{"phone": "+1555", "email": None}]}),
        nested,
    )
    (account,) = read_accounts(nested)
    assert account.contact.phone == "+1555" and account.contact.email is None


def test_parquet_without_pyarrow_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"account_id": ["A1"], "balance": [1]}), path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputUnusableError) as info:
        read_accounts(path)
    assert str(info.value) == "reading Parquet needs pyarrow: pip install 'policy-engine[parquet]'"


def test_file_that_is_not_parquet_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    path.write_text("account_id,balance\n", encoding="utf-8")
    with pytest.raises(InputUnusableError, match=r"a\.parquet: not a readable Parquet file"):
        read_accounts(path)


# -- stdin -------------------------------------------------------------------------------------------------


def test_dash_reads_json_lines_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys,
        "stdin",
        io.StringIO('{"account_id": "S1", "balance": 2}\n\n{"account_id": "S2", "balance": "x"}\n'),
    )
    rejects = Rejects()
    assert [a.account_id for a in read_accounts("-", rejects=rejects)] == ["S1"]
    assert reasons(rejects) == [("<stdin>", 3, "balance: 'x' is not a number")]


def test_dash_reads_binary_stdin_in_a_real_process() -> None:
    script = (
        "from policy_engine.data import read_history\n"
        "for e in read_history('-'):\n"
        "    print(e.account_id, e.type, e.at.isoformat())\n"
    )
    data = '{"account_id": "Z\u00e9", "at": "2026-11-01T10:00:00+08:00", "type": "cease_request"}\n'
    done = subprocess.run(
        [sys.executable, "-c", script], input=data.encode(), capture_output=True, check=True, timeout=30
    )
    assert done.stdout.decode().strip() == "Z\u00e9 cease_request 2026-11-01T10:00:00+08:00"


# -- unusable inputs ---------------------------------------------------------------------------------------


def test_missing_file_is_unusable_at_call_time(tmp_path: Path) -> None:
    with pytest.raises(InputUnusableError) as info:
        read_accounts(tmp_path / "nope.jsonl")
    assert str(info.value) == f"{tmp_path / 'nope.jsonl'}: no such file"


def test_directory_is_unusable(tmp_path: Path) -> None:
    folder = tmp_path / "dir.jsonl"
    folder.mkdir()
    with pytest.raises(InputUnusableError, match="is a directory, not a file"):
        read_history(folder)


def test_unknown_suffix_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.txt", '{"account_id": "A1", "balance": 1}')
    with pytest.raises(InputUnusableError) as info:
        read_accounts(path)
    assert str(info.value) == (
        f"{path}: unknown file type '.txt'; use one of .csv, .json, .jsonl, .ndjson, .parquet (- for stdin)"
    )


def test_csv_attributes_are_typed_like_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("account_id,balance,attributes.vulnerable,attributes.income,attributes.ratio,attributes.band\n"
                    "A1,10,true,52000,0.25,low\n", encoding="utf-8")
    (account,) = list(read_accounts(path))
    assert account.attributes == {"vulnerable": True, "income": 52000, "ratio": 0.25, "band": "low"}


def test_no_valid_account_is_unusable_after_the_stream(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", '{"account_id": "A1"}', '{"account_id": "A2", "balance": "?"}')
    rejects = Rejects()
    with pytest.raises(InputUnusableError) as info:
        list(read_accounts(path, rejects=rejects))
    assert str(info.value) == f"{path}: no valid account row (2 rejected; line 1: balance is required)"
    assert rejects.count == 2

    empty = write_lines(tmp_path / "empty.csv", "account_id,balance")
    with pytest.raises(InputUnusableError, match=r"empty\.csv: no valid account row$"):
        list(read_accounts(empty))


def test_empty_history_is_fine(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "h.jsonl", "")
    assert list(read_history(path)) == []


def test_json_array_file_is_unusable(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.json", "[", '  {"account_id": "A1", "balance": 1}', "]")
    with pytest.raises(InputUnusableError, match="holds a JSON array; expected JSON Lines"):
        list(read_accounts(path, rejects=Rejects()))


# -- rejects -----------------------------------------------------------------------------------------------


def test_rejects_file_report_and_limit(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.jsonl",
        '{"account_id": "A1", "balance": 1}',
        '{"account_id": "A2", "balance": "x"}',
        "not json",
        '{"account_id": "A3", "balance": "y"}',
    )
    sink = tmp_path / "out" / "rejects.jsonl"
    sink.parent.mkdir()
    with Rejects(sink, keep=2) as rejects:
        assert not sink.exists()  # opened lazily
        assert len(list(read_accounts(path, rejects=rejects))) == 1
    lines = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"file": str(path), "line": 2, "reason": "balance: 'x' is not a number",
         "raw": '{"account_id": "A2", "balance": "x"}'},
        {"file": str(path), "line": 3, "reason": "not valid JSON: Expecting value (column 1)",
         "raw": "not json"},
        {"file": str(path), "line": 4, "reason": "balance: 'y' is not a number",
         "raw": '{"account_id": "A3", "balance": "y"}'},
    ]  # fmt: skip
    assert rejects.count == 3 and len(rejects.errors) == 2
    out = io.StringIO()
    rejects.report(out)
    assert out.getvalue() == (
        f"{path}:2: balance: 'x' is not a number\n"
        f"{path}:3: not valid JSON: Expecting value (column 1)\n"
        f"... and 1 more rejected rows (all in {sink})\n"
    )


def test_rejects_sink_is_created_empty_when_nothing_was_rejected(tmp_path: Path) -> None:
    sink = tmp_path / "rejects.jsonl"
    sink.write_text("stale\n", encoding="utf-8")
    path = write_lines(tmp_path / "a.jsonl", '{"account_id": "A1", "balance": 1}')
    with Rejects(sink) as rejects:
        list(read_accounts(path, rejects=rejects))
    assert sink.read_text(encoding="utf-8") == ""


def test_rejects_report_includes_warnings(tmp_path: Path) -> None:
    rejects = Rejects()
    rejects.warn("a.csv: unknown fields ignored: x")
    rejects.add(RowError("a.csv", 3, "balance is required", "A1,"))
    out = io.StringIO()
    rejects.report(out)
    assert out.getvalue() == "warning: a.csv: unknown fields ignored: x\na.csv:3: balance is required\n"


# -- history events ----------------------------------------------------------------------------------------


def test_history_sample_and_event_rules(tmp_path: Path) -> None:
    rejects = Rejects()
    events = list(read_history(DATA / "history_sample.jsonl", rejects=rejects))
    assert [e.type for e in events] == ["contact", "promise", "contact", "dispute_opened"]
    assert reasons(rejects) == [("history_sample.jsonl", 4, "at '2026-11-01T10:00' has no UTC offset")]

    path = write_lines(
        tmp_path / "h.jsonl",
        '{"account_id": "A1", "at": "2026-11-01T10:00:00Z", "type": "contact", "channel": "sms"}',
        '{"account_id": "A1", "at": "2026-11-01T10:00:00Z", "type": "promise", "amount": 5}',
        '{"account_id": "A1", "at": "2026-11-01T10:00:00Z", "type": "consent"}',
        '{"account_id": "A1", "at": "2026-11-01T10:00:00Z", "type": "call"}',
        '{"account_id": "A1", "at": "2026-11-01T10:00:00Z", "type": "contact", "channel": "sms", '
        '"outcome": "ok"}',
        '{"account_id": "A1", "at": 1793527200, "type": "cease_request"}',
        '{"account_id": "A1", "at": "yesterday", "type": "cease_request"}',
    )
    rejects = Rejects()
    assert list(read_history(path, rejects=rejects)) == []
    assert [r for _, _, r in reasons(rejects)] == [
        "a contact event needs outcome",
        "a promise event needs due",
        "a consent event needs channel and granted",
        "type: 'call' is not one of contact, payment, promise, dispute_opened, dispute_resolved, "
        "cease_request, consent, hardship_started, hardship_ended, breathing_space_started or breathing_space_ended",
        "outcome: 'ok' is not one of sent, delivered, failed, no_answer, voicemail or conversation",
        "at: 1793527200 is not an ISO 8601 timestamp with a UTC offset",
        "at: 'yesterday' is not an ISO 8601 timestamp",
    ]


def test_history_event_json_shape() -> None:
    event = HistoryEvent(
        account_id="A1",
        at=datetime(2026, 11, 1, 9, 30, tzinfo=timezone(timedelta(hours=8))),
        type="contact",
        channel="letter",
        outcome="sent",
        action="arrears_letter",
        notice="arrears_notice",
    )
    assert json.dumps(event.to_json_dict()) == (
        '{"account_id": "A1", "at": "2026-11-01T09:30:00+08:00", "type": "contact", "channel": "letter", '
        '"outcome": "sent", "action": "arrears_letter", "notice": "arrears_notice"}'
    )
    payment = HistoryEvent.model_validate(
        {
            "account_id": "A1",
            "at": "2026-11-01T09:30:00Z",
            "type": "promise",
            "amount": "100.00",
            "due": "2026-11-09",
        }
    )
    assert payment.to_json_dict() == {
        "account_id": "A1",
        "at": "2026-11-01T09:30:00+00:00",
        "type": "promise",
        "amount": 100,
        "due": "2026-11-09",
    }
    assert isinstance(payment.to_json_dict()["amount"], int)
    half = payment.model_copy(update={"amount": Decimal("12.50")})
    assert half.to_json_dict()["amount"] == 12.5


_EVENTS = st.builds(
    HistoryEvent,
    account_id=st.text(alphabet="ABC123", min_size=1, max_size=4),
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    type=st.just("promise"),
    amount=st.one_of(st.none(), st.decimals(min_value=0, max_value=10**9, places=2)),
    due=st.dates(min_value=EARLIEST_DATE, max_value=LATEST_DATE),  # the documented range of record dates
    action=st.one_of(st.none(), st.text(alphabet="abc_", min_size=1, max_size=8)),
)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(_EVENTS, min_size=1, max_size=5))
def test_written_events_read_back_equal(events: list[HistoryEvent]) -> None:
    text = "".join(json.dumps(e.to_json_dict()) + "\n" for e in events)
    stream: Any = io.StringIO(text)
    original, sys.stdin = sys.stdin, stream
    try:
        read = list(read_history("-"))
    finally:
        sys.stdin = original
    assert read == events


def test_account_model_shapes_and_messages() -> None:
    with pytest.raises(ValidationError) as info:
        Account.model_validate({"account_id": "A1", "flags": "yes", "balance": "NaN"})
    assert (
        describe_validation_error(info.value)
        == "balance: 'NaN' is not a number; flags: 'yes' is not an object"
    )
    account = Account.model_validate({"account_id": " A1 ", "balance": "1e2"})
    assert account.account_id == "A1" and account.balance == Decimal("100")
