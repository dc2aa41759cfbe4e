"""Fixtures for the delivery tests: real HTTP and SMTP servers on 127.0.0.1, a CJK font for letters."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from plugin_servers import MailSink, Provider, start_http_provider, start_smtp

from policy_engine.testing import pe_ledger, pe_registry, register_plugin  # noqa: F401  (fixtures)


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    """A deduplicating HTTP provider on 127.0.0.1 that checks signatures: (state, base URL)."""
    state = Provider(secret="s3cret-value")
    server, url = start_http_provider(state)
    yield state, url
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    """An SMTP server on 127.0.0.1: (received mail, port)."""
    controller, sink = start_smtp()
    yield sink, int(controller.port)
    controller.stop()


def _install_cjk_font() -> str | None:
    from policy_engine_channels.letter import _system_cjk_fonts, find_cjk_font

    found = find_cjk_font()
    if found or not shutil.which("apt-get") or os.geteuid() != 0:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "--no-install-recommends", "fonts-wqy-microhei"],):
        if subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300, check=False)
            subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=False)
    _system_cjk_fonts.cache_clear()
    return find_cjk_font()


@pytest.fixture(scope="session")
def cjk_font() -> str:
    """A CJK font file (installs Debian's fonts-wqy-microhei when missing and running as root)."""
    font = _install_cjk_font()
    if font is None:
        pytest.skip("no CJK font: apt-get install fonts-wqy-microhei (or set [channels.letter] font_path)")
    return font
