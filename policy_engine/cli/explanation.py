"""One account's decision for people: the answer in a few lines, then the whole trace as a tree.

Every value that comes from the policy or the input data goes into a Rich ``Text`` (never into markup),
with control characters shown as escapes, so an account id such as ``[/red]`` or one carrying an
escape sequence is printed as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from policy_engine.cli.console import cell
from policy_engine.cli.plan import contact_shown

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    from policy_engine.data.records import Account
    from policy_engine.decide.decision import Decision
    from policy_engine.lifecycle.answer import Answer

__all__ = ["print_answer", "print_explanation"]

GUARDRAIL_ORDER = "holds → consent → notices → cadence → caps → hours → daily cap"


def _line(*parts: tuple[object, str] | str) -> Text:
    """A label from literal strings and (value, style) pairs; values are shown as written."""
    from rich.text import Text  # noqa: PLC0415

    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append_text(cell(part[0], part[1]))
        else:
            text.append(part)
    return text


def _mark(held: bool) -> tuple[str, str]:
    return ("✓", "green") if held else ("✗", "red")


def _condition_node(tree: Tree, node: dict[str, Any]) -> None:
    mark = _mark(bool(node.get("held")))
    if "condition" in node:
        tree.add(_line(mark, " ", (node["condition"], ""), "  ", (f"(saw {node.get('value')!r})", "dim")))
        return
    for key in ("all", "any"):
        if key in node:
            sub = tree.add(_line(mark, f" {key} of:"))
            for child in node[key]:
                _condition_node(sub, child)
            return
    if "not" in node:
        sub = tree.add(_line(mark, " not:"))
        _condition_node(sub, node["not"])


def print_explanation(decision: Decision, account: Account, console: Console) -> None:
    """Print why an account gets each action, and why not the others, as a readable tree."""
    from rich.tree import Tree  # noqa: PLC0415

    version = decision.policy.get("version") or ""
    root = Tree(_line(("account ", "bold"), (decision.account_id, "bold"), f" at {decision.as_of.isoformat()} — "
                      f"DPD {decision.dpd}, policy ", (f"{decision.policy.get('id')} {version}".strip(), "")))
    sections = {"scope": root.add(_line(("scope", "bold"), " (which accounts the policy governs)")),
                "segment": root.add(_line(("segment", "bold"), " (first match wins)")),
                "hold": root.add(_line(("holds", "bold"))),
                "stage": root.add(_line(("stage", "bold"), " (first match wins)")),
                "action": root.add(_line(("actions of the stage", "bold")))}
    guard = root.add(_line(("guardrails", "bold"), f" ({GUARDRAIL_ORDER})"))
    for entry in decision.trace or []:
        step = entry.get("step")
        if step in sections:
            _rule_entry(sections[str(step)], entry)
        elif step in ("guardrail", "planned"):
            _guardrail_entry(guard, entry)
        elif step == "escalation":
            follow = "already escalated" if entry["already_escalated"] else "escalates with " + str(entry["id"])
            root.add(_line(f"broken promise due {entry['promise_due']} (broken {entry['broken_on']}): ",
                           (follow, "")))
    _verdict(root.add(_line(("decision", "bold"))), decision, account)
    console.print(root)


def _rule_entry(section: Tree, entry: Mapping[str, Any]) -> None:
    """A scope, segment, hold, stage or action rule of the trace: whether it held, and why."""
    node = section.add(_line(_mark(bool(entry.get("held"))), " ", (entry["id"], "")))
    if "dpd" in entry:
        dpd = entry["dpd"]
        node.add(_line(_mark(dpd["held"]), f" DPD {dpd['value']} in {dpd['range']}"))
    for key, label in (("segments", "segment"), ("variants", "variant")):
        if key in entry:
            found = entry[key]
            node.add(_line(_mark(found["held"]), f" {label} ", (found["value"], ""), " in ",
                           (", ".join(map(str, found["allowed"])), "")))
    if "condition" in entry:
        _condition_node(node, entry["condition"])


def _guardrail_entry(guard: Tree, entry: Mapping[str, Any]) -> None:
    """An action a guardrail stopped (its reason, detail and source), or one that passed them all."""
    if entry.get("step") == "guardrail":
        source = ("  — " + entry["source"], "dim") if entry.get("source") else ""
        guard.add(_line(("✗", "red"), " ", (entry["action"], ""), ": ", (entry["reason"], "yellow"), " — ",
                        (entry["detail"], ""), source))
        return
    node = guard.add(_line(("✓", "green"), " ", (entry["action"], ""), " via ", (entry["channel"], ""),
                           f" at {entry['send_at']}"))
    for met in entry.get("prerequisites", []):
        node.add(_line(("✓", "green"), " ", (met, "")))


def _verdict(verdict: Tree, decision: Decision, account: Account) -> None:
    """What the decision sends, to which contact point and when, what it does not and why, and the offers."""
    for action in decision.actions:
        offer = f" with offer {action.offer['id']}" if action.offer else ""
        verdict.add(_line(("send", "green"), " ", (action.action, ""), " via ", (action.channel, ""), " to ",
                          (contact_shown(account, action.channel) or "-", ""),
                          f" at {action.send_at.isoformat()}", (offer, "")))
    for suppression in decision.suppressed:
        verdict.add(_line(("no", "yellow"), " ", (suppression.action, ""), " (", (suppression.channel, ""), "): ",
                          (suppression.reason, ""), " — ", (suppression.detail, "")))
    if not decision.in_scope:
        verdict.add(_line("outside the policy's scope (policy.applies_to): nothing to do"))
    elif not decision.actions and not decision.suppressed:
        holds = f" (holds: {', '.join(decision.holds)})" if decision.holds else ""
        verdict.add(_line("nothing to do", (holds, "")))
    if decision.offers:
        verdict.add(_line("eligible offers: ", (", ".join(decision.offers), "")))


def print_answer(result: Answer, account: Account, console: Console) -> None:
    """The summary lines, then the full explanation tree."""
    first, *rest = result.summary
    console.print(cell(first, "bold"))
    for line in rest:
        style = "green" if line.startswith("sends today") else ("yellow" if line.startswith("no ") else "")
        console.print(_line("  ", (line, style)))
    console.print()
    print_explanation(result.decision, account, console)
