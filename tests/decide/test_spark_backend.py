"""`--backend spark` decides exactly like `compiled`, on a real local Spark session (``local[2]``).

Few and big, because a Spark session and the plan's statements cost tens of seconds: the CN example
policy through `dry-run` over the example portfolio and 2,000 generated CN accounts (the bytes and the
rejects file compared), and the
differential policy over a few thousand generated accounts with histories, held by the session as two
views (as a table where the portfolio already lives would be), every account's decision compared.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("sqlglot") is None:
    pytest.skip("--backend spark needs pyspark and sqlglot: pip install 'policy-engine[spark]'",
                allow_module_level=True)
if shutil.which("java") is None:
    pytest.skip("--backend spark needs Java 17 (apt-get install openjdk-17-jre-headless)", allow_module_level=True)

from policy_engine.cli import app  # noqa: E402
from policy_engine.data.records import Account, HistoryEvent  # noqa: E402
from policy_engine.decide.columnar.load import account_batches, arrow_schema, history_batches  # noqa: E402
from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, HISTORY_COLUMNS  # noqa: E402
from policy_engine.decide.columnar.spark import SparkBackend, spark_session  # noqa: E402
from policy_engine.decide.engine import Engine  # noqa: E402
from policy_engine.policy import load_policy  # noqa: E402
from tests.decide.drawn import draw_portfolios  # noqa: E402
from tests.decide.test_backends_differential import POLICY, batches  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PORTFOLIO = ROOT / "examples" / "portfolio"
CN_POLICY = ROOT / "policies" / "examples" / "cn-card-issuer.toml"
GENERATED_CN = 2_000
GENERATED_BATCHES = 120  # x BATCH accounts, about a third of them at the as_of kept


def _cn_portfolio(folder: Path) -> tuple[Path, Path]:
    """The example portfolio (with its malformed rows) and 2,000 generated CN accounts with histories."""
    spec = importlib.util.spec_from_file_location("cn_portfolio", ROOT / "benchmarks" / "cn_portfolio.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generated_accounts, generated_history = generator.write_portfolio(folder / "generated", GENERATED_CN)
    accounts, history = folder / "accounts.jsonl", folder / "history.jsonl"
    accounts.write_bytes((PORTFOLIO / "accounts_with_errors.jsonl").read_bytes() + generated_accounts.read_bytes())
    history.write_bytes((PORTFOLIO / "history.jsonl").read_bytes() + generated_history.read_bytes())
    return accounts, history


def _dry_run(backend: str, accounts: Path, history: Path, out: Path, rejects: Path) -> bytes:
    result = CliRunner().invoke(app, ["dry-run", "--policy", str(CN_POLICY), "--accounts", str(accounts),
                                      "--history", str(history), "--as-of", "2026-11-28T09:00:00+08:00",
                                      "--format", "jsonl", "--backend", backend, "--output", str(out),
                                      "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_dry_run_on_spark_writes_the_same_bytes_as_compiled(tmp_path: Path) -> None:
    accounts, history = _cn_portfolio(tmp_path)
    compiled = _dry_run("compiled", accounts, history, tmp_path / "compiled.jsonl", tmp_path / "compiled_rejects.jsonl")
    spark = _dry_run("spark", accounts, history, tmp_path / "spark.jsonl", tmp_path / "spark_rejects.jsonl")
    assert compiled.count(b"\n") == 300 + GENERATED_CN
    assert b'"actions": [{' in compiled and b'"suppressed": [{' in compiled
    assert spark == compiled
    assert (tmp_path / "spark_rejects.jsonl").read_bytes() == (tmp_path / "compiled_rejects.jsonl").read_bytes()


def _generated() -> tuple[datetime, list[tuple[Account, list[HistoryEvent]]]]:
    """Generated accounts of one as_of (the one most batches drew), ids unique across batches."""
    drawn = draw_portfolios(batches, GENERATED_BATCHES)
    return max(drawn.items(), key=lambda item: len(item[1]))


def test_spark_decides_generated_accounts_like_compiled(tmp_path: Path) -> None:
    path = tmp_path / "differential.toml"
    path.write_text(POLICY, encoding="utf-8")
    loaded = load_policy(path)
    as_of, accounts = _generated()
    assert len(accounts) >= 2000
    compiled = Engine(loaded, backend="compiled")
    # the portfolio as two views of the session, as a table where it already lives would be
    session = spark_session()
    for view, arrow_batches, columns in (
            ("bank_history", history_batches(event for _, events in accounts for event in events), HISTORY_COLUMNS),
            ("bank_accounts", account_batches(account for account, _ in accounts), ACCOUNT_COLUMNS)):
        session.createDataFrame(pa.Table.from_batches(list(arrow_batches), schema=arrow_schema(columns))) \
            .createOrReplaceTempView(view)
    decided = SparkBackend(loaded).decide_views(as_of, accounts="bank_accounts", history="bank_history")
    compared = 0
    for (account, events), got in zip(accounts, decided, strict=True):
        want = compiled.decide(account, events, as_of).to_dict()
        assert json.dumps(got.to_dict(), sort_keys=True) == json.dumps(want, sort_keys=True), (account, events)
        compared += 1
    assert compared == len(accounts)
