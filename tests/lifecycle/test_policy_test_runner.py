"""`policy-engine test` and the suite runner (lifecycle.suite, lifecycle.coverage) on small policies."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine._exceptions import PolicyError
from policy_engine.cli import app
from policy_engine.lifecycle.coverage import Rule, measure, policy_rules
from policy_engine.lifecycle.suite import TestDataError, collect_targets, run_paths, run_suite
from policy_engine.policy.loader import load_policy

TEMPLATES = """
[templates.t."zh-CN"]
body = "您好"
"""

# Two texting actions in one stage, quiet hours, a dispute hold. 9:00 Shanghai time is inside the hours.
POLICY = """
[policy]
id = "runner-bank"
version = "1"
timezone = "Asia/Shanghai"
locale = "zh-CN"

[guardrails]
contact_hours = { start = "08:00", end = "21:00" }

[[holds]]
id = "dispute"
when = { flags.dispute = true }

[[stages]]
id = "early"
dpd = { from = 1, to = 29 }
  [[stages.actions]]
  id = "remind_sms"
  channel = "sms"
  template = "t"
  every_days = 3
  [[stages.actions]]
  id = "remind_call"
  channel = "voice"
  template = "t"
""" + TEMPLATES

ACCOUNT = ('account = { account_id = "A1", balance = 500, delinquent_since = 2026-11-20, '
           'contact.phone = "+8613800000000" }')


def case(name: str, *expect: str, as_of: str = "2026-11-28T09:00:00+08:00", account: str = ACCOUNT,
         extra: str = "") -> str:
    """One [[tests]] table."""
    lines = ["", "[[tests]]", f'name = "{name}"', f"as_of = {as_of}", account, *([extra] if extra else []), *expect]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["test", *map(str, args)])
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def header_line(path: Path, nth: int = 0) -> int:
    """1-based line of the nth [[tests]] header of a file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return [i + 1 for i, line in enumerate(lines) if line.strip() == "[[tests]]"][nth]


@pytest.fixture
def chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------------------------------- pass / fail
def test_passing_test_exits_0_with_one_line_per_test_and_the_summary(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY + case(
        "both reminders go", 'expect.actions = ["remind_sms", "remind_call"]', 'expect.stage = "early"',
        "expect.suppressed = []", "expect.holds = []"))
    code, out, _ = run(policy)
    assert code == 0, out
    assert f"PASS both reminders go  (bank.toml:{header_line(policy)})" in out.splitlines()
    assert out.splitlines()[-1] == "1 passed, 0 failed"


def test_failing_test_shows_expected_vs_actual_and_the_explanation(chdir: Path) -> None:
    # at 22:00 quiet hours stop both; the test expects the SMS
    policy = write(chdir / "bank.toml", POLICY + case(
        "late sms", 'expect.actions = ["remind_sms"]', as_of="2026-11-28T22:00:00+08:00"))
    code, out, _ = run(policy)
    assert code == 4
    line = header_line(policy)
    assert f"FAIL late sms  (bank.toml:{line})" in out
    detail = out.split(f"FAIL late sms  (bank.toml:{line})")[2]
    assert "expected:   remind_sms" in detail
    assert "actual:     (none)" in detail
    assert "missing:    remind_sms" in detail
    assert "explanation:" in detail
    assert "quiet_hours — it is 22:00 local time" in detail  # the trace says why
    assert "DPD 8 in 1-29" in detail
    assert "0 passed, 1 failed" in out.splitlines()


def test_an_unlisted_action_makes_the_test_fail(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY + case("only sms", 'expect.actions = ["remind_sms"]'))
    code, out, _ = run(policy)
    assert code == 4
    assert "unexpected: remind_call" in out
    assert "missing:" not in out


def test_an_omitted_list_is_not_checked(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY + case("stage only", 'expect.stage = "early"'))
    assert run(policy)[0] == 0


def test_empty_list_means_nothing_may_happen(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY + case("nothing", "expect.actions = []"))
    code, out, _ = run(policy)
    assert code == 4
    assert "unexpected: remind_call, remind_sms" in out


def test_suppressions_match_by_action_and_reason(chdir: Path) -> None:
    held = ACCOUNT.replace("}", ", flags.dispute = true }")
    good = case("dispute holds", "expect.actions = []", 'expect.holds = ["dispute"]',
                'expect.suppressed = [{ action = "remind_sms", reason = "hold" }, '
                '{ action = "remind_call", reason = "hold" }]', account=held)
    wrong = case("wrong reason", 'expect.suppressed = [{ action = "remind_sms", reason = "hold" }, '
                 '{ action = "remind_call", reason = "quiet_hours" }]', account=held)
    policy = write(chdir / "bank.toml", POLICY + good + wrong)
    code, out, _ = run(policy)
    assert code == 4
    assert "PASS dispute holds" in out
    assert "missing:    remind_call (quiet_hours)" in out
    assert "unexpected: remind_call (hold)" in out


def test_channel_and_send_at_are_compared_when_given(chdir: Path) -> None:
    early = "2026-11-28T07:00:00+08:00"  # before the window: sent when it opens at 08:00
    ok = case("send at 8", 'expect.actions = [{ action = "remind_sms", channel = "sms", '
              'send_at = 2026-11-28T00:00:00Z }, "remind_call"]', as_of=early)
    bad = case("wrong channel and time", 'expect.actions = [{ action = "remind_sms", channel = "email", '
               'send_at = 2026-11-28T07:00:00+08:00 }, "remind_call"]', as_of=early)
    policy = write(chdir / "bank.toml", POLICY + ok + bad)
    code, out, _ = run(policy)
    assert code == 4
    assert "PASS send at 8" in out  # the same instant written in UTC
    assert "remind_sms: channel expected email, actual sms" in out
    assert "remind_sms: send_at expected 2026-11-28T07:00:00+08:00, actual 2026-11-28T08:00:00+08:00" in out


def test_stage_none_expects_no_stage(chdir: Path) -> None:
    # (in a sibling file: the loader's own check of embedded tests does not accept stage "none")
    current = ACCOUNT.replace("delinquent_since = 2026-11-20, ", "")
    policy = write(chdir / "bank.toml", POLICY)
    write(chdir / "bank_test.toml", case("current account", 'expect.stage = "none"', "expect.actions = []",
                                         'expect.segment = "none"', account=current)
          + case("delinquent", 'expect.stage = "none"'))
    code, out, _ = run(policy)
    assert code == 4
    assert "PASS current account" in out
    assert "stage: expected none, actual early" in out


# --------------------------------------------------------------------------------------- discovery
def test_sibling_test_file_is_discovered_from_the_policy_and_from_a_directory(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY + case("embedded", 'expect.stage = "early"'))
    sibling = write(chdir / "bank_test.toml", case("from sibling", 'expect.actions = ["remind_sms", "remind_call"]'))
    for target in (policy, chdir, sibling):
        code, out, _ = run(target)
        assert code == 0, out
        assert f"PASS embedded  (bank.toml:{header_line(policy)})" in out
        assert f"PASS from sibling  (bank_test.toml:{header_line(sibling)})" in out
        assert out.splitlines()[-1] == "2 passed, 0 failed"
    # named twice: run once
    assert run(policy, sibling)[1].splitlines()[-1] == "2 passed, 0 failed"


def test_directory_walk_is_sorted_and_skips_test_files_as_policies(chdir: Path) -> None:
    write(chdir / "b.toml", POLICY.replace("runner-bank", "b") + case("b1", 'expect.stage = "early"'))
    sub = chdir / "sub"
    sub.mkdir()
    write(sub / "a.toml", POLICY.replace("runner-bank", "a"))
    write(sub / "a_test.toml", case("a1", 'expect.stage = "early"'))
    targets, issues = collect_targets([chdir])
    assert issues == []
    assert [(t.policy.name, t.test_file.name if t.test_file else None) for t in targets] == [
        ("b.toml", None), ("a.toml", "a_test.toml")]


def test_a_test_file_without_its_policy_is_an_error(chdir: Path) -> None:
    write(chdir / "lonely_test.toml", case("x", "expect.actions = []"))
    code, _, err = run(chdir / "lonely_test.toml")
    assert code == 3
    assert "lonely_test.toml:1:1: error: test file without a policy: expected lonely.toml next to it" in err
    assert run(chdir)[0] == 3


def test_missing_path_and_empty_directory(chdir: Path) -> None:
    code, _, err = run(chdir / "nope.toml")
    assert code == 3 and "no such file or directory" in err
    (chdir / "empty").mkdir()
    code, _, err = run(chdir / "empty")
    assert code == 3 and "no policy files found" in err


# ------------------------------------------------------------------------------------------ invalid
def test_invalid_test_data_is_located_and_exits_3(chdir: Path) -> None:
    write(chdir / "bank.toml", POLICY)
    tests = write(chdir / "bank_test.toml", "\n".join([
        "[[tests]]",
        'name = "bad"',
        "as_of = 2026-11-28T09:00:00+08:00",
        'account = { account_id = "A1", balance = "lots", flags.disput = true }',
        'history = [ { type = "contact", at = 2026-11-27T10:00:00+08:00, channel = "sms" } ]',
        'expect.actions = ["remind_smss"]',
        "",
    ]))
    code, out, err = run(tests)
    assert code == 3
    lines = err.splitlines()
    assert "bank_test.toml:4:32: error: tests[0].account.balance: invalid account: balance: 'lots' is not a number" \
        in lines
    assert any(x.startswith("bank_test.toml:4:50: error: tests[0].account.flags.disput: unknown account field "
                            "'flags.disput' — did you mean 'dispute'?") for x in lines), err
    assert "bank_test.toml:5:13: error: tests[0].history[0]: invalid history event: a contact event needs outcome" \
        in lines
    assert any(x.startswith("bank_test.toml:6:19: error: tests[0].expect.actions[0]: unknown action "
                            "'remind_smss' — did you mean 'remind_sms'?") for x in lines), err
    assert "error: the tests of bank.toml did not run: its test data is invalid" in lines
    assert "PASS" not in out and "FAIL" not in out


def test_history_of_another_account_and_naive_send_at_are_invalid(chdir: Path) -> None:
    write(chdir / "bank.toml", POLICY)
    write(chdir / "bank_test.toml", case(
        "mixed", 'expect.actions = [{ action = "remind_sms", send_at = 2026-11-28T09:00:00 }]',
        extra='history = [ { account_id = "B2", type = "payment", at = 2026-11-27T10:00:00+08:00 } ]'))
    with pytest.raises(TestDataError) as info:
        run_suite(chdir / "bank.toml")
    messages = [i.message for i in info.value.issues]
    assert "history event of account 'B2', but the test's account is 'A1'" in messages
    assert "send_at needs a UTC offset, e.g. 2026-11-28T09:00:00+08:00" in messages


def test_unknown_key_in_a_test_file_is_invalid_test_data(chdir: Path) -> None:
    write(chdir / "bank.toml", POLICY)
    write(chdir / "bank_test.toml", case("typo", "expect.action = []"))
    code, _, err = run(chdir / "bank.toml")
    assert code == 3
    assert "bank_test.toml:6:1: error: tests[0].expect.action: unknown key 'action' — did you mean 'actions'?" in err
    assert "its test data is invalid" in err


def test_invalid_policy_exits_3(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY.replace('channel = "sms"', 'channel = "smss"')
                   + case("x", "expect.actions = []"))
    code, out, err = run(policy)
    assert code == 3
    assert "unknown channel 'smss'" in err
    assert "the policy is invalid" in err
    assert out.splitlines()[-1] == "0 passed, 0 failed"


def test_invalid_policy_wins_over_failing_tests(chdir: Path) -> None:
    write(chdir / "a.toml", POLICY + case("fails", "expect.actions = []"))
    write(chdir / "b.toml", "[policy]\nid = 'b'\nbogus = 1\n")
    code, out, _ = run(chdir)
    assert code == 3
    assert "FAIL fails" in out


# ----------------------------------------------------------------------------------------- coverage
def test_policy_rules_list_every_kind_in_order(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", """
        [policy]
        id = "rules"
        timezone = "Asia/Shanghai"
        locale = "zh-CN"

        [guardrails]
        contact_hours = { start = "08:00", end = "21:00" }
        holidays = "CN"
        max_contacts_per_day = 3
        pause_while_promise_active = true
        caps = [{ channels = ["sms"], max = 2, days = 7 }]
        legal = { min_dpd = 90, notice_channels = ["letter"], min_notice_days = 30, time_barred_after_days = 1000 }

        [[holds]]
        id = "dispute"
        when = { flags.dispute = true }

        [[notices]]
        id = "warning"

        [[segments]]
        id = "risky"
        when = { credit_score = { lt = 600 } }
        [[segments]]
        id = "rest"

        [[stages]]
        id = "early"
        dpd = { from = 1, to = 89 }
          [[stages.actions]]
          id = "sms"
          channel = "sms"
          template = "t"
          every_days = 3
          offer = "plan"
        [[stages]]
        id = "legal"
        dpd = { from = 90 }
          [[stages.actions]]
          id = "letter"
          channel = "letter"
          template = "t"
          notice = "warning"
          once = true
          [[stages.actions]]
          id = "refer"
          channel = "legal"
          requires = { notice = "warning", delivered_days_ago = { gte = 30 } }
          once = true

        [[offers]]
        id = "plan"
        kind = "installment"
        months = 12

        [escalation.broken_promise]
        action = { id = "followup", channel = "agent" }
        """ + TEMPLATES)
    rules = policy_rules(load_policy(policy))
    assert [str(r) for r in rules] == [
        "segment risky", "segment rest", "stage early", "stage legal", "action sms", "action letter",
        "action refer", "action followup", "offer plan", "hold dispute",
        "guardrail quiet_hours", "guardrail holiday", "guardrail frequency_cap", "guardrail daily_cap",
        "guardrail hold", "guardrail no_consent", "guardrail no_contact_point", "guardrail missing_notice",
        "guardrail notice_waiting_period", "guardrail cadence", "guardrail already_sent",
        "guardrail promise_active", "guardrail time_barred",
    ]


def test_guardrail_rules_only_for_reasons_the_policy_can_produce(chdir: Path) -> None:
    # agent tasks are calls: contact hours, the daily cap, voice consent and a phone number apply to them
    text = """
        [policy]
        id = "agents"
        timezone = "Asia/Shanghai"
        [guardrails]
        contact_hours = { start = "08:00", end = "21:00" }
        max_contacts_per_day = 2
        [[stages]]
        id = "s"
        dpd = { from = 1 }
          [[stages.actions]]
          id = "task"
          channel = "agent"
        """
    policy = write(chdir / "agent.toml", text)
    assert [str(r) for r in policy_rules(load_policy(policy))] == [
        "stage s", "action task", "guardrail quiet_hours", "guardrail daily_cap", "guardrail no_consent",
        "guardrail no_contact_point"]
    # a webhook to the bank's own systems reaches no customer: none of those guardrails can fire
    webhook = write(chdir / "webhook.toml", text.replace('channel = "agent"', 'channel = "webhook"'))
    assert [str(r) for r in policy_rules(load_policy(webhook))] == ["stage s", "action task"]


AGENT_POLICY = """
[policy]
id = "agents"
timezone = "Asia/Shanghai"

[[stages]]
id = "early"
dpd = { from = 1, to = 29 }
  [[stages.actions]]
  id = "task"
  channel = "webhook"
  [[stages.actions]]
  id = "big_task"
  channel = "webhook"
  when = { balance = { gte = 1000 } }
"""


def test_coverage_numbers_are_exact(chdir: Path) -> None:
    policy = write(chdir / "agents.toml", AGENT_POLICY + case("small balance", 'expect.actions = ["task"]'))
    suite = run_suite(policy)
    assert (suite.coverage.hit, suite.coverage.total, suite.coverage.percent) == (2, 3, 66)
    assert suite.coverage.uncovered() == [Rule("action", "big_task")]
    code, out, _ = run(policy, "--coverage")
    assert code == 0
    assert "coverage agents.toml: 66% (2 of 3 rules)" in out
    assert "  uncovered action: big_task" in out
    assert out.splitlines()[-1] == "1 passed, 0 failed"


def test_threshold_uses_the_floor(chdir: Path) -> None:
    policy = write(chdir / "agents.toml", AGENT_POLICY + case("small balance", 'expect.actions = ["task"]'))
    code, out, _ = run(policy, "--threshold", "67")  # 2/3 = 66.67% is 66%, never rounded up
    assert code == 4
    assert "coverage 66% is below the threshold 67%" in out
    assert out.splitlines()[-1] == "1 passed, 0 failed"
    code, out, _ = run(policy, "--threshold", "66")
    assert code == 0
    assert "coverage agents.toml: 66% (2 of 3 rules)" in out  # --threshold implies --coverage


def test_full_coverage_and_bad_threshold(chdir: Path) -> None:
    big = ACCOUNT.replace("balance = 500", "balance = 5000")
    policy = write(chdir / "agents.toml", AGENT_POLICY + case("big", 'expect.actions = ["task", "big_task"]',
                                                                 account=big))
    assert run(policy, "--threshold", "100")[0] == 0
    assert run(policy, "--threshold", "101")[0] == 2


def test_baselines_are_reported_but_not_held_to_the_threshold(chdir: Path) -> None:
    write(chdir / "base.toml", """
        [policy]
        id = "base"
        kind = "baseline"
        [[holds]]
        id = "dispute"
        when = { flags.dispute = true }
        """)
    code, out, _ = run(chdir / "base.toml", "--threshold", "90")
    assert code == 0
    assert "coverage base.toml: 0% (0 of 1 rule)" in out
    assert "(a baseline: not held to --threshold)" in out
    assert out.splitlines()[-1] == "0 passed, 0 failed"


def test_a_policy_without_tests_fails_a_threshold(chdir: Path) -> None:
    write(chdir / "agents.toml", AGENT_POLICY)
    code, out, _ = run(chdir / "agents.toml", "--threshold", "1")
    assert code == 4
    assert "agents.toml: agents — 0 tests" in out


def test_failing_tests_still_count_for_coverage(chdir: Path) -> None:
    policy = write(chdir / "agents.toml", AGENT_POLICY + case("wrong", "expect.actions = []"))
    suite = run_suite(policy)
    assert suite.failed == 1
    assert suite.coverage.percent == 66


def test_measure_offers_holds_and_reasons(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY.replace("[[stages]]", """
[[offers]]
id = "plan"
kind = "installment"
months = 12
when = { balance = { gte = 100 } }

[[stages]]""", 1))
    loaded = load_policy(policy)
    suite = run_suite(policy, loaded=loaded)
    assert suite.coverage.hit == 0
    write(chdir / "bank_test.toml", case("held", 'expect.holds = ["dispute"]',
                                         account=ACCOUNT.replace("}", ", flags.dispute = true }")))
    cov = run_suite(policy).coverage
    covered = {str(r) for r in cov.rules if r in cov.covered}
    assert covered == {"stage early", "action remind_sms", "action remind_call", "offer plan", "hold dispute",
                       "guardrail hold"}
    assert measure(loaded, []).percent == 0


# ----------------------------------------------------------------------------------- formats, order
def test_json_format(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY + case("ok", 'expect.stage = "early"')
                   + case("bad", 'expect.actions = ["remind_sms"]'))
    result = CliRunner().invoke(app, ["test", str(policy), "--format", "json", "--threshold", "90"])
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert (data["passed"], data["failed"]) == (1, 1)
    suite = data["suites"][0]
    assert suite["policy"] == "bank.toml" and suite["id"] == "runner-bank"
    ok, bad = suite["tests"]
    assert ok == {"name": "ok", "file": "bank.toml", "line": header_line(policy, 0), "status": "pass"}
    assert bad["status"] == "fail" and bad["line"] == header_line(policy, 1)
    assert bad["mismatches"][0]["unexpected"] == ["remind_call"]
    assert bad["decision"]["trace"]
    assert suite["coverage"]["total"] == 10 and data["below_threshold"] == ["bank.toml"]


def test_output_is_deterministic(chdir: Path) -> None:
    policy = write(chdir / "bank.toml", POLICY + case("bad", "expect.actions = []") + case("ok", "expect.holds = []"))
    first = run(policy, "--coverage")
    assert first == run(policy, "--coverage")
    assert first[1].index("FAIL bad") < first[1].index("PASS ok")


def test_library_api_never_raises_from_run_paths(chdir: Path) -> None:
    write(chdir / "good.toml", POLICY + case("ok", 'expect.stage = "early"'))
    write(chdir / "broken.toml", "[policy\n")
    report = run_paths([chdir])
    assert [s.policy_path for s in report.suites] == ["good.toml"]
    assert report.invalid == [("broken.toml", "policy")]
    assert report.issues and "TOML syntax error" in report.issues[0].message
    with pytest.raises(PolicyError):
        run_suite(chdir / "broken.toml")


# ------------------------------------------------------------------------------------ simulated span
def test_simulated_span(chdir: Path) -> None:
    pytest.importorskip("policy_engine.lifecycle.simulate")
    good = case("a week", 'expect.actions = [{ action = "remind_sms", send_at = 2026-12-01T09:00:00+08:00 }, '
                '"remind_call"]', 'expect.suppressed = [{ action = "remind_sms", reason = "cadence" }]',
                extra="days = 7")
    bad = case("span without cadence", 'expect.suppressed = []', extra="days = 3")
    policy = write(chdir / "bank.toml", POLICY + good + bad)
    code, out, _ = run(policy)
    assert code == 4
    assert "PASS a week" in out
    assert "FAIL span without cadence" in out
    assert "2026-11-29T09:00:00+08:00 DPD 9 early: remind_call (voice); suppressed remind_sms (cadence)" in out
    assert "explained day: 2026-11-29T09:00:00+08:00" in out
    suite = run_suite(policy)
    assert len(suite.results[0].decisions) == 7
