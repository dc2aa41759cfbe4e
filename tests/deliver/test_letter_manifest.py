"""The print shop's manifest holds one line per letter, whoever appended it and whatever the file went through."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from policy_engine_channels.manifest import append_once


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _append_in_another_process(path: str, key: str) -> None:
    append_once(Path(path), {"idempotency_key": key, "file": f"{key}.pdf"})


def test_a_key_another_process_appended_is_not_appended_again(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    assert append_once(manifest, {"idempotency_key": "k1", "file": "k1.pdf"})
    child = multiprocessing.get_context("spawn").Process(target=_append_in_another_process,
                                                         args=(str(manifest), "k2"))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert not append_once(manifest, {"idempotency_key": "k2", "file": "k2.pdf"})
    assert not append_once(manifest, {"idempotency_key": "k1", "file": "k1.pdf"})
    assert [json.loads(line)["idempotency_key"] for line in _lines(manifest)] == ["k1", "k2"]


def test_a_manifest_taken_away_or_cut_short_is_read_again(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    assert append_once(manifest, {"idempotency_key": "k1"})
    manifest.unlink()  # the print shop took the file away: a letter written again is listed again
    assert append_once(manifest, {"idempotency_key": "k1"})
    with open(manifest, "ab") as fh:
        fh.write(b'{"idempotency_key": "k2", "fi')  # a writer died in the middle of its line
    assert append_once(manifest, {"idempotency_key": "k3"})
    assert _lines(manifest) == ['{"idempotency_key": "k1"}', '{"idempotency_key": "k2", "fi',
                                '{"idempotency_key": "k3"}']
