"""Throughput and peak memory of the rule backends on one deterministic portfolio.

Variants (each runs in its own subprocess, so peak RSS is its own and durable's process-global state starts
empty):

* ``compiled``         ``Engine(policy, backend="compiled").decide()`` for every account (full decisions)
* ``durable``          ``Engine(policy, backend="durable").decide()`` for every account (full decisions)
* ``compiled-match``   only the rule evaluation: ``FactContext`` + ``RuleSet.match`` for both phases
* ``durable-match``    the same with the durable backend
* ``plain-durable``    durable_rules used directly: the same conditions hand-written with the
                       ``durable.lang`` decorators, over fact dicts precomputed before the clock starts
                       (one ``assert_fact`` + ``retract_fact`` per account and phase, like the backend)

``compiled`` and ``durable`` must produce identical decisions, and the three ``*match``/``plain`` variants
identical (segment, matched rules) per account: the script checks the digests and says so.

    .venv/bin/python benchmarks/bench_backends.py                  # 20,000 accounts, table
    .venv/bin/python benchmarks/bench_backends.py --accounts 5000 --json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

VARIANTS = ("compiled", "durable", "compiled-match", "durable-match", "plain-durable")
AS_OF = datetime.fromisoformat("2026-11-28T15:00:00+00:00")

POLICY = """
[policy]
id = "bench"
version = "1"
timezone = "America/New_York"
currency = "USD"

[guardrails]
contact_hours = { start = "08:00", end = "21:00" }
max_contacts_per_day = 2
caps = [ { channels = ["voice"], max = 7, days = 7 } ]
after_conversation = [ { channels = ["voice"], days = 7 } ]
unknown_consent = { sms = "deny", email = "deny" }
pause_while_promise_active = true

[guardrails.legal]
min_dpd = 90
require_notice = true
notice_channels = ["letter"]
min_notice_days = 30

[escalation.broken_promise]
grace_days = 1
action = { channel = "agent" }

[[notices]]
id = "validation_notice"

[[notices]]
id = "pre_legal_warning"

[[holds]]
id = "dispute"
when = { flags.dispute = true }

[[holds]]
id = "cease_contact"
when = { flags.cease_contact = true }
except_channels = ["letter"]

[[holds]]
id = "hardship"
when = { flags.hardship = true }
channels = ["voice", "agent"]

[[holds]]
id = "ma_weekly_calls"
when = { region = "US-MA", contacts = { channels = ["voice"], days = 7, gte = 2 } }
channels = ["voice"]

[[segments]]
id = "low_risk"
when = { credit_score = { gte = 720 }, prior_delinquencies = 0 }

[[segments]]
id = "high_risk"
when.any = [ { credit_score = { lt = 600 } }, { prior_delinquencies = { gte = 2 } },
             { broken_promises = { gte = 1 } } ]

[[segments]]
id = "large_balance"
when = { balance = { gte = 5000 } }

[[segments]]
id = "standard"

[[stages]]
id = "early"
dpd = { from = 1, to = 29 }

  [[stages.actions]]
  id = "reminder_sms"
  channel = "sms"
  every_days = 3

  [[stages.actions]]
  id = "reminder_email"
  channel = "email"
  when = { consent.email = true }
  every_days = 7

  [[stages.actions]]
  id = "courtesy_call"
  channel = "agent"
  segments = ["high_risk"]
  every_days = 7

[[stages]]
id = "written"
dpd = { from = 30, to = 59 }

  [[stages.actions]]
  id = "validation_letter"
  channel = "letter"
  notice = "validation_notice"
  once = true
  when = { notices_sent = { notice = "validation_notice", eq = 0 } }

  [[stages.actions]]
  id = "collection_call"
  channel = "voice"
  every_days = 2
  when = { not = { conversations = { days = 7, gte = 1 } } }

[[stages]]
id = "late"
dpd = { from = 60, to = 89 }

  [[stages.actions]]
  id = "late_call"
  channel = "voice"
  every_days = 2

  [[stages.actions]]
  id = "late_sms"
  channel = "sms"
  when = { segment = { ne = "low_risk" } }
  every_days = 5

[[stages]]
id = "pre_legal"
dpd = { from = 90 }
when = { balance = { gte = 500 } }

  [[stages.actions]]
  id = "pre_legal_warning"
  channel = "letter"
  notice = "pre_legal_warning"
  once = true

  [[stages.actions]]
  id = "legal_referral"
  channel = "legal"
  when = { balance = { gte = 5000 } }
  requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 30 } }
  once = true

[[stages]]
id = "write_off_review"
dpd = { from = 90 }

  [[stages.actions]]
  id = "final_sms"
  channel = "sms"
  once = true

[[offers]]
id = "installment_12"
kind = "installment"
months = 12
when.all = [ { dpd = { gte = 30 } }, { balance = { gte = 500 } } ]

[[offers]]
id = "settlement_60"
kind = "settlement"
settlement_pct = 60
when = { dpd = { gte = 120 } }

[[offers]]
id = "hardship_rate"
kind = "rate_reduction"
rate_reduction_pct = 50
when.any = [ { flags.hardship = true }, { segment = "high_risk" } ]
"""

# -- data ---------------------------------------------------------------------------------------------------


def make_portfolio(n: int, seed: int) -> list[tuple[Any, tuple[Any, ...]]]:
    """``n`` accounts with their histories, the same for a given seed."""
    from policy_engine.data.records import Account, HistoryEvent

    rnd = random.Random(seed)
    zones = [None, "America/New_York", "America/Chicago", "America/Los_Angeles"]
    out: list[tuple[Any, tuple[Any, ...]]] = []
    for i in range(n):
        account_id = f"A{i:07d}"
        days = rnd.choice([0, rnd.randint(1, 29), rnd.randint(30, 59), rnd.randint(60, 89), rnd.randint(90, 400)])
        record = {
            "account_id": account_id,
            "region": rnd.choice(["US", "US-MA", "US-NYC", "US-CA", None]),
            "timezone": rnd.choice(zones),
            "currency": "USD",
            "balance": f"{rnd.uniform(50, 15000):.2f}",
            "amount_past_due": rnd.choice([None, f"{rnd.uniform(10, 3000):.2f}"]),
            "minimum_due": f"{rnd.uniform(10, 300):.2f}",
            "delinquent_since": (AS_OF.date() - timedelta(days=days)).isoformat() if days else None,
            "credit_score": rnd.choice([None, rnd.randint(450, 850)]),
            "prior_delinquencies": rnd.choice([None, 0, 0, 1, 2, 3]),
            "product": rnd.choice(["classic", "gold", "platinum"]),
            "language": "en-US",
            "contact": {"phone": rnd.choice(["+12125550100", None]), "email": rnd.choice(["a@example.com", None]),
                        "address": rnd.choice(["1 Main St", None])},
            "consent": {"sms": rnd.choice([True, False, None]), "email": rnd.choice([True, False, None]),
                        "voice": rnd.choice([True, None])},
            "flags": {"dispute": rnd.random() < 0.03, "cease_contact": rnd.random() < 0.02,
                      "hardship": rnd.random() < 0.05},
        }
        events = []
        for _ in range(rnd.choice([0, 1, 2, 3, 4, 6, 8])):
            at = AS_OF - timedelta(days=rnd.randint(0, 120), hours=rnd.randint(0, 23))
            kind = rnd.choice(["contact", "contact", "contact", "payment", "promise"])
            event: dict[str, Any] = {"account_id": account_id, "at": at.isoformat(), "type": kind}
            if kind == "contact":
                event["channel"] = rnd.choice(["sms", "voice", "email", "letter"])
                event["outcome"] = rnd.choice(["sent", "delivered", "no_answer", "conversation", "failed"])
                if event["channel"] == "letter":
                    event["notice"] = rnd.choice(["validation_notice", "pre_legal_warning"])
            elif kind == "payment":
                event["amount"] = f"{rnd.uniform(10, 500):.2f}"
            else:
                event["due"] = (at.date() + timedelta(days=rnd.choice([3, 7, 14]))).isoformat()
                event["amount"] = f"{rnd.uniform(50, 500):.2f}"
            events.append(HistoryEvent.model_validate(event))
        events.sort(key=lambda e: e.at)
        out.append((Account.model_validate(record), tuple(events)))
    return out


def load(folder: Path) -> Any:
    from policy_engine.policy import load_policy

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.toml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)


# -- the hand-written durable_rules variant -------------------------------------------------------------------


def plain_durable_facts(ctx: Any) -> dict[str, Any]:
    """The facts the hand-written rules read, as a durable_rules user would pass them (floats, None left out)."""
    v = ctx.value
    facts = {
        "credit_score": v("credit_score"),
        "prior_delinquencies": v("prior_delinquencies"),
        "broken_promises": v("broken_promises"),
        "balance": float(v("balance")),
        "dpd": v("dpd"),
        "consent_email": v("consent.email"),
        "validation_notices": v("notices_sent", (("notice", "validation_notice"),)),
        "conversations_7": v("conversations", (("days", 7),)),
        "dispute": v("flags.dispute"),
        "cease_contact": v("flags.cease_contact"),
        "hardship": v("flags.hardship"),
        "region": v("region"),
        "voice_contacts_7": v("contacts", (("channels", ("voice",)), ("days", 7))),
    }
    return {k: x for k, x in facts.items() if x is not None}


def plain_durable_rulesets(suffix: str, hits: list[str]) -> tuple[str, str]:
    """The policy's 16 conditions hand-written with durable.lang (segments; stages, actions, offers, holds)."""
    from durable.lang import m, ruleset, when_all

    def hit(name: str) -> Any:
        def action(c: Any) -> None:
            hits.append(name)

        return action

    seg_name, rules_name = f"bench_segments_{suffix}", f"bench_rules_{suffix}"
    with ruleset(seg_name):
        when_all((m.credit_score >= 720) & (m.prior_delinquencies == 0))(hit("segment:low_risk"))
        when_all((m.credit_score < 600) | (m.prior_delinquencies >= 2) | (m.broken_promises >= 1))(
            hit("segment:high_risk"))
        when_all(m.balance >= 5000)(hit("segment:large_balance"))
    with ruleset(rules_name):
        when_all(m.consent_email == True)(hit("action:reminder_email"))  # noqa: E712  (durable's DSL)
        when_all(m.validation_notices == 0)(hit("action:validation_letter"))
        when_all(m.conversations_7 < 1)(hit("action:collection_call"))
        when_all(m.segment != "low_risk")(hit("action:late_sms"))
        when_all(m.balance >= 500)(hit("stage:pre_legal"))
        when_all(m.balance >= 5000)(hit("action:legal_referral"))
        when_all((m.dpd >= 30) & (m.balance >= 500))(hit("offer:installment_12"))
        when_all(m.dpd >= 120)(hit("offer:settlement_60"))
        when_all((m.hardship == True) | (m.segment == "high_risk"))(hit("offer:hardship_rate"))  # noqa: E712
        when_all(m.dispute == True)(hit("hold:dispute"))  # noqa: E712
        when_all(m.cease_contact == True)(hit("hold:cease_contact"))  # noqa: E712
        when_all(m.hardship == True)(hit("hold:hardship"))  # noqa: E712
        when_all((m.region == "US-MA") & (m.voice_contacts_7 >= 2))(hit("hold:ma_weekly_calls"))
    return seg_name, rules_name


# -- one variant, in a child process ---------------------------------------------------------------------------


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_variant(variant: str, n: int, seed: int) -> dict[str, Any]:
    from policy_engine.decide.engine import NO_SEGMENT, Engine
    from policy_engine.decide.facts import FactContext

    loaded = load(Path(tempfile.gettempdir()) / "policy_engine_bench")  # fixed path: it is in the decisions
    portfolio = make_portfolio(n, seed)
    data_mb = _maxrss_mb()
    digest = hashlib.sha256()
    extra: dict[str, Any] = {}
    segment_ids = [s.id for s in loaded.policy.segments]
    segment_rules = {s.id: s.when is not None for s in loaded.policy.segments}

    def first_segment(matched: set[str] | frozenset[str]) -> str:
        for sid in segment_ids:
            if not segment_rules[sid] or f"segment:{sid}" in matched:
                return sid
        return NO_SEGMENT

    if variant in ("compiled", "durable"):
        engine = Engine(loaded, backend=variant)
        start = time.perf_counter()
        for account, events in portfolio:
            decision = engine.decide(account, events, AS_OF)
            digest.update(json.dumps(decision.to_dict(), sort_keys=True).encode())
        elapsed = time.perf_counter() - start
    elif variant in ("compiled-match", "durable-match"):
        engine = Engine(loaded, backend=variant.split("-")[0])
        start = time.perf_counter()
        for account, events in portfolio:
            ctx = FactContext(account, events, AS_OF, engine.zone_of(account), engine.grace)
            segs = engine.rules.match(ctx, "segments")
            ctx.segment = first_segment(segs)
            found = engine.rules.match(ctx, "rules")
            digest.update(f"{ctx.segment}|{sorted(found)}\n".encode())
        elapsed = time.perf_counter() - start
    elif variant == "plain-durable":
        from durable.engine import MessageNotHandledException
        from durable.lang import get_host

        engine = Engine(loaded, backend="compiled")  # only for zone_of/grace when precomputing the facts
        start = time.perf_counter()
        facts = []
        for account, events in portfolio:
            ctx = FactContext(account, events, AS_OF, engine.zone_of(account), engine.grace)
            facts.append(plain_durable_facts(ctx))
        extra["facts_seconds"] = round(time.perf_counter() - start, 3)
        hits: list[str] = []
        seg_name, rules_name = plain_durable_rulesets(str(seed), hits)
        host = get_host()
        start = time.perf_counter()
        for i, fact in enumerate(facts):
            fact["id"] = i
            hits.clear()
            with contextlib.suppress(MessageNotHandledException):  # nothing matched
                host.assert_fact(seg_name, fact)
            host.retract_fact(seg_name, fact)
            segment = first_segment(set(hits))
            fact = dict(fact, segment=segment)
            hits.clear()
            with contextlib.suppress(MessageNotHandledException):
                host.assert_fact(rules_name, fact)
            host.retract_fact(rules_name, fact)
            digest.update(f"{segment}|{sorted(set(hits))}\n".encode())
        elapsed = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown variant {variant}")
    peak_mb = _maxrss_mb()
    return {"variant": variant, "accounts": n, "seconds": round(elapsed, 3),
            "accounts_per_s": round(n / elapsed), "peak_mb": round(peak_mb, 1), "data_mb": round(data_mb, 1),
            "digest": digest.hexdigest()[:16], **extra}


# -- the driver ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20_000, help="portfolio size (default 20000)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of " +
                        ", ".join(VARIANTS))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--run-variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_variant:
        print(json.dumps(run_variant(args.run_variant, args.accounts, args.seed)))
        return 0
    results = []
    for variant in args.variants.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--run-variant", variant, "--accounts", str(args.accounts),
             "--seed", str(args.seed)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return done.returncode
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    by = {r["variant"]: r for r in results}
    checks = {}
    if "compiled" in by and "durable" in by:
        checks["decisions identical (compiled vs durable)"] = by["compiled"]["digest"] == by["durable"]["digest"]
    matches = [by[v]["digest"] for v in ("compiled-match", "durable-match", "plain-durable") if v in by]
    if len(matches) > 1:
        checks["matches identical (compiled/durable/plain)"] = len(set(matches)) == 1
    if args.json:
        print(json.dumps({"accounts": args.accounts, "seed": args.seed, "results": results, "checks": checks},
                         indent=2))
    else:
        print(f"{args.accounts} accounts, seed {args.seed}, as of {AS_OF.isoformat()}")
        print(f"{'variant':<16} {'accounts/s':>11} {'seconds':>8} {'peak MB':>8} {'data MB':>8} {'+MB':>6}")
        for r in results:
            print(f"{r['variant']:<16} {r['accounts_per_s']:>11,} {r['seconds']:>8.2f} {r['peak_mb']:>8.1f} "
                  f"{r['data_mb']:>8.1f} {r['peak_mb'] - r['data_mb']:>6.1f}")
        print("peak MB: the child's peak RSS; data MB: its RSS once the portfolio was built; +MB: the difference")
        if "plain-durable" in by:
            print(f"(plain-durable: facts precomputed in {by['plain-durable']['facts_seconds']} s, not timed)")
        for name, ok in checks.items():
            print(f"{name}: {'yes' if ok else 'NO'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
