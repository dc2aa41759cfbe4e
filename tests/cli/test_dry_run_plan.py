"""The dry-run plan as people read it on real terminals: 80 and 120 columns, a header saying what it is of, a
status column in words, reasons cut or wrapped with the full text in JSON, and a stderr line counting the
rows set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from policy_engine.cli import app
from tests.decide.conftest import TEMPLATES

POLICY = """
[policy]
id = "plan-bank"
version = "2026.12"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "reminder_sms_with_a_long_name"
  channel = "sms"
  template = "t"
  every_days = 5
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
""" + TEMPLATES
ACCOUNTS = [
    {"account_id": "P1", "balance": 1200, "delinquent_since": "2026-11-01",
     "contact": {"phone": "+8613812345678"}, "consent": {"sms": True, "voice": True}},
    {"account_id": "P2", "balance": 900, "delinquent_since": "2026-11-10", "contact": {}},
]
HISTORY = [{"account_id": "P1", "type": "contact", "channel": "sms", "action": "reminder_sms_with_a_long_name",
            "outcome": "delivered", "at": "2026-11-22T10:00:00+08:00"}]
AS_OF = "2026-11-24T09:00:00+08:00"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    policy = tmp_path / "bank.toml"
    policy.write_text(POLICY, encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text("".join(json.dumps(row) + "\n" for row in ACCOUNTS) + '{"account_id": "P3"\n',
                        encoding="utf-8")
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(row) + "\n" for row in HISTORY), encoding="utf-8")
    return {"policy": policy, "accounts": accounts, "history": history}


def plan(files: dict[str, Path], columns: int, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]),
                                      "--history", str(files["history"]), "--as-of", AS_OF, *extra],
                                env={"COLUMNS": str(columns)})
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("columns", [80, 120])
def test_the_plan_fits_the_width_and_says_what_it_is_of(files: dict[str, Path], columns: int) -> None:
    code, out, _ = plan(files, columns)
    assert code == 0
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= columns
    assert lines[0] == "policy    plan-bank 2026.12"
    unfolded = out.replace("\n", "")  # a path longer than the line folds onto the next
    assert f"file      {files['policy']}" in unfolded
    assert f"as of     {AS_OF}" in lines
    assert f"accounts  {files['accounts']}" in unfolded and f"history   {files['history']}" in unfolded
    assert any(line.split()[:4] == ["status", "action", "channel"] + (["to"] if columns >= 100 else ["at"])
               for line in lines)
    assert "P1  DPD 23 · stage early" in out and "P2  DPD 14 · stage early" in out


@pytest.mark.parametrize("columns", [80, 120])
def test_every_action_has_a_status_in_words(files: dict[str, Path], columns: int) -> None:
    out = plan(files, columns)[1]
    rows = {tuple(line.split()[:3]) for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert ("planned", "call", "voice") in rows
    assert ("suppressed", "reminder_sms_with_a_long_name", "sms") in rows
    assert ("suppressed", "call", "voice") in rows  # P2 has no phone


def test_reasons_are_cut_at_80_columns_and_whole_at_120_with_the_full_text_in_json(files: dict[str, Path]) -> None:
    detail = json.loads(plan(files, 80, "-f", "jsonl")[1].splitlines()[0])["suppressed"][0]["detail"]
    assert detail == "'reminder_sms_with_a_long_name' last done 2026-11-22 (2 days ago); runs every 5 days"
    shown = detail.removeprefix("'reminder_sms_with_a_long_name' ")  # the action has its own column
    wide = " ".join(plan(files, 120)[1].split())
    assert f"cadence: {shown}" in wide
    narrow = plan(files, 80)[1]
    assert "cadence: last done" in narrow and "…" in narrow or f"cadence: {shown}" in " ".join(narrow.split())


def test_the_contact_column_masks_numbers_and_shows_only_when_there_is_room(files: dict[str, Path]) -> None:
    wide, narrow = plan(files, 120)[1], plan(files, 80)[1]
    assert "+861******5678" in wide and "+8613812345678" not in wide
    assert "5678" not in narrow


def test_a_line_on_stderr_counts_the_rejected_rows(files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = plan(files, 80)
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith(f"{files['accounts']}:3: ")
    assert lines[-1] == "1 input row rejected and set aside; --rejects FILE keeps them"
    rejects = tmp_path / "rejects.jsonl"
    assert plan(files, 80, "--rejects", str(rejects))[2].splitlines()[-1] == (
        f"1 input row rejected and set aside; all of them are in {rejects}")


def test_writing_to_a_file_ends_with_a_completion_line_and_no_progress_bar_off_a_terminal(
        files: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "plan.csv"
    code, out, err = plan(files, 80, "-f", "csv", "-o", str(target))
    assert (code, out) == (0, "")
    assert err.splitlines()[-1] == f"wrote 2 decisions (csv) to {target}"
    assert "deciding" not in err  # the bar is drawn only on a terminal
    assert target.read_text(encoding="utf-8").startswith("account_id,as_of,dpd")


def test_the_summary_counts_in_words(files: dict[str, Path]) -> None:
    out = plan(files, 80)[1]
    assert "accounts per stage: early 2" in out
    assert "suppressions per reason: cadence 1, no_contact_point 2" in out
    assert "2 accounts evaluated: 1 action planned, 3 suppressed" in out


def test_on_a_terminal_a_determinate_bar_shows_then_the_completion_line(files: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    """stderr on a pseudo-terminal, as in a shell: the bar counts decided accounts out of the rows in the file."""
    import os
    import pty
    import subprocess

    from tests.policy.helpers import console_script

    controller, terminal = pty.openpty()
    target = tmp_path / "plan.jsonl"
    with subprocess.Popen([console_script(), "dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]),
                           "--history", str(files["history"]), "--as-of", AS_OF, "-f", "jsonl", "-o", str(target)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal,
                          env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}) as process:
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=120) == 0
    os.close(controller)
    text = seen.decode("utf-8", "replace")
    assert "deciding accounts" in text and "/3" in text  # 3 rows in the accounts file, one of them invalid
    assert f"wrote 2 decisions (jsonl) to {target}" in text
    assert "Traceback" not in text
