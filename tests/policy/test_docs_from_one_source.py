"""Editor help and the policy guide come from one source: every key of the JSON Schema has a description
(the pydantic field descriptions), the guide's reference tables are exactly the tables made from them, and
the docs point only at files that ship."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.cli.reference import TABLES, channel_table, key_table, refresh_guide
from policy_engine.policy.validate import policy_schema
from tests.policy.helpers import REPO

GUIDE = REPO / "docs" / "policy-guide.md"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks" / "README.md"]


def properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [("PolicyFile", key, prop) for key, prop in schema["properties"].items()]
    for name, model in schema["$defs"].items():
        found += [(name, key, prop) for key, prop in model.get("properties", {}).items()]
    return found


def test_every_key_of_the_schema_has_a_description() -> None:
    schema = policy_schema()
    missing = [f"{model}.{key}" for model, key, prop in properties(schema) if not prop.get("description", "").strip()]
    assert missing == []
    assert len(properties(schema)) > 140


def test_every_table_of_the_schema_is_in_the_reference() -> None:
    assert set(TABLES) == {"PolicyFile", *policy_schema()["$defs"]}


def test_the_guide_shows_exactly_the_generated_tables() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert refresh_guide(text) == text, ("docs/policy-guide.md is stale: run `python -c \"from pathlib import Path; "
                                         "from policy_engine.cli.reference import refresh_guide as r; "
                                         "p = Path('docs/policy-guide.md'); p.write_text(r(p.read_text()))\"`")
    for name in TABLES:
        assert f"<!-- keys: {name} -->\n{key_table(name)}\n<!-- /keys -->" in text, name
    assert f"<!-- channels -->\n{channel_table()}\n<!-- /channels -->" in text


def test_a_description_in_the_model_is_the_text_in_the_guide_and_the_schema() -> None:
    schema = policy_schema()
    text = GUIDE.read_text(encoding="utf-8")
    description = schema["$defs"]["Guardrails"]["properties"]["avoid_workplace"]["description"]
    assert f"| `avoid_workplace` | list of one of `\"email\"`, `\"phone\"` | none | {description} |" in text


def test_schema_format_text_prints_the_whole_reference() -> None:
    result = CliRunner().invoke(app, ["schema", "--format", "text"])
    assert result.exit_code == 0
    for name in TABLES:
        assert key_table(name) in result.stdout


@pytest.mark.parametrize("word", [
    "kinds", "regions", "allow_purposes", "purpose", "threatens_legal_action", "kind_hours", "holidays_by_region",
    "avoid_workplace", "posted_notice_served_after_business_days", "validation_notice_within_days",
    "time_barred_after_days_by_region", "required_notices", "timezones", "preferred_hours", "email_at_work",
    "phone_at_work", "breathing_space_started", "breathing_space_ended", "mental_health_crisis",
    "counts_as_attempt", "`ie`", "`in`", "`system`", "`agent`", "not_before", "not_after", "opt_out_text"])
def test_the_docs_cover_the_language_and_its_records(word: str) -> None:
    docs = GUIDE.read_text(encoding="utf-8") + (REPO / "docs" / "engine.md").read_text(encoding="utf-8")
    assert word in docs


_PATH = re.compile(r"(?<![\w./-])((?:policies|examples|docs|benchmarks|tests|policy_engine|plugins|\.ci)/[\w./-]*"
                   r"[\w])")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_the_docs_name_only_files_that_ship(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "shared/" not in text and "seed's" not in text and "the seed" not in text
    missing = sorted({path for path in _PATH.findall(text)
                      if not any(mark in path for mark in ("*", "NAME", "..."))
                      and not (REPO / path).exists() and not (REPO / path).with_suffix("").exists()})
    assert missing == [], f"{doc.name} names files that do not ship: {missing}"


def test_the_readme_quick_start_is_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("Then, for example", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick, re.S)
    assert len(blocks) == 2 and all(len(block.strip().splitlines()) == 1 for block in blocks)
    assert blocks[1].strip() == "python3 -m venv .venv && .venv/bin/pip install -e '.[test,spark]' && " \
                                ".venv/bin/python -m pytest"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/python -m pytest\n" in ci  # the README's test command is the one CI runs
    assert ".venv/bin/pip install -e '.[test,spark]'\n" in ci  # with the same extras
