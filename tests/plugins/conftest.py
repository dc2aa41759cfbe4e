"""Fixtures for the dispatch-side tests: real servers on 127.0.0.1, ledgers on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from plugin_servers import MailSink, Provider, start_http_provider, start_smtp

from policy_engine.ledger import Ledger
from policy_engine.testing import pe_ledger, pe_registry, register_plugin  # noqa: F401  (fixtures)

PG_BASE = os.environ.get("POLICY_ENGINE_TEST_PG", "postgresql+psycopg://{user}@127.0.0.1:5432/test")


def _pg_engine() -> tuple[sa.Engine | None, str]:
    errors = []
    for user in ("postgres", "root"):
        url = PG_BASE.format(user=user)
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return engine, url
        except Exception as exc:  # no server, wrong user: try the next, then skip with the reason
            errors.append(f"{user}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
            engine.dispose()
    return None, "; ".join(errors)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[sa.Engine, str]]:
    """A PostgreSQL server at 127.0.0.1:5432, or a visible skip naming the connection error."""
    engine, url_or_error = _pg_engine()
    if engine is None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 not reachable: {url_or_error}")
    yield engine, url_or_error
    engine.dispose()


@pytest.fixture
def pg_schema(pg_server: tuple[sa.Engine, str]) -> Iterator[tuple[str, str]]:
    """A fresh schema for one test (dropped afterwards): (url, schema name)."""
    engine, url = pg_server
    name = f"pe_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    yield url, name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(url, schema) of an empty ledger database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}", None
    url, schema = request.getfixturevalue("pg_schema")
    return url, schema


@pytest.fixture
def ledger(ledger_url: tuple[str, str | None]) -> Iterator[Ledger]:
    """An opened ledger on each backend."""
    url, schema = ledger_url
    opened = Ledger.open(url, schema_name=schema)
    yield opened
    opened.close()


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
