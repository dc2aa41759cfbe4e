"""How policy loading scales with what a hostile or careless author can write: the length of an `extends`
chain, and the size of a policy file.

    .venv/bin/python benchmarks/bench_policy_limits.py                  # chains of 100..800 files, big files
    .venv/bin/python benchmarks/bench_policy_limits.py --chains 200,400 --json

Each measurement runs in its own subprocess (its peak RSS is its own): ``load_policy`` on a chain of N
baseline files each extending the previous one (seconds, and seconds per file: linear resolution keeps the
per-file figure flat as N doubles), and ``validate`` of large policy files (seconds and peak MB): 2 MiB of
array numbers (the locator keeps 1000 positions per array), 2 MiB of distinct keys, and a 50 MB file
(refused at the size limit before it is read whole). To compare with another checkout, run the script
with ``PYTHONPATH=/path/to/other/checkout``: the subprocesses import whatever ``policy_engine`` that finds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
if kind == "chain":
    from policy_engine.policy.loader import load_policy
    start = time.perf_counter()
    load_policy(path)
else:
    from policy_engine.policy.validate import validate_paths
    start = time.perf_counter()
    validate_paths([path])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_chain(folder: Path, files: int) -> Path:
    (folder / "f0.toml").write_text('[policy]\nid = "f0"\nkind = "baseline"\n[guardrails]\nmax_contacts_per_day = 5\n',
                                    encoding="utf-8")
    for i in range(1, files):
        (folder / f"f{i}.toml").write_text(f'[policy]\nid = "f{i}"\nkind = "baseline"\nextends = ["f{i - 1}.toml"]\n',
                                           encoding="utf-8")
    top = folder / "top.toml"
    top.write_text(f'[policy]\nid = "top"\nextends = ["f{files - 1}.toml"]\n', encoding="utf-8")
    return top


def write_big(folder: Path, name: str, body: str, size: int) -> Path:
    path = folder / name
    head = '[policy]\nid = "big"\n\n[x]\n'
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        written = len(head)
        if body == "numbers":
            out.write("lots = [")
            chunk = "1," * 4096
            while written + len(chunk) < size - 10:
                out.write(chunk)
                written += len(chunk)
            out.write("]\n")
        else:
            i = 0
            while written < size - 40:
                line = f"k{i} = {i}\n"
                out.write(line)
                written += len(line)
                i += 1
    return path


def measure(kind: str, path: Path, timeout: float) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())
    if done.returncode != 0:
        return {"error": 1.0}
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", default="100,200,400,800", help="chain lengths, comma-separated")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one measurement may take")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for files in (int(n) for n in args.chains.split(",")):
            folder = root / f"chain{files}"
            folder.mkdir()
            result = measure("chain", write_chain(folder, files), args.timeout)
            rows.append({"case": f"extends chain of {files} files", **result,
                         "ms_per_file": round(1000 * result.get("seconds", 0) / files, 2)})
        for name, body, size in [("numbers-2mib.toml", "numbers", 2 * 1024 * 1024 - 64),
                                 ("keys-2mib.toml", "keys", 2 * 1024 * 1024 - 64),
                                 ("numbers-50mb.toml", "numbers", 50 * 1024 * 1024)]:
            rows.append({"case": f"validate {name}", **measure("validate", write_big(root, name, body, size),
                                                                 args.timeout)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'case':<34} {'seconds':>9} {'ms/file':>8} {'peak MB':>8}")
    for row in rows:
        seconds = row.get("seconds")
        shown = f"{seconds:9.2f}" if isinstance(seconds, float) else "   failed"
        per_file = row.get("ms_per_file")
        print(f"{row['case']:<34} {shown} {per_file if per_file is not None else '':>8} "
              f"{row.get('peak_mb', 0):8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
