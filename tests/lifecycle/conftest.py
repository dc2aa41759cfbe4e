"""The fixture of the simulate, diff and report tests: a workspace writing small inputs, running the CLI."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app

LC_TEMPLATES = """
[templates.t."zh-CN"]
body = "您好"
[templates.t."en-US"]
body = "Hello"
"""


class Workspace:
    """Files under one tmp_path, and the CLI run as a user runs it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def policy(self, name: str, body: str) -> Path:
        """Write a policy (templates for the template id ``t`` are appended)."""
        path = self.root / name
        path.write_text(textwrap.dedent(body) + LC_TEMPLATES, encoding="utf-8")
        return path

    def jsonl(self, name: str, rows: Iterable[dict[str, Any]]) -> Path:
        """Write rows as JSON Lines."""
        path = self.root / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    def cli(self, *args: str | Path, code: int = 0) -> str:
        """Run ``policy-engine ARGS``; assert the exit code; return stdout."""
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert "Traceback" not in result.stdout + result.stderr
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result.stdout


@pytest.fixture
def lc(tmp_path: Path) -> Workspace:
    """A :class:`Workspace` in the test's tmp_path."""
    return Workspace(tmp_path)
