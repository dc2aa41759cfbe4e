"""A first real run without writing code: the local sinks (`policy-engine sinks`) and the sample config
(`examples/policy-engine.toml`) let e-mails, texts, calls, PDF letters and legal referrals go out of a real
`run`; `plugins` says which channels are configured and what each needs."""

from __future__ import annotations

import json
import smtplib
import socket
import tomllib
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.cli.sinks import Sinks
from tests.policy.helpers import REPO

SAMPLE = REPO / "examples" / "policy-engine.toml"
US_POLICY = REPO / "policies" / "examples" / "us-card-issuer.toml"
AS_OF = "2026-11-28T09:00:00-05:00"


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args], env=env)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def config_for(sinks: Sinks, folder: Path) -> Path:
    """The sample config with the sinks' free ports and folders under ``folder``."""
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("port = 2525", f"port = {sinks.smtp.port}").replace("127.0.0.1:8025",
                                                                           f"127.0.0.1:{sinks.http.port}")
    text = text.replace('"sink/letters"', json.dumps(str(folder / "letters")))
    text = text.replace('"sink/legal"', json.dumps(str(folder / "legal")))
    path = folder / "policy-engine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_sample_config_configures_every_channel_the_example_policies_use() -> None:
    config = tomllib.loads(SAMPLE.read_text(encoding="utf-8"))
    code, out, _ = invoke("plugins", "--config", SAMPLE, "--format", "json")
    data = json.loads(out)
    assert code == 0
    configured = {name for name, spec in data["channels"].items() if spec["settings"]["configured"]}
    assert {"sms", "email", "voice", "letter", "legal", "agent", "webhook"} <= configured
    assert set(config["channels"]) <= set(data["channels"])


def test_a_real_run_sends_emails_texts_calls_letters_and_referrals_to_the_sinks(tmp_path: Path) -> None:
    # the whole example portfolio, as the README's first run: some actions of every channel are due at as-of
    accounts = REPO / "examples" / "portfolio" / "accounts.jsonl"
    history = REPO / "examples" / "portfolio" / "history.jsonl"
    with Sinks(tmp_path / "sink", smtp_port=0, http_port=0) as sinks:
        config = config_for(sinks, tmp_path / "sink")
        code, out, err = invoke("run", "--config", config, "--ledger", f"sqlite:///{tmp_path / 'ledger.db'}",
                                "--policy", US_POLICY, "--accounts", accounts, "--history", history, "--as-of", AS_OF,
                                "--rehearsal")
    assert code == 0, out + err
    mails = sorted((tmp_path / "sink" / "mail").glob("*.eml"))
    texts = sorted((tmp_path / "sink" / "http" / "sms").glob("*.json"))
    calls = sorted((tmp_path / "sink" / "http" / "voice").glob("*.json"))
    letters = sorted((tmp_path / "sink" / "letters").glob("*.pdf"))
    referrals = sorted((tmp_path / "sink" / "legal").glob("*.json"))
    assert mails and texts and calls and letters and referrals
    mail = message_from_bytes(mails[0].read_bytes())
    assert mail["From"] == "card-services@bank.example" and "@example.com" in mail["To"]
    text = json.loads(texts[0].read_text(encoding="utf-8"))
    assert text["path"] == "/sms" and text["body"]["to"].startswith("+1") and text["body"]["text"]
    assert "Idempotency-Key" in text["headers"] or "idempotency-key" in {key.lower() for key in text["headers"]}
    assert letters[0].read_bytes().startswith(b"%PDF")


def test_the_smtp_sink_keeps_each_message_with_its_envelope(tmp_path: Path) -> None:
    with Sinks(tmp_path, smtp_port=0, http_port=0) as sinks, smtplib.SMTP("127.0.0.1", sinks.smtp.port) as smtp:
        smtp.sendmail("a@bank.example", ["b@example.com"], "Subject: hi\r\n\r\n.leading dot\r\nbody\r\n")
    kept = (tmp_path / "mail" / "0001.eml").read_bytes()
    assert kept.startswith(b"X-Sink-Mail-From: <a@bank.example>\r\nX-Sink-Rcpt-To: <b@example.com>\r\n")
    assert b"Subject: hi" in kept and b"\r\n.leading dot\r\n" in kept


def test_the_http_sink_answers_with_an_id_and_keeps_the_request(tmp_path: Path) -> None:
    with Sinks(tmp_path, smtp_port=0, http_port=0) as sinks:
        reply = httpx.post(f"http://127.0.0.1:{sinks.http.port}/voice/calls", json={"to": "+15550100"},
                           headers={"Idempotency-Key": "k1"})
    assert reply.status_code == 200 and reply.json() == {"id": "sink-voice-0001", "outcome": None}
    kept = json.loads((tmp_path / "http" / "voice" / "0001.json").read_text(encoding="utf-8"))
    assert kept["path"] == "/voice/calls" and kept["body"] == {"to": "+15550100"}


def test_the_sinks_command_runs_and_a_taken_port_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke("sinks", "--folder", tmp_path / "sink", "--smtp-port", "0", "--http-port", "0",
                          "--for", "0.2")
    assert code == 0
    assert "SMTP sink on 127.0.0.1:" in err and err.splitlines()[-1] == (
        f"sinks stopped: 0 e-mails and 0 HTTP requests kept in {tmp_path / 'sink'}/")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = invoke("sinks", "--folder", tmp_path / "sink", "--smtp-port", str(port), "--http-port", "0",
                              "--for", "0")
    assert code == 2
    assert err.startswith(f"error: cannot listen on 127.0.0.1 (SMTP port {port}, HTTP port 0): ")
    assert "--smtp-port/--http-port" in err


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_plugins_says_what_each_channel_needs_and_whether_it_is_set(tmp_path: Path, fmt: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no policy-engine.toml here
    monkeypatch.delenv("POLICY_ENGINE_SMS_URL", raising=False)
    code, out, _ = invoke("plugins", "--format", fmt, env={"POLICY_ENGINE_SMS_URL": "http://127.0.0.1:9/sms"})
    assert code == 0
    if fmt == "json":
        sms = json.loads(out)["channels"]["sms"]["settings"]
        assert sms == {"required": ["url", "secret"], "missing": ["secret"], "configured": False, "set": ["url"]}
        assert json.loads(out)["channels"]["agent"]["settings"]["configured"] is True
    else:
        assert ("    settings: url, secret: NOT configured (missing secret; e.g. POLICY_ENGINE_SMS_SECRET)"
                in out.splitlines())
        assert "    settings: drop_folder or url: NOT configured" in out
        assert out.splitlines()[-1].endswith("(no config file (policy-engine.toml not found), plus "
                                             "POLICY_ENGINE_* variables)")
