"""`policy-engine report`: one self-contained, escaped, deterministic HTML file, seen in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image  # Pillow comes with fpdf2, a core dependency

from policy_engine.lifecycle.report.collect import sample_key
from policy_engine.lifecycle.report.svg import nice_scale
from tests.policy.helpers import REPO

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


# ---------------------------------------------------------------------- the page a reviewer signs
SCOPED = """
[policy]
id = "scoped"
version = "1"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]
applies_to = { region = "CN" }

[[notices]]
id = "final_warning"

[[stages]]
id = "collect"
dpd = { from = 1, to = 92 }
  [[stages.actions]]
  id = "warning_letter"
  channel = "letter"
  template = "t"
  notice = "final_warning"
  once = true

[[stages]]
id = "legal"
dpd = { from = 93 }
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
  [[stages.actions]]
  id = "referral"
  channel = "legal"
  template = "t"
  requires = { notice = "final_warning", delivered_days_ago = { gte = 30 } }
"""


def scoped_inputs(lc: Workspace) -> dict[str, Path]:
    rows = [{"account_id": "IN-SCOPE", "region": "CN", "balance": 5000, "delinquent_since": "2025-11-01",
             "contact": {"phone": "+8613800000001", "address": "Shanghai"}, "consent": {"voice": True}},
            {"account_id": "ELSEWHERE-1", "region": "US", "balance": 100, "delinquent_since": "2026-01-01"},
            {"account_id": "ELSEWHERE-2", "region": "US", "balance": 100, "delinquent_since": "2026-01-01"}]
    history = [{"account_id": "IN-SCOPE", "type": "contact", "channel": "letter", "action": "warning_letter",
                "notice": "final_warning", "outcome": "delivered", "at": "2026-01-05T10:00:00+08:00"}]
    history += [{"account_id": "IN-SCOPE", "type": "contact", "channel": "voice", "action": "call",
                 "outcome": "no_answer", "at": f"2026-02-{day:02d}T10:00:00+08:00"} for day in (24, 26, 28)]
    accounts = lc.jsonl("scoped.jsonl", rows)
    with accounts.open("a", encoding="utf-8") as stream:
        stream.write('{"account_id": "BROKEN"\n')
    return {"policy": lc.policy("scoped.toml", SCOPED), "accounts": accounts,
            "history": lc.jsonl("scoped_history.jsonl", history)}


def scoped_report(lc: Workspace, monkeypatch: pytest.MonkeyPatch, *extra: str | Path) -> str:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796000000")
    files = scoped_inputs(lc)
    out = lc.root / "scoped.html"
    lc.cli("report", "--policy", files["policy"], "--accounts", files["accounts"], "--history", files["history"],
           "--as-of", AS_OF, "--output", out, *extra)
    return out.read_text(encoding="utf-8")


def section(html: str, anchor: str) -> str:
    return html.split(f"<section id='{anchor}'>", 1)[1].split("</section>", 1)[0]


def test_out_of_scope_accounts_are_one_count_and_nowhere_else(lc: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    html = scoped_report(lc, monkeypatch, "--days", "3", "--sample", "10")
    assert "1 account in scope (2 more accounts outside the policy's scope, counted nowhere else)" in html
    assert "ELSEWHERE" not in html and "(out of scope)" not in html
    assert "2 accounts outside the policy's scope" in section(html, "portfolio")
    assert re.findall(r"<h3>account ([^<]+)</h3>", section(html, "timelines")) == ["IN-SCOPE"]


def test_how_the_report_was_made(lc: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from policy_engine import __version__

    html = scoped_report(lc, monkeypatch, "--days", "3")
    about = section(html, "about")
    assert f"policy-engine {__version__} (rule backend columnar)" in about  # report's default backend
    assert "2026-11-30T00:53:20+00:00" in about  # SOURCE_DATE_EPOCH 1796000000
    for name in ("scoped.toml", "scoped.jsonl", "scoped_history.jsonl"):
        digest = "sha256:" + hashlib.sha256((lc.root / name).read_bytes()).hexdigest()
        assert f"{lc.root / name}</td><td class='n'>{(lc.root / name).stat().st_size}</td><td>{digest}" in about
    assert "<b>1 input row rejected</b>" in about and "scoped.jsonl:4: " in about
    assert "Calls are assumed not answered (<code>no_answer</code>) unless the history records the call" in about


def test_the_limits_in_force_with_who_set_them(lc: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    limits = section(scoped_report(lc, monkeypatch), "limits")
    baseline = (REPO / "policies" / "baselines" / "cn.toml").read_text(encoding="utf-8").splitlines()
    hours_line = next(number for number, line in enumerate(baseline, 1) if line.startswith("contact_hours"))
    assert f"<tr><td>contact hours</td><td>08:00–22:00</td><td class='muted'>baseline cn, cn.toml:{hours_line}" \
           in limits
    assert "<th colspan='3'>legal safeguards</th>" in limits and "<td>legal: min dpd</td><td>93</td>" in limits
    assert ("<td>before action referral</td><td>notice &#x27;final_warning&#x27; served at least 30 days earlier"
            in limits)


def test_contact_intensity_and_legal_referrals(lc: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    html = scoped_report(lc, monkeypatch)
    intensity = section(html, "intensity")
    # three unanswered calls in the history (02-24, 02-26, 02-28) and today's call: 4 calls in 7 days
    assert ("<tr><td>call</td><td class='n'>1</td><td class='n'>4</td><td class='n'>4</td><td class='n'>4</td>"
            "<td>IN-SCOPE</td></tr>") in intensity
    legal = section(html, "legal")
    assert "<b>1 legal referral</b> for 1 account." in legal
    assert "<td>2026-03-02</td><td>IN-SCOPE</td><td>referral</td><td>legal</td><td>legal</td>" in legal


def test_side_by_side_charts_share_their_scale_and_show_the_change(lc: Workspace) -> None:
    files = write_inputs(lc)
    html = report(lc, "pair.html", "--days", "7", "--candidate", files["candidate"])
    channels = section(html, "channels")
    axes = [re.findall(r"text-anchor='end' fill='#94a3b8'>(\d+)</text>", svg)
            for svg in re.findall(r"<svg.*?</svg>", channels)]
    assert len(axes) == 2 and axes[0] == axes[1] and axes[0][-1] != "0"
    assert "<h3>Change, candidate against base</h3>" in channels
    base_sms = int(re.findall(r"<td>sms</td><td class='n'>(\d+)</td>", channels)[0])
    cand_sms = int(re.findall(r"<td>sms</td><td class='n'>(\d+)</td>", channels)[1])
    sign = "+" if cand_sms > base_sms else "−"
    change = f"{sign}{abs(cand_sms - base_sms)}" if cand_sms != base_sms else "0"
    assert f"<td>sms</td><td class='n'>{base_sms}</td><td class='n'>{cand_sms}</td><td class='n'>" in channels
    assert change in channels.split(f"<td class='n'>{base_sms}</td><td class='n'>{cand_sms}</td>", 1)[1][:60]


def test_the_page_prints(lc: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    html = scoped_report(lc, monkeypatch)
    assert "@media print{" in html and "@page{size:A4" in html and "break-inside:avoid-page" in html


PROBE = ("<script>window.addEventListener('load',()=>{const d=document.documentElement;"
         "document.body.dataset.probe=JSON.stringify({scroll:d.scrollWidth,client:d.clientWidth,"
         "sections:document.querySelectorAll('section').length});});</script>")


@pytest.mark.parametrize("width", [1280, 500])
def test_the_report_in_chromium_never_scrolls_sideways(lc: Workspace, chromium: Path, width: int) -> None:
    """At a desktop width and at a phone's (Chromium's narrowest window), the page is as wide as the window.

    A copy of the page gets a measuring script (the report itself carries none, and its policy forbids one).
    """
    files = write_inputs(lc)
    page = lc.root / "report.html"
    lc.cli("report", "--policy", files["base"], "--candidate", files["candidate"], "--accounts",
           files["accounts"], "--history", files["history"], "--as-of", AS_OF, "--days", "14", "--output", page)
    probe = lc.root / "probe.html"
    html = re.sub(r"<meta http-equiv='Content-Security-Policy'[^>]*>", "", page.read_text(encoding="utf-8"))
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run([str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", f"--user-data-dir={lc.root / 'profile'}",
                           f"--window-size={width},1000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, done.stderr[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert measured["sections"] == 10
    assert measured["scroll"] <= measured["client"], measured


def test_the_report_prints_to_pdf_in_chromium(lc: Workspace, chromium: Path) -> None:
    files = write_inputs(lc)
    page = lc.root / "report.html"
    lc.cli("report", "--policy", files["base"], "--accounts", files["accounts"], "--as-of", AS_OF, "--output", page)
    pdf = lc.root / "report.pdf"
    subprocess.run([str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    f"--user-data-dir={lc.root / 'profile-pdf'}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                    page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    from pypdf import PdfReader

    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 2
    width, height = (float(value) for value in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (595, 842)  # A4 in points, from the page's @page rule
    text = " ".join(page_.extract_text() for page_ in reader.pages)
    assert "Limits in force" in text and "How this report was made" in text
