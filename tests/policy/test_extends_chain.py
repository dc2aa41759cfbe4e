"""An error inside an extended file also names the `extends` line that led to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine._exceptions import PolicyError
from policy_engine.policy.loader import load_policy


def test_error_in_an_extended_file_cites_the_extends_line(tmp_path: Path) -> None:
    (tmp_path / "house.toml").write_text('[policy]\nid = "house"\nkind = "baseline"\n[guardrails]\n'
                                         'max_contacts_per_day = "two"\n', encoding="utf-8")
    (tmp_path / "bank.toml").write_text('[policy]\nid = "bank"\nextends = ["baseline:cn", "house.toml"]\n',
                                        encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "bank.toml")
    (issue,) = info.value.issues
    assert (Path(issue.location.file).name, issue.location.line) == ("house.toml", 5)
    assert [(Path(r.file).name, r.line, r.column) for r in issue.related] == [("bank.toml", 3, 27)]
