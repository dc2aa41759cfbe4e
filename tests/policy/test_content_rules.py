"""Content rules of a baseline reach the templates that channels send."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine._exceptions import PolicyError
from policy_engine.policy.loader import load_policy

POLICY = """[policy]
id = "u"
timezone = "{tz}"
locale = "en-US"
extends = ["baseline:{baseline}"]

[[stages]]
id = "s"
dpd = {{ from = 1 }}
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "v"

[templates.v."en-US"]
body = "{body}"
"""


def _load(tmp_path: Path, baseline: str, body: str, tz: str = "America/New_York") -> None:
    path = tmp_path / "p.toml"
    path.write_text(POLICY.format(baseline=baseline, body=body, tz=tz), encoding="utf-8")
    load_policy(path)


def test_reg_f_voice_template_must_be_limited_content(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        _load(tmp_path, "us-reg-f", "You owe us money.")
    (issue,) = info.value.issues
    assert (issue.location.line, issue.path) == (16, "templates.v.en-US.body")
    assert "used by call action 'call'" in issue.message and "'owe' reveals the debt" in issue.message
    assert "required by baseline us-reg-f" in issue.message


def test_limited_content_voice_template_is_fine_under_reg_f(tmp_path: Path) -> None:
    _load(tmp_path, "us-reg-f", "This is Jane from Acme. Please call us back at {{ bank.phone }}.".replace(
        "{{ bank.phone }}", "555-0100"))


def test_cn_baseline_lets_a_call_script_name_the_debt(tmp_path: Path) -> None:
    _load(tmp_path, "cn", "You owe us money.", tz="Asia/Shanghai")
