"""Email over SMTP: a plain-text part and, when the template has one, an HTML alternative.

Every message carries an opt-out line (content rule ``opt_out``). Settings (``[channels.email]`` or
``POLICY_ENGINE_EMAIL_*``): ``host`` (required), ``port`` (default 25, or 465 with ``security="ssl"``),
``security`` = ``plain`` | ``starttls`` | ``ssl`` (default ``starttls``), ``username``, ``password``,
``from_addr`` (required), ``reply_to``, ``timeout`` (default 30), ``opt_out_text``.

SMTP has no idempotency keys, so this channel does not declare ``idempotent_provider``: a message
whose sending process died mid-send is reported for review instead of being sent again. The key still
travels in ``Message-ID`` and ``X-Idempotency-Key`` so mail systems downstream can spot duplicates.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from policy_engine._exceptions import PermanentDeliveryError, TransientDeliveryError
from policy_engine.deliver.settings import ChannelSettings
from policy_engine.deliver.templates import with_opt_out
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import channel_settings, contact

DEFAULT_OPT_OUT = "To stop receiving these emails, reply with the word STOP."

SPEC = BUILTIN_CHANNELS["email"]
"""The channel, as the core's built-in catalogue declares it."""


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The email channel."""
    return [SPEC]


def build_email(
    message: Message, *, to: str, conf: ChannelSettings, idempotency_key: str
) -> EmailMessage:
    """The MIME message: text part, optional HTML alternative, opt-out line, idempotency headers."""
    final = with_opt_out(message, str(conf.get("opt_out_text", DEFAULT_OPT_OUT)))
    mail = EmailMessage()
    mail["From"] = str(conf.require("from_addr"))
    mail["To"] = to
    mail["Subject"] = final.subject or str(conf.get("default_subject", "A message about your account"))
    mail["Date"] = formatdate(localtime=False)
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}@policy-engine>"
    mail["X-Idempotency-Key"] = idempotency_key
    if conf.get("reply_to"):
        mail["Reply-To"] = str(conf["reply_to"])
    mail.set_content(final.text)
    if final.html is not None:
        mail.add_alternative(final.html, subtype="html")
    return mail


def _connect(conf: ChannelSettings) -> smtplib.SMTP:
    host = str(conf.require("host"))
    security = str(conf.get("security", "starttls")).lower()
    timeout = conf.get_float("timeout", 30.0)
    context = ssl.create_default_context()
    if conf.get("ca_file"):
        context.load_verify_locations(cafile=str(conf["ca_file"]))
    if security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, int(conf.get("port", 465)), timeout=timeout, context=context)
    elif security in ("starttls", "plain"):
        smtp = smtplib.SMTP(host, int(conf.get("port", 25)), timeout=timeout)
        if security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                smtp.quit()
                raise PermanentDeliveryError(f"SMTP server {host} does not offer STARTTLS (security=starttls)")
            smtp.starttls(context=context)
            smtp.ehlo()
    else:
        raise PermanentDeliveryError(f"email: security {security!r} is not one of plain, starttls, ssl")
    if conf.get("username"):
        smtp.login(str(conf["username"]), str(conf.require("password")))
    return smtp


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
) -> DeliveryResult:
    """Send the email; 4xx and connection problems are transient, 5xx permanent."""
    conf = channel_settings(channel.name, settings)
    key = str(action["idempotency_key"])
    mail = build_email(message, to=contact(account, "email"), conf=conf, idempotency_key=key)
    try:
        smtp = _connect(conf)
        try:
            refused = smtp.send_message(mail)
        finally:
            with contextlib.suppress(smtplib.SMTPException):
                smtp.quit()
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentDeliveryError(f"recipient refused: {exc.recipients}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentDeliveryError(f"SMTP authentication failed ({exc.smtp_code})") from exc
    except smtplib.SMTPResponseException as exc:
        text = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
        if 400 <= exc.smtp_code < 500:
            raise TransientDeliveryError(text) from exc
        raise PermanentDeliveryError(text) from exc
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
        raise TransientDeliveryError(f"SMTP connection: {exc.__class__.__name__}: {exc}") from exc
    if refused:
        raise PermanentDeliveryError(f"recipients refused: {sorted(refused)}")
    return DeliveryResult("delivered", provider_id=str(mail["Message-ID"]), detail="accepted by SMTP server")
