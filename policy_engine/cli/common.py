"""Shared pieces of the commands: loading the policy a user names, parsing --as-of, opening the history,
checking --config and opening --ledger, opening where a command writes, and reporting the input rows set aside.

They raise the library's errors (or a UsageError) and leave reporting them to the one error exit. What a
user names on the command line is checked here before anything is done with it, so a wrong --as-of,
--config or --ledger ends in one line naming the option and exit 2, never in a traceback.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from policy_engine._exceptions import LedgerError, PolicyError, UsageError
from policy_engine.cli.console import plural, settings, warn, written
from policy_engine.data.history import HistoryIndex
from policy_engine.data.readers import Rejects
from policy_engine.data.records import EARLIEST_DATE, LATEST_DATE
from policy_engine.deliver.registry import get_registry
from policy_engine.lifecycle.untrusted import printable
from policy_engine.policy.channels import ChannelCatalogue
from policy_engine.policy.loader import LoadedPolicy, load_policy

if TYPE_CHECKING:
    from policy_engine.ledger.store import Ledger

__all__ = ["MAX_CONFIG_BYTES", "REJECTED_ROWS_SHOWN", "channel_catalogue", "check_config", "load_history",
           "load_policy_or_exit", "open_ledger_or_exit", "output_stream", "parse_as_of", "report_rejects",
           "stderr_is_terminal", "written"]

REJECTED_ROWS_SHOWN = 20
"""Rejected rows listed one by one on stderr (all of them with --verbose; none with --quiet)."""
MAX_CONFIG_BYTES = 1024 * 1024
"""The largest --config file read: 1 MiB (channel settings are a few lines)."""
LEDGER_BACKENDS = ("sqlite", "postgresql")
"""The databases a ledger may live in."""


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
    if not EARLIEST_DATE <= parsed.date() <= LATEST_DATE:
        raise UsageError(f"--as-of '{value}' is outside the years {EARLIEST_DATE.year} to {LATEST_DATE.year}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def load_history(path: Path | None, rejects: Rejects) -> HistoryIndex:
    """The history index (empty without --history); an unusable file exits 5."""
    if path is None:
        return HistoryIndex()
    return HistoryIndex.load([path], rejects=rejects)


def check_config(path: Path | None) -> Path | None:
    """The --config file (default ``policy-engine.toml`` when present), checked before a run starts: a
    readable UTF-8 TOML file whose ``[channels]`` holds one table per channel; anything else is a usage
    error naming the file (and the line for a TOML error). None when there is no config file."""
    if path is None:
        default = Path("policy-engine.toml")
        if not default.is_file():
            return None
        path = default
    where = f"--config {path}"
    if path.is_dir():
        raise UsageError(f"{where}: is a directory, not a config file")
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except OSError as error:
        raise UsageError(f"{where}: cannot read ({error.strerror or error})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"{where}: larger than {MAX_CONFIG_BYTES // 1024 // 1024} MiB; a config file holds "
                         "channel settings only")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UsageError(f"{where}:{line}: not UTF-8 text (save the file as UTF-8)") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{where}: not valid TOML: {error}") from None
    except RecursionError:
        raise UsageError(f"{where}: values nest too deeply") from None
    _check_channel_tables(config, where)
    return path


def _check_channel_tables(config: Mapping[str, Any], where: str) -> None:
    channels = config.get("channels", {})
    if not isinstance(channels, Mapping):
        raise UsageError(f"{where}: 'channels' must be a table of [channels.NAME] tables")
    for name, channel_settings in channels.items():
        if not isinstance(channel_settings, Mapping):
            raise UsageError(f"{where}: channels.{name} must be a table ([channels.{name}] with key = value "
                             "lines)")


def open_ledger_or_exit(url: str | None) -> Ledger:
    """Open the --ledger database (default ``$POLICY_ENGINE_LEDGER_URL``, then the SQLite file
    ``policy-engine.db``). A URL that is malformed, names a database other than SQLite or PostgreSQL, or
    an in-memory SQLite database (which forgets what was sent) is a usage error; a database that refuses
    is a LedgerError; each in one line, with no password shown."""
    import sqlalchemy as sa  # noqa: PLC0415  (only the commands that open a ledger pay for SQLAlchemy)

    from policy_engine.ledger.store import DEFAULT_URL, open_ledger  # noqa: PLC0415

    chosen = url or os.environ.get("POLICY_ENGINE_LEDGER_URL") or DEFAULT_URL
    try:
        parsed = sa.make_url(chosen)
    except (sa.exc.ArgumentError, ValueError):
        raise UsageError("--ledger is not a database URL: write sqlite:///FILE.db or "
                         "postgresql://USER@HOST/DATABASE") from None
    shown = chosen if parsed.password is None else parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in LEDGER_BACKENDS:
        raise UsageError(f"--ledger {shown}: the ledger keeps to SQLite or PostgreSQL, not '{backend}' "
                         "(sqlite:///FILE.db or postgresql://USER@HOST/DATABASE)")
    if backend == "sqlite" and (parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"):
        raise UsageError(f"--ledger {shown}: an in-memory ledger forgets what was sent, so every run would "
                         "send again; name a file: sqlite:///FILE.db")
    try:
        return open_ledger(chosen)
    except LedgerError as error:  # the database's own message can run over several lines: keep the first
        raise LedgerError(str(error).splitlines()[0]) from None
    except ImportError as error:
        raise UsageError(f"--ledger {shown}: the database driver is not installed ({error})") from None


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

