"""The policy's templates as the dispatcher sees them: per locale, falling back to the policy's locale."""

from __future__ import annotations

from pathlib import Path

from policy_engine.deliver.run import templates_of
from policy_engine.policy.loader import load_policy

POLICY = Path(__file__).resolve().parents[2] / "policies" / "examples" / "cn-card-issuer.toml"


def test_account_language_picks_the_text_and_unknown_languages_fall_back_to_the_policy_locale() -> None:
    policy = load_policy(POLICY).policy
    store = templates_of(policy)
    template_id = next(iter(sorted(policy.templates)))
    zh = policy.templates[template_id]["zh-CN"].body
    assert store.get(template_id, "zh-CN").text == zh
    assert store.get(template_id, "es-US").text == zh
    assert store.get(template_id, None).text == zh
