"""The ledger: what was decided, what was sent, and the history the next run reads.

```python
from policy_engine.ledger import open_ledger
with open_ledger("sqlite:///policy-engine.db") as ledger:     # or postgresql://user@host/db
    for event in ledger.iter_history("A1"):
        ...
```
"""

from __future__ import annotations

from policy_engine.ledger.schema import ACCOUNT_ID_MAX
from policy_engine.ledger.store import (
    DEFAULT_URL,
    INTERRUPTED,
    Attempt,
    Claim,
    ClaimOutcome,
    CycleOutcome,
    Finish,
    Ledger,
    open_ledger,
    safe_url,
    worker_identity,
)
from policy_engine.ledger.tasks import COMPLETION_OUTCOMES, AgentQueue

__all__ = [
    "ACCOUNT_ID_MAX",
    "COMPLETION_OUTCOMES",
    "DEFAULT_URL",
    "INTERRUPTED",
    "AgentQueue",
    "Attempt",
    "Claim",
    "ClaimOutcome",
    "CycleOutcome",
    "Finish",
    "Ledger",
    "open_ledger",
    "safe_url",
    "worker_identity",
]
