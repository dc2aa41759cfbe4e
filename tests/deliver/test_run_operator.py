"""What an operator meets with `run` and `ledger`: settings checked before anything is sent, exit 7 when an
action failed in this run, failures of this run apart from earlier ones, opt-out in the customer's
language, and the ledger commands (failed, requeue, history) that never delete a record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_servers import Provider
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.deliver.registry import PluginRegistry
from policy_engine.ledger import Ledger
from policy_engine.testing import make_action, make_decision, run_dispatch, sample_account

ROOT = Path(__file__).resolve().parents[2]
CN = ROOT / "policies" / "examples" / "cn-card-issuer.toml"
US = ROOT / "policies" / "examples" / "us-card-issuer.toml"
ACCOUNTS = ROOT / "examples" / "portfolio" / "accounts.jsonl"
HISTORY = ROOT / "examples" / "portfolio" / "history.jsonl"
AS_OF = "2026-11-28T09:00:00+08:00"


def _config(tmp_path: Path, gateway: str, extra: str = "") -> Path:
    config = tmp_path / "channels.toml"
    config.write_text(f"""
[channels.sms]
url = "{gateway}/sms"
secret = "s3cret-value"
{extra}

[channels.voice]
url = "{gateway}/voice"
secret = "s3cret-value"

[channels.email]
host = "127.0.0.1"
port = 9
security = "plain"
from_addr = "collections@bank.example"

[channels.letter]
outbox = "{tmp_path / 'print-shop'}"

[channels.legal]
drop_folder = "{tmp_path / 'legal'}"
""", encoding="utf-8")
    return config


def _run(config: Path, ledger: str, *more: str, env: dict[str, str] | None = None,
         policy: Path = CN) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["run", "--policy", str(policy), "--accounts", str(ACCOUNTS), "--history",
                                      str(HISTORY), "--as-of", AS_OF, "--rehearsal", "--ledger", ledger,
                                      "--config", str(config), *more], env=env)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_a_setting_of_the_wrong_type_stops_the_run_before_anything_is_sent(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    code, _, err = _run(_config(tmp_path, "http://127.0.0.1:9"), f"sqlite:///{ledger}",
                        env={"POLICY_ENGINE_SMS_TIMEOUT": "ten", "POLICY_ENGINE_VOICE_CONCURRENCY": "0"})
    assert code == 2
    assert "[channels.sms] timeout = 'ten' is not a number above 0" in err and "POLICY_ENGINE_SMS_TIMEOUT" in err
    assert "[channels.voice] concurrency = '0'" in err and "nothing was sent" in err
    assert not ledger.exists()


def test_an_empty_opt_out_text_where_the_policy_requires_one_is_a_configuration_error(tmp_path: Path) -> None:
    # the US baseline requires an opt-out on sms and e-mail (Reg F 1006.6(e))
    extra = '[channels.sms.opt_out_text]\ndefault = "Reply STOP"\n"es-US" = ""'
    code, _, err = _run(_config(tmp_path, "http://127.0.0.1:9", extra), f"sqlite:///{tmp_path / 'l.db'}", policy=US)
    assert code == 2 and '[channels.sms.opt_out_text] "es-us"' in err and "POLICY_ENGINE_SMS_OPT_OUT_TEXT_ES_US" in err
    config = _config(tmp_path, "http://127.0.0.1:9", '[channels.sms.opt_out_text]\ndefault = "Reply STOP"')
    config.write_text(config.read_text().replace('from_addr = "collections@bank.example"',
                                                 'from_addr = "collections@bank.example"\nopt_out_text = " "'))
    code, _, err = _run(config, f"sqlite:///{tmp_path / 'l2.db'}", policy=US)
    assert code == 2 and "[channels.email] opt_out_text (or POLICY_ENGINE_EMAIL_OPT_OUT_TEXT) is empty" in err


def test_run_exits_7_when_an_action_failed_in_this_run_and_tells_earlier_failures_apart(
        tmp_path: Path, provider: tuple[Provider, str], cjk_font: str) -> None:
    state, gateway = provider
    config = _config(tmp_path, gateway)  # e-mail goes to a port nobody listens on: transient, retried next run
    config.write_text(config.read_text().replace(f'outbox = "{tmp_path / "print-shop"}"',
                                                 f'outbox = "{tmp_path / "print-shop"}"\nfont_path = "{cjk_font}"'))
    state.fail_next(1, status=400)  # the first call or SMS is refused for good
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    code, out, _ = _run(config, ledger, "--format", "json")
    report = json.loads(out)
    assert code == 7
    assert report["ledger"].startswith("sqlite:///") and report["policy"]["id"] and report["as_of"] == AS_OF
    permanent = [f for f in report["dispatch"]["failures"] if f["kind"] == "permanent"]
    assert len(permanent) == 1 and "HTTP 400" in permanent[0]["error"]
    channel = permanent[0]["channel"]
    code, out, _ = _run(config, ledger)  # the next run: the refused one failed *earlier*, not "already sent"
    assert "failed in an earlier run" in out
    row_line = next((line for line in out.splitlines() if line.startswith(f"│ {channel} ")), out)
    cells = [cell.strip() for cell in row_line.strip("│").split("│")]
    assert cells[1:3] == ["0", "0"] and cells[8] == "1"  # sent 0, failed now 0, ..., failed earlier 1

    failed = CliRunner().invoke(app, ["ledger", "failed", "--ledger", ledger, "--format", "json"])
    rows = json.loads(failed.stdout)
    assert failed.exit_code == 0 and {r["channel"] for r in rows} >= {channel, "email"}
    sms_key = next(r["idempotency_key"] for r in rows if r["channel"] == channel)
    requeued = CliRunner().invoke(app, ["ledger", "requeue", "--failed", "--channel", channel, "--ledger", ledger])
    assert requeued.exit_code == 0 and f"requeued {sms_key}" in requeued.stdout
    with Ledger.open(ledger) as opened:
        row = opened.get_dispatch(sms_key) or {}
        attempts = opened.list_attempts(sms_key)
    assert row["state"] == "pending" and [a["status"] for a in attempts][-1] == "requeued"
    assert len(attempts) >= 2  # the refused attempt is kept beside the requeue

    account = row["account_id"]
    history = CliRunner().invoke(app, ["ledger", "history", account, "--ledger", ledger, "--format", "json"])
    record = json.loads(history.stdout)
    assert record["decisions"] and record["dispatches"] and record["attempts"]
    assert any(d["idempotency_key"] == sms_key for d in record["dispatches"])
    table = CliRunner().invoke(app, ["ledger", "history", account, "--ledger", ledger])
    assert table.exit_code == 0 and "decision" in table.stdout and "requeued" in table.stdout


def test_history_of_an_account_the_ledger_does_not_know(tmp_path: Path) -> None:
    """Nothing recorded about the account: one line on stderr saying so, exit 0, no empty table."""
    ledger = f"sqlite:///{tmp_path / 'l.db'}"
    Ledger.open(ledger).close()
    result = CliRunner().invoke(app, ["ledger", "history", "NOPE-1", "--ledger", ledger])
    assert result.exit_code == 0
    assert result.stderr.strip() == "the ledger holds nothing about account 'NOPE-1'"
    assert result.stdout == ""


def test_requeue_needs_keys_or_failed(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ledger", "requeue", "--ledger", f"sqlite:///{tmp_path / 'l.db'}"])
    assert result.exit_code == 2 and "not both" in result.stderr


def _sms(*names: str) -> PluginRegistry:
    registry = PluginRegistry()
    registry.load_entry_points({"sms"})
    registry.check()
    return registry


@pytest.mark.parametrize(("language", "settings", "line"), [
    ("zh-CN", {}, "回复TD退订"),
    ("en-US", {}, "Reply STOP to opt out."),
    ("zh-CN", {"opt_out_text": {"default": "Reply STOP", "zh-CN": "回复T退订"}}, "回复T退订"),
    ("zh-CN", {"opt_out_text_zh_cn": "退订回T"}, "退订回T"),  # from POLICY_ENGINE_SMS_OPT_OUT_TEXT_ZH_CN
    ("fr-FR", {"opt_out_text": {"default": "STOP au 36180"}}, "STOP au 36180"),
])
def test_opt_out_in_the_customers_language_only_where_required(
        pe_ledger: Ledger, provider: tuple[Provider, str], language: str, settings: dict, line: str) -> None:
    state, url = provider
    required = make_action("sms", template="t", content_rules=["opt_out"])
    not_required = make_action("sms", template="t")
    run_dispatch([make_decision("A1", required), make_decision("A2", not_required)],
                 {"A1": sample_account("A1", language=language), "A2": sample_account("A2", language=language)},
                 registry=_sms(), ledger=pe_ledger, templates={"t": "您好" if language == "zh-CN" else "Hello"},
                 settings={"sms": {"url": f"{url}/sms", "secret": "s3cret-value", **settings}})
    texts = {r.key: r.body["text"] for r in state.requests}
    assert texts[required["idempotency_key"]].endswith(line)
    assert texts[not_required["idempotency_key"]] in ("您好", "Hello")
    if language == "zh-CN":
        assert "STOP" not in texts[required["idempotency_key"]]
