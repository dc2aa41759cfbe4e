"""The third-party example plugin (examples/chat-plugin) passes its own test suite, run as an outsider runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "chat-plugin"


def test_example_chat_plugin_suite_passes() -> None:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE / "src")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
