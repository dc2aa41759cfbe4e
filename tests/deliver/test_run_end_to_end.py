"""`policy-engine run` over the shipped example portfolio against real servers on 127.0.0.1.

Email goes to a real SMTP server (aiosmtpd), SMS and voice to a local HTTP gateway, letters become PDF
files in a print-shop folder, legal referrals land in a drop folder, agent tasks in the ledger. A second
run the same day sends nothing new.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from plugin_servers import MailSink, Provider
from pypdf import PdfReader
from typer.testing import CliRunner

from policy_engine.cli import app

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "examples" / "cn-card-issuer.toml"
ACCOUNTS = ROOT / "examples" / "portfolio" / "accounts.jsonl"
HISTORY = ROOT / "examples" / "portfolio" / "history.jsonl"
AS_OF = "2026-11-28T09:00:00+08:00"


def _config(tmp_path: Path, gateway: str, smtp_port: int, font: str) -> Path:
    config = tmp_path / "channels.toml"
    config.write_text(f"""
[channels.sms]
url = "{gateway}/sms"
secret = "s3cret-value"

[channels.voice]
url = "{gateway}/voice"
secret = "s3cret-value"

[channels.email]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
from_addr = "collections@bank.example"

[channels.letter]
outbox = "{tmp_path / 'print-shop'}"
font_path = "{font}"

[channels.legal]
drop_folder = "{tmp_path / 'legal'}"
""", encoding="utf-8")
    return config


def _run(config: Path, ledger: str) -> dict:
    result = CliRunner().invoke(app, ["run", "--policy", str(POLICY), "--accounts", str(ACCOUNTS),
                                      "--history", str(HISTORY), "--as-of", AS_OF, "--rehearsal", "--ledger", ledger,
                                      "--config", str(config), "--format", "json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return json.loads(result.stdout)


def test_run_sends_through_every_channel_once_and_a_rerun_sends_nothing(
        tmp_path: Path, provider: tuple[Provider, str], smtp: tuple[MailSink, int], cjk_font: str) -> None:
    state, gateway = provider
    sink, port = smtp
    config = _config(tmp_path, gateway, port, cjk_font)
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"

    first = _run(config, ledger)
    sent = {ch: t["sent"] for ch, t in first["dispatch"]["channels"].items()}
    assert first["dispatch"]["totals"]["failed"] == 0, [f["error"] for f in first["dispatch"]["failures"][:3]]
    assert all(sent.get(ch, 0) > 0 for ch in ("sms", "voice", "email", "letter", "legal", "agent")), sent

    # what the servers and folders received is exactly what the ledger says was sent
    sms_keys = [r.key for r in state.requests if r.path == "/sms"]
    assert len(sms_keys) == sent["sms"] == len(set(sms_keys))
    assert all(r.signature_ok for r in state.requests)
    assert len(sink.messages) == sent["email"]
    pdfs = sorted((tmp_path / "print-shop").glob("*.pdf"))
    assert len(pdfs) == sent["letter"]
    text = "".join(PdfReader(str(pdfs[0])).pages[0].extract_text() or "")
    assert "征信" in text or "逾期" in text  # the Chinese letter is real text, explaining the credit impact
    assert len(list((tmp_path / "legal").glob("*.json"))) == sent["legal"]
    engine = sa.create_engine(ledger)
    with engine.connect() as conn:
        tasks = conn.execute(sa.text("SELECT count(*) FROM agent_tasks")).scalar_one()
        windows = conn.execute(sa.text("SELECT not_before, not_after, payload FROM agent_tasks")).all()
    engine.dispose()
    assert tasks == sent["agent"]
    # each task carries the window it may be worked in and the limits queue claim counts again
    assert all(before and after and before < after for before, after, _ in windows)
    assert all(json.loads(payload)["limits"]["rules"] for _, _, payload in windows)

    # same day again: the ledger is the history, so everything is already sent
    requests_before, mails_before = len(state.requests), len(sink.messages)
    second = _run(config, ledger)
    assert second["dispatch"]["totals"]["sent"] == 0
    assert len(state.requests) == requests_before and len(sink.messages) == mails_before
    assert len(list((tmp_path / "print-shop").glob("*.pdf"))) == len(pdfs)
    reasons = {s["reason"] for s in second["suppressed"]}
    assert "already_sent" in reasons

    # the table a person reads: one row per channel, nothing sent the third time
    table = CliRunner().invoke(app, ["run", "--policy", str(POLICY), "--accounts", str(ACCOUNTS),
                                     "--history", str(HISTORY), "--as-of", AS_OF, "--rehearsal", "--ledger", ledger,
                                     "--config", str(config)])
    assert table.exit_code == 0 and "run summary: 300 accounts" in table.stdout
    sms_row = next(line for line in table.stdout.splitlines() if line.startswith("│ sms "))
    assert [cell.strip() for cell in sms_row.strip("│").split("│")][:3] == ["sms", "0", "0"]


def test_history_exported_from_the_ledger_is_not_counted_twice(tmp_path: Path) -> None:
    from policy_engine.data.history import HistoryIndex
    from policy_engine.data.records import HistoryEvent
    from policy_engine.deliver.run import history_with_ledger
    from policy_engine.ledger import open_ledger

    event = {"account_id": "A1", "at": "2026-11-20T10:00:00+08:00", "type": "contact", "channel": "sms",
             "outcome": "delivered", "action": "early_sms"}
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        ledger.append_history([event])
        files = HistoryIndex.from_events([HistoryEvent.model_validate(event)])
        merged = history_with_ledger(files, ledger)
    finally:
        ledger.close()
    assert len(merged.for_account("A1")) == 1


def test_run_refuses_to_start_when_a_channel_the_policy_uses_is_not_configured(tmp_path: Path) -> None:
    config = tmp_path / "channels.toml"
    config.write_text('[channels.sms]\nurl = "http://127.0.0.1:9/sms"\nsecret = "x"\n', encoding="utf-8")
    ledger = tmp_path / "ledger.db"
    result = CliRunner().invoke(app, ["run", "--policy", str(POLICY), "--accounts", str(ACCOUNTS),
                                      "--as-of", AS_OF, "--ledger", f"sqlite:///{ledger}", "--config", str(config)])
    assert result.exit_code == 2
    assert "error: channel 'email' is not configured: set host, from_addr under [channels.email]" in result.stderr
    assert "channel 'legal' is not configured: set drop_folder or url" in result.stderr
    assert "channel 'sms'" not in result.stderr
    assert not ledger.exists()  # nothing was decided, recorded or sent


LEDGER_CONTENTS = {
    "decisions": "account_id, as_of, policy_id, policy_version, policy_digest, body",
    "dispatches": "idempotency_key, account_id, action, channel, template, notice, send_at, state, attempts",
    "history": "account_id, type, channel, outcome, action, notice, idempotency_key",
    "agent_tasks": "idempotency_key, account_id, action, channel, template, state",
}
"""What a run records, without the instants of the run itself (when it recorded, sent or finished; a
contact's ``at`` is when it went out)."""


def test_run_records_the_same_ledger_and_summary_under_either_backend(
        tmp_path: Path, provider: tuple[Provider, str], smtp: tuple[MailSink, int]) -> None:
    _, gateway = provider
    _, port = smtp
    policy = ROOT / "policies" / "examples" / "us-card-issuer.toml"  # Latin letters: the built-in font will do
    recorded = {}
    for backend in ("compiled", "columnar"):
        folder = tmp_path / backend
        folder.mkdir()
        config = _config(folder, gateway, port, "")
        config.write_text(config.read_text(encoding="utf-8").replace('font_path = ""\n', ""), encoding="utf-8")
        ledger = f"sqlite:///{folder / 'ledger.db'}"
        result = CliRunner().invoke(app, [
            "run", "--policy", str(policy), "--accounts", str(ACCOUNTS), "--history", str(HISTORY),
            "--as-of", "2026-11-27T10:00:00-05:00", "--rehearsal", "--ledger", ledger, "--config", str(config),
            "--format", "json", "--backend", backend])
        assert result.exit_code == 0, result.stdout + result.stderr
        summary = json.loads(result.stdout)
        del summary["seconds"], summary["ledger"]
        engine = sa.create_engine(ledger)
        with engine.connect() as conn:
            tables = {table: sorted(map(tuple, conn.execute(sa.text(f"SELECT {columns} FROM {table}")).all()))
                      for table, columns in LEDGER_CONTENTS.items()}
        engine.dispose()
        recorded[backend] = (summary, tables)
    assert recorded["columnar"] == recorded["compiled"]
    summary, tables = recorded["columnar"]
    assert summary["accounts"] == 300 and len(tables["decisions"]) > 50  # the decisions with actions
    assert summary["dispatch"]["totals"]["sent"] > 50 and tables["history"] and tables["agent_tasks"]
