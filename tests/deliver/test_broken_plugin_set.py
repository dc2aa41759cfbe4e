"""A broken plugin set stops every command that loads a policy with exit 6 and one clear line.

The plugins here are real entry points: a ``*.dist-info`` folder on ``PYTHONPATH`` publishes them in
the ``policy_engine`` group exactly as an installed distribution does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "policies" / "examples" / "cn-card-issuer.toml"
ACCOUNTS = REPO / "examples" / "portfolio" / "accounts.jsonl"
EXIT_PLUGIN_SET = 6

REG_F_POLICY = """[policy]
id = "u"
timezone = "America/New_York"
locale = "en-US"
extends = ["baseline:us-reg-f"]

[[stages]]
id = "s"
dpd = { from = 1 }
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "v"

[templates.v."en-US"]
body = "You owe us money."
"""

BROKEN_IMPORT = 'raise ImportError("libpigeon is not installed")\n'
MISSPELT_HOOK = '''from policy_engine.hookspecs import ChannelSpec, hookimpl

@hookimpl
def policy_engine_register_channels():
    return [ChannelSpec(name="pigeon", kind="text")]

@hookimpl
def policy_engine_sned(channel, action):
    return None
'''
SECOND_SMS = '''from policy_engine.hookspecs import ChannelSpec, hookimpl

@hookimpl
def policy_engine_register_channels():
    return [ChannelSpec(name="sms", kind="text", contact_point="phone")]
'''


def _publish(site: Path, plugin: str, module_source: str) -> None:
    """Make ``plugin`` an entry point of the ``policy_engine`` group, served by a module of that name."""
    dist = site / f"{plugin}_dist-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {plugin}-dist\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[policy_engine]\n{plugin} = {plugin}_module\n")
    (site / f"{plugin}_module.py").write_text(module_source)


def _cli(*args: str, cwd: Path, plugins: str | None = None,
         site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POLICY_ENGINE_PLUGINS"}
    if plugins is not None:
        env["POLICY_ENGINE_PLUGINS"] = plugins
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "policy_engine", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _assert_plugin_set_error(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode == EXIT_PLUGIN_SET, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    for name in names:
        assert name in line


def test_allow_list_naming_a_missing_plugin_fails_instead_of_skipping_the_voice_check(tmp_path: Path) -> None:
    policy = tmp_path / "reg-f.toml"
    policy.write_text(REG_F_POLICY, encoding="utf-8")
    checked = _cli("validate", str(policy), cwd=tmp_path, plugins="voice")
    assert checked.returncode == 3 and "'owe' reveals the debt" in checked.stdout
    broken = _cli("validate", str(policy), cwd=tmp_path, plugins="voice,typo_plugin")
    _assert_plugin_set_error(broken, "typo_plugin", "not installed")


def test_entry_point_that_fails_to_import(tmp_path: Path) -> None:
    _publish(tmp_path / "site", "pigeon", BROKEN_IMPORT)
    result = _cli("validate", str(EXAMPLE), cwd=tmp_path, site=tmp_path / "site")
    _assert_plugin_set_error(result, "'pigeon'", "ImportError", "libpigeon is not installed")


def test_misspelt_hook_of_an_installed_plugin(tmp_path: Path) -> None:
    _publish(tmp_path / "site", "pigeon", MISSPELT_HOOK)
    result = _cli("validate", str(EXAMPLE), cwd=tmp_path, site=tmp_path / "site")
    _assert_plugin_set_error(result, "'pigeon'", "policy_engine_sned", "policy_engine_send")


def test_two_plugins_claiming_one_channel(tmp_path: Path) -> None:
    _publish(tmp_path / "site", "sms_clone", SECOND_SMS)
    result = _cli("validate", str(EXAMPLE), cwd=tmp_path, site=tmp_path / "site")
    _assert_plugin_set_error(result, "'sms'", "'sms_clone'")


@pytest.mark.parametrize("command", [
    ["dry-run", "--policy", str(EXAMPLE), "--accounts", str(ACCOUNTS), "--as-of", "2026-11-28"],
    ["explain", "--policy", str(EXAMPLE), "--accounts", str(ACCOUNTS), "--account", "CN-0001",
     "--as-of", "2026-11-28"],
    ["simulate", "--policy", str(EXAMPLE), "--accounts", str(ACCOUNTS), "--start", "2026-11-28", "--days", "1"],
    ["diff", "--base", str(EXAMPLE), "--candidate", str(EXAMPLE), "--accounts", str(ACCOUNTS),
     "--as-of", "2026-11-28"],
    ["report", "--policy", str(EXAMPLE), "--accounts", str(ACCOUNTS), "--output", "report.html",
     "--as-of", "2026-11-28"],
    ["test", str(EXAMPLE)],
    ["run", "--policy", str(EXAMPLE), "--accounts", str(ACCOUNTS), "--as-of", "2026-11-28",
     "--ledger", "sqlite:///ledger.db"],
], ids=lambda command: command[0])
def test_every_command_that_loads_a_policy_refuses_a_broken_plugin_set(tmp_path: Path, command: list[str]) -> None:
    result = _cli(*command, cwd=tmp_path, plugins="sms,typo_plugin")
    _assert_plugin_set_error(result, "typo_plugin")
    assert not (tmp_path / "ledger.db").exists() and not (tmp_path / "report.html").exists()
