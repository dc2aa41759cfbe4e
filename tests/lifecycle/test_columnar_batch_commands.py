"""The batch commands give the same results with `--backend columnar` (their default) as with `compiled`.

`simulate` (the contacts file and the text timelines), `diff` and `report` over every shipped example
policy and the shipped example portfolio (seven time zones, each evaluated at its own local time), with
the same rejects and the same messages; and a library-level simulation of a portfolio in several zones
across New York's spring clock change, with payments, recorded contacts and contacts at the same instant as input
events, compared evaluation by evaluation, in one plan evaluation per simulated day.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.cli.console import plural
from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.columnar.backend import ColumnarBackend
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.simulate import simulate
from policy_engine.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[2]
PORTFOLIO = ROOT / "examples" / "portfolio"
POLICIES = sorted(p for p in (ROOT / "policies" / "examples").glob("*.toml") if not p.name.endswith("_test.toml"))
AS_OF = "2026-11-27T09:00:00+08:00"


def _run(*args: str | Path, backend: str) -> tuple[str, str]:
    """(stdout, stderr) of one command under ``backend``; it must succeed without a traceback."""
    result = CliRunner().invoke(app, [*(str(arg) for arg in args), "--backend", backend])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout, result.stderr


def _both(tmp_path: Path, *args: str | Path) -> dict[str, tuple[str, str, bytes]]:
    """stdout, stderr (file names made alike) and rejects file of one command under both backends."""
    outcomes = {}
    for backend in ("compiled", "columnar"):
        rejects = tmp_path / f"{backend}-rejects.jsonl"
        stdout, stderr = _run(*args, "--rejects", rejects, backend=backend)
        outcomes[backend] = (stdout, stderr.replace(str(rejects), "REJECTS"), rejects.read_bytes())
    return outcomes


def _inputs() -> tuple[str | Path, ...]:
    return ("--accounts", PORTFOLIO / "accounts_with_errors.jsonl", "--history", PORTFOLIO / "history.jsonl")


@pytest.mark.parametrize("policy", POLICIES, ids=lambda path: path.stem)
@pytest.mark.parametrize("output_format", ["jsonl", "text"])
def test_simulate_writes_the_same_contacts_and_timelines(policy: Path, output_format: str, tmp_path: Path) -> None:
    days = 2 if output_format == "jsonl" else 1  # the second day sees the first day's contacts
    outcomes = _both(tmp_path, "simulate", "--policy", policy, *_inputs(), "--start", "2026-11-27", "--days",
                     str(days), "--format", output_format)
    assert outcomes["columnar"] == outcomes["compiled"]
    stdout, stderr, rejects = outcomes["columnar"]
    assert f"simulated 300 accounts over {plural(days, 'day')}" in stderr and rejects.count(b"\n") == 3
    if output_format == "jsonl":
        assert stdout.count('"type": "contact"') > 50
    else:
        assert stdout.count("account ") == 300 and " via " in stdout


@pytest.mark.parametrize("policy", POLICIES, ids=lambda path: path.stem)
@pytest.mark.parametrize("days", [None, 2])
def test_diff_finds_the_same_impact(policy: Path, days: int | None, tmp_path: Path) -> None:
    other = POLICIES[(POLICIES.index(policy) + 1) % len(POLICIES)]  # another bank's policy: much changes
    span = ("--days", str(days)) if days else ()
    outcomes = _both(tmp_path, "diff", "--base", policy, "--candidate", other, *_inputs(), "--as-of", AS_OF, *span,
                     "--format", "json")
    assert outcomes["columnar"] == outcomes["compiled"]
    assert '"accounts": 300' in outcomes["columnar"][0] and '"accounts_changed": 0' not in outcomes["columnar"][0]


def _page(path: Path) -> str:
    """The report without the backend it names (its provenance says which rule backend decided)."""
    return re.sub(r"\(rule backend \w+\)", "(rule backend *)", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("policy", POLICIES, ids=lambda path: path.stem)
@pytest.mark.parametrize("days", [None, 2])
def test_report_shows_the_same_page(policy: Path, days: int | None, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796000000")
    span = ("--days", str(days)) if days else ()
    other = POLICIES[(POLICIES.index(policy) + 1) % len(POLICIES)]
    pages = {}
    for backend in ("compiled", "columnar"):
        page = tmp_path / f"{backend}.html"
        _run("report", "--policy", policy, "--candidate", other, *_inputs(), "--as-of", AS_OF, *span,
             "--output", page, backend=backend)
        assert f"(rule backend {backend})" in page.read_text(encoding="utf-8")
        pages[backend] = _page(page)
    assert pages["columnar"] == pages["compiled"]
    assert "<b>3 input rows rejected</b>" in pages["columnar"]


# -- several zones, the spring clock change, payments and recorded contacts (library level) -------------

ZONES = ("America/New_York", "Europe/London", "Asia/Shanghai", "America/Phoenix", "Australia/Sydney", None)
START = date(2026, 3, 7)  # New York springs forward on the 8th


def _accounts(count: int, region: str) -> list[Account]:
    """Accounts of the policy's region (so in its scope) spread over :data:`ZONES`."""
    accounts = []
    for number in range(count):
        zone = ZONES[number % len(ZONES)]
        accounts.append(Account.model_validate({
            "account_id": f"Z-{number:04d}", "customer_id": f"C-{number:04d}", "name": "Test Customer",
            "region": region, **({"timezone": zone} if zone else {}),
            "currency": "USD", "balance": "2500.00", "amount_past_due": str(150 + number % 7 * 40),
            "minimum_due": "50.00", "delinquent_since": (START - timedelta(days=number % 120 + 1)).isoformat(),
            "credit_score": 560 + number % 9 * 30, "product": "card", "language": "en",
            "contact": {"phone": f"+1212555{number:04d}", "email": f"z{number}@example.com",
                        "address": "1 Test Street"},
            "consent": {"sms": True, "email": number % 3 != 0, "voice": True},
        }))
    return accounts


def _events(accounts: list[Account]) -> list[HistoryEvent]:
    events = []
    for number, account in enumerate(accounts):
        offset = timezone(timedelta(hours=number % 5 - 2))
        day = START + timedelta(days=number % 3)
        at = datetime.combine(day, time(10, 0), tzinfo=offset)
        base: dict[str, Any] = {"account_id": account.account_id}
        if number % 4 == 0:  # a payment arriving during the span: balance down, maybe cured
            events.append(HistoryEvent.model_validate({**base, "type": "payment", "at": at.isoformat(),
                                                       "amount": str(100 + number % 3 * 200)}))
        if number % 4 == 1:  # contacts the input already records, without an action id
            events += [HistoryEvent.model_validate({**base, "type": "contact", "channel": channel, "outcome": "failed",
                                                    "at": (at + timedelta(hours=hours)).isoformat()})
                       for hours, channel in enumerate(("sms", "voice", "email", "agent"))]
        if number % 4 == 2:  # a promise before the start, broken during the span
            events.append(HistoryEvent.model_validate({
                **base, "type": "promise", "at": (at - timedelta(days=9)).isoformat(),
                "amount": "120.00", "due": (day - timedelta(days=4)).isoformat()}))
        if number % 6 == 3:  # earlier contacts, two at the same instant
            earlier = (at - timedelta(days=3)).isoformat()
            events += [HistoryEvent.model_validate({**base, "type": "contact", "channel": "voice",
                                                    "outcome": "conversation", "at": earlier}),
                       HistoryEvent.model_validate({**base, "type": "contact", "channel": "voice",
                                                    "outcome": "no_answer", "at": earlier})]
    return events


@pytest.mark.parametrize("policy", POLICIES, ids=lambda path: path.stem)
def test_a_portfolio_in_several_zones_is_simulated_alike(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_policy(policy)
    accounts = _accounts(240, policy.stem.split("-")[0].upper())
    index = HistoryIndex.from_events(_events(accounts))
    row = list(simulate(Engine(loaded, "compiled"), accounts, index, START, 3, time(8, 30)))
    evaluations: list[dict[str, datetime]] = []
    evaluate = ColumnarBackend.evaluate

    def counted(backend: ColumnarBackend, connection: Any, as_of: datetime,
                instants: dict[str, datetime] | None = None) -> Any:
        evaluations.append(dict(instants or {}))
        return evaluate(backend, connection, as_of, instants)

    monkeypatch.setattr(ColumnarBackend, "evaluate", counted)
    plan = list(simulate(Engine(loaded, "columnar"), iter(accounts), index, START, 3, time(8, 30)))
    # one evaluation a day for every zone, each at 08:30 local: on the 8th New York is an hour nearer UTC
    named = {zone for zone in ZONES if zone}
    assert len(evaluations) == 3 and all(named <= set(instants) for instants in evaluations)
    new_york = [instants["America/New_York"] - instants["Europe/London"] for instants in evaluations]
    assert new_york == [timedelta(hours=5), timedelta(hours=4), timedelta(hours=4)]
    assert len(row) == 240 * 3
    for expected, got in zip(row, plan, strict=True):
        assert got == expected, (expected.account.account_id, expected.day)
        assert got.as_of.tzinfo == expected.as_of.tzinfo  # the account's own zone, not the group's
    assert any(step.contacts for step in plan) and any(contact.recorded for step in plan for contact in step.contacts)
    read = {account.account_id: account for account in accounts}
    assert any(step.account != read[step.account.account_id] for step in plan)  # payments came due
