"""The progress bar of a command that reads an input file: determinate, on stderr, only for a terminal.

The bar's total is the number of rows the accounts file holds (data lines of JSON Lines and CSV, the
row count of a Parquet file), counted before deciding; it advances once per account decided. It is
drawn only when stderr is a terminal and ``--quiet`` was not given, and it leaves no trace when done:
commands print a completion line instead (:func:`policy_engine.cli.console.note`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from policy_engine.cli.console import settings, stderr_console

__all__ = ["count_rows", "progress_enabled", "with_progress"]

Row = TypeVar("Row")
_CHUNK = 1 << 20


def progress_enabled() -> bool:
    """True when a progress bar may be drawn: stderr is a terminal and --quiet was not given."""
    return sys.stderr.isatty() and not settings().quiet


def count_rows(path: str | Path) -> int | None:
    """How many rows ``path`` holds (None for stdin or a file that cannot be counted)."""
    if str(path) == "-":
        return None
    file = Path(path)
    suffix = file.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as parquet  # noqa: PLC0415  (only for Parquet input)

            return int(parquet.ParquetFile(file).metadata.num_rows)
        lines = 0
        last = b"\n"
        with file.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        lines += last != b"\n"
    except (OSError, ImportError, ValueError):
        return None
    return max(0, lines - 1) if suffix == ".csv" else lines


def with_progress(rows: Iterable[Row], *, total: int | None, what: str = "accounts") -> Iterator[Row]:
    """``rows`` unchanged, drawing a bar of rows done out of ``total`` while they are consumed."""
    if not progress_enabled():
        yield from rows
        return
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(f"deciding {what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task(what, total=total)
        for row in rows:
            bar.advance(task)
            yield row
