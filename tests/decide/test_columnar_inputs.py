"""The native readers give what the row readers give: the same relations, rejects, warnings and errors.

Each comparison reads the same files twice: through the row readers and the columnar loader (the
reference, right by construction) and through the native readers (DuckDB's JSON parsing and the SQL
screen, the record validation only for rows the screen is not sure of); the relations must hold the
same rows and the rejects the same (file, line, reason, raw text) in the same order.
"""

from __future__ import annotations

import codecs
import json
import random
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

duckdb = pytest.importorskip("duckdb", reason="the columnar backend needs duckdb: pip install duckdb")
pa = pytest.importorskip("pyarrow", reason="the columnar backend needs pyarrow")
pq = pytest.importorskip("pyarrow.parquet", reason="the columnar backend needs pyarrow")

from policy_engine._exceptions import InputUnusableError, RowError  # noqa: E402
from policy_engine.data.line_blocks import jsonl_line_blocks  # noqa: E402
from policy_engine.data.readers import (  # noqa: E402
    MAX_LINE_BYTES,
    Rejects,
    jsonl_lines,
    open_source,
    read_accounts,
    read_history,
)
from policy_engine.decide.columnar import inputs  # noqa: E402
from policy_engine.decide.columnar.load import account_batches, history_batches  # noqa: E402
from tests.hostile.runner import load_cases, write_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PORTFOLIO = ROOT / "examples" / "portfolio"
DATA = ROOT / "tests" / "data_files"


def _relation(connection: Any, table: str) -> list[tuple[Any, ...]] | None:
    try:
        return connection.execute(f'SELECT * FROM "{table}" ORDER BY position').fetchall()
    except duckdb.CatalogException:
        return None


def _outcome(rejects: Rejects, connection: Any, error: Exception | None) -> dict[str, Any]:
    return {
        "rejects": [(e.file, e.line, e.reason, e.raw) for e in rejects.errors],
        "count": rejects.count,
        "warnings": rejects.warnings,
        "error": None if error is None else f"{type(error).__name__}: {error}",
        "accounts": _relation(connection, "accounts"),
        "history": _relation(connection, "history"),
    }


def reference(accounts: Path, history: Path | None) -> dict[str, Any]:
    """Row readers, then the columnar loader's Arrow batches."""
    connection = duckdb.connect()
    error: Exception | None = None
    with Rejects() as rejects:
        try:
            if history is not None:
                batches = list(history_batches(read_history(history, rejects=rejects)))
                if batches:
                    connection.register("h", pa.Table.from_batches(batches))
                    connection.execute("CREATE TABLE history AS SELECT * FROM h")
            batches = list(account_batches(read_accounts(accounts, rejects=rejects)))
            connection.register("a", pa.Table.from_batches(batches))
            connection.execute("CREATE TABLE accounts AS SELECT * FROM a")
        except (InputUnusableError, RowError) as exc:
            error = exc
    return _outcome(rejects, connection, error)


def native(accounts: Path, history: Path | None, *, counter: list[int] | None = None) -> dict[str, Any]:
    """The native readers."""
    connection = duckdb.connect()
    error: Exception | None = None
    with Rejects() as rejects:
        try:
            if history is not None:
                inputs.read_history_into(connection, str(history), rejects=rejects)
                if not connection.execute("SELECT count(*) FROM history").fetchone()[0]:
                    connection.execute("DROP TABLE history")  # the reference registers no empty relation
            inputs.read_accounts_into(connection, str(accounts), rejects=rejects)
        except (InputUnusableError, RowError) as exc:
            error = exc
    return _outcome(rejects, connection, error)


def assert_same(accounts: Path, history: Path | None = None) -> None:
    expected, got = reference(accounts, history), native(accounts, history)
    assert got["error"] == expected["error"]
    assert got["warnings"] == expected["warnings"]
    assert got["rejects"] == expected["rejects"]
    assert got["count"] == expected["count"]
    assert got["history"] == expected["history"]
    assert got["accounts"] == expected["accounts"]


@pytest.mark.parametrize(("accounts", "history"), [
    (PORTFOLIO / "accounts.jsonl", PORTFOLIO / "history.jsonl"),
    (PORTFOLIO / "accounts.csv", None),
    (PORTFOLIO / "accounts_with_errors.jsonl", None),
    (DATA / "accounts_sample.jsonl", DATA / "history_sample.jsonl"),
    (DATA / "accounts_sample.csv", None),
], ids=lambda path: path.name if path else "-")
def test_shipped_files_read_the_same(accounts: Path, history: Path | None) -> None:
    assert_same(accounts, history)


def test_plain_rows_never_reach_the_record_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The screen passes the example portfolio whole (the speed of the native readers depends on it)."""
    validated = _validated_lines(monkeypatch)
    native(PORTFOLIO / "accounts.jsonl", PORTFOLIO / "history.jsonl")
    assert validated == []
    native(PORTFOLIO / "accounts_with_errors.jsonl", None)
    assert len(validated) == 3  # the three malformed rows, and only they


def _hostile_input_cases(suffix: str) -> list[dict[str, Any]]:
    return [case for case in load_cases() if f"accounts{suffix}" in case["files"]]


def test_hostile_rows_read_the_same(tmp_path: Path) -> None:
    """Every bad row of the hostile corpus: the JSON Lines rows all in one file (a file the row reader
    refuses, or one starting with a byte order mark, on its own), each CSV file on its own."""
    accounts: list[bytes] = []
    history: list[bytes] = []
    for case in _hostile_input_cases(".jsonl"):
        folder = tmp_path / case["name"]
        write_files(case, folder)
        account_bytes = (folder / "accounts.jsonl").read_bytes()
        history_file = folder / "history.jsonl"
        if reference(folder / "accounts.jsonl", None)["error"] or account_bytes.startswith(codecs.BOM_UTF8):
            assert_same(folder / "accounts.jsonl", history_file if history_file.is_file() else None)
            continue
        accounts.append(account_bytes.rstrip(b"\n"))
        if history_file.is_file():
            history.append(history_file.read_bytes().rstrip(b"\n"))
    (tmp_path / "accounts.jsonl").write_bytes(b"\n".join(accounts) + b"\n")
    (tmp_path / "history.jsonl").write_bytes(b"\n".join(history) + b"\n")
    assert_same(tmp_path / "accounts.jsonl", tmp_path / "history.jsonl")
    for case in _hostile_input_cases(".csv"):
        folder = tmp_path / case["name"]
        write_files(case, folder)
        assert_same(folder / "accounts.csv")


_ACCOUNT_VARIANTS: list[tuple[str, Any]] = [
    ("balance", 1500.0), ("balance", "1500.00"), ("balance", 1e5), ("balance", 12345678901234567.5),
    ("balance", -0.0), ("balance", "abc"), ("balance", None), ("balance", 10**19), ("balance", True),
    ("credit_score", 700.0), ("credit_score", "700"), ("credit_score", -1), ("credit_score", 1000001),
    ("prior_delinquencies", "2"), ("delinquent_since", "2026-02-30"), ("delinquent_since", "1899-12-31"),
    ("delinquent_since", "2026-1-5"), ("delinquent_since", 20260105), ("timezone", "Mars/Olympus"),
    ("timezone", "UTC"), ("timezone", " Asia/Shanghai"), ("currency", "cny"), ("currency", "CNYX"),
    ("region", " CN"), ("region", "C\u200bN"), ("region", 7), ("region", ""), ("name", "王 小明"),
    ("name", "Ann  Lee"), ("name", "Ann\u3000Lee"), ("customer_id", ""), ("customer_id", "C 1"),
    ("customer_id", None), ("product", "gold\u202e"), ("language", "zh-CN"), ("account_id", "x" * 200),
    ("account_id", "x" * 201), ("account_id", " CN-1"), ("account_id", 12), ("account_id", "CN-0001"),
    ("contact", {"phone": "+8613800000000", "email": "a.b@example.co.uk"}), ("contact", {"phone": ""}),
    ("contact", {"phone": "13800000000"}), ("contact", {"email": "a@b"}), ("contact", {"email": "A <a@b.cn>"}),
    ("contact", {"email": "é@example.com"}), ("contact", {"address": "Line 1\nLine 2"}),
    ("contact", {"phone_at_work": "yes", "email_at_work": 0}), ("contact", {"fax": "1"}), ("contact", "x"),
    ("contact", None), ("consent", {"sms": "no", "email": 1, "voice": None}), ("consent", {"chat": True}),
    ("consent", {"sms": "maybe"}), ("flags", {"dispute": "TRUE", "hardship": False}), ("flags", {"x": True}),
    ("flags", {"dispute": 2}), ("attributes", {"b": 1, "a": "x", "c": True}), ("attributes", {"n": 1.5}),
    ("attributes", {"n": 10**31}), ("attributes", {"nested": {"k": [1, 2]}}), ("attributes", {"z": None}),
    ("attributes", {}), ("attributes", {"text": "上海 \u2028"}), ("attributes", {"k-1": 1}),
    ("timezones", ["Asia/Shanghai", "Asia/Shanghai"]), ("timezones", "Asia/Shanghai;Asia/Tokyo"),
    ("preferred_hours", {"start": "09:00", "end": "12:00"}), ("preferred_hours", {"start": "12:00", "end": "09:00"}),
    ("surprise", 1), ("flags.dispute", True), ("amount_past_due", "12.5"), ("minimum_due", 0),
]
_EVENT_VARIANTS: list[tuple[str, Any]] = [
    ("at", "2026-11-01T09:00:00Z"), ("at", "2026-11-01T09:00:00.123+05:30"), ("at", "2026-11-01T09:00:00"),
    ("at", "2026-11-01 09:00:00+08:00"), ("at", "2026-02-30T09:00:00+08:00"), ("at", "1899-12-31T23:00:00-01:00"),
    ("at", "2026-11-01T24:00:00+08:00"), ("at", "2026-11-01T09:00:00+15:00"), ("at", 1700000000),
    ("type", "payment"), ("type", "refund"), ("outcome", "busy"), ("outcome", None), ("channel", None),
    ("channel", "s ms"), ("amount", 100), ("amount", "100.50"), ("amount", 100.5), ("amount", 1.10),
    ("amount", 1e3), ("due", "2026-12-01"), ("granted", "yes"), ("counts_as_attempt", 0),
    ("breathing_space", "standard"), ("breathing_space", "long"), ("note", "x"), ("action", ""),
]


def _generated_files(folder: Path, seed: int) -> tuple[Path, Path]:
    """Example rows with one field changed at random in many of them, and duplicates, blank lines and
    broken lines among them."""
    rng = random.Random(seed)
    accounts = [json.loads(line) for line in (PORTFOLIO / "accounts.jsonl").read_text("utf-8").splitlines()]
    events = [json.loads(line) for line in (PORTFOLIO / "history.jsonl").read_text("utf-8").splitlines()]
    account_lines, event_lines = [], []
    for record in accounts:
        if rng.random() < 0.6:
            key, value = rng.choice(_ACCOUNT_VARIANTS)
            record = {**record, key: value}
        text = json.dumps(record, ensure_ascii=rng.random() < 0.2)
        roll = rng.random()
        if roll < 0.03:
            text = text[:-1]  # broken JSON
        elif roll < 0.06:
            text += "\n"  # a blank line after it
        elif roll < 0.08:
            text = text.replace('"account_id"', '"account_id": "DUP", "account_id"', 1)
        account_lines.append(text)
    account_lines[5:5] = [account_lines[1], account_lines[2]]  # repeated account ids
    for event in events:
        if rng.random() < 0.5:
            key, value = rng.choice(_EVENT_VARIANTS)
            event = {**event, key: value}
        event_lines.append(json.dumps(event))
    account_file, event_file = folder / "accounts.jsonl", folder / "history.jsonl"
    account_file.write_text("\n".join(account_lines) + "\n", encoding="utf-8")
    event_file.write_text("\r\n".join(event_lines), encoding="utf-8")
    return account_file, event_file


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_rows_read_the_same(seed: int, tmp_path: Path) -> None:
    accounts, history = _generated_files(tmp_path, seed)
    assert_same(accounts, history)


def test_rows_read_in_small_chunks_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk's accepted rows join the relation as the chunk ends: positions count on across chunks,
    and an account id seen in an earlier chunk is a duplicate naming that chunk's line."""
    monkeypatch.setattr(inputs, "CHUNK_ROWS", 17)
    monkeypatch.setattr(inputs, "jsonl_line_blocks",  # chunks end at a block's end: blocks of a few lines
                        lambda stream, name: jsonl_line_blocks(stream, name, block_bytes=2048))
    accounts, history = _generated_files(tmp_path, 5)
    lines = accounts.read_text(encoding="utf-8").splitlines()
    accounts.write_text("\n".join([*lines, lines[0], lines[40]]) + "\n", encoding="utf-8")
    assert_same(accounts, history)
    assert "already appeared on line 1" in str(reference(accounts, None)["rejects"])


def test_long_lines_end_a_chunk_by_their_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk also ends once its lines hold CHUNK_TEXT characters (long account lines make smaller chunks,
    so memory follows the text, not the count of lines): the rows, rejects and duplicates across chunks are
    the row reader's."""
    monkeypatch.setattr(inputs, "CHUNK_TEXT", 3000)
    monkeypatch.setattr(inputs, "jsonl_line_blocks",
                        lambda stream, name: jsonl_line_blocks(stream, name, block_bytes=2048))
    chunks: list[int] = []
    split = inputs._chunks

    def counted(source: Any) -> Any:
        for chunk in split(source):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(inputs, "_chunks", counted)
    accounts, history = _generated_files(tmp_path, 6)
    lines = accounts.read_text(encoding="utf-8").splitlines()
    accounts.write_text("\n".join([*lines, lines[2]]) + "\n", encoding="utf-8")
    assert_same(accounts, history)
    assert len(chunks) > 4 and max(chunks) < 100  # many chunks, ended by their text, not CHUNK_ROWS
    assert "already appeared on line 3" in str(reference(accounts, None)["rejects"])


def test_generated_rows_read_the_same_as_csv(tmp_path: Path) -> None:
    rng = random.Random(4)
    header = ["account_id", "balance", "credit_score", "delinquent_since", "timezone", "contact.phone",
              "contact.email", "consent.sms", "flags.dispute", "region", "unknown_column"]
    cells = {"account_id": ["A1", "A2", " A3", "A1", ""], "balance": ["100", "1e3", "12.50", "x", ""],
             "credit_score": ["700", "700.0", "-5", ""], "delinquent_since": ["2026-10-01", "2026-13-01", ""],
             "timezone": ["Asia/Shanghai", "Nowhere", ""], "contact.phone": ["+8613800000000", "138", ""],
             "contact.email": ["a@example.com", "a@@b", ""], "consent.sms": ["yes", "0", "maybe", ""],
             "flags.dispute": ["true", "FALSE", "2", ""], "region": ["CN", " CN", ""], "unknown_column": ["", "", "x"]}
    rows = [",".join(header)]
    for index in range(300):
        row = {column: rng.choice(options) for column, options in cells.items()}
        row["account_id"] = row["account_id"] or f"G{index}"
        rows.append(",".join(f'"{row[column]}"' if rng.random() < 0.2 else row[column] for column in header))
    rows.insert(40, '"unclosed,1,2')
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert_same(path)


def test_parquet_reads_the_same(tmp_path: Path) -> None:
    records = [json.loads(line) for line in (PORTFOLIO / "accounts.jsonl").read_text("utf-8").splitlines()]
    flat = [{"account_id": r["account_id"], "balance": r["balance"], "timezone": r.get("timezone"),
             "delinquent_since": r.get("delinquent_since"), "contact.phone": (r.get("contact") or {}).get("phone")}
            for r in records]
    flat[3]["balance"] = None
    flat[4]["account_id"] = flat[0]["account_id"]
    path = tmp_path / "accounts.parquet"
    pq.write_table(pa.Table.from_pylist(flat), path)
    assert_same(path)


def _typed_parquet(source: Path, target: Path) -> Path:
    """A JSON Lines file as Parquet the way a warehouse would type it: DuckDB's inferred types (dates, UTC
    timestamps, integers, booleans, structs for the nested groups), money as DECIMAL(18, 2)."""
    connection = duckdb.connect()
    read = f"read_json('{source}')"
    columns = connection.execute(f"DESCRIBE SELECT * FROM {read}").fetchall()
    selected = ", ".join(f'CAST("{name}" AS DECIMAL(18, 2)) AS "{name}"' if kind == "DOUBLE" else f'"{name}"'
                         for name, kind, *_ in columns)
    connection.execute(f"COPY (SELECT {selected} FROM {read}) TO '{target}' (ROW_GROUP_SIZE 64)")
    return target


def _validated_lines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    validated: list[int] = []
    original = inputs.validate_row

    def counting(row: Any, *args: Any) -> Any:
        validated.append(row.line)
        return original(row, *args)

    monkeypatch.setattr(inputs, "validate_row", counting)
    return validated


def test_typed_parquet_reads_the_same_and_passes_the_screen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example portfolio as typed Parquet: the same relations as the row reader, and no row needs the
    record validation (DuckDB reads and screens them all)."""
    accounts = _typed_parquet(PORTFOLIO / "accounts.jsonl", tmp_path / "accounts.parquet")
    history = _typed_parquet(PORTFOLIO / "history.jsonl", tmp_path / "history.parquet")
    assert pq.read_schema(history).field("at").type == pa.timestamp("us", tz="UTC")
    validated = _validated_lines(monkeypatch)
    monkeypatch.setattr(inputs, "CHUNK_ROWS", 100)  # several chunks, each reading only its row groups
    assert_same(accounts, history)
    assert validated == []


def _account_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (PORTFOLIO / "accounts.jsonl").read_text("utf-8").splitlines()][:80]


def _event_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (PORTFOLIO / "history.jsonl").read_text("utf-8").splitlines()][:300]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _money(value: Any, places: int = 2) -> Any:
    return None if value is None else Decimal(str(value)).scaleb(-places + 2).quantize(Decimal(1).scaleb(-places))


_DECIMAL = pa.decimal128(18, 2)
# Each variant: column name -> (values from a record and its index, Arrow type or None to infer).
_PARQUET_ACCOUNT_VARIANTS: dict[str, dict[str, tuple[Any, Any]]] = {
    "ids as integers": {"account_id": (lambda r, i: i % 70, pa.int64())},
    "scores as text": {"credit_score": (lambda r, i: [str(r.get("credit_score")), "7e2", " 700", None][i % 4],
                                        pa.string())},
    "scores as floats": {"credit_score": (lambda r, i: float(r.get("credit_score") or 0) + (i % 2) / 2, pa.float64())},
    "balances as floats": {"balance": (lambda r, i: r["balance"], pa.float64())},
    "balances of eight places": {"balance": (lambda r, i: _money(r["balance"], 2 + i % 7),
                                             pa.decimal128(30, 8))},
    "balances as text": {"balance": (lambda r, i: [str(r["balance"]), "1e3", "-0", "x"][i % 4], pa.string())},
    "balances as integers": {"balance": (lambda r, i: [int(r["balance"]), -5, 10**18, 2**62][i % 4], pa.int64())},
    "scores as unsigned integers": {"credit_score": (lambda r, i: [r.get("credit_score"), 0, 2**63][i % 3],
                                                     pa.uint64())},
    "balances missing": {"balance": (lambda r, i: None, _DECIMAL)},
    "dates as text": {"delinquent_since": (lambda r, i: [r.get("delinquent_since"), "2026-02-30", "1899-01-01",
                                                         "2026-1-5"][i % 4], pa.string())},
    "dates as timestamps": {"delinquent_since": (lambda r, i: _instant("2026-10-01T00:00:00+00:00"),
                                                 pa.timestamp("us", tz="UTC"))},
    "old dates": {"delinquent_since": (lambda r, i: _instant("1850-10-01T00:00:00").date(), pa.date32())},
    "flags as dotted columns": {"flags.dispute": (lambda r, i: [True, False, None, True][i % 4], pa.bool_()),
                                "flags.hardship": (lambda r, i: [0, 1, 2, None][i % 4], pa.int8()),
                                "flags.attorney": (lambda r, i: ["yes", "NO", "maybe", ""][i % 4], pa.string())},
    "groups with unknown keys": {
        "contact": (lambda r, i: {**(r.get("contact") or {}), "fax": "1" if i % 3 == 0 else None}, None),
        "consent": (lambda r, i: {**(r.get("consent") or {}), "chat": True if i % 4 == 0 else None}, None)},
    "groups as text": {"contact": (lambda r, i: None if i % 2 else "+8613800000000", pa.string())},
    "a group as a struct and as dotted columns": {"contact.phone": (lambda r, i: "+8613800000000", pa.string())},
    "attributes as a map": {"attributes": (lambda r, i: None if i % 3 == 0 else [
        (key, str(value)) for key, value in (r.get("attributes") or {"a": True}).items()],
        pa.map_(pa.string(), pa.string()))},
    "attributes of every kind": {"attributes": (lambda r, i: {
        "n": [1, -2, None, 2**62][i % 4], "f": [None, 1.5, None, float("nan")][i % 4],
        "text": ['say "hi"', "plain", "line\nbreak", None, "上海", "\\"][i % 6], "ok": [True, None, False][i % 3],
        "nested": [None, {"k": 1}][i % 2 if i % 5 == 0 else 0], "bad-key": [None, 1][i % 7 == 0]}, None)},
    "attributes as dotted columns": {"attributes.score": (lambda r, i: i if i % 3 else None, pa.int32()),
                                     "attributes.tag": (lambda r, i: ["a", None, "b\u2028"][i % 3], pa.string())},
    "extra columns": {"surprise": (lambda r, i: "x" if i % 5 == 0 else None, pa.string()),
                      "preferred_hours": (lambda r, i: {"start": "09:00", "end": "12:00"} if i % 6 == 0 else None,
                                          None),
                      "timezones": (lambda r, i: ["Asia/Shanghai"] if i % 7 == 0 else None, pa.list_(pa.string()))},
    "names differing in case": {"Region": (lambda r, i: "CN", pa.string())},
    "text of every kind": {"name": (lambda r, i: ["王 小明", " Ann", "Ann  Lee", "A\u200bB", None, 7][i % 6]
                                    if i % 6 != 5 else "7", pa.string()),
                           "timezone": (lambda r, i: [r.get("timezone"), "Mars/Olympus", "UTC", None][i % 4],
                                        pa.dictionary(pa.int8(), pa.string()))},
}
_PARQUET_EVENT_VARIANTS: dict[str, dict[str, tuple[Any, Any]]] = {
    "instants as UTC timestamps": {"at": (lambda r, i: _instant(r["at"]), pa.timestamp("ms", tz="UTC"))},
    "instants in a zone": {"at": (lambda r, i: _instant(r["at"]), pa.timestamp("us", tz="Asia/Shanghai"))},
    "instants without a zone": {"at": (lambda r, i: _instant(r["at"]).replace(tzinfo=None), pa.timestamp("us"))},
    "instants as text": {"at": (lambda r, i: [r["at"], "2026-11-01T09:00:00", "2026-02-30T09:00:00Z"][i % 3],
                                pa.string())},
    "amounts as floats": {"amount": (lambda r, i: r.get("amount"), pa.float64())},
    "amounts as decimals": {"amount": (lambda r, i: _money(r.get("amount")), _DECIMAL)},
    "tiny amounts": {"amount": (lambda r, i: _money(r.get("amount") and (0 if i % 5 == 0 else r["amount"]), 12),
                                pa.decimal128(24, 12))},
    "booleans as text": {"granted": (lambda r, i: ["yes", "0", "maybe", None][i % 4], pa.string())},
    "types as integers": {"type": (lambda r, i: 3 if i % 9 == 0 else None, pa.int64())},
    "extra columns": {"note": (lambda r, i: "x" if i % 11 == 0 else None, pa.string())},
}


def _write_parquet(records: list[dict[str, Any]], variant: dict[str, tuple[Any, Any]], path: Path,
                   seed: int) -> Path:
    """Records as Parquet with a variant's columns replaced or added, some cells made null at random."""
    rng = random.Random(seed)
    names = list(dict.fromkeys([*(name for record in records for name in record), *variant]))
    columns: dict[str, pa.Array] = {}
    for name in names:
        if name in variant:
            values, arrow_type = variant[name]
            column = [values(record, index) for index, record in enumerate(records)]
        else:
            arrow_type = {"balance": _DECIMAL, "amount_past_due": _DECIMAL, "minimum_due": _DECIMAL,
                          "amount": _DECIMAL}.get(name)
            column = [_money(r.get(name)) if arrow_type else r.get(name) for r in records]
        if name not in ("account_id", "balance", "at", "type"):
            column = [None if rng.random() < 0.1 else value for value in column]
        columns[name] = pa.array(column, arrow_type)
    pq.write_table(pa.table(columns), path, row_group_size=16)
    return path


@pytest.mark.parametrize("variant", list(_PARQUET_ACCOUNT_VARIANTS))
def test_parquet_accounts_of_other_types_read_the_same(variant: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Typed columns that give other values than text (integers, floats, decimals, dates, timestamps, maps,
    structs with unknown keys, extra columns): the same rows accepted and rejected, the same warning."""
    monkeypatch.setattr(inputs, "CHUNK_ROWS", 30)  # duplicates across chunks, batches across chunks
    records = _account_records()
    records[50] = {**records[50], "account_id": records[3]["account_id"]}
    assert_same(_write_parquet(records, _PARQUET_ACCOUNT_VARIANTS[variant], tmp_path / "accounts.parquet", 5))


@pytest.mark.parametrize("variant", list(_PARQUET_EVENT_VARIANTS))
def test_parquet_history_of_other_types_reads_the_same(variant: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "CHUNK_ROWS", 70)
    history = _write_parquet(_event_records(), _PARQUET_EVENT_VARIANTS[variant], tmp_path / "history.parquet", 6)
    assert_same(PORTFOLIO / "accounts.jsonl", history)


def test_parquet_duckdb_cannot_read_goes_to_the_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file DuckDB fails to read where pyarrow reads it: every row of the chunk is the row reader's."""
    from policy_engine.decide.columnar.parquet_cells import ParquetCells  # noqa: PLC0415

    accounts = _typed_parquet(PORTFOLIO / "accounts.jsonl", tmp_path / "accounts.parquet")
    unreadable = ParquetCells(str(tmp_path / "missing.parquet"), "file_row_number + 1 AS line")
    monkeypatch.setattr(inputs, "parquet_cells", lambda *args: unreadable)
    validated = _validated_lines(monkeypatch)
    assert_same(accounts)
    assert len(validated) == 300


def test_unreadable_parquet_fails_the_same(tmp_path: Path) -> None:
    """Not Parquet at all, no row, no valid row, and a file whose data breaks off after its first row
    groups: the same error, after the same rejects."""
    not_parquet = tmp_path / "not.parquet"
    not_parquet.write_text('{"account_id": "A", "balance": 1}\n', encoding="utf-8")
    assert_same(not_parquet)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"account_id": pa.array([], pa.string()), "balance": pa.array([], _DECIMAL)}), empty)
    assert_same(empty)
    no_balance = tmp_path / "no_balance.parquet"
    pq.write_table(pa.table({"account_id": pa.array(["A", "B"])}), no_balance)
    assert_same(no_balance)
    records = [{**record, "balance": None} if index % 50 == 7 else record
               for index, record in enumerate(_account_records() * 125)]
    for index, record in enumerate(records):
        record["account_id"] = f"A{index}"
    whole = _write_parquet(records, {}, tmp_path / "whole.parquet", 7)
    pq.write_table(pq.read_table(whole), whole, row_group_size=1000, compression="snappy")
    data = bytearray(whole.read_bytes())
    start = pq.ParquetFile(whole).metadata.row_group(9).column(0).data_page_offset
    data[start:start + 64] = bytes(64)  # zeros over the page header of the last row group's first column
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(bytes(data))
    expected = reference(broken, None)
    assert expected["error"] and "read failed" in expected["error"]
    assert expected["count"] > 0
    assert_same(broken)


@pytest.mark.parametrize("policy", ["cn-card-issuer", "uk-card-issuer"])
def test_dry_run_on_parquet_writes_the_same_bytes_as_compiled(policy: str, tmp_path: Path) -> None:
    """The example portfolio as Parquet (typed history, accounts with some bad rows among them): `dry-run
    --backend columnar` writes the decisions, rejects and messages of `--backend compiled`."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from policy_engine.cli import app  # noqa: PLC0415

    records = [json.loads(line) for line in (PORTFOLIO / "accounts.jsonl").read_text("utf-8").splitlines()]
    accounts = _write_parquet(records, _PARQUET_ACCOUNT_VARIANTS["scores as text"], tmp_path / "accounts.parquet", 8)
    history = _typed_parquet(PORTFOLIO / "history.jsonl", tmp_path / "history.parquet")
    results = {}
    for backend in ("compiled", "columnar"):
        out, rejected = tmp_path / f"{backend}.jsonl", tmp_path / f"{backend}-rejects.jsonl"
        result = CliRunner().invoke(app, [
            "dry-run", "--policy", str(ROOT / "policies" / "examples" / f"{policy}.toml"), "--accounts", str(accounts),
            "--history", str(history), "--as-of", "2026-11-28T09:00:00+08:00", "--format", "jsonl",
            "--backend", backend, "--output", str(out), "--rejects", str(rejected)])
        assert result.exit_code == 0, result.output
        notes = result.stderr.replace(f"{backend}-rejects.jsonl", "*").replace(f"{backend}.jsonl", "*")
        results[backend] = (notes, out.read_bytes(), rejected.read_bytes())
    assert results["columnar"] == results["compiled"]
    assert results["columnar"][1].count(b"\n") > 200 and b'"actions": [{' in results["columnar"][1]
    assert b"accounts.parquet" in results["columnar"][2]  # the bad rows, set aside alike


def test_unusable_files_fail_the_same(tmp_path: Path) -> None:
    array = tmp_path / "array.jsonl"
    array.write_text("\n  \n[1, 2]\n", encoding="utf-8")
    assert_same(array)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert_same(empty)
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text('{"account_id": "A"}\n', encoding="utf-8")
    assert_same(only_bad)
    with pytest.raises(InputUnusableError, match="no such file"):
        inputs.read_accounts_into(duckdb.connect(), str(tmp_path / "missing.jsonl"))


def test_without_a_collector_the_first_bad_row_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"account_id": "A", "balance": 1}\n{"account_id": "B"}\n', encoding="utf-8")
    with pytest.raises(RowError) as raised:
        inputs.read_accounts_into(duckdb.connect(), str(path))
    assert (raised.value.line, raised.value.reason) == (2, "balance is required")


_LINE_PIECES = [b'{"a":1}', b"", b"   ", b"\r", b'{"b":"\xe4\xb8\x8a"}\r\r', b"\xff\xfe bad", b"[1,2]",
                b"\xe4\xb8", b'\t{"c":2}\t', b"\x85", b"x" * MAX_LINE_BYTES, b"y" * (MAX_LINE_BYTES + 1)]


def test_line_blocks_are_the_row_readers_lines(tmp_path: Path) -> None:
    """Split a block at a time, the lines are those the row reader reads one at a time, at every block size."""
    rng = random.Random(7)
    path = tmp_path / "lines.jsonl"
    for _ in range(60):
        lines = [rng.choice(_LINE_PIECES) for _ in range(rng.randint(0, 10))]
        if rng.random() < 0.3:
            lines.insert(0, codecs.BOM_UTF8 + rng.choice(_LINE_PIECES[:6]))
        path.write_bytes(b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b""))
        try:
            expected: Any = list(jsonl_lines(open_source(path)))
        except InputUnusableError as exc:
            expected = str(exc)
        long_lines = any(len(line) > 1000 for line in lines)
        for block_bytes in (65536, MAX_LINE_BYTES) if long_lines else (1, 5, 64, 65536):
            try:
                open_source(path)  # the file checks come first, as in every reader
                with path.open("rb") as stream:
                    got: Any = [line for block in jsonl_line_blocks(stream, str(path), block_bytes=block_bytes)
                                for line in block]
            except InputUnusableError as exc:
                got = str(exc)
            assert got == expected, (block_bytes, lines)


def test_parquet_value_without_a_python_form_is_one_rejected_row(tmp_path: Path) -> None:
    """A Parquet date past year 9999 (pyarrow cannot make it a Python date) rejects its row, named by row
    number and column, on both backends; the other rows are decided, and nothing prints a traceback."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from policy_engine.cli import app  # noqa: PLC0415

    records = [json.loads(line) for line in (PORTFOLIO / "accounts.jsonl").read_text("utf-8").splitlines()][:40]
    columns = {name: [record.get(name) for record in records] for name in ("account_id", "balance",
                                                                           "amount_past_due", "currency")}
    days = [(date.fromisoformat(record["delinquent_since"]) - date(1970, 1, 1)).days
            if record.get("delinquent_since") else None for record in records]
    days[6] = 3_000_000  # about the year 10183
    table = pa.table({**{name: pa.array([None if value is None else str(value) for value in values], pa.string())
                         for name, values in columns.items()},
                      "delinquent_since": pa.array(days, pa.date32())})
    accounts = tmp_path / "accounts.parquet"
    pq.write_table(table, accounts, row_group_size=16)
    results = {}
    for backend in ("compiled", "columnar"):
        out, rejected = tmp_path / f"{backend}.jsonl", tmp_path / f"{backend}-rejects.jsonl"
        result = CliRunner().invoke(app, [
            "dry-run", "--policy", str(ROOT / "policies" / "examples" / "cn-card-issuer.toml"),
            "--accounts", str(accounts), "--as-of", "2026-11-28T09:00:00+08:00", "--format", "jsonl",
            "--backend", backend, "--output", str(out), "--rejects", str(rejected)])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        notes = result.stderr.replace(f"{backend}-rejects.jsonl", "*").replace(f"{backend}.jsonl", "*")
        results[backend] = (notes, out.read_bytes(), rejected.read_bytes())
    assert results["columnar"] == results["compiled"]
    notes, decisions, rejects = results["columnar"]
    assert "accounts.parquet:7: delinquent_since: a value that cannot be read" in notes
    assert decisions.count(b"\n") == 39
    assert json.loads(rejects.splitlines()[0])["line"] == 7
