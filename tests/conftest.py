"""Fixtures every test folder shares: ledgers on a real SQLite file and on the real PostgreSQL server.

PostgreSQL tests skip, naming the connection error, where no server answers at 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from policy_engine.ledger import Ledger

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
