"""Text that came from input data, made harmless for where it is shown.

Account ids, names, reasons and details come from files a bank receives; any of them may carry
terminal control sequences (ANSI colour codes, OSC 8 hyperlinks, a cursor move that rewrites a line),
bidirectional-override characters that reorder what a reader sees, or a spreadsheet formula. The rule
this module keeps: such text is shown as what it is, never obeyed.

- :func:`printable` replaces every control character (C0, DEL, C1) and every bidirectional control
  with a visible escape such as ``\\x1b`` or ``\\u202e``, for terminals and HTML.
- :func:`csv_cell` writes a text cell's control characters as escapes too (a bare carriage return would
  also end a row for many CSV readers), and makes a cell that a spreadsheet would evaluate (starting with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) start with an apostrophe, so it shows as text.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["FORMULA_PREFIXES", "csv_cell", "printable"]

_BIDI: Final = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL: Final = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_CONTROL_KEEPING_LINES: Final = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")

FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (or a DDE command) rather than as text."""


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text with every control and bidirectional-override character shown as an escape.

    ``keep_newlines`` keeps line breaks (for multi-line text such as a message body); everything else
    that could move the cursor, change colours or open a hyperlink becomes visible, e.g. ``\\x1b[31m``.
    """
    text = value if isinstance(value, str) else str(value)
    pattern = _CONTROL_KEEPING_LINES if keep_newlines else _CONTROL
    return pattern.sub(_visible, text)


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as written: control characters as escapes, and text starting like a
    formula with a leading apostrophe.

    Numbers and other non-text values are returned unchanged (a negative number is a number, not a
    formula); ``None`` stays ``None``.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_PREFIXES):
        value = "'" + value
    return printable(value)
