"""Shared option types of the commands: the choices of ``--format`` and ``--backend``, and the options every
deciding command takes (``--policy``, ``--accounts``, ``--history``, ``--as-of``, ``--rejects``).

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
    "AccountsOption",
    "AsOfOption",
    "Backend",
    "BackendOption",
    "DEFAULT_BACKEND_CHOICE",
    "DecisionFormat",
    "HistoryOption",
    "PolicyOption",
    "RejectsOption",
    "SimulationFormat",
    "TableFormat",
    "TextFormat",
    "TextFormatOption",
    "accepted_values",
    "choice_option",
]


class TextFormat(StrEnum):
    """Plain text for people, or JSON for programs (validate, test, plugins, queue)."""

    TEXT = "text"
    JSON = "json"


class TableFormat(StrEnum):
    """A rich table for people, or JSON for programs (run, diff)."""

    TABLE = "table"
    JSON = "json"


class DecisionFormat(StrEnum):
    """How dry-run writes its decisions: a table for people, or one of the contract formats."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


class SimulationFormat(StrEnum):
    """What simulate writes: the contacts as history events, or a timeline per account for people."""

    JSONL = "jsonl"
    TIMELINE = "timeline"


class Backend(StrEnum):
    """The rule backends (policy_engine.decide.rules.BACKENDS); both give byte-identical decisions."""

    COMPILED = "compiled"
    DURABLE = "durable"


DEFAULT_BACKEND_CHOICE = Backend(DEFAULT_BACKEND)  # the library's default backend, as an option value


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


def choice_option(choices: type[StrEnum], *names: str, help: str) -> Any:
    """A typer option (for ``Annotated[...]``) that accepts exactly the values of ``choices``."""
    return typer.Option(*names, parser=_ChoiceParser(choices, names[0]),
                        metavar="[" + "|".join(choice.value for choice in choices) + "]", help=help)


PolicyOption = Annotated[Path, typer.Option("--policy", "-p", help="Policy TOML file.")]
AccountsOption = Annotated[str, typer.Option("--accounts", "-a",
                                             help="Accounts: .jsonl, .csv, .parquet or - (stdin).")]
HistoryOption = Annotated[Path | None, typer.Option("--history", help="History events (.jsonl/.csv/.parquet).")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="ISO 8601 instant; default: now.")]
RejectsOption = Annotated[Path | None, typer.Option("--rejects",
                                                    help="Write rejected input rows here (JSON Lines).")]
BackendOption = Annotated[Backend, choice_option(Backend, "--backend",
                                                 help="The rule backend; both decide alike.")]
TextFormatOption = Annotated[TextFormat, choice_option(TextFormat, "--format", help="Text for people or JSON.")]
