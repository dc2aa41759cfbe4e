"""The batch commands under `compiled` and `columnar`, side by side: `simulate --days N` and `report`.

    .venv/bin/python benchmarks/cn_portfolio.py --accounts 20000 --folder /tmp/cn-20k
    .venv/bin/python benchmarks/bench_batch_commands.py --folder /tmp/cn-20k --days 30 --runs 1

Each run is its own process, from process start to output closed, the backends interleaved round by
round; each run's peak RSS is the child's own (``ru_maxrss`` from ``wait4``). The quickest run of each
command and backend is shown, with columnar's speed-up over compiled, and whether both wrote the same
bytes (the report's page differs in the backend its provenance names, which is ignored).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
POLICY: Final = ROOT / "policies" / "examples" / "cn-card-issuer.toml"
AS_OF: Final = "2026-11-28T08:00:00+08:00"  # benchmarks/cn_portfolio.py's AS_OF
BACKENDS: Final = ("compiled", "columnar")


def commands(folder: Path, days: int, output: Path) -> dict[str, list[str]]:
    """The measured command lines by name, without ``--backend``."""
    cli = [sys.executable, "-m", "policy_engine", "--quiet"]
    inputs = ["--policy", str(POLICY), "--accounts", str(folder / "accounts.jsonl"),
              "--history", str(folder / "history.jsonl")]
    return {
        f"simulate --days {days}": [*cli, "simulate", *inputs, "--start", AS_OF[:10], "--days", str(days),
                                    "--format", "jsonl", "--output", str(output)],
        "report": [*cli, "report", *inputs, "--as-of", AS_OF, "--output", str(output)],
    }


def run_once(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one run; a failing run stops the benchmark."""
    started = time.perf_counter()
    environment = {**os.environ, "SOURCE_DATE_EPOCH": "1796000000"}  # the report's generation time, fixed
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)  # noqa: S603
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    assert child.stderr is not None
    errors = child.stderr.read().decode("utf-8", "replace")
    child.stderr.close()
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{errors}")
    return seconds, usage.ru_maxrss / 1024


def _content(path: Path) -> bytes:
    return re.sub(rb"\(rule backend \w+\)", b"(rule backend *)", path.read_bytes())


def main() -> int:
    """Measure, then print one table (markdown)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, required=True, help="a portfolio of benchmarks/cn_portfolio.py")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp"))
    arguments = parser.parse_args()
    arguments.scratch.mkdir(parents=True, exist_ok=True)
    accounts = sum(1 for _ in (arguments.folder / "accounts.jsonl").open("rb"))
    best: dict[tuple[str, str], tuple[float, float]] = {}
    same: dict[str, bool] = {}
    for _ in range(arguments.runs):
        for name in commands(arguments.folder, arguments.days, arguments.scratch):
            written = {}
            for backend in BACKENDS:
                output = arguments.scratch / f"bench-batch-{backend}.out"
                command = commands(arguments.folder, arguments.days, output)[name] + ["--backend", backend]
                seconds, peak = run_once(command)
                if (name, backend) not in best or seconds < best[(name, backend)][0]:
                    best[(name, backend)] = (seconds, peak)
                written[backend] = _content(output)
            same[name] = written["columnar"] == written["compiled"]
    print(f"{accounts:,} accounts, {arguments.runs} run(s) each, the quickest shown\n")
    print("| command | backend | seconds | peak RSS | speed-up | same output |")
    print("|---|---|---:|---:|---:|---|")
    for name in commands(arguments.folder, arguments.days, arguments.scratch):
        compiled = best[(name, "compiled")][0]
        for backend in BACKENDS:
            seconds, peak = best[(name, backend)]
            print(f"| `{name}` | `{backend}` | {seconds:.1f} | {peak:,.0f} MB | {compiled / seconds:.2f} | "
                  f"{'yes' if same[name] else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
