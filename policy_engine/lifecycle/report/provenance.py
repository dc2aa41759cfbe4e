"""How a report was made, so the page a reviewer signs says what it is about: engine version, when it was
generated, each input file with its size and SHA-256, and the input rows that were set aside.

The generation time is the ``SOURCE_DATE_EPOCH`` environment variable when set (the reproducible-builds
convention: the same inputs then give the same bytes), else the current time in UTC.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["InputFile", "Provenance", "describe_input", "generation_time"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    """One file the report read."""

    role: str
    """What it is: ``accounts``, ``history``, ``policy``, ``candidate policy``."""
    path: str
    size: int | None
    sha256: str | None
    """None for stdin or a file that could not be read again."""


@dataclass(frozen=True)
class Provenance:
    """What the report's metadata section states."""

    engine_version: str
    generated_at: datetime
    inputs: tuple[InputFile, ...] = ()
    rejected: int = 0
    rejected_examples: tuple[str, ...] = ()
    """The first rejected rows as ``file:line: reason``."""
    backend: str = "compiled"
    notes: tuple[str, ...] = field(default_factory=tuple)


def describe_input(role: str, path: str | Path) -> InputFile:
    """``path`` with its size and SHA-256 (read in chunks); stdin (``-``) has neither."""
    if str(path) == "-":
        return InputFile(role, "-", None, None)
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        size = Path(path).stat().st_size
    except OSError:
        return InputFile(role, str(path), None, None)
    return InputFile(role, str(path), size, "sha256:" + digest.hexdigest())


def generation_time() -> datetime:
    """``SOURCE_DATE_EPOCH`` (seconds since 1970, UTC) when set and valid, else now, in UTC, to the second."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(UTC).replace(microsecond=0)
