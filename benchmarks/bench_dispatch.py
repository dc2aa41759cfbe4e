"""Dispatch throughput against real local gateways, beside the raw loop that only sends the same payloads.

    .venv/bin/python benchmarks/bench_dispatch.py                       # every scenario, 3 repetitions
    .venv/bin/python benchmarks/bench_dispatch.py --only http,email --repeat 5
    .venv/bin/python benchmarks/bench_dispatch.py --pg postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/bench_dispatch.py --also /tmp/old-tree     # before/after, interleaved

Scenarios (each repeated ``--repeat`` times; the table keeps the quietest, i.e. fastest, run):

- ``raw-http``: a loop POSTing the sms channel's signed JSON payloads on one kept-alive connection, and
  the same from 4 threads: the gateway's physical limit here (no ledger, no rendering);
- ``http``: ``Dispatcher.dispatch`` of N sms actions (rendered from a template, signed, sent with
  ``concurrency`` threads, every claim and result in the ledger) on SQLite and on PostgreSQL;
- ``raw-smtp`` and ``email``: the same for e-mail against aiosmtpd (the raw loop sends messages built
  before its clock starts, on one session and on ``concurrency`` sessions from as many threads);
- ``letters``: N Chinese PDF letters (CJK font) on a pool of 2 worker processes, SQLite ledger;
- ``mixed``: the whole ``run_batch`` (decide + dispatch every channel) of the shipped US policy over
  2,000 generated US accounts, to the local gateways, SQLite and PostgreSQL.

After each dispatch run the gateway's count of distinct keys performed must equal the actions sent:
nothing lost, nothing twice. The machine is shared (2 cores, other work running), so read the ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import random
import smtplib
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))

import gateways  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from policy_engine.data.records import Account  # noqa: E402
from policy_engine.decide.decision import Decision, PlannedAction  # noqa: E402
from policy_engine.deliver.dispatch import Dispatcher, RetryPolicy  # noqa: E402
from policy_engine.deliver.registry import get_registry  # noqa: E402
from policy_engine.deliver.signing import signature_header  # noqa: E402
from policy_engine.deliver.templates import TemplateStore  # noqa: E402
from policy_engine.ledger import Ledger  # noqa: E402

SECRET = "bench-secret-value"
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
SMS_TEXT = "Hello {{ account.customer_name }}, your card is {{ dpd }} days past due. Please call 555-0100."
LETTER_TEXT = ("尊敬的{{ account.customer_name }}：您的信用卡已逾期 {{ dpd }} 天，欠款 ¥{{ account.balance }}。"
               "逾期将影响您的个人征信记录，请尽快还款或联系我们协商分期。") * 3


def _accounts(count: int, language: str = "en-US") -> list[Account]:
    return [Account.model_validate({
        "account_id": f"B{i:06d}", "region": "US", "balance": "1234.56", "language": language, "name": f"Customer {i}",
        "contact": {"phone": f"+1555{i:07d}", "email": f"b{i}@example.test", "address": f"{i} Main St, Springfield"},
    }) for i in range(count)]


def _pairs(accounts: list[Account], channel: str, template: str, run: str) -> list[tuple[Account, Decision]]:
    now = datetime.now(UTC)
    pairs = []
    for account in accounts:
        action = PlannedAction(f"{channel}_reminder", channel, template, now - timedelta(minutes=1), None, None,
                               f"{run}-{account.account_id}", 10, "mid", (), now + timedelta(hours=2))
        pairs.append((account, Decision(account.account_id, now, {"id": "bench", "version": "1", "digest": run},
                                        35, "standard", "mid", [], [action], [])))
    return pairs


def _ledger(kind: str, pg: str | None, folder: Path) -> tuple[Ledger, Callable[[], None]]:
    if kind == "sqlite":
        ledger = Ledger.open(f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}")
        return ledger, ledger.close
    assert pg is not None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    ledger = Ledger.open(pg, schema_name=schema)

    def drop() -> None:
        ledger.close()
        engine = sa.create_engine(pg.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    return ledger, drop


def _dispatch(ledger: Ledger, pairs: list[tuple[Account, Decision]], settings: dict[str, Any],
              templates: dict[str, str]) -> tuple[float, Any]:
    dispatcher = Dispatcher(ledger=ledger, registry=get_registry(), templates=TemplateStore.from_mapping(templates),
                            settings=settings, retry=RetryPolicy(max_attempts=2, base_delay=0.05))
    start = time.perf_counter()
    summary = dispatcher.dispatch(pairs)
    return time.perf_counter() - start, summary


# -- scenarios -----------------------------------------------------------------------------------------


def raw_http(gateway: gateways.Gateway, count: int, threads: int) -> float:
    """POST ``count`` signed sms payloads on kept-alive connections from ``threads`` threads; seconds."""
    bodies = []
    for i in range(count):
        key = f"raw-{uuid.uuid4().hex}-{i}"
        body = json.dumps({"idempotency_key": key, "to": f"+1555{i:07d}", "from": None, "account_id": f"B{i:06d}",
                           "text": f"Hello Customer {i}, your card is 35 days past due. Please call 555-0100.",
                           "action": "sms_reminder"}, sort_keys=True).encode()
        bodies.append((key, body))
    parts = [bodies[n::threads] for n in range(threads)]

    def loop(part: list[tuple[str, bytes]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        for key, body in part:
            headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                       "X-Policy-Engine-Signature": signature_header(SECRET, idempotency_key=key, path="/sms",
                                                                     body=body)}
            conn.request("POST", "/sms", body=body, headers=headers)
            conn.getresponse().read()
        conn.close()

    start = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(part,)) for part in parts]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def raw_smtp(port: int, count: int, sessions: int) -> float:
    """Send ``count`` small messages, built before the clock starts, over ``sessions`` SMTP sessions from as
    many threads; seconds."""
    from email.message import EmailMessage  # noqa: PLC0415
    from email.policy import SMTP as SMTP_POLICY  # noqa: PLC0415

    messages = []
    for i in range(count):
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "c@bank.test", f"b{i}@example.test", "About your account"
        mail.set_content(f"Hello Customer {i}, your card is 35 days past due.")
        messages.append((f"b{i}@example.test", mail.as_bytes(policy=SMTP_POLICY)))

    def loop(part: list[tuple[str, bytes]]) -> None:
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
        for to, data in part:
            smtp.sendmail("c@bank.test", [to], data)
        smtp.quit()

    start = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(messages[n::sessions],)) for n in range(sessions)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def mixed_run(kind: str, pg: str | None, folder: Path, http_url: str, smtp_port: int,
              concurrency: int) -> tuple[float, int, Any]:
    """The whole run of the US example policy over 2,000 generated US accounts; (seconds, actions, report)."""
    import make_portfolio  # noqa: PLC0415

    from policy_engine.cli.common import channel_catalogue  # noqa: PLC0415
    from policy_engine.data.history import HistoryIndex  # noqa: PLC0415
    from policy_engine.data.records import HistoryEvent  # noqa: PLC0415
    from policy_engine.decide.engine import Engine  # noqa: PLC0415
    from policy_engine.deliver.run import history_with_ledger, rehearsal_clock, run_batch  # noqa: PLC0415
    from policy_engine.policy.loader import load_policy  # noqa: PLC0415

    rng = random.Random(20261128)
    regions = {r.code: r for r in make_portfolio.REGIONS}
    built = []
    for code, count in (("US", 1400), ("US-MA", 300), ("US-NYC", 300)):
        built += make_portfolio.build_region(dataclasses.replace(regions[code], count=count), rng)
    accounts = [Account.model_validate(make_portfolio.account_record(a)) for a in built]
    events = [HistoryEvent.model_validate({k: e[k] for k in make_portfolio.EVENT_KEYS if k in e})
              for a in built for e in a.events]
    loaded = load_policy(ROOT / "policies/examples/us-card-issuer.toml", channels=channel_catalogue())
    engine = Engine(loaded)
    outbox = folder / f"letters-{uuid.uuid4().hex[:6]}"
    config = {"channels": {
        "sms": {"url": f"{http_url}/sms", "secret": SECRET, "concurrency": concurrency},
        "voice": {"url": f"{http_url}/voice", "secret": SECRET, "concurrency": concurrency},
        "webhook": {"url": f"{http_url}/hook", "secret": SECRET, "concurrency": concurrency},
        "email": {"host": "127.0.0.1", "port": smtp_port, "security": "plain", "from_addr": "c@bank.test",
                  "concurrency": 4},
        "letter": {"outbox": str(outbox), "font_path": FONT, "workers": 2, "concurrency": 4},
        "legal": {"drop_folder": str(folder / "legal")},
        "agent": {"concurrency": 1},
    }}
    as_of = datetime.fromisoformat("2026-11-28T11:00:00-05:00")
    ledger, drop = _ledger(kind, pg, folder)
    try:
        start = time.perf_counter()
        index = history_with_ledger(HistoryIndex.from_events(events), ledger)
        report = run_batch(engine, accounts, index, as_of, ledger=ledger, registry=get_registry(), config=config,
                           clock=rehearsal_clock(as_of))
        seconds = time.perf_counter() - start
    finally:
        drop()
    actions = report.dispatch.total("sent") + report.dispatch.total("failed") + report.dispatch.total("held")
    return seconds, actions, report


class _Rates:
    """The quickest rate seen per scenario (actions per second), with a note, in the order first seen."""

    def __init__(self) -> None:
        self.best: dict[str, float] = {}
        self.notes: dict[str, str] = {}

    def keep(self, name: str, rate: float, note: str = "") -> None:
        """Keep ``rate`` for ``name`` if it is the quickest so far."""
        if rate > self.best.get(name, 0.0):
            self.best[name] = rate
            self.notes[name] = note


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", type=int, default=10_000, help="sms actions per HTTP run")
    parser.add_argument("--email", type=int, default=2_000)
    parser.add_argument("--letters", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", default="raw,http,email,letters,mixed")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--also", metavar="OLD_TREE", type=Path,
                        help="also run the scenarios of another source tree (an export of an older commit), in "
                             "its own process, alternating with this tree's repetition by repetition")
    return parser.parse_args()


def _ledger_backends(pg: str) -> list[str]:
    """SQLite, and PostgreSQL when its server answers (said on stderr when it does not)."""
    backends = ["sqlite"]
    try:
        engine = sa.create_engine(pg.replace("postgresql://", "postgresql+psycopg://"),
                                  connect_args={"connect_timeout": 3})
        with engine.connect():
            backends.append("postgresql")
        engine.dispose()
    except Exception as exc:  # no server: SQLite only, said in the output
        print(f"PostgreSQL not reachable ({exc.__class__.__name__}): SQLite only", file=sys.stderr)
    return backends


def _http_rates(rates: _Rates, args: argparse.Namespace, only: set[str], backends: list[str], http_gw: Any,
                folder: Path, repetition: int) -> None:
    if "raw" in only or "http" in only:
        rates.keep("raw-http (1 connection)", args.http / raw_http(http_gw, args.http, 1))
        rates.keep(f"raw-http ({args.concurrency} threads)", args.http / raw_http(http_gw, args.http, args.concurrency))
    if "http" not in only:
        return
    for kind in backends:
        before = http_gw.performed()
        ledger, drop = _ledger(kind, args.pg, folder)
        try:
            seconds, summary = _dispatch(
                ledger, _pairs(_accounts(args.http), "sms", "t", f"h{repetition}{kind}"),
                {"sms": {"url": f"{http_gw.url}/sms", "secret": SECRET, "concurrency": args.concurrency}},
                {"t": SMS_TEXT})
        finally:
            drop()
        sent = summary.total("sent")
        assert sent == args.http and http_gw.performed() - before == sent, summary.as_dict()["totals"]
        rates.keep(f"http sms ({kind})", sent / seconds)


def _email_rates(rates: _Rates, args: argparse.Namespace, only: set[str], backends: list[str], smtp_gw: Any,
                 folder: Path, repetition: int) -> None:
    if "raw" in only or "email" in only:
        rates.keep("raw-smtp (1 session)", args.email / raw_smtp(smtp_gw.port, args.email, 1))
        rates.keep(f"raw-smtp ({args.concurrency} sessions)",
                   args.email / raw_smtp(smtp_gw.port, args.email, args.concurrency))
    if "email" not in only:
        return
    for kind in backends:
        ledger, drop = _ledger(kind, args.pg, folder)
        try:
            seconds, summary = _dispatch(
                ledger, _pairs(_accounts(args.email), "email", "t", f"e{repetition}{kind}"),
                {"email": {"host": "127.0.0.1", "port": smtp_gw.port, "security": "plain",
                           "from_addr": "c@bank.test", "concurrency": args.concurrency}},
                {"t": SMS_TEXT})
        finally:
            drop()
        assert summary.total("sent") == args.email, summary.as_dict()["totals"]
        rates.keep(f"email ({kind})", args.email / seconds)


def _letter_rates(rates: _Rates, args: argparse.Namespace, folder: Path, repetition: int) -> None:
    ledger, drop = _ledger("sqlite", args.pg, folder)
    outbox = folder / f"outbox-{repetition}"
    try:
        seconds, summary = _dispatch(
            ledger, _pairs(_accounts(args.letters, "zh-CN"), "letter", "t", f"l{repetition}"),
            {"letter": {"outbox": str(outbox), "font_path": FONT, "workers": 2, "concurrency": 4}},
            {"t": LETTER_TEXT})
    finally:
        drop()
    assert summary.total("sent") == args.letters == len(list(outbox.glob("*.pdf")))
    rates.keep("letters, CJK PDF (sqlite)", args.letters / seconds, "2 worker processes")


def _repetition(rates: _Rates, args: argparse.Namespace, only: set[str], backends: list[str], http_gw: Any,
                smtp_gw: Any, folder: Path, repetition: int) -> None:
    """One round of every scenario asked for (the other tree's first, when given)."""
    if args.also is not None:
        for name, rate in _other_tree(args.also, args, only - {"raw"}).items():
            if not name.startswith("raw"):
                rates.keep(f"before: {name}", rate)
    _http_rates(rates, args, only, backends, http_gw, folder, repetition)
    _email_rates(rates, args, only, backends, smtp_gw, folder, repetition)
    if "letters" in only and Path(FONT).exists():
        _letter_rates(rates, args, folder, repetition)
    if "mixed" in only:
        for kind in backends:
            seconds, actions, report = mixed_run(kind, args.pg, folder, http_gw.url, smtp_gw.port, args.concurrency)
            channels = {c: t.sent for c, t in sorted(report.dispatch.channels.items()) if t.sent}
            rates.keep(f"mixed US run, 2,000 accounts ({kind})", actions / seconds, f"{actions} actions {channels}")


def _print_table(rates: _Rates) -> None:
    """Each scenario's rate beside the raw protocol's (and beside the other tree's, when it ran)."""
    best, notes = rates.best, rates.notes
    limit = max((rate for name, rate in best.items() if name.startswith("raw-http")), default=0.0)
    smtp_limit = max((rate for name, rate in best.items() if name.startswith("raw-smtp")), default=0.0)
    before = {name.removeprefix("before: "): rate for name, rate in best.items() if name.startswith("before: ")}
    print(f"{'scenario':44} {'actions/s':>10} {'vs raw':>8} {'before':>9} {'vs raw':>8} {'x':>6}  notes")
    for name, rate in best.items():
        if name.startswith("before: "):
            continue
        peer = (smtp_limit if name.startswith(("email", "raw-smtp")) else limit if name.startswith(("http", "raw-http"))
                else 0)
        ratio = f"{rate / peer:.2f}" if peer else ""
        old = before.get(name)
        old_text = f"{old:>9,.0f} {(f'{old / peer:.2f}' if peer else ''):>8} {rate / old:>6.2f}" if old else ""
        print(f"{name:44} {rate:>10,.0f} {ratio:>8} {old_text:26}  {notes.get(name, '')}")


def main() -> int:
    """Run the scenarios and print the table."""
    args = _arguments()
    only = set(args.only.split(","))
    backends = _ledger_backends(args.pg)
    rates = _Rates()
    http_gw = gateways.start_http(SECRET)
    smtp_gw = gateways.start_smtp()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for repetition in range(args.repeat):
                _repetition(rates, args, only, backends, http_gw, smtp_gw, Path(tmp), repetition)
    finally:
        http_gw.stop()
        smtp_gw.stop()
    if args.json:
        before = {name.removeprefix("before: "): rate for name, rate in rates.best.items()
                  if name.startswith("before: ")}
        print(json.dumps({"best": {n: r for n, r in rates.best.items() if not n.startswith("before: ")},
                          "before": before, "notes": rates.notes}, indent=2))
        return 0
    _print_table(rates)
    return 0


def _other_tree(tree: Path, args: argparse.Namespace, only: set[str]) -> dict[str, float]:
    """One repetition of ``only`` by another tree's copy of this script, in its own process (its own code
    and plugins first on the path); the rates it measured."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    command = [sys.executable, str(tree / "benchmarks" / "bench_dispatch.py"), "--json", "--repeat", "1",
               "--only", ",".join(sorted(only)), "--http", str(args.http), "--email", str(args.email),
               "--letters", str(args.letters), "--concurrency", str(args.concurrency), "--pg", args.pg]
    path = os.pathsep.join([str(tree / "plugins"), str(tree), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path},
                          check=False, timeout=3600)
    if done.returncode != 0:
        print(f"{tree}: the other tree's run failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return {}
    return dict(json.loads(done.stdout)["best"])


if __name__ == "__main__":
    raise SystemExit(main())
