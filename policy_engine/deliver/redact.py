"""Secrets never leave the process: redaction of URL credentials and secret settings in any text.

The rule this module keeps: every text dispatch writes where a person or a file can read it (a delivery
error in the run summary, ``dispatches.last_error``, the attempt log, a log line) goes through a
:class:`Redactor` first. It replaces the userinfo of any URL (``https://user:pass@host`` becomes
``https://***@host``) and every value of a secret-looking setting (``secret``, ``password``, ``token``,
``api_key``...) with ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from policy_engine.deliver.settings import SECRET_KEY_PATTERN

__all__ = ["MASK", "Redactor", "redact_url_credentials", "secret_values"]

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s@]+)@")
_MIN_SECRET = 4
"""Shorter values are not redacted (a secret of 1-3 characters would mask unrelated text)."""


def redact_url_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``."""
    return _USERINFO.sub(lambda match: f"{match.group('scheme')}{MASK}@", text)


def secret_values(settings: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Every secret a channel's settings hold: values of secret-looking keys, and the userinfo (and its
    password) of URL-valued settings."""
    found: set[str] = set()
    for values in settings.values():
        for key, value in values.items():
            if not isinstance(value, str):
                continue
            if SECRET_KEY_PATTERN.search(key):
                found.add(value)
            for match in _USERINFO.finditer(value):
                userinfo = match.group("userinfo")
                found.add(userinfo)
                _, _, password = userinfo.partition(":")
                if password:
                    found.update({password, unquote(password)})
    return {value for value in found if len(value) >= _MIN_SECRET}


class Redactor:
    """Replaces known secrets and URL credentials in text; ``Redactor(secrets)(text)``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        ordered = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def __call__(self, text: str | None) -> str | None:
        """``text`` with every secret masked (None stays None)."""
        if text is None:
            return None
        cleaned = redact_url_credentials(text)
        if self._pattern is not None:
            cleaned = self._pattern.sub(MASK, cleaned)
        return cleaned
