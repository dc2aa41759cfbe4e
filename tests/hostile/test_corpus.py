"""The hostile corpus: every case ends in exactly its recorded outcome, and never in a traceback.

Each case (``cases/*.json``, written by ``generate.py``) is a hostile policy, a bad input row or a wrong
option; the outcome is what a user sees: the exit code, every located error line, how many accounts were
decided, which rows were set aside (file, line, reason) and which sends failed. The cases run in-process
through the typer app; the ones marked ``console`` also through the installed console script, the path a
user takes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import generate
from tests.hostile.runner import console_script, load_cases, observe, run_in_process, write_files

CASES = load_cases()
CONSOLE = [case for case in CASES if case.get("console")]


def test_the_corpus_is_what_the_generator_writes() -> None:
    """The committed cases are the generator's (inputs, command lines and intents), each with an outcome."""
    built = {case["name"]: case for case in generate.cases()}
    committed = {case["name"]: case for case in CASES}
    assert sorted(committed) == sorted(built)
    for name, fresh in built.items():
        assert {k: committed[name][k] for k in fresh} == fresh, name
        assert "expect" in committed[name], f"{name} has no recorded outcome: run generate.py --record"
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case_ends_in_its_recorded_outcome(case: dict[str, Any], tmp_path: Path) -> None:
    outcome = run_in_process(case, tmp_path)
    assert not outcome.traceback, f"a traceback: {case['attack']}"
    assert outcome.as_dict() == case["expect"], case["attack"]
    assert generate.check_intent(case, outcome.as_dict(), outcome.traceback) == []


def test_console_script_cases_end_in_the_same_outcome(tmp_path: Path) -> None:
    """A few cases through the real `policy-engine` script (started together: each pays its imports)."""
    assert len(CONSOLE) >= 5
    runs = []
    for case in CONSOLE:
        root = tmp_path / case["name"]
        root.mkdir()
        write_files(case, root)
        runs.append((case, root, subprocess.Popen([console_script(), *case["argv"]], cwd=root, text=True,
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    for case, root, process in runs:
        stdout, stderr = process.communicate(timeout=180)
        outcome = observe(process.returncode, stdout, stderr, case["argv"], root)
        assert "Traceback" not in stdout + stderr, case["name"]
        assert outcome.as_dict() == case["expect"], (case["name"], json.dumps(outcome.as_dict())[:500])
