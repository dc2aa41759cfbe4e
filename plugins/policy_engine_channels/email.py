"""Email over SMTP: a plain-text part and, when the template has one, an HTML alternative.

Settings (``[channels.email]`` or ``POLICY_ENGINE_EMAIL_*``): ``host`` (required), ``port`` (default 25, or
465 with ``security="ssl"``), ``security`` = ``plain`` | ``starttls`` | ``ssl`` (default ``starttls``),
``username``, ``password``, ``from_addr`` (required), ``reply_to``, ``timeout`` (default 30),
``ca_file``, ``messages_per_session`` (default 100), ``opt_out_text`` (a text, or a table by language),
and the dispatch controls ``concurrency``, ``rate_per_second``, ``breaker_failures``. The opt-out line is
added only where the policy's baseline requires one, in the message's language.

Several messages go through one SMTP session (a pool of sessions, one per sender thread at a time, each
used for up to ``messages_per_session`` messages).

SMTP has no idempotency keys, so this channel does not declare ``idempotent_provider``, and the moment of
a failure decides what happens to the message:

- before the message was handed over (cannot connect, a refused or timed-out EHLO/STARTTLS/AUTH, MAIL or
  RCPT answered 4xx, the connection lost while sending the message, before its final dot): transient,
  retried;
- 5xx at any step: permanent;
- after the whole message was sent, while waiting for the server's final answer (a timeout, a
  disconnect): *ambiguous*: the server may have accepted it, so it is never sent again by dispatch; it is
  held for a person (``policy-engine ledger failed``, then ``ledger requeue``).

The key still travels in ``Message-ID`` and ``X-Idempotency-Key`` so mail systems downstream can spot
duplicates.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import re
import smtplib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from typing import Any

from policy_engine._exceptions import AmbiguousDeliveryError, PermanentDeliveryError, TransientDeliveryError
from policy_engine.deliver.opt_out import with_required_opt_out
from policy_engine.deliver.settings import ChannelSettings, typed_problems
from policy_engine.hookspecs import ChannelContext, ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import channel_settings, contact
from policy_engine_channels.mime import plain_mime

OPT_OUT_TEXTS = {"en": "To stop receiving these emails, reply with the word STOP.",
                 "zh": "如不希望再收到此类邮件，请回复“退订”。"}
"""The built-in opt-out line by language (the settings may replace or add languages)."""
DEFAULT_OPT_OUT = OPT_OUT_TEXTS["en"]
SECURITY = ("plain", "starttls", "ssl")
SETTING_KINDS: dict[str, str | tuple[str, ...]] = {
    "host": "text", "port": "integer", "security": SECURITY, "username": "text", "password": "text",
    "from_addr": "text", "reply_to": "text", "timeout": "number", "ca_file": "text",
    "messages_per_session": "integer",
}

SPEC = BUILTIN_CHANNELS["email"]
"""The channel, as the core's built-in catalogue declares it."""

_LEADING_DOT = re.compile(rb"(?m)^\.")


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The email channel."""
    return [SPEC]


@hookimpl
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
    """Port and session size are whole numbers, the timeout a number, security one of plain/starttls/ssl."""
    return typed_problems(channel.name, settings, SETTING_KINDS)


@dataclass(frozen=True)
class OutgoingMail:
    """A message ready for SMTP: envelope sender and recipient, its Message-ID, and its bytes (CRLF line
    ends, before SMTP's dot-stuffing)."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


def compose_email(
    message: Message, *, to: str, conf: ChannelSettings, idempotency_key: str,
    action: Mapping[str, Any] | None = None, language: str | None = None,
) -> OutgoingMail:
    """The message as SMTP sends it: text part, optional HTML alternative, opt-out line (where the
    action's content rules require one), idempotency headers. The common message is written directly
    (:mod:`policy_engine_channels.mime`); anything else by the standard library (:func:`build_email`)."""
    final = with_required_opt_out(message, action if action is not None else {"content_rules": ["opt_out"]},
                                  conf, OPT_OUT_TEXTS, language)
    sender = str(conf.require("from_addr"))
    message_id = _message_id(idempotency_key)
    headers = [("From", sender), ("To", to), ("Date", formatdate(localtime=False)), ("Message-ID", message_id),
               ("X-Idempotency-Key", idempotency_key)]
    if conf.get("reply_to"):
        headers.append(("Reply-To", str(conf["reply_to"])))
    data = plain_mime(headers, subject=_subject(final, conf), text=final.text, html=final.html)
    if data is None:
        data = _standard_email(final, to=to, conf=conf, idempotency_key=idempotency_key).as_bytes(policy=SMTP_POLICY)
    return OutgoingMail(sender, to, message_id, data)


def build_email(
    message: Message, *, to: str, conf: ChannelSettings, idempotency_key: str,
    action: Mapping[str, Any] | None = None, language: str | None = None,
) -> EmailMessage:
    """The MIME message built by the standard library: text part, optional HTML alternative, opt-out line
    (where the action's content rules require one), idempotency headers."""
    final = with_required_opt_out(message, action if action is not None else {"content_rules": ["opt_out"]},
                                  conf, OPT_OUT_TEXTS, language)
    return _standard_email(final, to=to, conf=conf, idempotency_key=idempotency_key)


def _standard_email(final: Message, *, to: str, conf: ChannelSettings, idempotency_key: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = str(conf.require("from_addr"))
    mail["To"] = to
    mail["Subject"] = _subject(final, conf)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = _message_id(idempotency_key)
    mail["X-Idempotency-Key"] = idempotency_key
    if conf.get("reply_to"):
        mail["Reply-To"] = str(conf["reply_to"])
    mail.set_content(final.text)
    if final.html is not None:
        mail.add_alternative(final.html, subtype="html")
    return mail


def _subject(final: Message, conf: ChannelSettings) -> str:
    return final.subject or str(conf.get("default_subject", "A message about your account"))


def _message_id(idempotency_key: str) -> str:
    return f"<{hashlib.sha256(idempotency_key.encode('utf-8')).hexdigest()[:32]}@policy-engine>"


class SmtpSessions:
    """Open SMTP sessions to one server, reused for several messages; shared by sender threads."""

    def __init__(self, conf: ChannelSettings) -> None:
        self.conf = conf
        self.per_session = int(float(conf.get("messages_per_session", 100)))
        self._idle: queue.LifoQueue[tuple[smtplib.SMTP, int]] = queue.LifoQueue()
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def send(self, mail: OutgoingMail) -> str:
        """Hand ``mail`` to the server; the server's final answer. Raises the channel's delivery errors."""
        for _ in range(2):
            smtp, used = self._session()
            try:
                answer = self._transaction(smtp, mail, fresh=used == 0)
            except _StaleSession:
                _quit(smtp)
                continue  # the server closed an idle session before we sent anything: a new one
            except BaseException:
                _quit(smtp)
                raise
            if used + 1 >= self.per_session:
                _quit(smtp)
            else:
                self._idle.put((smtp, used + 1))
            return answer
        raise TransientDeliveryError("SMTP server closed the session before the message was sent")

    def close(self) -> None:
        """End every idle session politely."""
        while True:
            try:
                smtp, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            _quit(smtp)

    # -- plumbing ----------------------------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                context = ssl.create_default_context()
                if self.conf.get("ca_file"):
                    context.load_verify_locations(cafile=str(self.conf["ca_file"]))
                self._context = context
            return self._context

    def _session(self) -> tuple[smtplib.SMTP, int]:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect(), 0

    def _connect(self) -> smtplib.SMTP:
        conf = self.conf
        host = str(conf.require("host"))
        security = str(conf.get("security", "starttls")).lower()
        timeout = conf.get_float("timeout", 30.0)
        if security not in SECURITY:
            raise PermanentDeliveryError(f"email: security {security!r} is not one of plain, starttls, ssl")
        try:
            if security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, int(conf.get("port", 465)), timeout=timeout,
                                                      context=self._ssl())
            else:
                smtp = smtplib.SMTP(host, int(conf.get("port", 25)), timeout=timeout)
                if security == "starttls":
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        _quit(smtp)
                        raise PermanentDeliveryError(
                            f"SMTP server {host} does not offer STARTTLS (security=starttls)")
                    smtp.starttls(context=self._ssl())
                    smtp.ehlo()
            if conf.get("username"):
                smtp.login(str(conf["username"]), str(conf.require("password")))
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"SMTP authentication failed ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"SMTP {exc.smtp_code} while connecting: {exc.smtp_error!r}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(f"SMTP TLS: {exc.verify_message or exc} (CERTIFICATE_VERIFY_FAILED)") \
                from exc
        except (smtplib.SMTPException, OSError) as exc:  # nothing handed over yet
            raise TransientDeliveryError(f"SMTP connection: {exc.__class__.__name__}: {exc}") from exc
        return smtp

    def _transaction(self, smtp: smtplib.SMTP, mail: OutgoingMail, *, fresh: bool) -> str:
        sender = mail.sender
        recipient = mail.recipient
        try:
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(sender)
            if code != 250:
                smtp.rset()
                raise _by_code(code, f"SMTP {code} to MAIL FROM: {reply!r}")
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                smtp.rset()
                if code >= 500:
                    raise PermanentDeliveryError(f"recipient refused: SMTP {code}: {reply!r}")
                raise TransientDeliveryError(f"SMTP {code} to RCPT TO: {reply!r}")
            code, reply = smtp.docmd("DATA")
            if code != 354:
                smtp.rset()
                raise _by_code(code, f"SMTP {code} to DATA: {reply!r}")
        except smtplib.SMTPServerDisconnected as exc:
            if not fresh:
                raise _StaleSession() from exc
            raise TransientDeliveryError(f"SMTP connection lost before the message: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"SMTP before the message: {exc.__class__.__name__}: {exc}") from exc
        body = _LEADING_DOT.sub(b"..", mail.data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        try:
            smtp.send(body + b".\r\n")
        except (smtplib.SMTPException, OSError) as exc:  # no final dot reached the server: not accepted
            raise TransientDeliveryError(f"SMTP connection lost while sending the message: {exc}") from exc
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            raise AmbiguousDeliveryError(
                f"SMTP: the message was sent and the server's answer never came ({exc.__class__.__name__}: "
                f"{exc})") from exc
        if code != 250:
            raise _by_code(code, f"SMTP {code} after the message: {reply!r}")
        return reply.decode("utf-8", "replace")


class _StaleSession(Exception):
    """An idle session the server had closed; nothing of the message was sent on it."""


def _by_code(code: int, text: str) -> Exception:
    return TransientDeliveryError(text) if 400 <= code < 500 else PermanentDeliveryError(text)


def _quit(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.quit()
    with contextlib.suppress(OSError):
        smtp.close()


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    channel_context: ChannelContext | None = None,
) -> DeliveryResult:
    """Send the email on a pooled session (see the module doc for how failures are classified)."""
    conf = channel_settings(channel.name, settings)
    key = str(action["idempotency_key"])
    mail = compose_email(message, to=contact(account, "email"), conf=conf, idempotency_key=key, action=action,
                         language=account.get("language"))
    if channel_context is not None and hasattr(channel_context, "shared"):
        sessions = channel_context.shared(f"smtp:{channel.name}", lambda: SmtpSessions(conf))
        sessions.send(mail)
    else:
        own = SmtpSessions(conf)
        try:
            own.send(mail)
        finally:
            own.close()
    return DeliveryResult("delivered", provider_id=mail.message_id, detail="accepted by SMTP server")
