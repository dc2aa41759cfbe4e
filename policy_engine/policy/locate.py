"""Map key paths of a TOML document to the line and column where they are written.

``tomllib`` parses but forgets positions. Compliance analysts need every message to point at a line, so
this module scans the (already valid) TOML text once and records where each key, table header and array
element starts. A key path is a tuple such as ``("stages", 2, "actions", 0, "channel")``.

Memory stays proportional to the keys written, not to the values: an array records where each of its
first :data:`MAX_ARRAY_POSITIONS` elements starts, and a later element is located at the array itself.
The text it scans is bounded (:data:`~policy_engine.policy.file_text.MAX_POLICY_BYTES`) and nests at
most :data:`~policy_engine.policy.file_text.MAX_NESTING` levels, so the recursive scan stays shallow.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence

__all__ = ["MAX_ARRAY_POSITIONS", "PositionIndex", "Path"]

Path = tuple[str | int, ...]

MAX_ARRAY_POSITIONS = 1000
"""Elements of one array whose positions are kept; later ones are located at the array."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_\-]*")
_WS = re.compile(r"(?:[ \t\r]|#[^\n]*)*")
_WS_NL = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_SCALAR = re.compile(r"[^,\]}\n#]*")
_BASIC = re.compile(r'(?:[^"\\]|\\[\s\S])*')
_BASIC_ML = re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*')
_ESCAPE = re.compile(r"\\([\s\S])")
# plain values, separators and line breaks: one flat class, so a long run needs no backtracking stack
_SCALAR_RUN = re.compile(r"[^\[\]{}\"'#]*")


class PositionIndex:
    """Line/column of every key path in one TOML text."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line = 1
        self._line_start = 0
        self.positions: dict[Path, tuple[int, int]] = {}
        self._aot_counts: dict[Path, int] = {}
        with contextlib.suppress(IndexError):  # truncated text: keep what was found
            self._scan_document()

    # ----------------------------------------------------------------- lookup
    def find(self, path: Sequence[str | int]) -> tuple[int, int]:
        """Position of the longest prefix of ``path`` that is written in the file, or (0, 0)."""
        key = tuple(path)
        while key:
            if key in self.positions:
                return self.positions[key]
            single = self._single_table(key)
            if single in self.positions:
                return self.positions[single]
            key = key[:-1]
        return (0, 0)

    def _single_table(self, key: Path) -> Path:
        """``key`` without the index 0 of a lone table written where a list is allowed (``requires = {...}``)."""
        out: list[str | int] = []
        for part in key:
            if isinstance(part, int) and part == 0 and tuple(out) in self.positions \
                    and tuple(out) + (0,) not in self.positions:
                continue
            out.append(part)
        return tuple(out)

    def exact(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """Position of exactly ``path``, or None when it is not written in the file."""
        return self.positions.get(tuple(path))

    # ---------------------------------------------------------------- scanning
    def _here(self) -> tuple[int, int]:
        return (self._line, self._pos - self._line_start + 1)

    def _peek(self, offset: int = 0) -> str:
        i = self._pos + offset
        return self._text[i] if i < len(self._text) else ""

    def _advance(self, n: int = 1) -> None:
        end = min(self._pos + n, len(self._text))
        lines = self._text.count("\n", self._pos, end)
        if lines:
            self._line += lines
            self._line_start = self._text.rfind("\n", self._pos, end) + 1
        self._pos += n

    def _skip_ws(self, newlines: bool = False) -> None:
        self._advance(self._span(_WS_NL if newlines else _WS))

    def _span(self, pattern: re.Pattern[str]) -> int:
        """How many characters from here ``pattern`` matches (all patterns here may match nothing)."""
        m = pattern.match(self._text, self._pos)
        return m.end() - self._pos if m else 0

    def _record(self, path: Path, where: tuple[int, int]) -> None:
        self.positions.setdefault(path, where)

    def _scan_document(self) -> None:
        table: Path = ()
        while True:
            self._skip_ws(newlines=True)
            if self._pos >= len(self._text):
                return
            if self._peek() == "[":
                table = self._scan_header()
            else:
                self._scan_keyval(table)

    def _resolve(self, keys: Sequence[str]) -> Path:
        """Insert the current index of every array of tables met along ``keys``."""
        out: list[str | int] = []
        for k in keys:
            out.append(k)
            count = self._aot_counts.get(tuple(out))
            if count:
                out.append(count - 1)
        return tuple(out)

    def _scan_header(self) -> Path:
        where = self._here()
        is_array = self._peek(1) == "["
        self._advance(2 if is_array else 1)
        self._skip_ws()
        keys = self._scan_key()
        self._skip_ws()
        self._advance(2 if is_array else 1)
        if is_array:
            parent = self._resolve(keys[:-1])
            base = parent + (keys[-1],)
            self._aot_counts[base] = self._aot_counts.get(base, 0) + 1
            path = base + (self._aot_counts[base] - 1,)
            self._record(base, where)
        else:
            path = self._resolve(keys)
        for end in range(1, len(path)):  # [a.b.c] also introduces a and a.b when nothing wrote them before
            self._record(path[:end], where)
        self._record(path, where)
        return path

    def _scan_key(self) -> list[str]:
        keys: list[str] = []
        while True:
            self._skip_ws()
            c = self._peek()
            if c == '"':
                keys.append(self._scan_basic_string())
            elif c == "'":
                keys.append(self._scan_literal_string())
            else:
                start = self._pos
                self._advance(self._span(_BARE_KEY))
                keys.append(self._text[start : self._pos])
            self._skip_ws()
            if self._peek() == ".":
                self._advance()
                continue
            return keys

    def _scan_keyval(self, table: Path) -> None:
        where = self._here()
        keys = self._scan_key()
        path = table
        for i, k in enumerate(keys):
            path = path + (k,)
            self._record(path, where if i == len(keys) - 1 else where)
        self._skip_ws()
        if self._peek() == "=":
            self._advance()
        self._skip_ws()
        self._scan_value(path)

    def _scan_value(self, path: Path) -> None:
        c = self._peek()
        if c == "{":
            self._scan_inline_table(path)
        elif c == "[":
            self._scan_array(path)
        elif c == '"':
            self._scan_basic_string()
        elif c == "'":
            self._scan_literal_string()
        else:
            self._advance(self._span(_SCALAR))

    def _scan_inline_table(self, path: Path) -> None:
        self._advance()  # {
        while True:
            self._skip_ws(newlines=True)
            if self._peek() in ("}", ""):
                self._advance()
                return
            if self._peek() == ",":
                self._advance()
                continue
            self._scan_keyval(path)

    def _scan_array(self, path: Path) -> None:
        self._advance()  # [
        index = 0
        while True:
            self._skip_ws(newlines=True)
            c = self._peek()
            if c in ("]", ""):
                self._advance()
                return
            if c == ",":
                self._advance()
                continue
            if index < MAX_ARRAY_POSITIONS:
                self._record(path + (index,), self._here())
                self._scan_value(path + (index,))
            else:  # keep scanning, but record nothing more of this array (its keys locate at the array)
                skipped = self._span(_SCALAR_RUN)  # a long run of plain values in one step
                if skipped:
                    self._advance(skipped)
                    continue
                self._scan_value(path)
            index += 1

    def _scan_basic_string(self) -> str:
        if self._text.startswith('"""', self._pos):
            self._advance(3)
            start = self._pos
            self._advance(self._span(_BASIC_ML))
            while self._text.startswith('""""', self._pos):
                self._advance()
            value = self._text[start : self._pos]
            self._advance(3)
            return value
        self._advance()
        raw = self._text[self._pos : self._pos + self._span(_BASIC)]
        self._advance(len(raw) + 1)
        return _ESCAPE.sub(r"\1", raw)

    def _scan_literal_string(self) -> str:
        if self._text.startswith("'''", self._pos):
            self._advance(3)
            start = self._pos
            end = self._text.find("'''", self._pos)
            self._advance((end if end >= 0 else len(self._text)) - self._pos)
            while self._text.startswith("''''", self._pos):
                self._advance()
            value = self._text[start : self._pos]
            self._advance(3)
            return value
        self._advance()
        start = self._pos
        end = self._text.find("'", start)
        self._advance((end if end >= 0 else len(self._text)) - start)
        value = self._text[start : self._pos]
        self._advance()
        return value
