"""The "legal action without a written notice" hint suggests the policy's own written notices, never a
notice the policy does not have."""

from __future__ import annotations

import pytest

from tests.policy.helpers import change, only_issue

pytestmark = pytest.mark.usefixtures("in_tmp")  # the helpers write policy.toml in the working directory

WITHOUT_WAIT = '  requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 30 } }\n'


def renamed(text: str) -> str:
    """The minimal policy with its written notice called final_demand."""
    return text.replace("pre_legal_warning", "final_demand")


def test_the_hint_names_the_notice_the_policy_sends_by_letter() -> None:
    text = change(WITHOUT_WAIT, "")
    text = change("dpd = { from = 90 }", "dpd = { from = 93 }", text)
    text = change("dpd = { from = 1, to = 89 }", "dpd = { from = 1, to = 92 }", text)
    issue = only_issue(renamed(text))
    assert issue.code == "legal_without_notice"
    assert issue.hint == ('add requires = { notice = "final_demand", delivered_days_ago = { gte = 30 } } '
                          "(written notices this policy sends by letter: final_demand)")
    assert "pre_legal_warning" not in (issue.hint or "")


def test_without_a_letter_the_hint_names_the_declared_notices() -> None:
    text = change('  channel = "letter"', '  channel = "email"', renamed(change(WITHOUT_WAIT, "")))
    text = change("dpd = { from = 90 }", "dpd = { from = 93 }", text)
    text = change("dpd = { from = 1, to = 89 }", "dpd = { from = 1, to = 92 }", text)
    issue = only_issue(text)
    assert issue.hint == ('add requires = { notice = "final_demand", delivered_days_ago = { gte = 30 } } and a '
                          'letter action with notice = "final_demand" in an earlier stage (this policy\'s notices: '
                          "final_demand)")
