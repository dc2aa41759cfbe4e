"""Shared pieces of the commands: loading the policy a user names, parsing --as-of, opening the history,
opening where a command writes, and reporting the input rows set aside.

They raise the library's errors (or a UsageError) and leave reporting them to the one error exit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from policy_engine._exceptions import PolicyError, UsageError
from policy_engine.cli.console import plural, settings, warn, written
from policy_engine.data.history import HistoryIndex
from policy_engine.data.readers import Rejects
from policy_engine.deliver.registry import get_registry
from policy_engine.lifecycle.untrusted import printable
from policy_engine.policy.channels import ChannelCatalogue
from policy_engine.policy.loader import LoadedPolicy, load_policy

__all__ = ["REJECTED_ROWS_SHOWN", "channel_catalogue", "load_history", "load_policy_or_exit", "output_stream",
           "parse_as_of", "report_rejects", "stderr_is_terminal", "written"]

REJECTED_ROWS_SHOWN = 20
"""Rejected rows listed one by one on stderr (all of them with --verbose; none with --quiet)."""


def channel_catalogue() -> ChannelCatalogue:
    """The installed plugins' channels, templates checked by their owners; a broken plugin set raises
    PluginRegistrationError (exit 6)."""
    return get_registry().channel_catalogue()


def load_policy_or_exit(path: Path) -> LoadedPolicy:
    """Load the policy file a user named against the installed channels; an invalid one exits 3 with every
    located issue."""
    catalogue = channel_catalogue()
    try:
        return load_policy(path, channels=catalogue)
    except PolicyError as error:
        error.policy_file = str(path)  # the verdict names the file asked for, not the extended one at fault
        raise


def parse_as_of(value: str | None, loaded: LoadedPolicy) -> datetime:
    """``--as-of``: ISO 8601 with offset; a date or naive time is read in the policy's time zone; default now."""
    zone = ZoneInfo(loaded.policy.policy.timezone or "UTC")
    if value is None:
        return datetime.now(zone).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--as-of '{value}' is not an ISO 8601 date or time "
                         "(e.g. 2026-11-28T09:00:00+08:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def load_history(path: Path | None, rejects: Rejects) -> HistoryIndex:
    """The history index (empty without --history); an unusable file exits 5."""
    if path is None:
        return HistoryIndex()
    return HistoryIndex.load([path], rejects=rejects)


@contextmanager
def output_stream(path: Path | None) -> Iterator[IO[str]]:
    """Where a command writes: the file at ``path`` (created or replaced, closed after), else stdout.

    A path that cannot be written is a usage error (exit 2) naming it, not a traceback.
    """
    if path is None:
        yield sys.stdout
        return
    try:
        stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115  (closed by the with below)
    except OSError as error:
        raise UsageError(f"cannot write {path} ({error.strerror or error})") from None
    with stream:
        yield stream


def stderr_is_terminal() -> bool:
    """True when progress bars may be drawn."""
    return sys.stderr.isatty()


def report_rejects(rejected: Rejects) -> None:
    """Report on stderr what reading set aside: file-level warnings, the rejected rows as ``file:line:
    reason`` (the first :data:`REJECTED_ROWS_SHOWN`; all with --verbose; none with --quiet), then one
    line counting them. Input text is shown with its control characters as visible escapes."""
    for message in rejected.warnings:
        warn(f"warning: {printable(message)}")
    if not rejected.count:
        return
    shown = [] if settings().quiet else rejected.errors if settings().verbose else \
        rejected.errors[:REJECTED_ROWS_SHOWN]
    for error in shown:
        warn(f"{printable(error.file)}:{error.line}: {printable(error.reason)}")
    where = f"; all of them are in {rejected.sink}" if rejected.sink is not None else \
        "; --rejects FILE keeps them"
    more = f" ({plural(rejected.count - len(shown), 'more row')} not listed: --verbose lists them)" \
        if rejected.count > len(shown) and not settings().quiet else ""
    warn(f"{plural(rejected.count, 'input row')} rejected and set aside{where}{more}")

