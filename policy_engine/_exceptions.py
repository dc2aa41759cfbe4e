"""Every error policy-engine raises on purpose, in one tree.

Each user-facing error carries where it happened: a file location for policy problems, a file and line
for input rows, an account or plugin name for runtime problems. The CLI turns these into messages and
exit codes; nothing here ever reaches a user as a traceback.

```
PolicyEngineError
├── PolicyError                      a policy file cannot be used            (exit 3)
│   ├── PolicySyntaxError            the TOML itself does not parse
│   ├── PolicyValidationError        one or more located problems (Issue list)
│   └── PolicyResolutionError        `extends` points nowhere or loops
├── InputError                       account or history data                 (exit 5)
│   ├── InputUnusableError           the file as a whole cannot be read
│   └── RowError                     one row is invalid (reported, set aside)
├── PluginError                      a channel plugin misbehaves
│   ├── PluginRegistrationError      the plugin set is broken (bad hook,     (exit 6)
│   │                                duplicate channel, missing or unimportable plugin)
│   └── DeliveryError                a send failed (transient or permanent)
│       ├── TransientDeliveryError
│       └── PermanentDeliveryError
├── TemplateError                    a message template is missing, invalid or fails to render
└── LedgerError                      the ledger database refused an operation
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DeliveryError",
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
]


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
            "related": [str(r) for r in self.related],
        }


class PolicyEngineError(Exception):
    """Root of every error policy-engine raises on purpose."""


class PolicyError(PolicyEngineError):
    """A policy file cannot be used."""

    exit_code = 3

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class PolicySyntaxError(PolicyError):
    """The TOML does not parse."""


class PolicyValidationError(PolicyError):
    """The policy parses but breaks the language's rules."""


class PolicyResolutionError(PolicyError):
    """An `extends` entry cannot be found, or the chain loops."""


class InputError(PolicyEngineError):
    """Account or history data problems."""

    exit_code = 5


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


class PluginRegistrationError(PluginError):
    """The plugin set is broken (misspelt hook, duplicate channel, entry point or allowed plugin missing)."""

    exit_code = 6


class DeliveryError(PluginError):
    """Sending an action failed."""

    def __init__(self, message: str, *, provider_id: str | None = None) -> None:
        self.provider_id = provider_id
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """A failure worth retrying (timeout, 5xx, connection refused)."""


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying will not fix (4xx, invalid address)."""


class TemplateError(PolicyEngineError):
    """A message template cannot be found, parsed or rendered (unknown variable, sandbox violation)."""


class LedgerError(PolicyEngineError):
    """The ledger database refused an operation."""
