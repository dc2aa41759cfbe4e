"""The guardrail families as a registry: each setting a policy records has exactly one family that owns it
and can say it in words, so nothing a baseline sets goes missing from what a reviewer reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.guardrails import FAMILIES, ROW_CHECKS, Reason
from policy_engine.lifecycle.report.limits import effective_limits
from policy_engine.policy.loader import load_policy

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(path for path in (REPO / "policies").rglob("*.toml") if not path.name.endswith("_test.toml"))


def test_each_setting_has_one_owner() -> None:
    owners: dict[str, str] = {}
    for family in FAMILIES:
        for setting in family.settings:
            assert setting not in owners, f"{setting} is claimed by {owners.get(setting)} and {family.name}"
            owners[setting] = family.name


def test_every_reason_belongs_to_a_row_check() -> None:
    claimed = [reason for family in ROW_CHECKS for reason in family.reasons]
    assert sorted(claimed) == sorted(Reason)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_every_recorded_limit_of_a_shipped_policy_is_described(path: Path) -> None:
    loaded = load_policy(path)
    owned = {setting for family in FAMILIES for setting in family.settings}
    assert {key.setting for key in loaded.origins} <= owned
    shown = effective_limits(loaded)
    described = [key for key in loaded.origins if not key.setting.endswith("description")]
    assert len(shown) == len(described)
    assert all(limit.value and limit.source for limit in shown)


def test_a_cap_and_a_hold_read_as_a_reviewer_says_them() -> None:
    loaded = load_policy(REPO / "policies/baselines/us-ma.toml")
    limits = {limit.rule: limit.value for limit in effective_limits(loaded)}
    assert limits["cap ma phone contacts"] == ("at most 2 contact attempts on call (any channel), text (any channel) "
                                               "in any 7 days (accounts in US-MA)")
    assert limits["hold cease contact"].startswith("stops every channel that contacts the customer")
