"""Start-up time of the command line: `policy-engine --version` and `--help`, beside the floor they stand on.

    .venv/bin/python benchmarks/bench_startup.py [--runs 15] [--also DIR ...] [--json]

Each command is started as a new process ``--runs`` times, the commands interleaved round by round so a
noisy machine slows them all alike; the quietest (minimum) and the median wall time of each are reported,
and their ratio to the Python interpreter starting and doing nothing (``python -c pass``). The peers:

- ``python -c pass``: the floor no Python command line goes below;
- ``typer --help``: a one-command typer application printing its help, the framework's own floor;
- ``policy-engine --version`` and ``--help`` through the installed console script, and ``-m policy_engine``;
- ``--also DIR``: the same two commands of another checkout (``PYTHONPATH=DIR python -m policy_engine``),
  e.g. an export of an older commit, to compare before and after.

The target is under 0.5 s for both commands on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TYPER_APP = ("import typer\napp = typer.Typer()\n@app.command()\ndef main(name: str = 'x') -> None:\n"
             "    'Say hello.'\napp()\n")


def commands(also: list[str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Label -> (argv, extra environment) of every command timed."""
    python = sys.executable
    script = str(Path(python).with_name("policy-engine"))
    found: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([python, "-c", "pass"], {}),
        "typer app --help": ([python, "-c", TYPER_APP, "--help"], {}),
        "policy-engine --version": ([script, "--version"], {}),
        "policy-engine --help": ([script, "--help"], {}),
        "python -m policy_engine --help": ([python, "-m", "policy_engine", "--help"], {}),
    }
    for folder in also:
        name = Path(folder).name
        found[f"{name}: --version"] = ([python, "-m", "policy_engine", "--version"], {"PYTHONPATH": folder})
        found[f"{name}: --help"] = ([python, "-m", "policy_engine", "--help"], {"PYTHONPATH": folder})
    return found


def time_once(argv: list[str], extra: dict[str, str]) -> float:
    """Wall seconds of one run (output discarded; a failing command stops the benchmark).

    Commands run in a temporary directory: ``python -m`` puts the working directory first on the module
    path, which would shadow the tree given with ``--also``.
    """
    env = {**os.environ, **extra, "COLUMNS": "80"}
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False,
                          cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return elapsed


def main() -> None:
    """Time every command and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--also", action="append", default=[], metavar="DIR",
                        help="time `python -m policy_engine` from another source tree too")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    todo = commands(args.also)
    times: dict[str, list[float]] = {label: [] for label in todo}
    for argv, extra in todo.values():  # warm the file cache once, untimed
        time_once(argv, extra)
    for _ in range(args.runs):
        for label, (argv, extra) in todo.items():
            times[label].append(time_once(argv, extra))
    floor = min(times["python -c pass"])
    rows = [{"command": label, "min_s": round(min(found), 3), "median_s": round(statistics.median(found), 3),
             "x_python": round(min(found) / floor, 1)} for label, found in times.items()]
    if args.json:
        print(json.dumps({"runs": args.runs, "results": rows}, indent=2))
        return
    print(f"{'command':<34} {'min s':>7} {'median s':>9} {'x python':>9}   ({args.runs} runs each)")
    for row in rows:
        print(f"{row['command']:<34} {row['min_s']:>7.3f} {row['median_s']:>9.3f} {row['x_python']:>9.1f}")


if __name__ == "__main__":
    main()
