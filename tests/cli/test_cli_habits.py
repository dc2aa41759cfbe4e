"""The habits every command shares, as a user meets them: -h and -V, one --format vocabulary, the shared
--quiet/--verbose/--no-color options, shell completion, clean metavars, plurals, --as-of with a date alone,
and a start-up that does not import the engine for --version or --help."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import policy_engine.cli as cli_package
from policy_engine import __version__
from policy_engine.cli import app
from policy_engine.cli.app import COMMANDS
from tests.decide.conftest import TEMPLATES
from tests.policy.helpers import console_script

VOCABULARY = {"text", "json", "jsonl", "csv"}
POLICY = """
[policy]
id = "habits-bank"
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
  every_days = 3
""" + TEMPLATES
ACCOUNT = {"account_id": "H1", "balance": 1200, "delinquent_since": "2026-11-01",
           "contact": {"phone": "+8613812345678"}, "consent": {"sms": True}}


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def help_of(*command: str) -> str:
    code, out, _ = invoke(*command, "--help", env={"COLUMNS": "200"})
    assert code == 0, command
    return out


def every_command() -> list[tuple[str, ...]]:
    """Every command a user can type, groups expanded (queue list, queue claim, ...)."""
    found: list[tuple[str, ...]] = []
    for name in COMMANDS:
        out = help_of(name)
        subcommands = re.findall(r"^│ (\w[\w-]*) {2,}", out.split("Commands", 1)[1], re.M) if "Commands" in out else []
        found += [(name, sub) for sub in subcommands] or [(name,)]
    return found


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    policy = tmp_path / "bank.toml"
    policy.write_text(POLICY, encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text(json.dumps(ACCOUNT) + "\n", encoding="utf-8")
    return {"policy": policy, "accounts": accounts, "dir": tmp_path}


# ------------------------------------------------------------------------------------------ the table
def test_the_command_table_lists_every_registered_command_with_its_own_help() -> None:
    """`--help` lists commands from COMMANDS without importing them: the table must say what they say."""
    for module in pkgutil.iter_modules(cli_package.__path__):
        if module.name.endswith("_cmd"):
            importlib.import_module(f"policy_engine.cli.{module.name}")
    registered = {info.name or info.callback.__name__.replace("_", "-"): (info.callback.__module__,
                                                                           inspect.getdoc(info.callback) or "")
                  for info in app.registered_commands if info.callback is not None}
    registered.update({group.name: (group.typer_instance.registered_callback.callback.__module__
                                    if group.typer_instance.registered_callback else "", "")
                       for group in app.registered_groups if group.name})
    assert set(registered) == set(COMMANDS)
    for name, (module, doc) in registered.items():
        if doc:  # a command's first paragraph is what the root's --help shows for it
            assert COMMANDS[name][1] == " ".join(doc.split("\n\n")[0].split()), name
            assert COMMANDS[name][0] == module, name


def test_root_help_lists_every_command_in_the_table_order() -> None:
    out = help_of()
    positions = [out.index(f"│ {name} ") for name in COMMANDS]
    assert positions == sorted(positions)


# ------------------------------------------------------------------------------------------ -h, -V
def test_short_help_and_version() -> None:
    assert invoke("-V") == (0, f"policy-engine {__version__}\n", "")
    code, out, _ = invoke("-h")
    assert code == 0 and "Usage: policy-engine" in out and "dry-run" in out
    code, out, _ = invoke("dry-run", "-h")
    assert code == 0 and "--accounts" in out and "--quiet" in out


def test_every_command_has_the_shared_options_and_clean_metavars() -> None:
    for command in every_command():
        out = help_of(*command)
        for option in ("--quiet", "-q", "--verbose", "-v", "--no-color", "--help", "-h"):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", out), (command, option)
        for raw in ("<bool>", "<str>", "<path>", "<int>", "<float>"):
            assert raw not in out, (command, raw)


def test_every_format_option_speaks_the_one_vocabulary() -> None:
    for command in every_command():
        out = help_of(*command)
        for choices in re.findall(r"--format\s+-f\s+\[([a-z|]+)\]|--format\s+\[([a-z|]+)\]", out):
            words = set("".join(choices).split("|"))
            assert words <= VOCABULARY, (command, words)


def test_table_and_timeline_are_other_names_of_text(files: dict[str, Path]) -> None:
    base = ["dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]), "--as-of", "2026-11-24T09:00+08:00"]
    assert invoke(*base, "--format", "table")[1] == invoke(*base, "--format", "text")[1] == invoke(*base)[1]
    sim = ["simulate", "-p", str(files["policy"]), "-a", str(files["accounts"]), "--start", "2026-11-24",
           "--days", "2"]
    assert invoke(*sim, "-f", "timeline")[1] == invoke(*sim, "-f", "text")[1]
    assert "account H1" in invoke(*sim, "-f", "text")[1]


def test_shell_completion_completes_commands_and_options() -> None:
    env = {**os.environ, "_POLICY_ENGINE_COMPLETE": "complete_bash", "COMP_WORDS": "policy-engine dr",
           "COMP_CWORD": "1"}
    done = subprocess.run([console_script()], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.split() == ["dry-run"], done
    env.update(COMP_WORDS="policy-engine dry-run --acc", COMP_CWORD="2")
    done = subprocess.run([console_script()], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.split() == ["--accounts"], done
    script = subprocess.run([console_script(), "--show-completion", "bash"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert script.returncode == 0 and "_POLICY_ENGINE_COMPLETE" in script.stdout


# ------------------------------------------------------------------------------------------ --quiet etc.
def test_quiet_silences_notes_and_verbose_lists_every_rejected_row(files: dict[str, Path]) -> None:
    with files["accounts"].open("a", encoding="utf-8") as stream:
        for number in range(25):
            stream.write(json.dumps({"account_id": f"BAD{number}", "balance": "lots"}) + "\n")
    out_file = files["dir"] / "plan.jsonl"
    base = ["dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]), "--as-of",
            "2026-11-24T09:00:00+08:00", "-f", "jsonl", "-o", str(out_file)]
    code, _, err = invoke(*base)
    lines = err.splitlines()
    assert code == 0
    assert sum(": balance" in line for line in lines) == 20
    assert "25 input rows rejected and set aside; --rejects FILE keeps them (5 more rows not listed: --verbose " \
           "lists them)" in lines
    assert lines[-1] == f"wrote 1 decision (jsonl) to {out_file}"
    code, _, err = invoke(*base, "--verbose")
    assert sum(": balance" in line for line in err.splitlines()) == 25
    code, _, err = invoke("-q", *base)  # on the root, before the command, works too
    assert err.splitlines() == ["25 input rows rejected and set aside; --rejects FILE keeps them"]
    assert invoke(*base, "--quiet")[2] == err


def test_no_color_and_no_color_variable(files: dict[str, Path]) -> None:
    base = ["dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]), "--as-of", "2026-11-24T09:00+08:00"]
    coloured = invoke(*base, env={"FORCE_COLOR": "1"})[1]
    assert "\x1b[" in coloured
    plain = invoke(*base, "--no-color", env={"FORCE_COLOR": "1"})[1]
    assert "\x1b[" not in plain and "planned" in plain
    assert "\x1b[" not in invoke(*base, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})[1]


def test_settings_of_one_invocation_do_not_leak_into_the_next(files: dict[str, Path]) -> None:
    out_file = files["dir"] / "plan.jsonl"
    base = ["dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]), "-f", "jsonl", "-o", str(out_file),
            "--as-of", "2026-11-24T09:00+08:00"]
    assert invoke(*base, "-q")[2] == ""
    assert "wrote 1 decision" in invoke(*base)[2]


# ------------------------------------------------------------------------------------------ words
def test_plurals(files: dict[str, Path]) -> None:
    out = invoke("dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]), "--as-of",
                 "2026-11-24T09:00+08:00")[1]
    assert "1 account evaluated: 1 action planned, 0 suppressed" in out
    err = invoke("simulate", "-p", str(files["policy"]), "-a", str(files["accounts"]), "--start", "2026-11-24",
                 "--days", "1")[2]
    assert "simulated 1 account over 1 day: 1 contact (sms 1)" in err


def test_as_of_with_a_date_alone_is_the_start_of_that_day_in_the_policy_zone(files: dict[str, Path]) -> None:
    """Documented in --help: the actions get the first moment of the day they are allowed."""
    assert "a date alone is 00:00 of that day" in " ".join(help_of("dry-run").replace("│", " ").split())
    out = invoke("dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]), "--as-of", "2026-11-24",
                 "-f", "jsonl")[1]
    decision = json.loads(out)
    assert decision["as_of"] == "2026-11-24T00:00:00+08:00"
    assert decision["actions"][0]["send_at"] == "2026-11-24T08:00:00+08:00"


# ------------------------------------------------------------------------------------------ start-up
@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["-h"]])
def test_version_and_help_import_neither_the_engine_nor_its_heavy_libraries(argv: list[str]) -> None:
    """What keeps start-up fast (benchmarks/bench_startup.py measures it): nothing of the engine is imported."""
    probe = ("import sys\nfrom policy_engine.cli import main\nsys.argv = ['policy-engine', *sys.argv[1:]]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "sys.stderr.write(repr(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "COLUMNS": "80"})
    loaded = set(eval(done.stderr))  # noqa: S307  (our own repr of a list of names)
    assert "policy-engine" in done.stdout or "Usage" in done.stdout
    heavy = {"sqlalchemy", "pydantic", "httpx", "jinja2", "fpdf", "pyarrow", "durable", "holidays", "pluggy",
             "policy_engine.decide", "policy_engine.policy", "policy_engine.data", "policy_engine.deliver",
             "policy_engine.ledger"}
    assert loaded & heavy == set()
