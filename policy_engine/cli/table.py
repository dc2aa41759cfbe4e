"""Rich rendering for people: the dry-run table with its summary, and the explain tree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision
from policy_engine.lifecycle.output import Summary, mask_contact

__all__ = ["print_explanation", "print_table"]


def _contact(account: Account, channel: str) -> str:
    contact = account.contact
    value = {"sms": contact.phone, "voice": contact.phone, "email": contact.email}.get(channel)
    if channel == "letter":
        return "postal address" if contact.address else ""
    return mask_contact(value)


def print_table(rows: Iterable[tuple[Account, Decision]], console: Console, limit: int) -> Summary:
    """Print one row per action or suppression (up to ``limit`` accounts), then the summary tables."""
    summary = Summary()
    table = Table(title="Planned collection actions", show_lines=False)
    for column in ("account", "dpd", "segment", "stage", "action", "channel", "to", "send at / reason"):
        table.add_column(column, overflow="fold")
    shown = 0
    for account, decision in rows:
        summary.add(decision)
        if shown >= limit or not decision.in_scope:  # out-of-scope accounts only count in the summary
            continue
        shown += 1
        first = True
        head = [decision.account_id, str(decision.dpd), decision.segment or "", decision.stage or ""]
        for action in decision.actions:
            table.add_row(*(head if first else ["", "", "", ""]), action.action, action.channel,
                          _contact(account, action.channel), action.send_at.strftime("%Y-%m-%d %H:%M %z"))
            first = False
        for suppression in decision.suppressed:
            table.add_row(*(head if first else ["", "", "", ""]), f"[dim]{suppression.action}[/dim]",
                          suppression.channel, "", f"[yellow]{suppression.reason}[/yellow]: {suppression.detail}")
            first = False
        if first:
            table.add_row(*head, "[dim]-[/dim]", "", "",
                          "holds: " + ", ".join(decision.holds) if decision.holds else "nothing to do")
    console.print(table)
    in_scope = summary.accounts - summary.stages.get("(out of scope)", 0)
    if in_scope > limit:
        console.print(f"... {in_scope - limit} more accounts not shown (use --limit, or --format jsonl)")
    _summary_tables(summary, console)
    return summary


def _summary_tables(summary: Summary, console: Console) -> None:
    grid = Table.grid(padding=(0, 4))
    parts: list[Any] = []
    for title, counter in (("accounts per stage", summary.stages), ("actions per channel", summary.channels),
                           ("suppressions per reason", summary.reasons)):
        counts = Table(title=title)
        counts.add_column("name")
        counts.add_column("count", justify="right")
        for name, count in sorted(counter.items()):
            counts.add_row(name, str(count))
        parts.append(counts)
    grid.add_row(*parts)
    console.print(grid)
    console.print(f"{summary.accounts} accounts evaluated")


def _condition_node(tree: Tree, node: dict[str, Any]) -> None:
    mark = "[green]✓[/green]" if node.get("held") else "[red]✗[/red]"
    if "condition" in node:
        tree.add(f"{mark} {node['condition']}  [dim](saw {node.get('value')!r})[/dim]")
        return
    for key in ("all", "any"):
        if key in node:
            sub = tree.add(f"{mark} {key} of:")
            for child in node[key]:
                _condition_node(sub, child)
            return
    if "not" in node:
        sub = tree.add(f"{mark} not:")
        _condition_node(sub, node["not"])


def print_explanation(decision: Decision, account: Account, console: Console) -> None:
    """Print why an account gets each action, and why not the others, as a readable tree."""
    root = Tree(f"[bold]account {decision.account_id}[/bold] at {decision.as_of.isoformat()} — DPD "
                f"{decision.dpd}, policy {decision.policy.get('id')} {decision.policy.get('version') or ''}")
    sections = {"scope": root.add("[bold]scope[/bold] (which accounts the policy governs)"),
                "segment": root.add("[bold]segment[/bold] (first match wins)"),
                "hold": root.add("[bold]holds[/bold]"),
                "stage": root.add("[bold]stage[/bold] (first match wins)"),
                "action": root.add("[bold]actions of the stage[/bold]")}
    guard = root.add("[bold]guardrails[/bold] (holds → consent → notices → cadence → caps → hours → daily cap)")
    for entry in decision.trace or []:
        step = entry.get("step")
        if step in sections:
            mark = "[green]✓[/green]" if entry.get("held") else "[red]✗[/red]"
            node = sections[str(step)].add(f"{mark} {entry['id']}")
            if "dpd" in entry:
                dpd = entry["dpd"]
                node.add(f"{'[green]✓[/green]' if dpd['held'] else '[red]✗[/red]'} DPD {dpd['value']} in "
                         f"{dpd['range']}")
            if "segments" in entry:
                segments = entry["segments"]
                node.add(f"{'[green]✓[/green]' if segments['held'] else '[red]✗[/red]'} segment "
                         f"{segments['value']} in {', '.join(segments['allowed'])}")
            if "condition" in entry:
                _condition_node(node, entry["condition"])
        elif step == "guardrail":
            src = f"  [dim]— {entry['source']}[/dim]" if entry.get("source") else ""
            guard.add(f"[red]✗[/red] {entry['action']}: [yellow]{entry['reason']}[/yellow] — {entry['detail']}{src}")
        elif step == "planned":
            node = guard.add(f"[green]✓[/green] {entry['action']} via {entry['channel']} at {entry['send_at']}")
            for met in entry.get("prerequisites", []):
                node.add(f"[green]✓[/green] {met}")
        elif step == "escalation":
            root.add(f"broken promise due {entry['promise_due']} (broken {entry['broken_on']}): "
                     f"{'already escalated' if entry['already_escalated'] else 'escalates with ' + entry['id']}")
    verdict = root.add("[bold]decision[/bold]")
    for action in decision.actions:
        verdict.add(f"[green]send[/green] {action.action} via {action.channel} to "
                    f"{_contact(account, action.channel) or '-'} at {action.send_at.isoformat()}"
                    + (f" with offer {action.offer['id']}" if action.offer else ""))
    for suppression in decision.suppressed:
        verdict.add(f"[yellow]no[/yellow] {suppression.action} ({suppression.channel}): {suppression.reason} — "
                    f"{suppression.detail}")
    if not decision.in_scope:
        verdict.add("outside the policy's scope (policy.applies_to): nothing to do")
    elif not decision.actions and not decision.suppressed:
        verdict.add("nothing to do" + (f" (holds: {', '.join(decision.holds)})" if decision.holds else ""))
    if decision.offers:
        verdict.add("eligible offers: " + ", ".join(decision.offers))
    console.print(root)
