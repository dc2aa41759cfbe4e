"""The peer benchmark of issue 11: the engine's backends beside hand-written peers, on the same files.

    .venv/bin/python benchmarks/bench_columnar.py                          # 20k and 200k, 3 runs each
    .venv/bin/python benchmarks/bench_columnar.py --sizes 20000,200000,1000000 --compiled-max 200000
    .venv/bin/python benchmarks/bench_columnar.py --sizes 20000 --runs 1 --variants duckdb-sql,columnar

For each size, cn_portfolio.py writes a CN portfolio as JSON Lines (cached in ``--data``), then every
variant runs in its own subprocess, end to end (process start to output file closed), the variants
interleaved round by round; each run's peak RSS is the child's own (``ru_maxrss`` from ``wait4``). The
table keeps the quietest (fastest) of ``--runs`` runs and gives its peak RSS.

Variants:

* ``duckdb-sql``    one hand-written DuckDB query of a reference subset of the CN policy (cn_reference.py)
* ``plain-python``  the same subset as a plain Python function (the two peers must write the same bytes)
* ``compiled``      ``policy-engine dry-run --backend compiled --format jsonl`` with the whole CN policy
* ``columnar``      the same with ``--backend columnar`` (must write the same bytes as ``compiled``)

The script exits 1 when the peers or the two backends disagree. The engine decides much more than the
subset (every hold, promises, notices, offers, holidays, every cap and the suppression record of each
action), so the ratios to the peers are a floor for what the plan costs, not a like-for-like race.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cn_portfolio import AS_OF, SEED, write_portfolio  # noqa: E402  (the benchmark's generator)

POLICY: Final = HERE.parent / "policies" / "examples" / "cn-card-issuer.toml"
VARIANTS: Final = ("duckdb-sql", "plain-python", "compiled", "columnar")
PEERS: Final = ("duckdb-sql", "plain-python")


@dataclass
class Run:
    """One variant at one size: the quietest of its runs."""

    variant: str
    accounts: int
    seconds: float | None = None
    peak_mb: float | None = None
    failure: str | None = None
    output: Path | None = None

    @property
    def rate(self) -> float | None:
        """Accounts per second of the quietest run."""
        return None if self.seconds is None else self.accounts / self.seconds


def command(variant: str, accounts: Path, history: Path, output: Path) -> list[str]:
    """The child process of one variant."""
    if variant in PEERS:
        peer = "duckdb" if variant == "duckdb-sql" else "python"
        return [sys.executable, str(HERE / "cn_reference.py"), peer, str(accounts), str(history), str(output)]
    return [sys.executable, "-m", "policy_engine", "-q", "dry-run", "--policy", str(POLICY), "--accounts",
            str(accounts), "--history", str(history), "--as-of", AS_OF.isoformat(), "--format", "jsonl",
            "--output", str(output), "--backend", variant]


def run_once(cmd: list[str], environment: dict[str, str] | None = None) -> tuple[float, float, str | None]:
    """Wall seconds and peak RSS (MB) of one child process, and its error when it failed."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=None if environment is None else {**os.environ, **environment})
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    failure = None
    if child.returncode != 0:
        lines = errors.decode("utf-8", "replace").strip().splitlines()
        failure = f"exit {child.returncode}: {lines[-1] if lines else 'no message'}"
    return seconds, usage.ru_maxrss / 1024, failure


def measure(size: int, variants: list[str], runs: int, data: Path, scratch: Path,
            environment: dict[str, str] | None = None) -> list[Run]:
    """Every variant at one size, interleaved round by round; the quietest run of each is kept."""
    accounts, history = write_portfolio(data / f"cn-{size}-{SEED}", size)
    results = {variant: Run(variant, size, output=scratch / f"{variant}-{size}.jsonl") for variant in variants}
    for _ in range(runs):
        for variant, result in results.items():
            if result.failure is not None:
                continue
            assert result.output is not None
            seconds, peak, failure = run_once(command(variant, accounts, history, result.output),
                                              environment if variant == "columnar" else None)
            if failure is not None:
                result.failure = failure
            elif result.seconds is None or seconds < result.seconds:
                result.seconds, result.peak_mb = seconds, peak
    return list(results.values())


def same_output(results: list[Run], first: str, second: str) -> bool | None:
    """Whether two variants wrote the same bytes (None when one of them did not run)."""
    found = {result.variant: result for result in results if result.failure is None and result.seconds}
    if first not in found or second not in found:
        return None
    left, right = found[first].output, found[second].output
    assert left is not None and right is not None
    return filecmp.cmp(left, right, shallow=False)


def table(results: list[Run]) -> str:
    """The measured figures as a Markdown table, with ratios to the DuckDB peer and to compiled."""
    rows = ["| accounts | variant | seconds | accounts/s | peak RSS MB | x duckdb-sql | x compiled |",
            "|---:|---|---:|---:|---:|---:|---:|"]
    for result in results:
        size_runs = {other.variant: other for other in results if other.accounts == result.accounts}
        if result.rate is None:
            rows.append(f"| {result.accounts:,} | {result.variant} | {result.failure or 'skipped'} | | | | |")
            continue
        ratios = []
        for peer in ("duckdb-sql", "compiled"):
            other = size_runs.get(peer)
            ratios.append(f"{result.rate / other.rate:.2f}" if other is not None and other.rate else "")
        rows.append(f"| {result.accounts:,} | {result.variant} | {result.seconds:.2f} | {result.rate:,.0f} | "
                    f"{result.peak_mb:,.0f} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(rows)


def main() -> int:
    """Run the benchmark, print the table; exit 1 when outputs that must agree differ."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,200000", help="comma-separated account counts")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant and size (the quietest is kept)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--compiled-max", type=int, default=None,
                        help="skip compiled above this many accounts (1M takes it ~500 s a run)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "policy-engine-bench",
                        help="where generated portfolios are kept between runs")
    parser.add_argument("--duckdb-memory", default=None,
                        help="DuckDB's memory limit for columnar (POLICY_ENGINE_DUCKDB_MEMORY; default: the backend's)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    args = parser.parse_args()
    variants = [name for name in args.variants.split(",") if name]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r} (choose from {', '.join(VARIANTS)})")
    results: list[Run] = []
    agree = True
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(text) for text in args.sizes.split(",")):
            chosen = [name for name in variants
                      if not (name == "compiled" and args.compiled_max is not None and size > args.compiled_max)]
            environment = {"POLICY_ENGINE_DUCKDB_MEMORY": args.duckdb_memory} if args.duckdb_memory else None
            measured = measure(size, chosen, args.runs, args.data, Path(scratch), environment)
            skipped = [Run(name, size, failure="skipped (--compiled-max)") for name in variants if name not in chosen]
            results.extend(measured + skipped)
            for first, second in (("duckdb-sql", "plain-python"), ("compiled", "columnar")):
                same = same_output(measured, first, second)
                if same is not None:
                    print(f"{size:,} accounts: {first} and {second} wrote "
                          f"{'the same bytes' if same else 'DIFFERENT output'}", file=sys.stderr)
                    agree = agree and same
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this driver's own peak RSS: {driver:,.0f} MB (a child's ru_maxrss can include it)", file=sys.stderr)
    if args.json:
        print(json.dumps([{"accounts": r.accounts, "variant": r.variant, "seconds": r.seconds,
                           "accounts_per_second": r.rate, "peak_rss_mb": r.peak_mb, "failure": r.failure}
                          for r in results], indent=2))
    else:
        print(table(results))
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
