"""The lines of a JSON Lines file, a block at a time: what the row reader sees, without a call per line.

:func:`jsonl_line_blocks` gives exactly the ``(line number, text, problem)`` triples of
:func:`policy_engine.data.readers.jsonl_lines` (the same line numbers, the same text with its line break
and trailing carriage returns removed, the UTF-8 byte order mark removed from line 1, blank lines
skipped, the same problems for a line that is not UTF-8 or longer than
:data:`~policy_engine.data.readers.MAX_LINE_BYTES`, the same error for a file holding a JSON array), but
splits and decodes a block of several MiB with one call each, so a native reader pays well under a
microsecond per line. A block with anything unusual in it (a byte order mark, a line that is too long or
not UTF-8) is read line by line by the same rules.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import IO, Final

from policy_engine._exceptions import InputUnusableError
from policy_engine.data.readers import MAX_LINE_BYTES

__all__ = ["BLOCK_BYTES", "Line", "jsonl_line_blocks"]

BLOCK_BYTES: Final = 8 * 1024 * 1024
"""Bytes read at a time."""
_TOO_LONG: Final = f"longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB, the limit for one line"
_KEPT_OF_LONG_LINE: Final = 200

Line = tuple[int, str, str | None]
"""A non-blank line: its 1-based number, its text, a problem of the line (or None)."""


class _Splitter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.number = 0  # physical lines given so far
        self.first = True  # no non-blank line yet

    def lines(self, parts: list[bytes]) -> list[Line]:
        """The non-blank lines among complete physical lines ``parts`` (without their line breaks)."""
        start = self.number + 1
        self.number += len(parts)
        plain = start > 1 or not parts or not parts[0].startswith(codecs.BOM_UTF8)
        if plain and max(map(len, parts), default=0) <= MAX_LINE_BYTES:
            try:
                texts = b"\n".join(parts).decode("utf-8").split("\n")
            except UnicodeDecodeError:
                pass
            else:
                found: list[Line] = [(number, stripped, None) for number, text in enumerate(texts, start)
                         if (stripped := text.rstrip("\r\n")).strip()]
                return self._checked(found)
        return self._checked([line for line in (self._one(number, part) for number, part in
                                                enumerate(parts, start)) if line is not None])

    def _one(self, number: int, part: bytes) -> Line | None:
        problem = None
        if len(part) > MAX_LINE_BYTES:
            part, problem = part[:_KEPT_OF_LONG_LINE], _TOO_LONG
        if number == 1:
            part = part.removeprefix(codecs.BOM_UTF8)
        try:
            text = part.decode("utf-8")
        except UnicodeDecodeError:
            text, problem = part.decode("utf-8", "replace"), problem or "not valid UTF-8 text"
        text = text.rstrip("\r\n")
        if not text.strip():
            return None
        return number, text, None if problem is None else f"line {number} is {problem}"

    def _checked(self, found: list[Line]) -> list[Line]:
        if self.first and found:
            if found[0][1].lstrip().startswith("["):
                raise InputUnusableError(f"{self.name}: holds a JSON array; expected JSON Lines (one object per line)")
            self.first = False
        return found


def jsonl_line_blocks(stream: IO[bytes], name: str, *, block_bytes: int = BLOCK_BYTES) -> Iterator[list[Line]]:
    """The non-blank lines of a JSON Lines byte stream, in lists of one block each."""
    splitter = _Splitter(name)
    pending = b""  # the start of a line the next block completes (at most MAX_LINE_BYTES + 1 bytes of it)
    while block := stream.read(block_bytes):
        parts = block.split(b"\n")
        parts[0] = pending + parts[0]
        pending = parts.pop()[: MAX_LINE_BYTES + 1]
        if parts:
            yield splitter.lines(parts)
    if pending:
        yield splitter.lines([pending])
