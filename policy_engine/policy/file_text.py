"""The text of a policy file, read only when it is safe to parse: bounded in size, UTF-8, not too deep.

The rule this module keeps: whatever bytes a policy file holds, reading it ends in its text or in one
located :class:`~policy_engine._exceptions.Issue`, never in a traceback, a hang or gigabytes of memory.
A policy file is at most :data:`MAX_POLICY_BYTES` (2 MiB: the largest shipped policy is 35 KB), is UTF-8
(a UTF-8 byte-order mark is allowed; UTF-16 and UTF-32 files, binary files and invalid UTF-8 get an
error at the first offending byte) and nests its values at most :data:`MAX_NESTING` levels deep
(brackets, braces and dotted keys together), which also keeps every recursive reader of the parsed
data (the TOML parser, the locator, the validators) far from Python's recursion limit.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

from policy_engine._exceptions import Issue, Location, PolicySyntaxError

__all__ = ["MAX_NESTING", "MAX_POLICY_BYTES", "data_too_deep", "nesting_issue", "read_policy_text"]

MAX_POLICY_BYTES = 2 * 1024 * 1024
"""The largest policy (or policy test) file read: 2 MiB."""
MAX_NESTING = 32
"""How deep the values of a policy file may nest (a condition ``{ all = [ { not = {...} } ] }`` is 4)."""

_UTF16_32_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
_SAVE_AS_UTF8 = "save the file as UTF-8"


def _fail(display: str, message: str, code: str, line: int = 0, column: int = 0, hint: str | None = None) -> None:
    raise PolicySyntaxError([Issue(Location(display, line, column), "", message, code=code, hint=hint)])


def read_policy_text(path: Path, display: str) -> str:
    """The text of a policy file, or a PolicySyntaxError with one located issue saying why it cannot be read."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        _fail(display, "file not found", "not_found")
    except IsADirectoryError:
        _fail(display, "is a directory, not a policy file", "unreadable")
    except OSError as exc:
        _fail(display, f"cannot read: {exc.strerror or exc}", "unreadable")
    if len(data) > MAX_POLICY_BYTES:
        _fail(display, f"the file is larger than {MAX_POLICY_BYTES // (1024 * 1024)} MiB, the limit for a policy "
              "file", "too_large", hint="split it: put shared parts in a file it extends")
    return _decode(data, display)


def _decode(data: bytes, display: str) -> str:
    for bom, name in _UTF16_32_BOMS:
        if data.startswith(bom):
            _fail(display, f"this is {name} text, not UTF-8", "encoding", 1, 1, _SAVE_AS_UTF8)
    nul = data.find(b"\0")
    if nul >= 0:
        line, column = _position(data, nul)
        if _looks_like_utf16(data):
            _fail(display, "this looks like UTF-16 text (a NUL byte between letters), not UTF-8", "encoding",
                  line, column, _SAVE_AS_UTF8)
        _fail(display, "this is a binary file, not TOML text (a NUL byte)", "encoding", line, column)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a BOM from a Windows editor is harmless
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        bad = data[exc.start:exc.start + 1].hex()
        _fail(display, f"not UTF-8 text: byte 0x{bad} cannot start or continue a character", "encoding",
              line, column, _SAVE_AS_UTF8)
    raise AssertionError("unreachable")  # pragma: no cover


def _looks_like_utf16(data: bytes) -> bool:
    """Latin text in UTF-16: NUL bytes in nearly every other position, and almost none in between."""
    sample = data[:4096]
    if len(sample) < 8:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    return max(even, odd) >= 0.4 * half and min(even, odd) <= 0.05 * half


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters, as an editor counts them) of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


_TOKEN = re.compile(r"\"\"\"|'''|[\"'#\[\]{}]")
_BASIC_END = re.compile(r'(?:[^"\\\n]|\\.)*"')
_BASIC_ML_END = re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"""')


def nesting_issue(text: str, display: str) -> Issue | None:
    """An issue at the first bracket or brace that opens more than :data:`MAX_NESTING` levels, else None.

    A linear scan that skips strings and comments; text it cannot follow (an unclosed string) is left to
    the TOML parser, which reports it.
    """
    depth = 0
    pos = 0
    while True:
        match = _TOKEN.search(text, pos)
        if match is None:
            return None
        token, pos = match.group(), match.end()
        if token in "[{":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - text.rfind("\n", 0, match.start())
                return Issue(Location(display, line, column), "",
                             f"values nest more than {MAX_NESTING} levels deep here", code="too_deep",
                             hint="a policy needs only a few levels; split the condition or the table")
        elif token in "]}":
            depth = max(depth - 1, 0)
        elif token == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif token == '"""':
            end_match = _BASIC_ML_END.match(text, pos)
            if end_match is None:
                return None
            pos = end_match.end()
        elif token == "'''":
            end = text.find("'''", pos)
            if end < 0:
                return None
            pos = end + 3
        elif token == '"':
            end_match = _BASIC_END.match(text, pos)
            if end_match is None:
                return None
            pos = end_match.end()
        else:  # a literal string runs to the next quote on its line
            end = text.find("'", pos)
            newline = text.find("\n", pos)
            if end < 0 or 0 <= newline < end:
                return None
            pos = end + 1


def data_too_deep(data: Any) -> tuple[str | int, ...] | None:
    """The key path of the first value nested more than :data:`MAX_NESTING` levels deep, else None
    (dotted keys such as ``a.b.c = 1`` nest without brackets). Iterative: any depth is safe to ask about."""
    if not isinstance(data, dict | list):
        return None
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:  # only tables and arrays are stacked: memory follows the containers, not the values
        value, path = stack.pop()
        if len(path) > MAX_NESTING:
            return path
        children = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((child, path + (key,)) for key, child in children if isinstance(child, dict | list))
    return None
