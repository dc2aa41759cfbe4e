"""Validate many policy files at once, for the CLI and for CI pipelines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_engine._exceptions import Issue, Location, PolicyError
from policy_engine.policy.channels import ChannelCatalogue
from policy_engine.policy.loader import LoadedPolicy, load_policy
from policy_engine.policy.models import PolicyFile

__all__ = ["FileReport", "iter_policy_files", "policy_schema", "validate_paths"]


@dataclass
class FileReport:
    """The outcome of validating one file."""

    path: str
    issues: list[Issue] = field(default_factory=list)
    policy: LoadedPolicy | None = None

    @property
    def errors(self) -> list[Issue]:
        """Only the errors."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """Only the warnings."""
        return [i for i in self.issues if i.severity == "warning"]

    def ok(self, strict: bool = False) -> bool:
        """True when the file is usable (and, with ``strict``, has no warnings either)."""
        return not self.errors and not (strict and self.warnings)


def iter_policy_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every policy file named or found (recursively, sorted) below the given paths.

    Files ending in ``_test.toml`` are test suites, not policies, and are skipped when walking.
    """
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for found in sorted(p.rglob("*.toml")):
                if not found.name.endswith("_test.toml") and found.name != "pyproject.toml":
                    yield found
        else:
            yield p


def validate_paths(paths: Iterable[str | Path], *, channels: ChannelCatalogue | None = None) -> list[FileReport]:
    """Validate every policy file below ``paths`` against ``channels`` (None: the built-in channels);
    never raises for a broken policy."""
    reports: list[FileReport] = []
    for path in iter_policy_files(paths):
        report = FileReport(str(path))
        if not path.exists():
            report.issues.append(Issue(Location(str(path)), "", "no such file or directory", code="not_found"))
        else:
            try:
                report.policy = load_policy(path, channels=channels)
                report.issues.extend(report.policy.warnings)
            except PolicyError as exc:
                report.issues.extend(exc.issues)
        reports.append(report)
    return reports


def reports_as_json(reports: list[FileReport], strict: bool) -> str:
    """The JSON form of ``validate --format json``."""
    out: list[dict[str, Any]] = []
    for r in reports:
        out.append({
            "file": r.path,
            "valid": r.ok(strict),
            "policy": r.policy.stamp() if r.policy else None,
            "issues": [i.as_dict() for i in r.issues],
        })
    return json.dumps({"valid": all(r.ok(strict) for r in reports), "files": out}, indent=2, ensure_ascii=False)


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file, for editor autocomplete."""
    schema = PolicyFile.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "policy-engine policy file"
    return schema
