"""The durable_rules backend: translation edge cases, each checked against the compiled backend too."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.data.records import Account
from policy_engine.decide.engine import Engine
from policy_engine.decide.facts import FactContext
from policy_engine.decide.rules import durable as durable_module
from policy_engine.decide.rules.base import NamedCondition
from policy_engine.decide.rules.compiled import CompiledRuleSet
from policy_engine.decide.rules.durable import DurableRuleSet
from policy_engine.policy import load_policy
from policy_engine.policy.conditions import All, Any_, Compare, Condition, parse_condition

AS_OF = datetime.fromisoformat("2026-11-28T09:00:00+00:00")


def ctx(segment: str | None = None, **fields: Any) -> FactContext:
    record = {"account_id": "A1", "balance": 100, **fields}
    context = FactContext(Account.model_validate(record), (), AS_OF, ZoneInfo("UTC"))
    context.segment = segment
    return context


def rules(*conditions: dict[str, Any] | Condition, phase: str = "rules") -> list[NamedCondition]:
    return [NamedCondition(f"action:r{i}", c if not isinstance(c, dict) else parse_condition(c), phase)
            for i, c in enumerate(conditions)]


def both(rule_list: list[NamedCondition], context: FactContext, phase: str = "rules") -> frozenset[str]:
    """The durable result, after checking it equals the compiled one."""
    got = DurableRuleSet(rule_list, name="unit").match(context, phase)
    assert got == CompiledRuleSet(rule_list).match(context, phase)
    return got


def holds(condition: dict[str, Any] | Condition, **fields: Any) -> bool:
    return bool(both(rules(condition), ctx(**fields)))


# -- OR fires once per satisfied branch --------------------------------------------------------------------


def test_or_firing_twice_is_reported_once() -> None:
    rule_list = rules({"any": [{"credit_score": {"lt": 600}}, {"prior_delinquencies": {"gte": 2}}]})
    ruleset = DurableRuleSet(rule_list, name="unit")
    context = ctx(credit_score=500, prior_delinquencies=3)
    # durable really fires the rule twice for this account ...
    name = ruleset.durable_name("rules")
    assert name is not None
    registered = durable_module._REGISTRY[name]
    fact = ruleset.fact(context, "rules", fact_id=10**9)
    registered.sink.clear()
    durable_module._host().assert_fact(name, fact)
    durable_module._host().retract_fact(name, fact)
    assert registered.sink == [0, 0]
    registered.sink.clear()
    # ... and match() reports it once
    assert ruleset.match(context, "rules") == frozenset({"action:r0"})
    assert both(rule_list, ctx(credit_score=500, prior_delinquencies=0)) == {"action:r0"}
    assert both(rule_list, ctx(credit_score=700, prior_delinquencies=0)) == frozenset()


def test_several_rules_match_one_account() -> None:
    rule_list = rules({"dpd": {"gte": 0}}, {"balance": {"gte": 50}}, {"balance": {"gte": 500}},
                      {"any": [{"balance": 100}, {"balance": 200}]})
    assert both(rule_list, ctx()) == {"action:r0", "action:r1", "action:r3"}


# -- missing values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("score", "expected"), [(None, True), (500, False), (600, True), (700, True)])
def test_not_over_a_missing_value(score: int | None, expected: bool) -> None:
    assert holds({"not": {"credit_score": {"lt": 600}}}, credit_score=score) is expected


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "lte", "gt", "gte"])
def test_a_missing_value_satisfies_no_comparison_and_every_negation(op: str) -> None:
    assert holds({"credit_score": {op: 600}}) is False
    assert holds({"not": {"credit_score": {op: 600}}}) is True


def test_exists() -> None:
    assert holds({"credit_score": {"exists": True}}, credit_score=0) is True
    assert holds({"credit_score": {"exists": False}}, credit_score=0) is False
    assert holds({"credit_score": {"exists": False}}) is True
    assert holds({"not": {"credit_score": {"exists": False}}}) is False
    assert holds({"attributes.x": {"exists": True}}, attributes={"x": None}) is False
    assert holds({"attributes.x": {"exists": True}}, attributes={"x": []}) is True


def test_de_morgan_over_all_and_any_with_missing_values() -> None:
    cond = {"not": {"all": [{"credit_score": {"gte": 700}}, {"prior_delinquencies": 0}]}}
    assert holds(cond) is True
    assert holds(cond, credit_score=750, prior_delinquencies=0) is False
    assert holds(cond, credit_score=750) is True
    cond = {"not": {"any": [{"credit_score": {"gte": 700}}, {"region": "US"}]}}
    assert holds(cond) is True
    assert holds(cond, region="US") is False
    assert holds(cond, region="CN", credit_score=600) is True
    assert holds({"not": {"not": {"credit_score": {"gte": 700}}}}) is False


def test_a_rule_made_only_of_missing_tests_does_not_hang_durable() -> None:
    """durable_rules 2.0.28 spins forever on a branch of `$nex` tests only; the anchor prevents it."""
    script = (
        "from datetime import datetime\nfrom zoneinfo import ZoneInfo\n"
        "from policy_engine.data.records import Account\nfrom policy_engine.decide.facts import FactContext\n"
        "from policy_engine.policy.conditions import parse_condition\n"
        "from policy_engine.decide.rules.base import NamedCondition\n"
        "from policy_engine.decide.rules.durable import DurableRuleSet\n"
        "cond = parse_condition({'any': [{'not': {'credit_score': {'exists': True}}}, {'region': 'US'}]})\n"
        "rs = DurableRuleSet([NamedCondition('hold:h', cond, 'rules')], name='hang')\n"
        "ctx = FactContext(Account.model_validate({'account_id': 'A', 'balance': 1}), (),"
        " datetime.fromisoformat('2026-11-28T09:00:00+00:00'), ZoneInfo('UTC'))\n"
        "print(sorted(rs.match(ctx, 'rules')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "['hold:h']"


# -- in / not_in ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "is_in"), [("US", True), ("CN", True), ("UK", False), ("us", False),
                                               (None, False)])
def test_in_and_not_in(region: str | None, is_in: bool) -> None:
    assert holds({"region": {"in": ["US", "CN"]}}, region=region) is is_in
    assert holds({"region": {"not_in": ["US", "CN"]}}, region=region) is (region is not None and not is_in)
    assert holds({"not": {"region": {"in": ["US", "CN"]}}}, region=region) is (not is_in)
    assert holds({"not": {"region": {"not_in": ["US", "CN"]}}}, region=region) is (region is None or is_in)


def test_in_with_numbers_of_mixed_types() -> None:
    cond = {"attributes.n": {"in": [1, 2.5, True, "3"]}}
    assert holds(cond, attributes={"n": 1}) is True
    assert holds(cond, attributes={"n": True}) is True  # True == 1 in Python
    assert holds(cond, attributes={"n": 2.5}) is True
    assert holds(cond, attributes={"n": 3}) is False
    assert holds(cond, attributes={"n": "3"}) is True
    assert holds(cond, attributes={"n": "1"}) is False
    assert holds({"attributes.n": {"not_in": [1, "3"]}}, attributes={"n": [1]}) is True


# -- booleans and strings -------------------------------------------------------------------------------------


def test_booleans() -> None:
    assert holds({"flags.hardship": True}, flags={"hardship": True}) is True
    assert holds({"flags.hardship": True}) is False
    assert holds({"flags.hardship": False}) is True
    assert holds({"consent.sms": False}) is False  # unknown consent is missing, not false
    assert holds({"not": {"consent.sms": True}}) is True
    assert holds({"consent.sms": {"ne": True}}, consent={"sms": False}) is True
    assert holds({"active_promise": False}) is True
    # free-form attributes compare like Python: True == 1, True != "true"
    assert holds({"attributes.b": True}, attributes={"b": 1}) is True
    assert holds({"attributes.b": True}, attributes={"b": "true"}) is False
    assert holds({"attributes.b": {"ne": True}}, attributes={"b": "true"}) is True
    assert holds({"attributes.b": {"gte": True}}, attributes={"b": 2}) is True


def test_string_equality_is_exact() -> None:
    assert holds({"region": "US"}, region="US") is True
    assert holds({"region": "US"}, region="us") is False
    assert holds({"region": "US"}, region="US-NY") is False
    assert holds({"language": "zh-CN"}, language="zh-CN") is True
    assert holds({"attributes.s": "é😀"}, attributes={"s": "é😀"}) is True
    assert holds({"attributes.s": "a\x00b"}, attributes={"s": "a\x00c"}) is False
    assert holds({"attributes.s": {"ne": "a"}}, attributes={"s": "a\x00"}) is True


def test_strings_are_never_coerced_to_numbers() -> None:
    """durable_rules itself compares the string "1" equal to the number 1; the backend must not."""
    assert holds({"attributes.x": 1}, attributes={"x": "1"}) is False
    assert holds({"attributes.x": {"ne": 1}}, attributes={"x": "1"}) is True
    assert holds({"attributes.x": {"lt": 5}}, attributes={"x": "1"}) is False
    assert holds({"not": {"attributes.x": {"lt": 5}}}, attributes={"x": "1"}) is True
    assert holds({"attributes.x": "1"}, attributes={"x": 1}) is False


def test_strings_are_ordered_like_python() -> None:
    assert holds({"attributes.g": {"lt": "a"}}, attributes={"g": "Z"}) is True  # code point order
    assert holds({"attributes.g": {"gt": "z"}}, attributes={"g": "é"}) is True
    assert holds({"attributes.g": {"gte": "B"}}, attributes={"g": "B"}) is True
    assert holds({"attributes.g": {"lt": "B"}}, attributes={"g": "AZZZ"}) is True
    assert holds({"attributes.g": {"gt": "10"}}, attributes={"g": "9"}) is True  # not numeric


def test_lists_and_tables() -> None:
    assert holds({"attributes.t": {"eq": ["a", "b"]}}, attributes={"t": ["a", "b"]}) is True
    assert holds({"attributes.t": {"eq": ["a", "b"]}}, attributes={"t": ["b", "a"]}) is False
    assert holds({"not": {"attributes.t": {"eq": ["a"]}}}) is True
    assert holds({"attributes.t": {"ne": "a"}}, attributes={"t": ["a"]}) is True
    assert holds({"attributes.t": {"lt": 5}}, attributes={"t": {"k": 1}}) is False
    assert holds({"not": {"attributes.t": {"lt": 5}}}, attributes={"t": {"k": 1}}) is True


# -- numbers --------------------------------------------------------------------------------------------------


def test_decimals_are_compared_exactly() -> None:
    fine = Decimal("1000.0000000000000001")
    assert float(fine) == 1000.0  # a double could not tell these apart
    assert holds({"balance": {"gt": 1000}}, balance=str(fine)) is True
    assert holds({"balance": {"eq": 1000}}, balance=str(fine)) is False
    assert holds({"balance": {"lte": 1000.0}}, balance="1000.00") is True
    assert holds({"balance": 1000}, balance="1000.00") is True
    assert holds({"balance": {"gt": 5000.5}}, balance="5000.4999999999999999") is False
    assert holds({"minimum_due": {"gte": 10}}, minimum_due="1E+2") is True
    assert holds({"attributes.score": {"gt": 0.5}}, attributes={"score": 0.5000000000000001}) is True
    assert holds({"attributes.big": {"gt": 10**19}}, attributes={"big": 10**19 + 1}) is True


def test_values_outside_the_constants_and_between_them() -> None:
    rule_list = rules({"credit_score": {"gte": 600, "lt": 700}})
    for score, expected in [(0, False), (599, False), (600, True), (650, True), (699, True), (700, False),
                            (10**6, False)]:
        assert bool(both(rule_list, ctx(credit_score=score))) is expected


# -- the segment fact, derived facts -------------------------------------------------------------------------


def test_segment_fact_in_the_rules_phase() -> None:
    rule_list = rules({"segment": {"in": ["vip", "low"]}}, {"segment": {"ne": "vip"}})
    assert both(rule_list, ctx(segment="vip")) == {"action:r0"}
    assert both(rule_list, ctx(segment="none")) == {"action:r1"}
    assert both(rule_list, ctx(segment=None)) == frozenset()


def test_facts_with_parameters_are_separate_keys() -> None:
    rule_list = rules({"contacts": {"days": 7, "lt": 1}}, {"contacts": {"days": 30, "channels": ["sms"], "lt": 1}})
    assert both(rule_list, ctx()) == {"action:r0", "action:r1"}


# -- empty combinators, empty phases, names ---------------------------------------------------------------


def test_empty_all_always_holds_and_empty_any_never() -> None:
    rule_list = rules(All(()), Any_(()), All((Any_(()), Compare("dpd", "gte", 0))))
    assert both(rule_list, ctx()) == {"action:r0"}


def test_an_empty_phase_does_not_call_durable(monkeypatch: pytest.MonkeyPatch) -> None:
    ruleset = DurableRuleSet(rules({"dpd": {"gte": 0}}, phase="segments"), name="unit")
    assert ruleset.match(ctx(), "segments") == {"action:r0"}

    def fail() -> None:
        raise AssertionError("durable was called")

    monkeypatch.setattr(durable_module, "_host", fail)
    assert ruleset.match(ctx(), "rules") == frozenset()
    assert ruleset.match(ctx(), "other") == frozenset()
    assert DurableRuleSet([], name="unit").match(ctx(), "segments") == frozenset()
    never = DurableRuleSet(rules(Any_(())), name="unit")  # no rule can hold: durable is not needed
    assert never.durable_name("rules") is None
    assert never.match(ctx(), "rules") == frozenset()


def test_nothing_matching_is_an_empty_set() -> None:
    assert both(rules({"dpd": {"gt": 10}}), ctx()) == frozenset()


def test_building_the_same_ruleset_twice_reuses_it() -> None:
    first = DurableRuleSet(rules({"credit_score": {"gte": 700}}), name="policy_twice")
    second = DurableRuleSet(rules({"credit_score": {"gte": 700}}), name="policy_twice")
    assert first.durable_name("rules") == second.durable_name("rules")
    assert first.match(ctx(credit_score=701), "rules") == {"action:r0"}
    assert second.match(ctx(credit_score=701), "rules") == {"action:r0"}
    assert second.match(ctx(credit_score=600), "rules") == frozenset()
    # other rules under the same name get their own durable ruleset instead of reusing the wrong one
    other = DurableRuleSet(rules({"credit_score": {"lt": 700}}), name="policy_twice")
    assert other.durable_name("rules") != first.durable_name("rules")
    assert other.match(ctx(credit_score=600), "rules") == {"action:r0"}
    assert first.match(ctx(credit_score=600), "rules") == frozenset()


def test_two_engines_on_the_same_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[policy]\nid = "twice"\n\n[[segments]]\nid = "low"\nwhen = { credit_score = { gte = 700 } }\n\n'
        '[[segments]]\nid = "other"\n\n[[stages]]\nid = "early"\ndpd = { from = 0 }\n'
        'when = { not = { segment = "low" } }\n\n  [[stages.actions]]\n  id = "call"\n  channel = "agent"\n',
        encoding="utf-8")
    loaded = load_policy(path)
    engines = [Engine(loaded, backend="durable"), Engine(load_policy(path), backend="durable")]
    account = Account.model_validate({"account_id": "A", "balance": 10, "credit_score": 600})
    decisions = [e.decide(account, (), AS_OF).to_dict() for e in engines]
    assert decisions[0] == decisions[1] == Engine(loaded).decide(account, (), AS_OF).to_dict()
    assert decisions[0]["segment"] == "other" and decisions[0]["stage"] == "early"


def test_a_condition_too_large_for_one_durable_test_is_split_and_still_agrees() -> None:
    # 4**7 = 16384 alternatives: more than durable matches in one test, so the rule is matched in parts
    items = [{"any": [{"credit_score": {"gte": 600 + step}}, {"region": f"R{step}"}, {"product": f"P{step}"},
                      {"prior_delinquencies": step}]} for step in range(7)]
    ruleset = DurableRuleSet(rules({"all": items}), name="unit_split")
    compiled = CompiledRuleSet(rules({"all": items}))
    assert len(ruleset.definition("rules")) > 1  # the one rule became several durable tests
    for fields in ({"credit_score": 700}, {"credit_score": 603}, {"credit_score": 500, "region": "R0"},
                   {"credit_score": 603, "region": "R5", "product": "P6"}):
        account_ctx = ctx(**fields)
        assert ruleset.match(account_ctx, "rules") == compiled.match(account_ctx, "rules")
    assert ruleset.match(ctx(credit_score=700), "rules") == {"action:r0"}
    assert ruleset.match(ctx(credit_score=603), "rules") == frozenset()


def test_concurrent_threads_get_their_own_results() -> None:
    ruleset = DurableRuleSet(rules({"credit_score": {"gte": 700}}, {"credit_score": {"lt": 700}}), name="unit")
    errors: list[str] = []

    def work(score: int) -> None:
        expected = {"action:r0"} if score >= 700 else {"action:r1"}
        for _ in range(300):
            got = ruleset.match(ctx(credit_score=score), "rules")
            if got != expected:
                errors.append(f"{score}: {sorted(got)}")

    threads = [threading.Thread(target=work, args=(s,)) for s in (600, 700, 650, 800)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
