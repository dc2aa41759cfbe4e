"""A letter as a PDF, and the process pool that renders letters in parallel with the font parsed once.

Why ReportLab and not fpdf2: fpdf2 binds a TrueType font to one document (``add_font`` parses the file,
``output`` subsets it in place with fontTools), so every letter parsed and subset the 20,000-glyph CJK font
again: about 330 ms a letter here, 3 letters/s. ReportLab parses a font once per process
(``registerFont``) and subsets it per document from the parsed tables: about 3 ms of CPU a letter, so two
worker processes render more than 100 letters/s on two cores (``benchmarks/bench_dispatch.py``). Both are
well-kept; ReportLab is the one that can keep a parsed font.

The rule this module keeps: a font is parsed once per process (:func:`_font_family`). A worker of the
pool (:class:`LetterRenderer`) only renders (CPU); the sender thread that asked writes the file
atomically (fsync, then rename) and appends the manifest line. A worker that also waited for the disk
sat idle through every fsync (4 ms here), while the sender threads wait for it in parallel: the pool
alone, 2 workers fed by 4 threads, wrote 226 letters/s instead of 161 on this machine (when its cores are
taken by other work, rendering is the limit either way).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from policy_engine._exceptions import PermanentDeliveryError
from policy_engine_channels._common import write_atomically

__all__ = ["LetterRenderer", "LetterText", "render_letter", "write_letter"]

MARGIN = 57.0  # 20 mm
LATIN = "Helvetica"
_fonts: dict[str, str] = {}
_fonts_lock = threading.Lock()


@dataclass(frozen=True)
class LetterText:
    """What a letter says: the sender's lines, its date, the recipient's address, subject and body."""

    body: str
    address: str
    subject: str | None = None
    sender: str | None = None
    dated: str | None = None


def _needs_unicode_font(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return True
    return False


def _font_family(font_path: str | None, text: str) -> str:
    """The registered font for a letter: the CJK font (parsed once per process) or the built-in Latin one."""
    if font_path is None:
        if _needs_unicode_font(text):
            raise PermanentDeliveryError(
                "letter: the text needs a CJK/Unicode font and none was found "
                "(apt-get install fonts-wqy-microhei, or set [channels.letter] font_path)"
            )
        return LATIN
    with _fonts_lock:
        name = _fonts.get(font_path)
        if name is None:
            name = f"letter-{len(_fonts) + 1}"
            try:
                index = 0 if font_path.lower().endswith((".ttc", ".otc")) else None
                font = TTFont(name, font_path, subfontIndex=index) if index is not None else TTFont(name, font_path)
            except Exception as exc:  # a broken or unsupported font file
                raise PermanentDeliveryError(f"letter: font {font_path!r} cannot be used: {exc}") from exc
            pdfmetrics.registerFont(font)
            _fonts[font_path] = name
        return name


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of ``text`` that fit ``width``: breaks at spaces, and between any two CJK characters."""
    meter = _Meter(font, size)
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, units = "", meter.units("")
        for token in _tokens(paragraph):
            grown = meter.grow(units, token)
            if line and meter.points(grown) > width:
                lines.append(line.rstrip())
                line = token.lstrip()
                units = meter.units(line)
            else:
                line, units = line + token, grown
            while meter.points(units) > width and len(line) > 1:  # one overlong word
                cut = len(line) - 1
                while cut > 1 and pdfmetrics.stringWidth(line[:cut], font, size) > width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
                units = meter.units(line)
        lines.append(line.rstrip())
    return lines


class _Meter:
    """The width of a line grown a token at a time, equal to ``pdfmetrics.stringWidth`` of the whole line.

    For a TrueType font the advance widths are added one character at a time, left to right, as
    ReportLab adds them, so the sum for a line is the same number to the last bit at a fraction of the
    work (measuring every candidate line from its start was 40% of a letter's rendering). Other fonts are
    measured whole each time."""

    def __init__(self, font: str, size: float) -> None:
        self.font, self.size = font, size
        face = getattr(pdfmetrics.getFont(font), "face", None)
        self._widths = getattr(face, "charWidths", None)
        self._default = getattr(face, "defaultWidth", 0)

    def units(self, text: str) -> float | str:
        """The measure of ``text``: its summed advance widths (TrueType), else the text itself."""
        return self.grow(0, text) if self._widths is not None else text

    def grow(self, units: float | str, token: str) -> float | str:
        """The measure of a line of measure ``units`` with ``token`` appended."""
        if self._widths is None:
            return str(units) + token
        total = float(units) if not isinstance(units, int) else units
        width_of, default = self._widths.get, self._default
        for char in token:
            total += width_of(ord(char), default)
        return total

    def points(self, units: float | str) -> float:
        """The width in points of a measure."""
        if self._widths is None:
            return float(pdfmetrics.stringWidth(str(units), self.font, self.size))
        return 0.001 * self.size * float(units)


def _tokens(paragraph: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for char in paragraph:
        if ord(char) > 0x2E7F:  # CJK and beyond: a line may break before any of them
            if word:
                tokens.append(word)
                word = ""
            tokens.append(char)
        elif char == " ":
            tokens.append(word + " ")
            word = ""
        else:
            word += char
    if word:
        tokens.append(word)
    return tokens


def render_letter(letter: LetterText, font_path: str | None) -> bytes:
    """The letter as PDF bytes (A4): sender, date (else today in UTC), recipient address, subject, body."""
    everything = "\n".join(x for x in (letter.body, letter.subject or "", letter.address, letter.sender or "") if x)
    font = _font_family(font_path, everything)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    page_width, page_height = A4
    width = page_width - 2 * MARGIN
    state = {"y": page_height - MARGIN}

    def block(text: str, size: float, gap: float) -> None:
        for line in _wrap(text, font, size, width):
            if state["y"] < MARGIN + size:
                pdf.showPage()
                state["y"] = page_height - MARGIN
            pdf.setFont(font, size)
            state["y"] -= size * 1.4
            pdf.drawString(MARGIN, state["y"], line)
        state["y"] -= gap

    if letter.sender:
        block(letter.sender, 10, 10)
    block(letter.dated or datetime.now(UTC).strftime("%Y-%m-%d"), 10, 10)
    block(letter.address, 11, 20)
    if letter.subject:
        block(letter.subject, 13, 8)
    block(letter.body, 11, 0)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def write_letter(letter: LetterText, font_path: str | None, target: str) -> str:
    """Render and write the letter atomically to ``target``; the SHA-256 of the file."""
    data = render_letter(letter, font_path)
    write_atomically(Path(target), data)
    return hashlib.sha256(data).hexdigest()


def _warm(font_path: str | None) -> None:
    """Worker start: parse the font now, once, before the first letter."""
    if font_path:
        with contextlib.suppress(PermanentDeliveryError):  # reported by the first letter that needs it
            _font_family(font_path, "")


def fonts_parsed() -> tuple[int, int]:
    """(this process's id, how many font files it has parsed): what a worker reports about itself."""
    return os.getpid(), len(_fonts)


class LetterRenderer:
    """A pool of worker processes rendering and writing letters; each parses the font once."""

    def __init__(self, font_path: str | None, workers: int | None = None) -> None:
        count = workers or min(4, os.cpu_count() or 1)
        context = multiprocessing.get_context("forkserver")  # never fork a process holding threads and locks
        self._pool = ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=_warm,
                                         initargs=(font_path,))
        self.font_path = font_path
        self.workers = count

    def write(self, letter: LetterText, target: str) -> str:
        """Render one letter on a worker (waits for it), write it atomically to ``target``; the SHA-256 of
        the file."""
        future: Future[bytes] = self._pool.submit(render_letter, letter, self.font_path)
        data = future.result()
        write_atomically(Path(target), data)
        return hashlib.sha256(data).hexdigest()

    def workers_report(self) -> list[tuple[int, int]]:
        """(process id, fonts parsed) from the workers, as many answers as there are workers."""
        return [self._pool.submit(fonts_parsed).result() for _ in range(self.workers)]

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)
