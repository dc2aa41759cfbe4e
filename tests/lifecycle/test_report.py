"""`policy-engine report`: one self-contained, escaped, deterministic HTML file, seen in headless Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image  # Pillow comes with fpdf2, a core dependency

from policy_engine.lifecycle.report.collect import sample_key
from policy_engine.lifecycle.report.svg import nice_scale

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Workspace

CHROMIUM = Path("/usr/bin/chromium")
AS_OF = "2026-03-02T09:00:00+08:00"
EVIL = '<script>alert("x")</script>&'
POLICY = """
[policy]
id = "{id}"
version = "2026.03"
title = "Report <i>bank</i> & \\"co\\""
owner = "Compliance"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[[variants]]
id = "champion"
weight = 50
[[variants]]
id = "challenger"
weight = 50

[[segments]]
id = "low_risk"
when = { credit_score = { gte = 700 } }
[[segments]]
id = "standard"

[[offers]]
id = "installment_24"
kind = "installment"
months = 24
when = { balance = { gte = 3000 } }

[[notices]]
id = "arrears_notice"

[[stages]]
id = "early"
dpd = { from = 1, to = 29 }
  [[stages.actions]]
  id = "sms"
  channel = "sms"
  template = "t"
  every_days = {every}
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
  every_days = 2
  segments = ["standard"]

[[stages]]
id = "mid"
dpd = { from = 30, to = 89 }
  [[stages.actions]]
  id = "letter"
  channel = "letter"
  template = "t"
  notice = "arrears_notice"
  once = true
  [[stages.actions]]
  id = "agent"
  channel = "agent"
  template = "t"
  offer = "installment_24"
  every_days = 7
  variants = ["challenger"]
"""


def accounts() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(14):
        rows.append({"account_id": EVIL if i == 0 else f"R{i:02d}", "balance": 1000 + 500 * i,
                     "delinquent_since": "2026-02-20" if i % 2 else "2026-01-10",
                     "credit_score": 720 if i % 3 == 0 else 600,
                     "contact": {"phone": "+8613800000000", "address": "Shanghai"},
                     "flags": {"dispute": i == 5}})
    return rows


def write_inputs(lc: Workspace) -> dict[str, Path]:
    return {"base": lc.policy("base.toml", POLICY.replace("{id}", "base").replace("{every}", "3")),
            "candidate": lc.policy("candidate.toml", POLICY.replace("{id}", "cand").replace("{every}", "6")),
            "accounts": lc.jsonl("accounts.jsonl", accounts()),
            "history": lc.jsonl("history.jsonl", [
                {"account_id": "R01", "type": "payment", "amount": 99999, "at": "2026-03-06T08:00:00+08:00"},
                {"account_id": "R03", "type": "dispute_opened", "at": "2026-03-04T08:00:00+08:00"}])}


def report(lc: Workspace, name: str, *extra: str | Path) -> str:
    files = write_inputs(lc)
    out = lc.root / name
    lc.cli("report", "--policy", files["base"], "--accounts", files["accounts"], "--history",
           files["history"], "--as-of", AS_OF, "--output", out, *extra)
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained_and_escaped(lc: Workspace) -> None:
    files = write_inputs(lc)
    html = report(lc, "report.html", "--days", "10", "--candidate", files["candidate"], "--sample", "20")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for section in ("policy", "portfolio", "channels", "suppressions", "offers", "timelines"):
        assert f"<section id='{section}'>" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "<script" not in html.lower() and " src=" not in html and "url(" not in html
    assert set(re.findall(r"https?://[^'\" >]+", html)) == {"http://www.w3.org/2000/svg"}
    assert html.count("<svg") >= 10
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert "Report &lt;i&gt;bank&lt;/i&gt; &amp; &quot;co&quot;" in html and "<i>bank" not in html
    assert "base: base 2026.03" in html and "candidate: cand 2026.03" in html
    assert html.count("sha256:") >= 4  # both digests, in the policy panels and the footer
    assert "installment_24" in html and "challenger" in html and "low_risk" in html
    assert "hold dispute" in html and "payment 99999" in html and "dispute_opened" in html
    assert "simulated for 10 days from 2026-03-02" in html


def test_report_is_deterministic_and_samples_by_hash(lc: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796000000")  # the generation time the page states
    first = report(lc, "a.html", "--days", "5", "--sample", "3")
    assert report(lc, "b.html", "--days", "5", "--sample", "3") == first
    ids = [a["account_id"] for a in accounts()]
    expected = sorted(ids, key=sample_key)[:3]
    shown = re.findall(r"<h3>account ([^<]+)</h3>", first)
    assert shown == [i.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
                     for i in expected]
    single = report(lc, "now.html")
    assert "decided at 2026-03-02T09:00:00+08:00" in single and "candidate:" not in single


def test_nice_scale() -> None:
    assert nice_scale(0) == (1, 1) and nice_scale(3) == (3, 1) and nice_scale(17) == (20, 5)
    assert nice_scale(230) == (300, 100) and nice_scale(200) == (200, 50)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; the test skips, saying what to install, when it is missing (tests install nothing)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return CHROMIUM


def screenshot(browser: Path, page: Path, png: Path, profile: Path) -> str:
    """Render ``page`` headless into ``png``; return Chromium's log (console messages included)."""
    cmd = [str(browser), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,2000",
           "--enable-logging=stderr", "--v=0", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout + done.stderr


def test_report_in_chromium(lc: Workspace, chromium: Path) -> None:
    files = write_inputs(lc)
    page = lc.root / "report.html"
    lc.cli("report", "--policy", files["base"], "--candidate", files["candidate"], "--accounts",
           files["accounts"], "--history", files["history"], "--as-of", AS_OF, "--days", "14",
           "--output", page)

    # A control page proves that console errors do reach the captured log.
    control = lc.root / "control.html"
    control.write_text("<!DOCTYPE html><script>console.error('lc-control-marker')</script>", encoding="utf-8")
    control_log = screenshot(chromium, control, lc.root / "control.png", lc.root / "profile-control")
    assert "lc-control-marker" in control_log, control_log[-2000:]

    png = lc.root / "report.png"
    log = screenshot(chromium, page, png, lc.root / "profile")
    assert png.is_file(), log[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    with Image.open(png) as image:
        assert image.size == (1280, 2000)
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colors) > 50  # text, charts and panels, not a blank page
    problems = [line for line in log.splitlines()
                if ("CONSOLE" in line or ":ERROR:" in line) and "report.html" in line]
    assert problems == [], problems
