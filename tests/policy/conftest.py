"""Fixtures for the policy-language tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty temporary directory, so files display as 'policy.toml'."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
