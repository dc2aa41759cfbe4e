"""Terminal and file output cannot be hijacked by what an account id carries: Rich markup (`[/red]` used to
crash the table and explain, `[link=...]` hid a hyperlink), raw ANSI and OSC escape sequences, bidirectional
overrides, and spreadsheet formulas in CSV cells. Each hostile id goes through the real commands."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.lifecycle.untrusted import csv_cell, printable
from tests.decide.conftest import TEMPLATES

POLICY = """
[policy]
id = "hostile-bank"
version = "1"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "sms"
  channel = "sms"
  template = "t"
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
""" + TEMPLATES
HOSTILE = {
    "closing-markup": "[/red]",
    "markup-pair": "[bold red]BOLD[/bold red]",
    "hidden-link": "[link=https://evil.example/pay]ACC-1[/link]",
    "ansi-colour": "ACC\x1b[31mRED\x1b[0m",
    "osc8-link": "\x1b]8;;https://evil.example\x07ACC-2\x1b]8;;\x07",
    "cursor-rewrite": "ACC-3\r\x1b[2KAll clear",
    "bidi-override": "ACC-\u202e4-CCA",
    "formula": '=HYPERLINK("https://evil.example","Click")',
    "plus-formula": "+cmd|' /C calc'!A0",
    "at-formula": "@SUM(1+1)",
}
# Ids with control or bidi characters never get past the readers (they are rejected with their line);
# the others are valid ids, and every output a person reads must show them as written and obey none of it.
REFUSED_AT_INPUT = {"ansi-colour", "osc8-link", "cursor-rewrite", "bidi-override"}
SHOWN = {name: value for name, value in HOSTILE.items() if name not in REFUSED_AT_INPUT}
ESCAPES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def write(tmp_path: Path, account_id: str) -> dict[str, Path]:
    policy = tmp_path / "bank.toml"
    policy.write_text(POLICY, encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text(json.dumps({"account_id": account_id, "balance": 1200, "delinquent_since": "2026-11-01",
                                    "contact": {}, "consent": {"sms": True}}) + "\n", encoding="utf-8")
    return {"policy": policy, "accounts": accounts}


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args], env={"COLUMNS": "120"})
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def base(files: dict[str, Path], command: str = "dry-run") -> list[str | Path]:
    return [command, "-p", files["policy"], "-a", files["accounts"], "--as-of", "2026-11-24T09:00:00+08:00"]


@pytest.mark.parametrize("account_id", SHOWN.values(), ids=SHOWN.keys())
def test_the_plan_shows_the_id_as_written_and_obeys_none_of_it(tmp_path: Path, account_id: str) -> None:
    files = write(tmp_path, account_id)
    code, out, _ = run(*base(files), "--no-color")
    assert code == 0
    assert ESCAPES.search(out) is None, repr(out)
    assert printable(account_id) in out  # brackets and all, control characters as \x1b, \u202e ...
    assert "1 account evaluated" in out


@pytest.mark.parametrize("account_id", SHOWN.values(), ids=SHOWN.keys())
def test_explain_shows_the_id_as_written(tmp_path: Path, account_id: str) -> None:
    files = write(tmp_path, account_id)
    code, out, _ = run(*base(files, "explain"), "--account", account_id)
    assert code == 0
    assert ESCAPES.search(out) is None, repr(out)
    assert f"account {printable(account_id)}: DPD 23" in out
    data = json.loads(run(*base(files, "explain"), "--account", account_id, "-f", "json")[1])
    assert data["account_id"] == account_id  # JSON keeps the exact value: a program reads it, not a terminal


@pytest.mark.parametrize("name", sorted(REFUSED_AT_INPUT))
def test_ids_with_control_characters_are_refused_at_input_and_named_harmlessly(tmp_path: Path, name: str) -> None:
    files = write(tmp_path, HOSTILE[name])
    code, out, err = run(*base(files), "--no-color")
    assert code == 5  # the only row is invalid: the input is unusable
    assert ESCAPES.search(out + err) is None, repr(err)
    assert "no valid account row (1 rejected; line 1: account_id:" in err


def test_a_missing_hostile_account_is_named_harmlessly(tmp_path: Path) -> None:
    files = write(tmp_path, "ACC-1")
    code, _, err = run(*base(files, "explain"), "--account", HOSTILE["ansi-colour"])
    assert code == 5
    assert ESCAPES.search(err) is None and "ACC\\x1b[31mRED" in err


@pytest.mark.parametrize("account_id", SHOWN.values(), ids=SHOWN.keys())
def test_csv_cells_never_run_as_formulas_and_json_keeps_the_value(tmp_path: Path, account_id: str) -> None:
    files = write(tmp_path, account_id)
    rows = list(csv.DictReader(io.StringIO(run(*base(files), "-f", "csv")[1])))
    assert {row["account_id"] for row in rows} == {csv_cell(account_id)}
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values()
               if cell and not cell[0].isdigit())
    assert json.loads(run(*base(files), "-f", "jsonl")[1])["account_id"] == account_id


def test_formula_prefixes_get_an_apostrophe_and_numbers_stay_numbers() -> None:
    assert csv_cell('=HYPERLINK("x")') == "'=HYPERLINK(\"x\")"
    assert [csv_cell(value) for value in ("+1", "-2+3", "@A1", "\tx", "\rx")] == ["'+1", "'-2+3", "'@A1",
                                                                                     "'\\x09x", "'\\x0dx"]
    assert csv_cell(-5) == -5 and csv_cell("A-1") == "A-1" and csv_cell(None) is None


@pytest.mark.parametrize("account_id", [HOSTILE["closing-markup"], HOSTILE["hidden-link"], HOSTILE["formula"]],
                         ids=["closing-markup", "hidden-link", "formula"])
def test_simulate_and_diff_show_the_id_as_written(tmp_path: Path, account_id: str) -> None:
    files = write(tmp_path, account_id)
    code, out, _ = run("simulate", "-p", files["policy"], "-a", files["accounts"], "--start", "2026-11-24",
                       "--days", "2", "-f", "text")
    assert code == 0 and ESCAPES.search(out) is None and printable(account_id) in out
    code, out, _ = run("diff", "--base", files["policy"], "--candidate", files["policy"], "-a", files["accounts"],
                       "--as-of", "2026-11-24T09:00:00+08:00")
    assert code == 0 and ESCAPES.search(out) is None


def test_the_report_escapes_markup_and_links(tmp_path: Path) -> None:
    files = write(tmp_path, HOSTILE["hidden-link"])
    page = tmp_path / "report.html"
    code, _, _ = run("report", "-p", files["policy"], "-a", files["accounts"], "--as-of",
                     "2026-11-24T09:00:00+08:00", "-o", page)
    html = page.read_text(encoding="utf-8")
    assert code == 0
    assert ESCAPES.search(html) is None
    assert "[link=https://evil.example/pay]ACC-1[/link]" in html and "<a " not in html
