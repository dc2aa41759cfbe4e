"""Letters render with the font parsed once per process, by a pool of worker processes."""

from __future__ import annotations

import io
from pathlib import Path

from policy_engine_channels.letter import render_pdf
from policy_engine_channels.letter_pdf import LetterRenderer, LetterText
from pypdf import PdfReader

from policy_engine.hookspecs import Message


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")


def test_common_and_rare_characters_and_long_text_are_real_text(cjk_font: str) -> None:
    common = "尊敬的客户：您的信用卡已逾期，逾期会影响您的征信记录。"
    rare = "尊敬的张喆先生：您的信用卡已逾期。"  # 喆 is outside GB 2312
    for text in (common, rare):
        pdf = render_pdf(Message(text=text, template="t", language="zh-CN"), address="北京市朝阳区",
                         sender=None, font_path=cjk_font, dated="2026-11-28")
        assert text in _text(pdf)
    long = "逾期会影响您的征信记录。" * 400  # several pages, wrapped between characters
    pdf = render_pdf(Message(text=long), address="北京市朝阳区", sender=None, font_path=cjk_font)
    assert len(PdfReader(io.BytesIO(pdf)).pages) > 1 and _text(pdf).count("征信记录") == 400


def test_latin_letters_need_no_font_and_wrap_at_spaces() -> None:
    body = "Your account is 35 days past due. " * 60
    pdf = render_pdf(Message(text=body, subject="Notice"), address="1 Main St\nSpringfield", sender="Bank",
                     font_path=None, dated="2026-11-28")
    text = _text(pdf)
    assert "Notice" in text and "1 Main St" in text and text.count("past due") == 60


def test_worker_processes_parse_the_font_once_each(cjk_font: str, tmp_path: Path) -> None:
    renderer = LetterRenderer(cjk_font, workers=2)
    try:
        digests = {renderer.write(LetterText(f"尊敬的客户{i}：您的信用卡已逾期。", "上海市"),
                                  str(tmp_path / f"{i}.pdf")) for i in range(12)}
        reports = renderer.workers_report()
    finally:
        renderer.close()
    assert len(digests) == 12 and len(list(tmp_path.glob("*.pdf"))) == 12
    assert {count for _, count in reports} == {1}  # one parse per worker, however many letters
    assert "尊敬的客户7" in _text((tmp_path / "7.pdf").read_bytes())


def test_every_line_fits_the_page_and_is_as_full_as_it_can_be(cjk_font: str) -> None:
    from policy_engine_channels.letter_pdf import MARGIN, _font_family, _tokens, _wrap  # noqa: PLC0415
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.pdfbase import pdfmetrics  # noqa: PLC0415

    font = _font_family(cjk_font, "逾期")
    width = A4[0] - 2 * MARGIN
    text = ("尊敬的客户：您的信用卡已逾期 35 天，欠款 ¥1234.56。Please call 555-0100 today. " * 12
            + "\n" + "Supercalifragilisticexpialidocious" * 8)
    lines = _wrap(text, font, 11, width)
    assert "".join(lines).replace(" ", "") == text.replace("\n", "").replace(" ", "")  # nothing lost
    for line, following in zip(lines, lines[1:], strict=False):
        assert pdfmetrics.stringWidth(line, font, 11) <= width
        first = _tokens(following)[0] if following else ""
        if first and not line.startswith("Supercali"):  # broken before a word or character that did not fit
            assert pdfmetrics.stringWidth(line + " " + first.strip(), font, 11) > width
