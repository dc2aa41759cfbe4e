"""The row reader's Parquet rows, a window at a time, for the rows the native reader's screen is not sure of.

:class:`ParquetRows` decodes a Parquet file with pyarrow in the row reader's batches
(:func:`policy_engine.data.readers.source_rows`), keeps the batches of the current window, and gives any
of their rows as the row reader gives it: the row number (from 1) as its line, the values as pyarrow
converts them, the row as JSON text. Decoding every batch (cheap: no row becomes Python objects unless it
is asked for) makes a file that cannot be decoded fail at the same row, with the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from policy_engine._exceptions import InputUnusableError
from policy_engine.data.readers import PARQUET_BATCH_ROWS as ROW_READER_BATCH
from policy_engine.data.readers import RawRow, parquet_batch_rows

__all__ = ["ParquetRows"]


class ParquetRows:
    """The rows of one Parquet file, decoded in order and kept until released."""

    def __init__(self, path: Path, name: str) -> None:
        self._name = name
        self._file = pq.ParquetFile(path)
        self._batches: Iterator[pa.RecordBatch] = self._file.iter_batches(batch_size=ROW_READER_BATCH)
        self._kept: list[tuple[int, pa.RecordBatch]] = []  # (rows before the batch, the batch)
        self.decoded = 0
        """Rows decoded so far."""
        self.failure: InputUnusableError | None = None
        """The row reader's error, once a batch failed to decode (no row after it is read)."""

    @property
    def schema(self) -> pa.Schema:
        """The file's Arrow schema: the types of the row reader's values."""
        return self._file.schema_arrow

    def decode_to(self, rows: int) -> int:
        """Decode until ``rows`` rows are decoded, the file ends or a batch fails; the rows decoded."""
        while self.decoded < rows and self.failure is None:
            try:
                batch = next(self._batches)
            except StopIteration:
                break
            except pa.ArrowException as exc:
                self.failure = InputUnusableError(
                    f"{self._name}: Parquet read failed after row {self.decoded} ({exc})")
                break
            except OSError as exc:
                self.failure = InputUnusableError(f"{self._name}: read failed ({exc.strerror or exc})")
                break
            self._kept.append((self.decoded, batch))
            self.decoded += batch.num_rows
        return min(self.decoded, rows)

    def rows(self, lines: Iterable[int]) -> list[RawRow]:
        """The row reader's rows of these row numbers (ascending, all decoded and not released)."""
        wanted = list(lines)
        found: list[RawRow] = []
        index = 0
        for before, batch in self._kept:
            taken: list[int] = []
            while index < len(wanted) and wanted[index] <= before + batch.num_rows:
                taken.append(wanted[index])
                index += 1
            if taken:
                offsets = pa.array([line - 1 - before for line in taken], pa.int64())
                found.extend(parquet_batch_rows(batch.take(offsets), taken))
        assert index == len(wanted), "rows asked for that are not decoded or were released"
        return found

    def release(self, rows: int) -> None:
        """Forget the batches that hold only rows among the first ``rows``."""
        self._kept = [(before, batch) for before, batch in self._kept if before + batch.num_rows > rows]

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> ParquetRows:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
