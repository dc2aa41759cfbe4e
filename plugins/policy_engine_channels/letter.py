"""Letters as PDF files in a print-shop folder, listed in a ``manifest.jsonl`` the print shop reads.

Each letter is ``<outbox>/<key-derived name>.pdf``, written atomically; the manifest gets one line per
idempotency key, appended under a file lock only if the key is not there yet, so writing a letter
again after a crash replaces the same file and adds no second manifest line.

Chinese (and any non-Latin) text needs a CJK font: ``font_path`` in the settings, else the first of
``fc-list :lang=zh`` (WenQuanYi Micro Hei and Noto Sans CJK preferred), else a few well-known paths.
On Debian: ``apt-get install fonts-wqy-microhei``. Settings (``[channels.letter]`` or
``POLICY_ENGINE_LETTER_*``): ``outbox`` (required), ``font_path``, ``sender`` (return address lines),
``workers`` (processes rendering letters, default the number of cores up to 4), and the dispatch controls.
Letters are rendered by :mod:`policy_engine_channels.letter_pdf` (ReportLab, the font parsed once per
worker process).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from policy_engine._exceptions import PermanentDeliveryError
from policy_engine.deliver.settings import typed_problems
from policy_engine.hookspecs import ChannelContext, ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import channel_settings, contact, safe_name
from policy_engine_channels.letter_pdf import LetterRenderer, LetterText, render_letter, write_letter
from policy_engine_channels.manifest import append_once

SPEC = BUILTIN_CHANNELS["letter"]
"""The channel, as the core's built-in catalogue declares it."""

PREFERRED_FONTS = ("wqy-microhei", "notosanscjk", "notoserifcjk", "wqy-zenhei", "sourcehan", "droidsansfallback")
KNOWN_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
MANIFEST = "manifest.jsonl"


@lru_cache(maxsize=1)
def _system_cjk_fonts() -> tuple[str, ...]:
    found: list[str] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
            ).stdout
            found = [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            found = []
    found += [p for p in KNOWN_FONT_PATHS if Path(p).exists()]

    def rank(path: str) -> int:
        name = Path(path).name.lower().replace("-", "").replace("_", "")
        for index, preferred in enumerate(PREFERRED_FONTS):
            if preferred.replace("-", "") in name:
                return index
        return len(PREFERRED_FONTS)

    return tuple(sorted(dict.fromkeys(found), key=rank))


def find_cjk_font(settings: Mapping[str, Any] | None = None) -> str | None:
    """The font file letters use for non-Latin text, or None when the machine has none."""
    if settings and settings.get("font_path"):
        path = str(settings["font_path"])
        if not Path(path).exists():
            raise PermanentDeliveryError(f"letter: font_path {path!r} does not exist")
        return path
    fonts = _system_cjk_fonts()
    return fonts[0] if fonts else None


def render_pdf(message: Message, *, address: str, sender: str | None, font_path: str | None,
               dated: str | None = None) -> bytes:
    """The letter as PDF bytes: sender, date (``dated``, else today in UTC), recipient address, subject, body."""
    return render_letter(LetterText(message.text, address, message.subject, sender, dated), font_path)


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The letter channel."""
    return [SPEC]


@hookimpl
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
    """``outbox``, ``font_path`` and ``sender`` are text; ``workers`` a whole number."""
    return typed_problems(channel.name, settings, {"outbox": "text", "font_path": "text", "sender": "text",
                                                   "workers": "integer"})


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    decision: Mapping[str, Any] | None = None,
    channel_context: ChannelContext | None = None,
) -> DeliveryResult:
    """Write the PDF (on the dispatch's worker pool, when there is one) and its manifest line; the letter
    is dated with the decision's local date."""
    conf = channel_settings(channel.name, settings)
    outbox = Path(str(conf.require("outbox")))
    key = str(action["idempotency_key"])
    address = contact(account, "address")
    name = account.get("name")
    recipient = f"{name}\n{address}" if name else address
    send_at = str(action.get("send_at") or (decision or {}).get("as_of") or "")
    font_path = find_cjk_font(conf)
    letter = LetterText(message.text, recipient, message.subject, conf.get("sender"), send_at[:10] or None)
    file_name = safe_name(key) + ".pdf"
    target = str(outbox / file_name)
    if channel_context is not None and hasattr(channel_context, "shared"):
        workers = int(float(conf["workers"])) if conf.get("workers") else None
        renderer = channel_context.shared(f"letters:{font_path}:{workers}",
                                          lambda: LetterRenderer(font_path, workers))
        digest = renderer.write(letter, target)
    else:
        digest = write_letter(letter, font_path, target)
    added = append_once(
        outbox / MANIFEST,
        {
            "idempotency_key": key,
            "file": file_name,
            "sha256": digest,
            "account_id": account.get("account_id"),
            "action": action.get("action"),
            "notice": action.get("notice"),
            "template": message.template,
            "address": address,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return DeliveryResult(
        "delivered", provider_id=file_name, detail="letter written" if added else "letter already in manifest"
    )
