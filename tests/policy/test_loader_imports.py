"""Loading a policy needs no plugins, no ledger and no delivery code: checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DELIVERY_STACK = (
    "sqlalchemy", "httpx", "fpdf", "psycopg", "pluggy", "policy_engine_channels", "policy_engine.deliver",
    "policy_engine.ledger",
)
SCRIPT = """
import json, sys
from policy_engine.policy.loader import load_policy
loaded = [load_policy(path).id for path in sys.argv[2:]]
wanted = json.loads(sys.argv[1])
print(json.dumps({"loaded": loaded, "imported": sorted(m for m in wanted if m in sys.modules)}))
"""


def _shipped_policies() -> list[Path]:
    examples = [p for p in sorted((REPO / "policies" / "examples").glob("*.toml")) if not p.name.endswith("_test.toml")]
    return examples + sorted((REPO / "policies" / "baselines").glob("*.toml"))


def test_loading_every_shipped_policy_imports_no_delivery_code() -> None:
    policies = _shipped_policies()
    assert len(policies) >= 8  # three examples and five baselines at the time of writing
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(DELIVERY_STACK), *map(str, policies)],
                            capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["loaded"]) == len(policies)
    assert report["imported"] == []
