"""Shared option types of the commands: the choices of ``--format`` and ``--backend``, and the options every
deciding command takes (``--policy``, ``--accounts``, ``--history``, ``--as-of``, ``--rejects``, ``--output``).

Each option is defined once here; commands use these definitions, never their own copy, so a name, a
metavar or a help text reads the same in every command.

A choice option accepts exactly the values of its StrEnum, shows them in ``--help``, and rejects anything
else as a usage error (exit 2) naming the option and what it accepts, e.g.
``error: --format must be text or json, not 'xml'``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from policy_engine._exceptions import UsageError
from policy_engine.decide.rules import DEFAULT_BACKEND

__all__ = [
    "AS_OF_HELP",
    "AccountsOption",
    "AsOfOption",
    "Backend",
    "BATCH_BACKEND_CHOICE",
    "BackendOption",
    "BatchBackendOption",
    "DEFAULT_BACKEND_CHOICE",
    "ROW_ENGINE_DECIDES",
    "ROW_ENGINE_EXPLAINS",
    "DecisionFormat",
    "FORMAT_ALIASES",
    "HistoryOption",
    "OutputOption",
    "PolicyOption",
    "RejectsOption",
    "SimulationFormat",
    "TableFormat",
    "TextFormat",
    "TextFormatOption",
    "accepted_values",
    "choice_option",
]


class _Format(StrEnum):
    """One ``--format`` vocabulary for every command: ``text`` is for people (a table, a tree, a timeline),
    ``json`` one JSON document, ``jsonl`` JSON Lines, ``csv`` CSV. ``table`` (and ``timeline``) are
    accepted as other names of ``text``. Each command offers the members that make sense for it."""

    @classmethod
    def _missing_(cls, value: object) -> _Format | None:
        alias = FORMAT_ALIASES.get(str(value))
        return cls._value2member_map_.get(alias) if alias else None  # type: ignore[return-value]


FORMAT_ALIASES = {"table": "text", "timeline": "text"}
"""Other names of a format, kept because earlier versions (and the contract's dry-run) used them."""


class TextFormat(_Format):
    """Text for people, or JSON for programs (validate, test, explain, diff, run, plugins, queue)."""

    TEXT = "text"
    JSON = "json"
    TABLE = "text"  # the same member: the older name of the human format


TableFormat = TextFormat
"""The older name of :class:`TextFormat` (its ``TABLE`` member is ``TEXT``)."""


class DecisionFormat(_Format):
    """How dry-run writes its decisions: a table for people, or one of the contract formats."""

    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    TABLE = "text"


class SimulationFormat(_Format):
    """What simulate writes: a timeline per account for people, or the contacts as history events."""

    TEXT = "text"
    JSONL = "jsonl"
    TIMELINE = "text"


class Backend(StrEnum):
    """The rule backends (policy_engine.decide.rules.BACKENDS); all give byte-identical decisions."""

    COMPILED = "compiled"
    DURABLE = "durable"
    COLUMNAR = "columnar"
    SPARK = "spark"


ROW_ENGINE_EXPLAINS = ("explaining with the row engine: the trace is its job (--backend columnar decides whole "
                       "portfolios, without a trace)")
"""The note --explain and explain print under --backend columnar."""
ROW_ENGINE_DECIDES = ("deciding one account at a time with the row engine (the compiled rules): --backend spark "
                      "decides whole portfolios in dry-run only")
"""The note simulate, diff and report print under --backend spark (they then decide account by account)."""

DEFAULT_BACKEND_CHOICE = Backend(DEFAULT_BACKEND)
"""The default of the commands that work account by account (explain, test): the library's, the row engine."""
BATCH_BACKEND_CHOICE = Backend.COLUMNAR
"""The default of the commands that decide whole portfolios (dry-run, run, simulate, diff, report): the
columnar plan, which gives the same bytes as compiled (the differential tests) and is faster on large
portfolios (docs/engine.md, "Which backend a command uses", has the figures)."""


def accepted_values(choices: type[StrEnum]) -> str:
    """The values of ``choices`` as a user reads them: ``text or json``, ``one of table, json, jsonl, csv``."""
    values = [choice.value for choice in choices]
    if len(values) == 2:
        return f"{values[0]} or {values[1]}"
    return "one of " + ", ".join(values)


class _ChoiceParser:
    """Turns the text given to one choice option into its enum member, or a located usage error."""

    def __init__(self, choices: type[StrEnum], option_name: str) -> None:
        self.choices = choices
        self.option_name = option_name

    def __call__(self, value: str) -> StrEnum:
        try:
            return self.choices(value)
        except ValueError:
            raise UsageError(f"{self.option_name} must be {accepted_values(self.choices)}, not '{value}'") from None


def choice_option(choices: type[StrEnum], *names: str, help: str, metavar: str | None = None) -> Any:
    """A typer option (for ``Annotated[...]``) that accepts exactly the values of ``choices`` (shown as
    ``[a|b]``, or as ``metavar`` when the list is too long for the help's column)."""
    return typer.Option(*names, parser=_ChoiceParser(choices, names[0]),
                        metavar=metavar or "[" + "|".join(choice.value for choice in choices) + "]", help=help)


AS_OF_HELP = ("When to decide: ISO 8601 with a UTC offset, e.g. 2026-11-28T09:00:00+08:00. Without an offset "
              "it is read in the policy's time zone; a date alone is 00:00 of that day there, so each action "
              "gets the first moment of the day it is allowed. Default: now.")

PolicyOption = Annotated[Path, typer.Option("--policy", "-p", metavar="FILE", help="Policy TOML file.")]
AccountsOption = Annotated[str, typer.Option("--accounts", "-a", metavar="FILE",
                                             help="Accounts: .jsonl, .csv, .parquet or - (stdin).")]
HistoryOption = Annotated[Path | None, typer.Option("--history", metavar="FILE",
                                                    help="History events (.jsonl, .csv or .parquet).")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", metavar="ISO", help=AS_OF_HELP)]
RejectsOption = Annotated[Path | None, typer.Option("--rejects", metavar="FILE",
                                                    help="Write rejected input rows here (JSON Lines).")]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                   help="Write here instead of stdout.")]
_BACKENDS_HELP = ("compiled, durable, columnar (a relational plan on DuckDB for whole portfolios) or spark (the same "
                  "plan on Apache Spark); all decide alike.")
BackendOption = Annotated[Backend, choice_option(
    Backend, "--backend", metavar="BACKEND",
    help=f"{_BACKENDS_HELP} The default here is compiled: this command works one account at a time.")]
"""``--backend`` of the commands that work account by account (explain, test); default compiled."""
BatchBackendOption = Annotated[Backend, choice_option(
    Backend, "--backend", metavar="BACKEND",
    help=f"{_BACKENDS_HELP} The default here is columnar: the whole portfolio at once, the same output as "
         "compiled.")]
"""``--backend`` of the commands that decide whole portfolios (dry-run, run, simulate, diff, report); default
columnar."""
TextFormatOption = Annotated[TextFormat, choice_option(TextFormat, "--format", "-f",
                                                       help="text for people, or json for programs.")]
