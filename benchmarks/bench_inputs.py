"""Native readers against the row readers + the columnar loader: both fill the plan's two relations.

    .venv/bin/python benchmarks/bench_inputs.py --accounts 200000 --runs 3

On a generated CN portfolio (cn_portfolio.py, JSON Lines), each way runs in its own process: ``rows``
reads with policy_engine.data.readers (pydantic validation of every row) and converts the records with
policy_engine.decide.columnar.load into DuckDB; ``native`` uses policy_engine.decide.columnar.inputs
(DuckDB parses the JSON, the SQL screen types the rows). The table gives the quietest of ``--runs`` runs,
the rows per second (accounts and events together) and the child's peak RSS; the script checks that both
ways built the same relations (exit 1 if not).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cn_portfolio import SEED, write_portfolio  # noqa: E402  (the benchmark's generator)

_CHILD: Final = """
import sys, duckdb
from policy_engine.data.readers import Rejects, read_accounts, read_history
way, accounts, history = sys.argv[1:4]
connection = duckdb.connect(config={"threads": 2, "memory_limit": "768MB"})
connection.execute("SET enable_progress_bar = false")
import time
start = time.perf_counter()
with Rejects() as rejects:
    if way == "native":
        from policy_engine.decide.columnar.inputs import InputFiles
        InputFiles(accounts, history, rejects).load_into(connection)
    else:
        from policy_engine.decide.columnar.load import account_batches, history_batches
        from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, HISTORY_COLUMNS, create_statement
        events = history_batches(read_history(history, rejects=rejects))
        for table, columns, batches in (("history", HISTORY_COLUMNS, events), ("accounts", ACCOUNT_COLUMNS,
                                        account_batches(read_accounts(accounts, rejects=rejects)))):
            connection.execute(create_statement(table, columns))
            for batch in batches:
                connection.register("incoming", batch)
                connection.execute(f"INSERT INTO {table} SELECT * FROM incoming")
                connection.unregister("incoming")
print(time.perf_counter() - start, flush=True)
digest = [connection.execute(f"SELECT count(*), bit_xor(hash(t)) FROM {table} t").fetchone()
          for table in ("accounts", "history")]  # every row with its position, hashed inside DuckDB
print(digest, rejects.count)
"""


def run(way: str, accounts: Path, history: Path) -> tuple[float, float, str]:
    """Seconds from the first row read to both relations filled (the child's start-up and its digest of the
    relations are not counted), the child's peak RSS (MB), and that digest."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, way, str(accounts), str(history)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    seconds = float(child.stdout.readline())
    digest = child.stdout.read().strip()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{way} failed")
    return seconds, usage.ru_maxrss / 1024, digest


def main() -> int:
    """Time both ways, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "policy-engine-bench")
    args = parser.parse_args()
    accounts, history = write_portfolio(args.data / f"cn-{args.accounts}-{SEED}", args.accounts)
    rows = args.accounts + sum(1 for _ in history.open("rb"))
    best: dict[str, tuple[float, float, str]] = {}
    for _ in range(args.runs):
        for way in ("rows", "native"):
            seconds, peak, digest = run(way, accounts, history)
            if way not in best or seconds < best[way][0]:
                best[way] = (seconds, peak, digest)
    print("| way | seconds | rows/s | peak RSS MB |\n|---|---:|---:|---:|")
    for way, (seconds, peak, _) in best.items():
        print(f"| {way} | {seconds:.2f} | {rows / seconds:,.0f} | {peak:,.0f} |")
    same = best["rows"][2] == best["native"][2]
    print(f"\n{rows:,} rows; native / rows speed: {best['rows'][0] / best['native'][0]:.2f}x; "
          f"relations and reject counts {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
