"""A template may read every field of the account record, and nothing the record does not have."""

from __future__ import annotations

from policy_engine.data.records import Account
from policy_engine.policy.templates import validate_template


def test_every_account_field_and_the_customer_name_may_be_read() -> None:
    for name in [*Account.model_fields, "customer_name"]:
        assert validate_template(f"{{{{ account.{name} }}}}") == [], name


def test_a_field_the_account_record_lacks_is_an_error_listing_the_real_ones() -> None:
    (issue,) = validate_template("Hello\n{{ account.nickname }}")
    assert (issue.location.line, issue.path, issue.code) == (2, "account.nickname", "unknown_variable")
    assert issue.hint is not None and "amount_past_due" in issue.hint and "customer_name" in issue.hint
