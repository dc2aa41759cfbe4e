"""Letters use a cached common-character subset of the CJK font, and the full font for rare characters."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from policy_engine_channels import fontcache
from policy_engine_channels.letter import render_pdf
from pypdf import PdfReader

from policy_engine.hookspecs import Message


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("POLICY_ENGINE_CACHE", str(tmp_path))
    fontcache.common_subset.cache_clear()
    yield tmp_path
    fontcache.common_subset.cache_clear()


def _text(pdf: bytes) -> str:
    return (PdfReader(io.BytesIO(pdf)).pages[0].extract_text() or "").replace("\n", "")


def test_common_text_uses_the_cached_subset_and_rare_characters_the_full_font(cjk_font: str, cache: Path) -> None:
    common = "尊敬的客户：您的信用卡已逾期，逾期会影响您的征信记录。"
    rare = "尊敬的张喆先生：您的信用卡已逾期。"  # 喆 is outside GB 2312
    subset = fontcache.font_for(cjk_font, common)
    assert Path(subset).parent == cache / "policy-engine" / "fonts" and subset != cjk_font
    assert fontcache.font_for(cjk_font, rare) == cjk_font
    for text in (common, rare):
        pdf = render_pdf(Message(text=text, template="t", language="zh-CN"), address="北京市朝阳区",
                         sender=None, font_path=cjk_font, dated="2026-11-28")
        assert text in _text(pdf)


def test_an_unusable_font_falls_back_to_itself(tmp_path: Path, cache: Path) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    assert fontcache.font_for(str(broken), "您好") == str(broken)
