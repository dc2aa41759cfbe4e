"""Templates: sandboxed, strict, validated with locations; the voice limited-content rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.deliver.registry import PluginRegistry
from policy_engine.deliver.templates import TemplateError, TemplateStore, render, validate_template, with_opt_out
from policy_engine.hookspecs import Message


def test_unknown_variable_is_a_located_issue() -> None:
    issues = validate_template("Dear {{ account.name }},\nyou owe {{ balanse }}.", file="t.txt")
    (issue,) = issues
    assert issue.code == "unknown_variable" and issue.path == "balanse"
    assert str(issue.location) == "t.txt:2"


def test_unknown_account_field_and_syntax_error() -> None:
    (issue,) = validate_template("{{ account.balanse }}")
    assert issue.path == "account.balanse" and "balance" in (issue.hint or "")
    (syntax,) = validate_template("line one\n{{ account.balance ", file="x")
    assert syntax.code == "template_syntax" and syntax.location.line == 2


def test_loop_variables_and_allowed_names_pass() -> None:
    source = "{% for k in account.flags %}{{ k }}{% endfor %}{% set total = account.balance %}{{ total }}"
    assert validate_template(source) == []
    assert validate_template("{{ foo }}", ["foo"]) == []


def test_render_is_strict_and_sandboxed() -> None:
    with pytest.raises(TemplateError, match="undefined"):
        render(TemplateStore.from_mapping({"t": "{{ nothing }}"}).get("t"), {})
    with pytest.raises(TemplateError, match="Security|unsafe|access"):
        render(TemplateStore.from_mapping({"t": "{{ x.__class__.__subclasses__() }}"}).get("t"), {"x": 1})


def test_html_part_is_escaped_text_is_not() -> None:
    store = TemplateStore.from_mapping({"t": {"txt": "{{ n }}", "html": "<p>{{ n }}</p>", "subject": "S {{ n }}"}})
    message = render(store.get("t"), {"n": "<b>&"})
    assert message.text == "<b>&" and message.html == "<p>&lt;b&gt;&amp;</p>" and message.subject == "S <b>&"


def test_directory_store_with_language_fallback(tmp_path: Path) -> None:
    (tmp_path / "notice.txt").write_text("Default")
    (tmp_path / "notice.zh.txt").write_text("中文")
    (tmp_path / "notice.subject").write_text("Subject\n")
    (tmp_path / "README.md").write_text("ignored")
    store = TemplateStore.from_directory(tmp_path)
    assert store.ids() == ["notice"]
    assert store.get("notice", "zh-CN").text == "中文"
    assert store.get("notice", "en-US").subject == "Subject"
    with pytest.raises(TemplateError, match="missing"):
        store.get("missing")


def test_opt_out_appended_once() -> None:
    message = with_opt_out(Message(text="Hi", html="<p>Hi</p>"), "Reply STOP to opt out.")
    assert message.text.endswith("Reply STOP to opt out.") and "opt-out" in (message.html or "")
    assert with_opt_out(message, "Reply STOP to opt out.") == message


def test_voice_templates_must_be_limited_content() -> None:
    registry = PluginRegistry()
    registry.load_entry_points({"voice", "sms"})
    voice = registry.registered_channels()["voice"]
    sms = registry.registered_channels()["sms"]
    bad = "This is Acme.\nYou owe {{ account.balance }} on your overdue account, 欠款 ¥300.00."
    validate_voice = registry.owner_hook("voice", "policy_engine_validate_template")
    validate_sms = registry.owner_hook("sms", "policy_engine_validate_template")
    issues = [i for lst in validate_voice(channel=voice, template_id="call", source=bad) if lst for i in lst]
    found = {i.message.split("'")[1] for i in issues}
    assert {"owe", "overdue", "欠款", "account.balance"} <= found
    assert all(i.code == "limited_content_voicemail" and i.location.line == 2 for i in issues)
    good = "This is Jane from Acme for {{ account.name }}. Please call us back at 555-0100."
    assert not any(validate_voice(channel=voice, template_id="c", source=good))
    assert not any(validate_sms(channel=sms, template_id="c", source=bad))


def test_validate_store_reports_files_lines_and_channel_rules(tmp_path: Path) -> None:
    (tmp_path / "call.txt").write_text("This is Acme.\nYour balance is {{ account.balance }}.\n")
    (tmp_path / "remind.txt").write_text("Hi {{ account.nam }}")
    registry = PluginRegistry()
    registry.load_entry_points({"voice"})
    from policy_engine.deliver.templates import validate_store

    issues = validate_store(TemplateStore.from_directory(tmp_path), [("voice", "call"), ("voice", "gone")],
                            registry.channel_catalogue())
    rendered = sorted(str(i) for i in issues)
    assert any(r.startswith(f"{tmp_path / 'remind.txt'}:1: error: account.nam") for r in rendered)
    assert any(r.startswith(f"{tmp_path / 'call.txt'}:2: error: call:") and "balance" in r for r in rendered)
    assert any("'gone' does not exist" in r for r in rendered)
