"""The e-mail written directly reads, to a mail client, exactly like the standard library's message."""

from __future__ import annotations

import email
from email import policy as email_policy
from typing import Any

import pytest
from policy_engine_channels._common import channel_settings
from policy_engine_channels.email import build_email, compose_email
from policy_engine_channels.mime import plain_mime

from policy_engine.hookspecs import Message

CONF = channel_settings("email", {"from_addr": "collections@bank.test", "reply_to": "help@bank.test"})
MESSAGES = [
    Message(text="Balance 1234.56\nCall us.", subject="About account A1"),
    Message(text="尊敬的客户：您的信用卡已逾期 35 天。\n请尽快还款。",
            subject="关于您的信用卡账户：逾期提醒（第二次通知）请尽快处理"),
    Message(text="x" * 2000 + "\n.leading dot line", html="<p>Balance <b>1234.56</b></p>\n<p>é</p>", subject=None),
    Message(text="", html="", subject="Empty"),
]


def _read(data: bytes) -> Any:
    return email.message_from_bytes(data, policy=email_policy.default)


def _seen(mail: Any) -> tuple[Any, ...]:
    html = mail.get_body(("html",))
    return (mail["From"], mail["To"], mail["Subject"], mail["Message-ID"], mail["X-Idempotency-Key"],
            mail["Reply-To"], mail.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n"),
            html.get_content().replace("\r\n", "\n").rstrip("\n") if html is not None else None)


@pytest.mark.parametrize("message", MESSAGES, ids=["ascii", "chinese-subject-and-body", "long-line-and-html", "empty"])
def test_the_direct_message_reads_like_the_standard_librarys(message: Message) -> None:
    action = {"content_rules": ["opt_out"]}
    direct = compose_email(message, to="a1@example.test", conf=CONF, idempotency_key="key-1", action=action,
                           language="zh-CN" if not message.text.isascii() else "en-US")
    standard = build_email(message, to="a1@example.test", conf=CONF, idempotency_key="key-1", action=action,
                           language="zh-CN" if not message.text.isascii() else "en-US")
    assert b"MIME-Version: 1.0" in direct.data  # written directly, not by the library
    assert _seen(_read(direct.data)) == _seen(standard)
    assert max(len(line) for line in direct.data.split(b"\r\n")) <= 998
    assert direct.message_id == standard["Message-ID"] and direct.sender == "collections@bank.test"


def test_what_it_does_not_handle_is_left_to_the_standard_library() -> None:
    headers = [("From", "collections@bank.test"), ("To", "klient@bücher.example")]
    assert plain_mime(headers, subject="s", text="t", html=None) is None
    assert plain_mime([("To", "a@b.test\r\nBcc: c@d.test")], subject="s", text="t", html=None) is None
    mail = compose_email(Message(text="Hallo"), to="klient@bücher.example", conf=CONF, idempotency_key="k",
                         action={"content_rules": []})
    assert _read(mail.data).get_body(("plain",)).get_content().strip() == "Hallo"
