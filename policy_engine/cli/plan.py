"""The dry-run plan for people (``dry-run --format text``): a header, one block per account, a summary.

The layout keeps to the console's width (80, 120 or a terminal's own): each account is one line (id,
DPD, segment, stage, holds), then one line per action with a status column (``planned`` or
``suppressed``, in words, so it reads the same piped or in colour), the action, its channel and either
when it is sent or why not. Reasons wrap in their column; below 100 columns a reason is cut after
two lines (ending in ``…``) and the masked contact column is left out. The full text is always in
``--format json``. Rows are printed as they are decided: nothing is kept but the counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from policy_engine.cli.console import cell, plural
from policy_engine.lifecycle.output import Summary, mask_contact

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from policy_engine.data.records import Account
    from policy_engine.decide.decision import Decision

__all__ = ["NARROW", "PlanHeader", "contact_shown", "print_plan"]

NARROW = 100
"""Below this width reasons are cut after :data:`NARROW_LINES` lines and the contact column is left out."""
NARROW_LINES = 2
STATUS_WIDTH = len("suppressed")
CONTACT_WIDTH = 16


@dataclass(frozen=True)
class PlanHeader:
    """What the plan is of: the policy, the moment and the input files."""

    policy: dict[str, str | None]
    policy_file: str
    as_of: datetime
    inputs: Sequence[tuple[str, str]]
    """(what, path): ("accounts", "accounts.jsonl"), ("history", "history.jsonl")."""
    action_ids: Sequence[str]
    channels: Sequence[str]


def contact_shown(account: Account, channel: str) -> str:
    """The contact point an action on ``channel`` goes to, masked: '+861******5678', 'postal address'."""
    contact = account.contact
    if channel == "letter":
        return "postal address" if contact.address else ""
    value = {"sms": contact.phone, "voice": contact.phone, "email": contact.email}.get(channel)
    return mask_contact(value)


def _column(value: str | Text, width: int, style: str = "") -> Text:
    text = value.copy() if not isinstance(value, str) else cell(value, style)
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


class _Layout:
    """Column widths for one console width."""

    def __init__(self, header: PlanHeader, width: int) -> None:
        self.width = width
        self.narrow = width < NARROW
        self.action = max(6, min(32, max((len(name) for name in header.action_ids), default=6)))
        self.channel = max(7, min(12, max((len(name) for name in header.channels), default=7)))
        self.contact = 0 if self.narrow else CONTACT_WIDTH
        used = 2 + STATUS_WIDTH + 2 + self.action + 2 + self.channel + 2 + (self.contact + 2 if self.contact else 0)
        self.start = used
        self.last = max(16, width - used)

    def row(self, status: Text, action: str, channel: str, contact: str, last: Text,
            console: Console) -> list[Text]:
        """The line(s) of one action: fixed columns, then the last column cut or wrapped."""
        from rich.text import Text  # noqa: PLC0415

        line = Text("  ")
        line.append_text(_column(status, STATUS_WIDTH))
        line.append("  ")
        line.append_text(_column(action, self.action))
        line.append("  ")
        line.append_text(_column(channel, self.channel))
        line.append("  ")
        if self.contact:
            line.append_text(_column(contact, self.contact))
            line.append("  ")
        wrapped = list(last.wrap(console, self.last))
        if self.narrow and len(wrapped) > NARROW_LINES:
            cut = wrapped[NARROW_LINES - 1]
            cut.rstrip()
            cut.append(" …")
            cut.truncate(self.last, overflow="ellipsis")
            wrapped = wrapped[:NARROW_LINES - 1] + [cut]
        line.append_text(wrapped[0] if wrapped else Text())
        return [line] + [Text(" " * self.start) + part for part in wrapped[1:]]


def _header_lines(header: PlanHeader, narrow: bool) -> list[Text]:
    """The policy (id, version, file, digest), the moment, and each input file on its own line."""
    from rich.text import Text  # noqa: PLC0415

    stamp = header.policy
    name = f"{stamp.get('id')} {stamp.get('version') or ''}".strip()
    policy = Text("policy    ", style="dim").append_text(cell(name, "bold"))
    lines = [policy, Text("file      ", style="dim").append_text(cell(header.policy_file))]
    digest = str(stamp.get("digest") or "")
    if digest and not narrow:
        lines.append(Text("digest    ", style="dim").append_text(cell(digest)))
    lines.append(Text("as of     ", style="dim").append(header.as_of.isoformat()))
    for what, path in header.inputs:
        lines.append(Text(f"{what:<10}", style="dim").append_text(cell(path)))
    return lines


def _account_line(decision: Decision) -> Text:
    line = cell(decision.account_id, "bold")
    parts = [f"DPD {decision.dpd}"]
    if decision.segment:
        parts.append(f"segment {decision.segment}")
    parts.append(f"stage {decision.stage}" if decision.stage else "no stage")
    line.append_text(cell("  " + " · ".join(parts), ""))
    if decision.holds:
        line.append_text(cell(" · holds: " + ", ".join(decision.holds), "yellow"))
    return line


def _status(word: str) -> Text:
    return cell(word, {"planned": "green", "suppressed": "yellow"}.get(word, "dim"))


def _account_rows(account: Account, decision: Decision, layout: _Layout, console: Console) -> list[Text]:
    lines = [_account_line(decision)]
    for action in decision.actions:
        when = action.send_at.strftime("%m-%d %H:%M %z" if layout.narrow else "%Y-%m-%d %H:%M %z")
        offer = f" · offer {action.offer['id']}" if action.offer else ""
        lines += layout.row(_status("planned"), action.action, action.channel,
                            contact_shown(account, action.channel), cell(when + offer), console)
    for suppression in decision.suppressed:
        reason = cell(suppression.reason, "yellow")
        named = f"'{suppression.action}' "  # the action is in its own column: do not say it twice
        detail = suppression.detail[len(named):] if suppression.detail.startswith(named) else suppression.detail
        reason.append_text(cell(": " + detail))
        lines += layout.row(_status("suppressed"), suppression.action, suppression.channel, "", reason, console)
    if not decision.actions and not decision.suppressed:
        lines += layout.row(_status("none"), "-", "", "", cell("nothing to do"), console)
    return lines


def _counts(title: str, counter: dict[str, int]) -> Text:
    line = cell(f"{title}: ", "bold")
    line.append_text(cell(", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "none"))
    return line


def print_plan(rows: Iterable[tuple[Account, Decision]], console: Console, limit: int,
               header: PlanHeader) -> Summary:
    """Print the header, each in-scope account (up to ``limit``) as it is decided, then the summary."""
    layout = _Layout(header, console.width)
    for line in _header_lines(header, layout.narrow):
        console.print(line, overflow="fold")
    console.print()
    titles = ["status", "action", "channel", *([] if layout.narrow else ["to"]), "at / reason"]
    from rich.text import Text  # noqa: PLC0415

    head = Text("  ")
    widths = [STATUS_WIDTH, layout.action, layout.channel, *([] if layout.narrow else [layout.contact])]
    for title, width in zip(titles, widths, strict=False):
        head.append_text(_column(title, width, "bold"))
        head.append("  ")
    head.append(titles[-1], style="bold")
    console.print(head)
    summary = Summary()
    shown = 0
    for account, decision in rows:
        summary.add(decision)
        if shown >= limit or not decision.in_scope:  # out-of-scope accounts only count in the summary
            continue
        shown += 1
        for line in _account_rows(account, decision, layout, console):
            console.print(line, overflow="fold")
    out_of_scope = summary.stages.get("(out of scope)", 0)
    in_scope = summary.accounts - out_of_scope
    if in_scope > limit:
        console.print(f"... {plural(in_scope - limit, 'more account')} not shown (use --limit, or --format jsonl)")
    console.print()
    stages = {name: count for name, count in summary.stages.items() if name != "(out of scope)"}
    for line in (_counts("accounts per stage", stages), _counts("actions per channel", summary.channels),
                 _counts("suppressions per reason", summary.reasons)):
        console.print(line)
    planned, suppressed = sum(summary.channels.values()), sum(summary.reasons.values())
    scope = f" ({in_scope} in scope, {out_of_scope} out of scope)" if out_of_scope else ""
    console.print(f"{plural(summary.accounts, 'account')} evaluated{scope}: {plural(planned, 'action')} planned, "
                  f"{suppressed} suppressed")
    return summary
