"""The built-in channels against real servers on 127.0.0.1: HTTP provider, SMTP, print-shop folder."""

from __future__ import annotations

import email
import json
import shutil
from email import policy as email_policy
from pathlib import Path
from typing import Any

import pytest
from plugin_servers import MailSink, Provider, make_certificate, start_smtp_tls
from pypdf import PdfReader

from policy_engine.deliver.registry import PluginRegistry
from policy_engine.ledger import AgentQueue, Ledger
from policy_engine.testing import make_action, make_decision, run_dispatch, sample_account


def builtin(*names: str) -> PluginRegistry:
    registry = PluginRegistry()
    registry.load_entry_points(set(names))
    registry.check()
    return registry


def test_sms_is_signed_carries_key_and_opt_out(pe_ledger: Ledger, provider: tuple[Provider, str]) -> None:
    state, url = provider
    action = make_action("sms", template="r", content_rules=["opt_out"])  # a baseline requires the opt-out
    summary = run_dispatch(
        [make_decision("A1", action)], {"A1": sample_account("A1")}, registry=builtin("sms"), ledger=pe_ledger,
        templates={"r": "Your card is {{ dpd }} days past due."},
        settings={"sms": {"url": f"{url}/sms", "secret": "s3cret-value"}},
    )
    assert summary.tally("sms").sent == 1, summary.failures
    (received,) = state.requests
    assert received.signature_ok is True and received.key == action["idempotency_key"]
    assert received.body["to"] == "+15550100"
    assert received.body["text"] == "Your card is 35 days past due.\n\nReply STOP to opt out."
    assert (pe_ledger.get_dispatch(action["idempotency_key"]) or {})["provider_id"] == "prov-1"


def test_wrong_secret_is_a_permanent_failure(pe_ledger: Ledger, provider: tuple[Provider, str]) -> None:
    _, url = provider
    summary = run_dispatch(
        [make_decision("A1", make_action("sms"))], {"A1": sample_account("A1")}, registry=builtin("sms"),
        ledger=pe_ledger, settings={"sms": {"url": f"{url}/sms", "secret": "wrong"}},
    )
    assert "HTTP 401" in summary.failures[0].error and not summary.failures[0].retryable


def test_http_500_and_timeout_are_retried(pe_ledger: Ledger, provider: tuple[Provider, str]) -> None:
    state, url = provider
    state.fail_next(1, status=500)
    state.slow_next(1, delay=1.0)  # accepts, but answers too late: the client times out and retries
    action = make_action("webhook")
    summary = run_dispatch(
        [make_decision("A1", action)], {"A1": sample_account("A1")}, registry=builtin("webhook"),
        ledger=pe_ledger, settings={"webhook": {"url": f"{url}/hook", "secret": "s3cret-value", "timeout": 0.3}},
    )
    assert summary.tally("webhook").sent == 1, summary.failures
    assert state.keys_received() == [action["idempotency_key"]] * 3
    assert state.accepted == {action["idempotency_key"]: 1}
    details = [a["detail"] for a in pe_ledger.list_attempts(action["idempotency_key"])]
    assert "HTTP 500" in details[0] and "timed out" in details[1]
    assert state.requests[-1].body["action"]["channel"] == "webhook"


def test_http_400_is_permanent_and_connection_refused_transient(
    pe_ledger: Ledger, provider: tuple[Provider, str]
) -> None:
    state, url = provider
    state.fail_next(1, status=400)
    decisions = [make_decision("A1", make_action("sms")), make_decision("A2", make_action("sms", key="k-refused"))]
    accounts = {"A1": sample_account("A1"), "A2": sample_account("A2")}
    run_dispatch(decisions[:1], accounts, registry=builtin("sms"), ledger=pe_ledger,
                 settings={"sms": {"url": f"{url}/sms", "secret": "s3cret-value"}})
    refused = run_dispatch(decisions[1:], accounts, registry=builtin("sms"), ledger=pe_ledger,
                           settings={"sms": {"url": "http://127.0.0.1:9/sms", "secret": "x"}})
    assert [d["state"] for d in pe_ledger.list_dispatches()] == ["failed_permanent", "failed_transient"]
    assert refused.failures[0].retryable and len(state.requests) == 1


def test_voice_passes_provider_outcome_and_refuses_debt_words(
    pe_ledger: Ledger, provider: tuple[Provider, str]
) -> None:
    state, url = provider
    state.outcome = "voicemail"
    rules = ["limited_content_voicemail"]  # what the engine attaches under a US baseline
    ok = make_action("voice", template="ok", content_rules=rules)
    bad = make_action("voice", template="bad", content_rules=rules)
    summary = run_dispatch(
        [make_decision("A1", ok), make_decision("A2", bad)],
        {"A1": sample_account("A1"), "A2": sample_account("A2")}, registry=builtin("voice"), ledger=pe_ledger,
        templates={"ok": "This is Jane from Acme. Please call 555-0100.",
                   "bad": "You owe {{ account.balance }}."},
        settings={"voice": {"url": f"{url}/call", "secret": "s3cret-value"}},
    )
    assert summary.tally("voice").sent == 1 and len(state.requests) == 1
    assert "limited_content_voicemail" in summary.failures[0].error
    (event,) = [e for e in pe_ledger.iter_history() if e["outcome"] != "failed"]
    assert event["outcome"] == "voicemail"


def test_voice_script_may_name_the_debt_where_no_baseline_limits_voicemail(
    pe_ledger: Ledger, provider: tuple[Provider, str]
) -> None:
    state, url = provider
    summary = run_dispatch(
        [make_decision("A1", make_action("voice", template="cn"))], {"A1": sample_account("A1")},
        registry=builtin("voice"), ledger=pe_ledger, templates={"cn": "您的账户已逾期，请尽快还款。"},
        settings={"voice": {"url": f"{url}/call", "secret": "s3cret-value"}},
    )
    assert summary.tally("voice").sent == 1 and state.requests[0].body["script"] == "您的账户已逾期，请尽快还款。"


def _mail(sink: MailSink, index: int = 0) -> Any:
    return email.message_from_bytes(sink.messages[index][2], policy=email_policy.default)


def test_email_text_html_and_opt_out_over_smtp(pe_ledger: Ledger, smtp: tuple[MailSink, int]) -> None:
    sink, port = smtp
    action = make_action("email", template="n", content_rules=["opt_out"])
    summary = run_dispatch(
        [make_decision("A1", action)], {"A1": sample_account("A1")}, registry=builtin("email"),
        ledger=pe_ledger,
        templates={"n": {"txt": "Balance {{ account.balance }}", "html": "<p>Balance {{ account.balance }}</p>",
                         "subject": "About account {{ account.account_id }}"}},
        settings={"email": {"host": "127.0.0.1", "port": port, "security": "plain",
                            "from_addr": "collections@bank.test"}},
    )
    assert summary.tally("email").sent == 1, summary.failures
    mail = _mail(sink)
    assert sink.messages[0][1] == ["a1@example.test"]
    assert mail["Subject"] == "About account A1" and mail["X-Idempotency-Key"] == action["idempotency_key"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Balance 1234.56" in text and "reply with the word STOP" in text
    assert "<p>Balance 1234.56</p>" in html and "opt-out" in html


def test_email_starttls_required_but_not_offered(pe_ledger: Ledger, smtp: tuple[MailSink, int]) -> None:
    sink, port = smtp
    summary = run_dispatch(
        [make_decision("A1", make_action("email"))], {"A1": sample_account("A1")}, registry=builtin("email"),
        ledger=pe_ledger, settings={"email": {"host": "127.0.0.1", "port": port, "from_addr": "c@bank.test"}},
    )
    assert "STARTTLS" in summary.failures[0].error and sink.messages == []


def test_letter_pdf_with_chinese_text_and_single_manifest_line(
    pe_ledger: Ledger, tmp_path: Path, cjk_font: str
) -> None:
    outbox = tmp_path / "print-shop"
    action = make_action("letter", template="arrears_notice", notice="arrears_notice")
    account = sample_account("A1", language="zh-CN", name="张三", contact={"address": "上海市浦东新区世纪大道100号"})
    body = ("尊敬的{{ account.name }}：您的信用卡已逾期 {{ dpd }} 天，"
            "欠款 ¥{{ account.balance }}。逾期将影响您的信用记录。")
    templates = {"arrears_notice": {"subject": "逾期通知", "txt": body}}
    settings = {"letter": {"outbox": str(outbox), "sender": "示例银行 信用卡中心"}}
    summary = run_dispatch([make_decision("A1", action)], {"A1": account}, registry=builtin("letter"),
                           ledger=pe_ledger, templates=templates, settings=settings)
    assert summary.tally("letter").sent == 1, summary.failures
    (entry,) = [json.loads(line) for line in (outbox / "manifest.jsonl").read_text().splitlines()]
    assert entry["idempotency_key"] == action["idempotency_key"] and entry["notice"] == "arrears_notice"
    text = "".join(p.extract_text() for p in PdfReader(outbox / entry["file"]).pages)
    for expected in ("尊敬的张三", "逾期 35 天", "¥1234.56", "信用记录", "逾期通知", "上海市浦东新区", "示例银行"):
        assert expected in text, (expected, text)
    from policy_engine_channels import letter  # a second write (re-send after a crash) adds no manifest line

    letter.policy_engine_send(channel=letter.SPEC, action=action, account=account,
                              message=_message("again"), settings=settings["letter"])
    assert len((outbox / "manifest.jsonl").read_text().splitlines()) == 1


def _message(text: str) -> Any:
    from policy_engine.hookspecs import Message

    return Message(text=text)


def test_legal_referral_carries_notice_history(pe_ledger: Ledger, tmp_path: Path) -> None:
    pe_ledger.append_history([
        {"account_id": "A1", "at": "2026-08-01T09:00:00+08:00", "type": "contact", "channel": "letter",
         "outcome": "sent", "action": "pre_legal_warning", "notice": "pre_legal_warning"},
        {"account_id": "A1", "at": "2026-08-02T09:00:00+08:00", "type": "contact", "channel": "sms"},
    ])
    drop = tmp_path / "legal-drop"
    action = make_action("legal", action="legal_referral")
    summary = run_dispatch([make_decision("A1", action, dpd=120, stage="legal")], {"A1": sample_account("A1")},
                           registry=builtin("legal"), ledger=pe_ledger, settings={"legal": {"drop_folder": str(drop)}})
    assert summary.tally("legal").sent == 1, summary.failures
    (referral_file,) = drop.glob("*.json")
    referral = json.loads(referral_file.read_text())
    assert [n["notice"] for n in referral["notice_history"]] == ["pre_legal_warning"]
    assert referral["decision"]["dpd"] == 120 and referral["account"]["balance"] == "1234.56"
    event = list(pe_ledger.iter_history("A1"))[-1]
    assert event["channel"] == "legal" and event["counts_as_attempt"] is False


def test_agent_task_queued_once(pe_ledger: Ledger) -> None:
    action = make_action("agent", action="courtesy_call", template="script")
    decision = make_decision("A1", action, segment="high_risk")
    for _ in range(2):
        run_dispatch([decision], {"A1": sample_account("A1")}, registry=builtin("agent"), ledger=pe_ledger,
                     templates={"script": "Explain the impact on the credit record; offer {{ offer }}."})
    (task,) = AgentQueue(pe_ledger).list()
    assert task["state"] == "open" and task["message"] == "Explain the impact on the credit record; offer None."
    assert task["payload"]["segment"] == "high_risk"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls_verifies_the_server(pe_ledger: Ledger, tmp_path: Path, security: str) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed: cannot make a test certificate")
    cert, key = make_certificate(str(tmp_path))
    controller, sink = start_smtp_tls(cert, key, implicit=security == "ssl")
    try:
        base = {"host": "127.0.0.1", "port": controller.port, "security": security, "from_addr": "c@bank.test"}
        trusted = run_dispatch([make_decision("A1", make_action("email"))], {"A1": sample_account("A1")},
                               registry=builtin("email"), ledger=pe_ledger,
                               settings={"email": {**base, "ca_file": cert}})
        untrusted = run_dispatch([make_decision("A2", make_action("email"))], {"A2": sample_account("A2")},
                                 registry=builtin("email"), ledger=pe_ledger, settings={"email": base})
    finally:
        controller.stop()
    assert trusted.tally("email").sent == 1, trusted.failures
    assert len(sink.messages) == 1 and sink.messages[0][1] == ["a1@example.test"]
    assert untrusted.tally("email").failed == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.failures[0].error
