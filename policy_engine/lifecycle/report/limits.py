"""The limits a policy keeps, as a reviewer reads them: each effective guardrail, its value, and the file and
line that set it (the policy itself or a baseline it extends).

The list is read from the loaded policy's origins (every setting the guardrail families record) and its
merged guardrails, so it shows what the engine enforces, not what one file says. Each family says how its
own settings read (``GuardrailFamily.describe``); this module only orders them and names their files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from policy_engine.guardrails import FAMILIES
from policy_engine.guardrails.words import GROUPS
from policy_engine.policy.loader import LoadedPolicy

__all__ = ["GROUPS", "Limit", "effective_limits"]

_OWNER = {setting: family for family in FAMILIES for setting in family.settings}
"""Which family records each setting."""


@dataclass(frozen=True)
class Limit:
    """One effective limit: its group, its name, its value in words, and who set it where."""

    group: str
    rule: str
    value: str
    source: str


def effective_limits(loaded: LoadedPolicy) -> list[Limit]:
    """Every effective limit of ``loaded``, grouped (see :data:`GROUPS`), then by rule name."""
    found: list[Limit] = []
    for key, origin in loaded.origins.items():
        family = _OWNER.get(key.setting)
        described = family.describe(key, loaded.policy) if family is not None else None
        if described is None:
            continue
        where = origin.location
        line = f":{where.line}" if where.line else ""
        shown = described.rule.replace("legal.", "legal: ").replace("content.", "").replace("_", " ")
        found.append(Limit(described.group, shown, described.value,
                           f"{origin.whose}, {PurePath(where.file).name}{line}"))
    return sorted(found, key=lambda limit: (GROUPS.index(limit.group), limit.rule, limit.value))
