"""Where the columnar backend's time goes: reading and validating rows, the relations, the plan, the output.

    .venv/bin/python benchmarks/bench_columnar_stages.py [--accounts 200000] [--threads 2] [--runs 3]

Uses the portfolio generator and policy of bench_backends.py, written as JSON Lines to a temporary folder
(like bench_dry_run.py). Each stage is timed on its own, in one process, the quickest of ``--runs``:

* ``read``: the shared readers validating every account and event (pydantic), as every backend does;
* ``relations``: those records into the Arrow relations of the plan (load.py) and into DuckDB;
* ``plan``: every statement of the plan, up to the verdicts (DuckDB, ``--threads`` threads);
* ``output``: the JSON Lines the plan writes itself (what ``dry-run --format jsonl`` does), fetched in chunks;
* ``output-objects``: instead, Decision objects built in Python and written by ``write_decisions`` (what the
  other formats and the library's ``Engine.decisions`` do).

The end-to-end comparison with the other backends is bench_dry_run.py; the peer benchmark (a hand-written
DuckDB query and plain Python) is the portfolio benchmark's.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backends  # noqa: E402  (the shared generator and policy)
import bench_dry_run  # noqa: E402

from policy_engine.data.readers import read_accounts, read_history  # noqa: E402
from policy_engine.decide.columnar.backend import ColumnarBackend  # noqa: E402
from policy_engine.decide.columnar.json_lines import JsonLines  # noqa: E402
from policy_engine.decide.columnar.output import DecisionWriter  # noqa: E402
from policy_engine.lifecycle.output import write_decisions  # noqa: E402
from policy_engine.policy.loader import load_policy  # noqa: E402


def _stages(backend: ColumnarBackend, accounts: Path, history: Path) -> dict[str, float]:
    import duckdb  # noqa: PLC0415

    times: dict[str, float] = {}
    start = time.perf_counter()
    account_rows = list(read_accounts(accounts))
    events = list(read_history(history))
    times["read"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as spill:
        connection = duckdb.connect(config={"threads": backend.threads, "memory_limit": backend.memory_limit,
                                            "temp_directory": spill})
        start = time.perf_counter()
        backend._load(connection, account_rows, events, False)
        times["relations"] = time.perf_counter() - start
        start = time.perf_counter()
        backend._run(connection, bench_backends.AS_OF)
        times["plan"] = time.perf_counter() - start
        start = time.perf_counter()
        sink = io.StringIO()
        for line in JsonLines(backend.loaded, backend.plan).lines(connection, bench_backends.AS_OF, 10_000):
            sink.write(line + "\n")
        times["output"] = time.perf_counter() - start
        start = time.perf_counter()
        writer = DecisionWriter(backend.loaded, backend.plan, bench_backends.AS_OF)
        write_decisions((decision for _, decision in writer.decisions(connection, 10_000)), "jsonl", io.StringIO())
        times["output-objects"] = time.perf_counter() - start
        connection.close()
    return times


def main() -> int:
    """Print the quickest time of each stage and its rate."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policy, accounts, history = bench_dry_run.write_inputs(Path(tmp), args.accounts, args.seed)
        backend = ColumnarBackend(load_policy(policy), threads=args.threads)
        best: dict[str, float] = {}
        for _ in range(args.runs):
            for stage, seconds in _stages(backend, accounts, history).items():
                best[stage] = min(seconds, best.get(stage, seconds))
    total = sum(seconds for stage, seconds in best.items() if stage != "output-objects")
    print(f"{args.accounts:,} accounts, {args.threads} DuckDB threads, quickest of {args.runs} runs")
    print("| stage | seconds | accounts/s | share |\n|---|---|---|---|")
    for stage, seconds in best.items():
        print(f"| {stage} | {seconds:.2f} | {args.accounts / seconds:,.0f} | {seconds / total:.0%} |")
    print(f"| all (with the plan's JSON Lines) | {total:.2f} | {args.accounts / total:,.0f} | 100% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
