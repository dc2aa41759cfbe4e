"""Read one TOML policy file: text, parsed data, positions and the validated model.

The text is read by :mod:`policy_engine.policy.file_text` (bounded size, UTF-8, bounded nesting), so a file
of any content ends in a model or in located issues.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from policy_engine._exceptions import Issue, Location, PolicySyntaxError, PolicyValidationError
from policy_engine.policy.errors import format_path, issues_from_validation
from policy_engine.policy.file_text import MAX_NESTING, data_too_deep, nesting_issue, read_policy_text
from policy_engine.policy.locate import PositionIndex
from policy_engine.policy.models import PolicyFile, TestFile

if sys.version_info >= (3, 11):  # noqa: UP036  (tomli is the declared fallback for older Pythons)
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["SourceFile", "display_path", "read_source", "read_test_file"]


@dataclass
class SourceFile:
    """One policy file as written: where it is, its positions and its validated model."""

    path: Path
    display: str
    index: PositionIndex
    data: dict[str, Any]
    model: PolicyFile

    def location(self, *path: str | int) -> Location:
        """The location of a key path in this file (longest written prefix)."""
        line, col = self.index.find(path)
        return Location(self.display, line, col)


def display_path(path: Path) -> str:
    """The path as a user should read it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _parse_toml(path: Path, display: str) -> tuple[dict[str, Any], PositionIndex]:
    text = read_policy_text(path, display)
    too_deep = nesting_issue(text, display)
    if too_deep is not None:
        raise PolicySyntaxError([too_deep])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicySyntaxError([_syntax_issue(text, str(exc), display)]) from None
    except RecursionError:  # the nesting check above keeps this away; a last guard, never a traceback
        raise PolicySyntaxError([Issue(Location(display), "", "values nest too deeply to read",
                                       code="too_deep")]) from None
    index = PositionIndex(text)
    deep = data_too_deep(data)
    if deep is not None:
        line, column = index.find(deep)
        raise PolicySyntaxError([Issue(Location(display, line, column), format_path(deep),
                                       f"values nest more than {MAX_NESTING} levels deep here", code="too_deep",
                                       hint="dotted keys nest too: a.b.c = 1 is three levels")])
    return data, index


def _syntax_issue(text: str, msg: str, display: str) -> Issue:
    """A located, plain-language issue for a TOML parse error."""
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    lines = text.split("\n")
    if m:
        line, col = int(m[1]), int(m[2])
    else:  # "at end of document": point just after the last written line
        written = text.rstrip("\r\n\t ").split("\n")
        line, col = len(written), len(written[-1].rstrip("\r")) + 1
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
    reason, col = _explain(reason, lines[line - 1] if 0 < line <= len(lines) else "", col)
    return Issue(Location(display, line, col), "", f"TOML syntax error: {reason}", code="toml_syntax")


def _explain(reason: str, line_text: str, col: int) -> tuple[str, int]:
    """tomllib's terse reason in words a policy author can act on, and a better column when known."""
    before = line_text[: max(col - 1, 0)]
    if reason in ("Illegal character '\\n'", "Found invalid character '\\n'", "Unterminated string",
                  'Expected "\'"'):
        start = max(before.rfind('"'), before.rfind("'"))
        return ("text not closed: the closing quote is missing at the end of the line",
                start + 1 if start >= 0 else col)
    key = re.match(r"\s*([^=\[\]]+?)\s*=", line_text)
    indent = len(line_text) - len(line_text.lstrip())
    if reason == "Cannot overwrite a value":
        if key and "." in key[1]:
            return (f"'{key[1]}' clashes with a key set earlier: each key may appear only once in a table",
                    indent + 1)
        if key:
            return (f"'{key[1]}' is set twice: each key may appear only once in a table", indent + 1)
        header = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]", line_text)
        if header:
            return f"[{header[1]}] was already set earlier in the file as a value", indent + 1
        return "this table or key was already set earlier in the file", indent + 1
    m = re.fullmatch(r"Cannot declare \((.*)\) twice", reason)
    if m:
        name = ".".join(part.strip().strip("'\"") for part in m[1].split(",") if part.strip())
        return (f"the table [{name}] is declared twice: each [table] may appear only once "
                "(use [[...]] for a list of tables)", indent + 1)
    m = re.fullmatch(r"Duplicate inline table key '(.*)'", reason)
    if m:
        return f"'{m[1]}' is set twice in this {{ ... }} table", col
    if re.search(r"(^|[^\w.])\d{4}$", before) and line_text[col - 1 : col] == "-":  # 2026-13-45: read 2026 as a number
        return "not a valid date: write 2026-11-28 (month 01-12, day 01-31)", col - 4
    if reason == "Unescaped '\\' in a string" and "\\" in before:
        return "a backslash in text must be doubled (\\\\), or use 'single quotes'", before.rfind("\\") + 1
    if reason == "Invalid initial character for a key part" and line_text.count("{") > line_text.count("}"):
        return ("a { ... } table must be closed with '}' on the same line (TOML allows no line break "
                "inside { ... })", col)
    plain = {
        "Invalid value": "value not understood: write text in quotes (\"sms\"), numbers as digits (30), "
                         "true or false in lowercase, lists as [ ... ]",
        "Invalid statement": "this line is neither key = value nor a [table] header",
        "Expected '=' after a key in a key/value pair": "expected '=' after the key: write key = value",
        "Unclosed array": "list not closed: a ']' is missing",
        "Unclosed inline table": "{ ... } table not closed: a '}' is missing on this line",
        "Invalid date or datetime": "not a valid date or time: write 2026-11-28 or 2026-11-28T09:00:00+08:00",
        "Expected newline or end of document after a statement":
            "unexpected text after the value: put each key = value on its own line (text needs quotes)",
        "Invalid initial character for a key part":
            "expected a key name (letters, digits, '_' or '-'; anything else needs quotes)",
        "Expected ']' at the end of a table declaration": "table header not closed: a ']' is missing",
        "Expected ']]' at the end of an array declaration": "table header not closed: ']]' is missing",
    }
    return plain.get(reason, reason), col


def _validate(model: type[BaseModel], data: dict[str, Any], display: str, index: PositionIndex) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PolicyValidationError(issues_from_validation(exc, model, display, index)) from None


def read_source(path: Path, display: str | None = None) -> SourceFile:
    """Parse and validate one policy file; raise a PolicyError with located issues when it is broken."""
    display = display or display_path(path)
    data, index = _parse_toml(path, display)
    if "policy" not in data:
        if path.name.endswith("_test.toml") and "tests" in data:
            raise PolicyValidationError([Issue(Location(display, 1, 1), "", "this is a policy test suite, not a "
                                               "policy: run it with `policy-engine test "
                                               f"{display.removesuffix('_test.toml')}.toml`", code="test_suite")])
        raise PolicyValidationError([Issue(Location(display, 1, 1), "policy",
                                           "missing the [policy] table (id, version, extends, ...)",
                                           code="missing")])
    model = _validate(PolicyFile, data, display, index)
    return SourceFile(path=path, display=display, index=index, data=data, model=model)


def read_test_file(path: Path) -> tuple[TestFile, PositionIndex, str]:
    """Parse and validate a sibling ``*_test.toml`` file."""
    display = display_path(path)
    data, index = _parse_toml(path, display)
    return _validate(TestFile, data, display, index), index, display
