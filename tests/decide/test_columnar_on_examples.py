"""`dry-run --backend columnar` writes the same bytes as `--backend compiled` for every shipped policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app

ROOT = Path(__file__).resolve().parents[2]
PORTFOLIO = ROOT / "examples" / "portfolio"
POLICIES = sorted([*(p for p in (ROOT / "policies" / "examples").glob("*.toml") if not p.name.endswith("_test.toml")),
                   *(ROOT / "policies" / "baselines").glob("*.toml")])
AS_OF = ["2026-11-28T09:00:00+08:00", "2026-03-08T06:30:00+00:00", "2026-12-25T23:59:00-05:00"]


def _dry_run(policy: Path, backend: str, as_of: str, out: Path, *extra: str) -> bytes:
    result = CliRunner().invoke(app, ["dry-run", "--policy", str(policy), "--accounts",
                                      str(PORTFOLIO / "accounts_with_errors.jsonl"), "--history",
                                      str(PORTFOLIO / "history.jsonl"), "--as-of", as_of, "--format", "jsonl",
                                      "--backend", backend, "--output", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_columnar_writes_the_same_bytes_as_compiled(policy: Path, tmp_path: Path) -> None:
    # the example policies at three instants (one the night US clocks go forward), the baselines at one
    for as_of in AS_OF if policy.parent.name == "examples" else AS_OF[:1]:
        compiled = _dry_run(policy, "compiled", as_of, tmp_path / "compiled.jsonl",
                            "--rejects", str(tmp_path / "compiled_rejects.jsonl"))
        columnar = _dry_run(policy, "columnar", as_of, tmp_path / "columnar.jsonl",
                            "--rejects", str(tmp_path / "columnar_rejects.jsonl"))
        assert compiled.count(b"\n") == 300
        assert columnar == compiled, (policy.name, as_of)
        assert (tmp_path / "columnar_rejects.jsonl").read_bytes() == (tmp_path / "compiled_rejects.jsonl").read_bytes()
    if policy.parent.name == "examples":  # the example policies plan and suppress actions of every kind
        assert b'"actions": [{' in compiled and b'"suppressed": [{' in compiled


def test_bad_history_rows_are_rejected_alike(tmp_path: Path) -> None:
    """The columnar backend streams the history into the plan: the same rows are set aside, with the same
    messages, in the same order, and the same decisions come out."""
    lines = (PORTFOLIO / "history.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    bad = ['{"account_id": "CN-0001", "at": "2026-11-01T10:00:00", "type": "contact", "channel": "sms", '
           '"outcome": "sent"}\n', "not json\n",
           '{"account_id": "CN-0002", "type": "payment", "at": "2026-11-20T10:00:00+08:00", "amount": "abc"}\n']
    history = tmp_path / "history.jsonl"
    history.write_text("".join(lines[:50] + bad + lines[50:]), encoding="utf-8")
    results = {}
    for backend in ("compiled", "columnar"):
        result = CliRunner().invoke(app, [
            "dry-run", "--policy", str(POLICIES[0]), "--accounts", str(PORTFOLIO / "accounts_with_errors.jsonl"),
            "--history", str(history), "--as-of", AS_OF[0], "--format", "jsonl", "--backend", backend,
            "--output", str(tmp_path / f"{backend}.jsonl"), "--rejects", str(tmp_path / f"{backend}-rejects.jsonl")])
        assert result.exit_code == 0, result.output
        notes = result.stderr.replace(f"{backend}-rejects.jsonl", "*").replace(f"{backend}.jsonl", "*")
        results[backend] = (notes, (tmp_path / f"{backend}.jsonl").read_bytes(),
                            (tmp_path / f"{backend}-rejects.jsonl").read_bytes())
    assert results["columnar"] == results["compiled"]
    assert "history.jsonl:51: at '2026-11-01T10:00:00' has no UTC offset" in results["columnar"][0]
    assert "6 input rows rejected" in results["columnar"][0]
