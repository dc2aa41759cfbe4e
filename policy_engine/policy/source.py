"""Read one TOML policy file: text, parsed data, positions and the validated model."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from policy_engine._exceptions import Issue, Location, PolicySyntaxError, PolicyValidationError
from policy_engine.policy.errors import issues_from_validation
from policy_engine.policy.locate import PositionIndex
from policy_engine.policy.models import PolicyFile, TestFile

if sys.version_info >= (3, 11):
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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicySyntaxError([Issue(Location(display), "", "file not found", code="not_found")]) from None
    except UnicodeDecodeError as exc:
        raise PolicySyntaxError([Issue(Location(display), "", f"not UTF-8 text ({exc.reason})",
                                       code="encoding")]) from None
    except OSError as exc:
        raise PolicySyntaxError([Issue(Location(display), "", f"cannot read: {exc.strerror}",
                                       code="unreadable")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line, col = (int(m[1]), int(m[2])) if m else (0, 0)
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
        raise PolicySyntaxError([Issue(Location(display, line, col), "", f"TOML syntax error: {reason}",
                                       code="toml_syntax")]) from None
    return data, PositionIndex(text)


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
        line = 1 if data else 0
        raise PolicyValidationError([Issue(Location(display, line, 1), "policy",
                                           "missing the [policy] table (id, version, extends, ...)",
                                           code="missing")])
    model = _validate(PolicyFile, data, display, index)
    return SourceFile(path=path, display=display, index=index, data=data, model=model)


def read_test_file(path: Path) -> tuple[TestFile, PositionIndex, str]:
    """Parse and validate a sibling ``*_test.toml`` file."""
    display = display_path(path)
    data, index = _parse_toml(path, display)
    return _validate(TestFile, data, display, index), index, display
