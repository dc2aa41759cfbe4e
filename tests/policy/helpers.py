"""Helpers for the policy-language tests: a minimal valid policy, one change at a time, exact positions."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from policy_engine._exceptions import Issue, Location
from policy_engine.policy.validate import FileReport, validate_paths

CASES = Path(__file__).resolve().parent / "cases"
MINIMAL = (CASES / "minimal.toml").read_text(encoding="utf-8")
FILE = "policy.toml"
REPO = Path(__file__).resolve().parents[2]


def change(old: str, new: str, text: str = MINIMAL) -> str:
    """``text`` with the one occurrence of ``old`` replaced by ``new`` (fails loudly when ``old`` is not unique)."""
    assert text.count(old) == 1, f"{old!r} must occur exactly once in the policy being changed"
    return text.replace(old, new)


def pos(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) where the ``nth`` occurrence of ``needle`` starts in ``text``."""
    i = -1
    for _ in range(nth):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    column = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, column


def at(text: str, needle: str, nth: int = 1, file: str = FILE) -> Location:
    """The Location of ``needle`` in ``text`` written as ``file``."""
    return Location(file, *pos(text, needle, nth))


def report(text: str, name: str = FILE) -> FileReport:
    """Write ``text`` to ``name`` in the working directory and validate it as the CLI does."""
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    [rep] = validate_paths([path])
    return rep


def issues(text: str, name: str = FILE) -> list[Issue]:
    """Every issue (errors and warnings) of ``text``."""
    return report(text, name).issues


def only_issue(text: str, name: str = FILE) -> Issue:
    """The single issue ``text`` has (fails when there are none or several)."""
    found = issues(text, name)
    assert len(found) == 1, "expected exactly one issue, got:\n" + "\n".join(str(i) for i in found)
    return found[0]


def baseline_line(name: str, needle: str) -> Location:
    """Where ``needle`` is written in the shipped baseline ``name`` (as the validator displays it)."""
    text = (REPO / "policies" / "baselines" / f"{name}.toml").read_text(encoding="utf-8")
    return Location(f"policies/baselines/{name}.toml", *pos(text, needle))


def console_script() -> str:
    """The `policy-engine` console script installed next to the running interpreter."""
    candidate = Path(sys.executable).parent / ("policy-engine.exe" if os.name == "nt" else "policy-engine")
    assert candidate.exists(), f"policy-engine is not installed next to {sys.executable}"
    return str(candidate)
