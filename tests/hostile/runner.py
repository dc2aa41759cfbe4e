"""Run one hostile case: write its files into a folder, run its command line there, observe the outcome.

A case is a JSON file in ``cases/`` (written by ``generate.py``): the files it needs, the command line, and
the exact outcome recorded for it. The same runner records outcomes (``generate.py --record``) and checks
them (``test_corpus.py``), in-process through the typer app or through the installed console script.

What is observed is what a user sees: the exit code; every error or warning line (``FILE:LINE: error: ...``
and ``error: ...``); with ``--format jsonl`` the number of decisions on stdout; with ``--rejects`` the rows
set aside (file, line, reason); with ``run --format json`` the failed actions; and whether any output
holds a traceback.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
BASES = HERE / "bases"

_ERROR_LINE = re.compile(r"(^|: )(error|warning): ")


@dataclass
class Outcome:
    """What one run of a case showed."""

    exit_code: int
    errors: list[str]
    decided: int | None = None
    rejects: list[list[Any]] | None = None
    failures: list[list[str]] | None = None
    sent: int | None = None
    traceback: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The outcome as the case file records it (absent parts left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None and key != "traceback"}


def file_bytes(spec: dict[str, Any]) -> bytes:
    """The content a file spec describes: text, base64, a base file with changes, or repeated parts."""
    if "text" in spec:
        return str(spec["text"]).encode("utf-8")
    if "base64" in spec:
        return base64.b64decode(spec["base64"])
    if "repeat" in spec:
        return b"".join(str(text).encode("utf-8") * int(times) for text, times in spec["repeat"])
    text = (BASES / spec["base"]).read_text(encoding="utf-8")
    for old, new in spec.get("replace", []):
        assert text.count(old) == 1, f"{old!r} must occur once in base {spec['base']}"
        text = text.replace(old, new)
    if "insert" in spec:  # [line index, lines]: new lines before that 0-based line
        index, new_lines = spec["insert"]
        lines = text.splitlines(keepends=True)
        text = "".join(lines[:index] + [line + "\n" for line in new_lines] + lines[index:])
    text += spec.get("append", "")
    return text.encode("utf-8")


def write_files(case: dict[str, Any], root: Path) -> None:
    """Write every file of the case below ``root`` (a name ending in '/' is a folder)."""
    for name, spec in case["files"].items():
        target = root / name
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file_bytes(spec))


def observe(exit_code: int, stdout: str, stderr: str, argv: list[str], root: Path) -> Outcome:
    """The outcome of a finished run, from its output and the files it wrote."""
    for folder in {str(root), str(root.resolve())}:  # a temporary folder's name differs on every run
        stdout, stderr = stdout.replace(folder, "<case>"), stderr.replace(folder, "<case>")
    lines = (stdout + "\n" + stderr).splitlines()
    outcome = Outcome(exit_code, [line for line in lines if _ERROR_LINE.search(line)],
                      traceback="Traceback" in stdout or "Traceback" in stderr)
    if "--format" in argv and argv[argv.index("--format") + 1] == "jsonl" and argv[0] == "dry-run":
        outcome.decided = sum(1 for line in stdout.splitlines() if line.startswith("{"))
    if "--rejects" in argv:
        sink = root / argv[argv.index("--rejects") + 1]
        outcome.rejects = [[row["file"], row["line"], row["reason"]]
                           for row in map(json.loads, sink.read_text(encoding="utf-8").split("\n")[:-1])] \
            if sink.exists() else []
    if argv[0] == "run" and "--format" in argv and exit_code in (0, 7):  # 7: some action failed in this run
        report = json.loads(stdout)
        outcome.sent = report["dispatch"]["totals"]["sent"]
        outcome.failures = [[f["account_id"], f["action"], f["error"]] for f in report["dispatch"]["failures"]]
    return outcome


def run_in_process(case: dict[str, Any], root: Path) -> Outcome:
    """Run the case's command line through the typer app, in ``root``."""
    from typer.testing import CliRunner  # noqa: PLC0415  (the console-script path needs neither)

    from policy_engine.cli import app  # noqa: PLC0415

    write_files(case, root)
    with contextlib.chdir(root):
        result = CliRunner().invoke(app, case["argv"], env=case.get("env"))
    stdout, stderr = result.stdout, result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "\nTraceback (an exception escaped the command): " + repr(result.exception)
    return observe(result.exit_code, stdout, stderr, case["argv"], root)


def console_script() -> str:
    """The `policy-engine` console script installed next to the running interpreter."""
    return str(Path(sys.executable).parent / ("policy-engine.exe" if os.name == "nt" else "policy-engine"))


def run_console(case: dict[str, Any], root: Path) -> Outcome:
    """Run the case's command line through the installed console script, in ``root``."""
    write_files(case, root)
    env = {**os.environ, **(case.get("env") or {})}
    done = subprocess.run([console_script(), *case["argv"]], cwd=root, capture_output=True, text=True,
                          timeout=120, env=env)
    return observe(done.returncode, done.stdout, done.stderr, case["argv"], root)


def load_cases() -> list[dict[str, Any]]:
    """Every case of the corpus, by name."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(CASES.glob("*.json"))]
