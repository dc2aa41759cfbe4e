"""Differential test: the `columnar` backend decides exactly like the `compiled` one.

The accounts and histories come from the generator of the durable differential test (values on and around
every threshold of its policy, missing values, attributes of every JSON type, three as_of instants, one of
them the night US clocks go forward). Hypothesis draws the batches; they are then decided in a few big
runs of the plan (one per as_of), since a plan per account would be slow, and each account's decision JSON
must equal compiled's. Derandomised: CI sees the same accounts on every run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine._exceptions import UsageError
from policy_engine.cli import app
from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account
from policy_engine.decide.engine import Engine
from policy_engine.decide.rules import rules_of
from policy_engine.policy import load_policy
from policy_engine.policy.loader import LoadedPolicy
from tests.decide.conftest import TEMPLATES
from tests.decide.drawn import Drawn, draw_portfolios
from tests.decide.test_backends_differential import BATCH, MIN_ACCOUNTS, POLICY, Recorder, batches

EXAMPLES = 205  # x 50 accounts: at least 10,000



@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedPolicy:
    path: Path = tmp_path_factory.mktemp("policy") / "differential.toml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)


def _draw() -> Drawn:
    """The generated accounts per as_of, each account id made unique across batches."""
    drawn = draw_portfolios(batches, EXAMPLES)
    # the one offer whose six conditions the draws almost never meet together, written out
    rare = Account.model_validate({
        "account_id": "refinance", "balance": 2500, "credit_score": 700, "prior_delinquencies": 2,
        "currency": "USD", "product": "gold", "delinquent_since": "2026-10-01",
        "contact": {"email": "x@example.com"}, "consent": {"sms": True}})
    drawn.setdefault(next(iter(drawn)), []).append((rare, []))
    return drawn


def test_columnar_and_compiled_agree(loaded: LoadedPolicy) -> None:
    compiled = Engine(loaded, backend="compiled")
    columnar = Engine(loaded, backend="columnar")
    recorder = Recorder(compiled.rules)
    compiled.rules = recorder
    names = {rule.name for rule in rules_of(loaded.policy)}
    held: set[str] = set()
    failed: set[str] = set()
    reasons: set[str] = set()
    compared = 0
    for as_of, accounts in _draw().items():
        history = HistoryIndex.from_events(event for _, events in accounts for event in events)
        decided = columnar.decisions((account for account, _ in accounts), history, as_of)
        lines = columnar.json_lines((account for account, _ in accounts), history, as_of)
        assert lines is not None  # the plan writes the JSON Lines itself
        for (account, events), got, line in zip(accounts, decided, lines, strict=True):
            recorder.last.clear()
            want = compiled.decide(account, events, as_of).to_dict()
            assert json.dumps(got.to_dict(), sort_keys=True) == json.dumps(want, sort_keys=True), (account, events)
            assert line == json.dumps(want, ensure_ascii=False, separators=(", ", ": ")), (account, events)
            matched = recorder.last["segments"] | recorder.last["rules"]
            held.update(matched)
            failed.update(names - matched)
            reasons.update(suppression["reason"] for suppression in want["suppressed"])
            compared += 1
    assert compared >= MIN_ACCOUNTS == 10_000 and compared == EXAMPLES * BATCH + 1
    assert held == names, sorted(names - held)  # every rule both holds and fails for some accounts
    assert failed == names, sorted(names - failed)
    # (caps and the daily cap rarely bite on these spread-out histories: test_columnar_guardrails covers them)
    assert {"hold", "no_consent", "no_contact_point", "missing_notice", "quiet_hours",
            "promise_active"} <= reasons, reasons


VARIANTS_POLICY = """
[policy]
id = "ab-bank"
version = "1"
timezone = "Asia/Shanghai"

[[variants]]
id = "champion"
weight = 50

[[variants]]
id = "challenger"
weight = 50

[[stages]]
id = "early"
dpd = { from = 1 }
  [[stages.actions]]
  id = "sms"
  channel = "sms"
  template = "t"
  variants = ["challenger"]
""" + TEMPLATES


def _variants_inputs(tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "ab.toml"
    policy.write_text(VARIANTS_POLICY, encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text("".join(f'{{"account_id": "A{n}", "balance": 100, "delinquent_since": "2026-11-01", '
                                f'"contact": {{"phone": "+8613812345678"}}, "consent": {{"sms": true}}}}\n'
                                for n in range(400)), encoding="utf-8")
    return policy, accounts


def test_variants_split_the_portfolio_as_the_row_engine_does(tmp_path: Path) -> None:
    policy, accounts = _variants_inputs(tmp_path)
    outputs = []
    for backend in ("compiled", "columnar"):
        result = CliRunner().invoke(app, ["dry-run", "--policy", str(policy), "--accounts", str(accounts),
                                          "--as-of", "2026-11-28T09:00:00+08:00", "--backend", backend,
                                          "--format", "jsonl", "--output", str(tmp_path / f"{backend}.jsonl")])
        assert result.exit_code == 0, result.output
        outputs.append((tmp_path / f"{backend}.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
    variants = [json.loads(line)["variant"] for line in outputs[0].splitlines()]
    assert 150 < variants.count("challenger") < 250 and variants.count("champion") + variants.count("challenger") == 400


def test_a_construct_the_plan_does_not_cover_is_refused_with_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the language is left out today; a construct added later without its relational form must
    stop the columnar backend with a one-line usage error (exit 2), never fall back to the row engine."""
    from policy_engine.decide.columnar import coverage  # noqa: PLC0415

    monkeypatch.setattr(coverage, "uncovered", lambda loaded: ["champion/challenger variants"])
    policy, accounts = _variants_inputs(tmp_path)
    with pytest.raises(UsageError, match="variants"):
        Engine(load_policy(policy), backend="columnar")
    result = CliRunner().invoke(app, ["dry-run", "--policy", str(policy), "--accounts", str(accounts),
                                      "--as-of", "2026-11-28T09:00:00+08:00", "--backend", "columnar",
                                      "--format", "jsonl"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "--backend columnar does not cover champion/challenger variants yet" in result.output
    assert "use --backend compiled" in result.output


def test_explaining_under_columnar_uses_the_row_engine_and_says_so(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = CliRunner().invoke(app, ["dry-run", "--policy", str(root / "policies/examples/cn-card-issuer.toml"),
                                      "--accounts", str(root / "examples/portfolio/accounts.jsonl"), "--history",
                                      str(root / "examples/portfolio/history.jsonl"), "--as-of",
                                      "2026-11-28T09:00:00+08:00", "--backend", "columnar", "--explain",
                                      "--format", "jsonl", "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert "explaining with the row engine" in result.output
    first = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["trace"]


def test_simulate_decides_with_the_plan_under_columnar_and_with_the_row_engine_under_spark(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    outputs = {}
    for backend in ("compiled", "columnar", "spark"):
        result = CliRunner().invoke(app, ["simulate", "--policy", str(root / "policies/examples/cn-card-issuer.toml"),
                                          "--accounts", str(root / "examples/portfolio/accounts.jsonl"), "--start",
                                          "2026-11-24", "--days", "2", "--format", "jsonl", "--backend", backend])
        assert result.exit_code == 0, result.output
        outputs[backend] = (result.stdout, result.stderr)
    assert outputs["columnar"] == outputs["compiled"] and outputs["compiled"][0]
    assert outputs["spark"][0] == outputs["compiled"][0]
    assert "deciding one account at a time with the row engine" in outputs["spark"][1]
    assert "row engine" not in outputs["columnar"][1]


def test_duckdb_running_out_of_memory_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("POLICY_ENGINE_DUCKDB_MEMORY", "1KB")
    result = CliRunner().invoke(app, ["dry-run", "--policy", str(root / "policies/examples/cn-card-issuer.toml"),
                                      "--accounts", str(root / "examples/portfolio/accounts.jsonl"), "--as-of",
                                      "2026-11-28T09:00:00+08:00", "--backend", "columnar", "--format", "jsonl",
                                      "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the columnar plan stopped in DuckDB: Out of Memory Error")
    assert "POLICY_ENGINE_DUCKDB_MEMORY" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("threads", ["two", "0", "-1"])
def test_duckdb_threads_that_are_not_a_whole_number_are_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      threads: str) -> None:
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("POLICY_ENGINE_DUCKDB_THREADS", threads)
    result = CliRunner().invoke(app, ["dry-run", "--policy", str(root / "policies/examples/cn-card-issuer.toml"),
                                      "--accounts", str(root / "examples/portfolio/accounts.jsonl"), "--as-of",
                                      "2026-11-28T09:00:00+08:00", "--backend", "columnar", "--format", "jsonl",
                                      "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2
    assert f"POLICY_ENGINE_DUCKDB_THREADS must be a whole number from 1, not '{threads}'" in result.stderr
    assert "Traceback" not in result.output
