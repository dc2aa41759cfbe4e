"""End-to-end throughput of `policy-engine dry-run`: read JSON Lines, decide, write JSON Lines.

    .venv/bin/python benchmarks/bench_dry_run.py [--accounts 50000] [--backend compiled|durable|columnar] [--runs 3]

Generates a deterministic portfolio and history (the generator and policy of bench_backends.py) into a
temporary folder, then times the real command in a subprocess and reports accounts/s and its peak RSS.
With ``--runs N`` every backend runs N times, interleaved, and the quickest run counts (the machine is
shared). The decision files of all backends must be byte-identical; the script exits 1 if not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backends  # noqa: E402  (the shared generator and policy)


def write_inputs(folder: Path, n: int, seed: int) -> tuple[Path, Path, Path]:
    """Policy, accounts and history files for ``n`` generated accounts."""
    loaded = bench_backends.load(folder)
    accounts, history = folder / "accounts.jsonl", folder / "history.jsonl"
    with accounts.open("w", encoding="utf-8") as a, history.open("w", encoding="utf-8") as h:
        for account, events in bench_backends.make_portfolio(n, seed):
            a.write(account.model_dump_json(exclude_none=True) + "\n")
            for event in events:
                h.write(json.dumps(event.to_json_dict()) + "\n")
    return Path(loaded.source.path), accounts, history


def main() -> int:
    """Run the benchmark and print one line per backend."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--backend", action="append", choices=["compiled", "durable", "columnar"])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    backends = args.backend or ["compiled", "durable"]
    with tempfile.TemporaryDirectory() as tmp:
        policy, accounts, history = write_inputs(Path(tmp), args.accounts, args.seed)
        best: dict[str, tuple[float, float]] = {}
        for backend in [name for _ in range(args.runs) for name in backends]:
            cmd = [sys.executable, "-m", "policy_engine", "dry-run", "--policy", str(policy), "--accounts",
                   str(accounts), "--history", str(history), "--as-of", bench_backends.AS_OF.isoformat(),
                   "--format", "jsonl", "--output", str(Path(tmp) / f"out-{backend}.jsonl"), "--backend", backend]
            seconds, peak = _timed(cmd)
            print(f"{backend:9} {args.accounts:>8,} accounts  {seconds:7.2f} s  "
                  f"{args.accounts / seconds:>8,.0f} accounts/s  peak {peak:,.0f} MB (includes start-up)", flush=True)
            if backend not in best or seconds < best[backend][0]:
                best[backend] = (seconds, peak)
        outputs = {backend: (Path(tmp) / f"out-{backend}.jsonl").read_bytes() for backend in backends}
        if len(set(outputs.values())) != 1:
            print("the backends' decision files differ", file=sys.stderr)
            return 1
        if args.runs > 1:
            reference = best[backends[0]][0]
            for backend, (seconds, peak) in best.items():
                print(f"quickest {backend:9} {args.accounts / seconds:>9,.0f} accounts/s  peak {peak:,.0f} MB  "
                      f"{reference / seconds:6.1f}x {backends[0]}")
    return 0


# The child reports its own peak (VmHWM of its address space): ru_maxrss of a child also counts the memory
# of the benchmark process it was forked from, which holds the generated portfolio.
_RUNNER = """
import atexit, runpy, sys
peak_file = sys.argv.pop(1)
def report():
    with open('/proc/self/status') as status, open(peak_file, 'w') as out:
        out.write(next(line.split()[1] for line in status if line.startswith('VmHWM:')))
atexit.register(report)
sys.argv[0] = 'policy_engine'
runpy.run_module('policy_engine', run_name='__main__', alter_sys=True)
"""


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``python -m policy_engine ...`` in its own process."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", _RUNNER, peak.name, *cmd[3:]], check=True)
        seconds = time.perf_counter() - start
        return seconds, int(peak.read() or 0) / 1024


if __name__ == "__main__":
    raise SystemExit(main())
