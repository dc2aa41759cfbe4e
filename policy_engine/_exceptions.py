"""Every error policy-engine raises on purpose, in one tree, each with the exit code the CLI ends with.

Each user-facing error carries where it happened: a file location for policy problems, a file and line
for input rows, an account or plugin name for runtime problems. The CLI prints the located message(s) of
whatever error reaches it and exits with the error class's ``exit_code``; nothing here ever reaches a
user as a traceback.

```
PolicyEngineError                    the root; exit 1 unless a branch says otherwise
├── UsageError                       a command-line option or argument is wrong       (exit 2)
├── PolicyError                      a policy file cannot be used                     (exit 3)
│   ├── PolicySyntaxError            the TOML itself does not parse
│   ├── PolicyValidationError        one or more located problems (Issue list)
│   └── PolicyResolutionError        `extends` points nowhere or loops
├── InputError                       account or history data                          (exit 5)
│   ├── InputUnusableError           the file as a whole cannot be read
│   └── RowError                     one row is invalid (reported, set aside)
├── PluginError                      a channel plugin or its settings fail            (exit 1)
│   ├── PluginRegistrationError      the plugin set is broken: misspelt hook,         (exit 6)
│   │                                duplicate channel, entry point that fails to
│   │                                import, allow-list naming a missing plugin
│   └── DeliveryError                a send failed (transient, permanent, ambiguous)  (exit 1)
│       ├── TransientDeliveryError   nothing was handed over, or the provider dedups: retry
│       ├── PermanentDeliveryError   refused: retrying will not help
│       └── AmbiguousDeliveryError   handed over, then no answer: it may have gone out
├── TemplateError                    a message template is missing or fails           (exit 1)
└── LedgerError                      the ledger database refused an operation         (exit 1)
```

:class:`ExitCode` is the whole table, including the codes no error carries: 0 success, 4 policy tests
failed, and 7: "the run finished but some actions failed permanently (or were held) in this run".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

__all__ = [
    "AmbiguousDeliveryError",
    "DeliveryError",
    "ExitCode",
    "InputError",
    "InputUnusableError",
    "Issue",
    "LedgerError",
    "Location",
    "PermanentDeliveryError",
    "PluginError",
    "PluginRegistrationError",
    "PolicyEngineError",
    "PolicyError",
    "PolicyResolutionError",
    "PolicySyntaxError",
    "PolicyValidationError",
    "RowError",
    "TemplateError",
    "TransientDeliveryError",
    "PlanError",
    "UsageError",
]


class ExitCode(IntEnum):
    """The exit codes of the ``policy-engine`` command, one meaning each."""

    OK = 0
    RUNTIME_FAILURE = 1  # a plugin, template or the ledger failed while running
    USAGE = 2  # a wrong option or argument; nothing was done
    POLICY_INVALID = 3
    TESTS_FAILED = 4  # policy tests failed, or rule coverage is below --threshold
    INPUT_UNUSABLE = 5  # missing or unreadable input, no valid row, or rejected rows under --strict-input
    PLUGINS_BROKEN = 6  # the installed plugin set cannot be used (see PluginRegistrationError)
    ACTIONS_FAILED = 7  # the run finished but some actions failed permanently (or were held) in this run


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file: 1-based line and column; 0 means unknown."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file


@dataclass(frozen=True)
class Issue:
    """One problem found in a policy: where, which key, what is wrong and what is allowed."""

    location: Location
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"
    code: str = "invalid"
    hint: str | None = None
    related: tuple[Location, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location.file else ""
        key = f"{self.path}: " if self.path else ""
        text = f"{where}{self.severity}: {key}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        for other in self.related:
            text += f"\n    see {other}"
        return text

    def as_dict(self) -> dict[str, object]:
        """The issue as plain JSON-ready data."""
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "path": self.path,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "related": [str(other) for other in self.related],
        }


class PolicyEngineError(Exception):
    """Root of every error policy-engine raises on purpose."""

    exit_code: ExitCode = ExitCode.RUNTIME_FAILURE


class UsageError(PolicyEngineError):
    """A command-line option or argument is wrong (a bad --as-of, an unknown --format); nothing was done."""

    exit_code = ExitCode.USAGE


class PolicyError(PolicyEngineError):
    """A policy file cannot be used.

    ``policy_file`` names the file the user asked for when it is known (the issues may lie in a file it
    extends); the CLI closes its report with "policy FILE is invalid".
    """

    exit_code = ExitCode.POLICY_INVALID

    def __init__(self, issues: list[Issue], policy_file: str | None = None) -> None:
        self.issues = issues
        self.policy_file = policy_file
        super().__init__("\n".join(str(issue) for issue in issues))


class PolicySyntaxError(PolicyError):
    """The TOML does not parse."""


class PolicyValidationError(PolicyError):
    """The policy parses but breaks the language's rules."""


class PolicyResolutionError(PolicyError):
    """An `extends` entry cannot be found, or the chain loops."""


class InputError(PolicyEngineError):
    """Account or history data problems."""

    exit_code = ExitCode.INPUT_UNUSABLE


class InputUnusableError(InputError):
    """The input as a whole cannot be used (missing, unreadable, no valid row)."""


class RowError(InputError):
    """One input row is invalid; it is reported and set aside, the batch goes on."""

    def __init__(self, file: str, line: int, reason: str, raw: str | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        self.raw = raw
        super().__init__(f"{file}:{line}: {reason}")


class PluginError(PolicyEngineError):
    """A channel plugin misbehaves."""

    exit_code = ExitCode.RUNTIME_FAILURE


class PluginRegistrationError(PluginError):
    """The plugin set is broken: a plugin cannot be registered (misspelt hook, duplicate channel, entry
    point that fails to import) or the allow-list names a plugin that is not installed."""

    exit_code = ExitCode.PLUGINS_BROKEN


class DeliveryError(PluginError):
    """Sending an action failed."""

    def __init__(self, message: str, *, provider_id: str | None = None) -> None:
        self.provider_id = provider_id
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """A failure worth retrying (timeout, 5xx, connection refused)."""


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying will not fix (4xx, invalid address)."""


class AmbiguousDeliveryError(DeliveryError):
    """The message was handed over, then the answer never came (a timeout or disconnect after SMTP DATA,
    after an HTTP request was written): it may have gone out. Dispatch retries it only on a channel whose
    provider deduplicates by key; otherwise it is held for a person, never sent again blindly."""


class TemplateError(PolicyEngineError):
    """A message template cannot be found, parsed or rendered (unknown variable, sandbox violation)."""

    exit_code = ExitCode.RUNTIME_FAILURE


class PlanError(PolicyEngineError):
    """The columnar plan could not run to the end in DuckDB (out of memory, a full temporary disk)."""

    exit_code = ExitCode.RUNTIME_FAILURE


class LedgerError(PolicyEngineError):
    """The ledger database refused an operation."""

    exit_code = ExitCode.RUNTIME_FAILURE
