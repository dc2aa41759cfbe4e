"""Fixtures for the delivery tests: real HTTP and SMTP servers on 127.0.0.1, a CJK font for letters.

Tests install nothing: the font comes from the system (.ci/run installs it), else its tests skip.
"""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def cjk_font() -> str:
    """A CJK font file for letters; skipped, saying what to install, when the system has none."""
    from policy_engine_channels.letter import find_cjk_font

    font = find_cjk_font()
    if font is None:
        pytest.skip("no CJK font: apt-get install fonts-wqy-microhei (or set [channels.letter] font_path)")
    return font
