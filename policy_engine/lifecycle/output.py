"""Writers for decisions: json, jsonl and csv (streaming), and the counts a summary shows.

CSV is opened by people in spreadsheets: a text cell that a spreadsheet would evaluate as a formula
(``=HYPERLINK(...)``, ``+``, ``-``, ``@``, a tab) is written with a leading apostrophe, so it shows as the
text it is (see :mod:`policy_engine.lifecycle.untrusted`). JSON and JSON Lines are written exactly.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from policy_engine.decide.decision import Decision
from policy_engine.lifecycle.untrusted import csv_cell

__all__ = ["FORMATS", "Summary", "mask_contact", "write_decisions"]

FORMATS = ("text", "json", "jsonl", "csv")
"""The dry-run formats: ``text`` is for people (printed by the CLI), the others are written here."""
CSV_COLUMNS = ("account_id", "as_of", "dpd", "segment", "stage", "kind", "action", "channel", "send_at",
               "template", "notice", "offer", "reason", "detail", "idempotency_key", "policy_id",
               "policy_version", "policy_digest")


def mask_contact(value: str | None) -> str:
    """Hide most of a phone number or e-mail address: '+86138****5678', 'j***@example.com'."""
    if not value:
        return ""
    if "@" in value:
        user, _, domain = value.partition("@")
        return (user[:1] + "***@" + domain) if user else "***@" + domain
    if len(value) <= 4:
        return "*" * len(value)
    keep_head = min(4, max(0, len(value) - 8))
    return value[:keep_head] + "*" * (len(value) - keep_head - 4) + value[-4:]


@dataclass
class Summary:
    """Counts for the table footer: accounts per stage, actions per channel, suppressions per reason."""

    accounts: int = 0
    stages: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, decision: Decision) -> None:
        """Count one decision."""
        self.accounts += 1
        self.stages[decision.stage or ("(no stage)" if decision.in_scope else "(out of scope)")] += 1
        for action in decision.actions:
            self.channels[action.channel] += 1
        for suppression in decision.suppressed:
            self.reasons[suppression.reason] += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary with keys sorted for determinism."""
        return {"accounts": self.accounts, "stages": dict(sorted(self.stages.items())),
                "actions_per_channel": dict(sorted(self.channels.items())),
                "suppressed_per_reason": dict(sorted(self.reasons.items()))}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))


def _csv_rows(decision: Decision) -> Iterable[dict[str, Any]]:
    base = {"account_id": decision.account_id, "as_of": decision.as_of.isoformat(), "dpd": decision.dpd,
            "segment": decision.segment or "", "stage": decision.stage or "", "policy_id": decision.policy.get("id"),
            "policy_version": decision.policy.get("version"), "policy_digest": decision.policy.get("digest")}
    for action in decision.actions:
        yield {**base, "kind": "action", "action": action.action, "channel": action.channel,
               "send_at": action.send_at.isoformat(), "template": action.template or "", "notice": action.notice or "",
               "offer": (action.offer or {}).get("id", ""), "idempotency_key": action.idempotency_key}
    for suppression in decision.suppressed:
        yield {**base, "kind": "suppressed", "action": suppression.action, "channel": suppression.channel,
               "reason": suppression.reason, "detail": suppression.detail}
    if not decision.actions and not decision.suppressed:
        yield {**base, "kind": "none"}


def write_decisions(decisions: Iterable[Decision], fmt: str, out: IO[str], explain: bool = False,
                    summary: Summary | None = None) -> Summary:
    """Stream decisions to ``out`` as json, jsonl or csv; return the summary counted on the way."""
    summary = summary or Summary()
    if fmt == "jsonl":
        for decision in decisions:
            summary.add(decision)
            out.write(_dumps(decision.to_dict(explain)) + "\n")
    elif fmt == "json":
        out.write("[")
        first = True
        for decision in decisions:
            summary.add(decision)
            out.write(("\n" if first else ",\n") + _dumps(decision.to_dict(explain)))
            first = False
        out.write("\n]\n" if not first else "]\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for decision in decisions:
            summary.add(decision)
            for row in _csv_rows(decision):
                writer.writerow({key: csv_cell(value) for key, value in row.items()})
    else:
        raise ValueError(f"unknown format {fmt}")
    return summary
