"""The print shop's ``manifest.jsonl``: one line per letter, appended once per idempotency key.

The rule it keeps: a key gets one line, however often its letter is written (a rerun after a crash
writes the same file again and adds no line), across threads and processes, because each append happens
under an exclusive ``flock`` of the file after checking the keys already in it.

Why an index: reading the whole manifest before every append made a run of N letters read N²/2 lines
(2,000 letters: 3 ms of CPU a letter, more than rendering it). A process now remembers the keys it has
read and where it stopped, and under the lock reads only what was appended since, by this process or
another. A manifest that shrank or was replaced (the print shop took it away) is read again from its
start.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["append_once"]


@dataclass
class _Known:
    """What this process has read of one manifest file: its identity, how far, and the keys seen."""

    inode: int = -1
    offset: int = 0
    keys: set[str] = field(default_factory=set)
    broken: bool = False
    """The file ends without a line break (its last line was cut short)."""


_known: dict[str, _Known] = {}
_lock = threading.Lock()


def append_once(path: Path, entry: Mapping[str, Any]) -> bool:
    """Append ``entry`` (which has an ``idempotency_key``) as one JSON line unless the manifest already
    holds that key; whether it was appended. The line is on disk (fsync) before this returns."""
    key = str(entry["idempotency_key"])
    with open(path, "a+b") as fh:
        with _lock:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                known = _catch_up(str(path), fh)
                if key in known.keys:
                    return False
                line = (json.dumps(dict(entry), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
                if known.broken:  # a line cut short (a writer died mid-line): ours starts on a line of its own
                    line = b"\n" + line
                    known.broken = False
                fh.write(line)
                fh.flush()  # in the page cache: whoever takes the lock next sees the key
                known.keys.add(key)
                known.offset += len(line)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        # outside the lock: the next appends need not wait for this disk write, and one fsync may carry
        # several threads' lines to the disk
        os.fsync(fh.fileno())
        return True


def _catch_up(name: str, fh: Any) -> _Known:
    """Read the lines appended since this process last looked (everything, if the file is new to it)."""
    status = os.fstat(fh.fileno())
    known = _known.get(name)
    if known is None or known.inode != status.st_ino or status.st_size < known.offset:
        known = _known[name] = _Known(inode=status.st_ino)
    if status.st_size > known.offset:
        fh.seek(known.offset)
        data = fh.read(status.st_size - known.offset)
        for line in data.splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # an empty or broken line names no key
                continue
            if isinstance(record, dict) and "idempotency_key" in record:
                known.keys.add(str(record["idempotency_key"]))
        known.offset += len(data)
        known.broken = not data.endswith(b"\n")
    return known
