"""The report as ONE self-contained HTML page: inline CSS, inline SVG, no script, nothing fetched.

A Content-Security-Policy meta tag forbids every external load, so the page looks the same offline.
Every piece of data is escaped (:func:`html.escape`). With two reports (base and candidate), each section
shows them side by side.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from html import escape
from typing import Final

from policy_engine.lifecycle.report.collect import PolicyReport, TimelineRow
from policy_engine.lifecycle.report.svg import bar_chart, color_map, stacked_bars, stacked_columns, timeline_strip

__all__ = ["render_page"]

ROUTINE: Final = frozenset({"cadence", "already_sent"})
CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # nothing is ever fetched

CSS: Final = """
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#0f172a;
background:#f8fafc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 12px;border-bottom:1px solid #e2e8f0;
padding-bottom:6px}h3{font-size:14px;margin:0 0 8px;color:#334155}
header p{margin:0;color:#475569}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin:18px 0}
.cols{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:24px}
.panel{min-width:0}
table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border-bottom:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dt{color:#64748b}
dd{margin:0;overflow-wrap:anywhere}
code{font-size:12px;background:#f1f5f9;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
.muted{color:#64748b}.tag{display:inline-block;background:#fef3c7;border-radius:3px;padding:0 4px;margin:1px}
.send{color:#047857}td.d{white-space:nowrap}svg{max-width:100%;height:auto;display:block}
footer{color:#64748b;font-size:12px;margin-top:24px}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _name(r: PolicyReport) -> str:
    return f"{r.stamp.get('id')} {r.stamp.get('version') or ''}".strip()


def _cols(reports: Sequence[PolicyReport], panel: Callable[[PolicyReport], str]) -> str:
    titled = len(reports) > 1
    parts = []
    for role, r in zip(("base", "candidate"), reports, strict=False):
        head = f"<h3>{_e(role)}: {_e(_name(r))}</h3>" if titled else ""
        parts.append(f"<div class='panel'>{head}{panel(r)}</div>")
    return f"<div class='cols' style='--n:{len(reports)}'>{''.join(parts)}</div>"


def _section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{_e(anchor)}'><h2>{_e(title)}</h2>{body}</section>"


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[bool] = ()) -> str:
    def cell(tag: str, i: int, v: object) -> str:
        cls = " class='n'" if i < len(numeric) and numeric[i] else ""
        return f"<{tag}{cls}>{_e(v)}</{tag}>"

    out = ["<table><thead><tr>", *(cell("th", i, h) for i, h in enumerate(head)), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    if not rows:
        out.append(f"<tr><td colspan='{len(head)}' class='muted'>none</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _meta_value(key: str, value: str) -> str:
    return f"<code>{_e(value)}</code>" if key == "digest" else _e(value)


def _policy_panel(r: PolicyReport) -> str:
    labels = (("title", "title"), ("id", "id"), ("version", "version"), ("jurisdiction", "jurisdiction"),
              ("owner", "owner"), ("extends", "extends"), ("time zone", "timezone"), ("currency", "currency"),
              ("locale", "locale"), ("file", "file"), ("resolved from", "chain"), ("digest", "digest"))
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_meta_value(key, r.meta[key])}</dd>"
                    for label, key in labels if key in r.meta)
    desc = f"<p>{_e(r.meta['description'])}</p>" if "description" in r.meta else ""
    return f"{desc}<dl>{items}</dl>"


def _portfolio_panel(r: PolicyReport, segment_colors: dict[str, str]) -> str:
    stages = [s for s in r.stage_order if any(k[0] == s for k in r.portfolio)]
    segments = [s for s in r.segment_order if any(k[1] == s for k in r.portfolio)]
    rows = [(stage, {seg: r.portfolio[(stage, seg)] for seg in segments}) for stage in stages]
    chart = stacked_bars(rows, segment_colors, f"accounts per stage and segment, {_name(r)}")
    table = _table(["stage", *segments, "total"],
                   [[stage, *(parts[s] for s in segments), sum(parts.values())] for stage, parts in rows],
                   [False, *([True] * (len(segments) + 1))])
    extra = _table(["holds (accounts)", "count"], sorted(r.holds.items()), [False, True])
    if r.variants:
        extra += _table(["variant", "accounts"], sorted(r.variants.items()), [False, True])
    return chart + table + extra


def _days(reports: Sequence[PolicyReport]) -> list[date]:
    return sorted({d for r in reports for d in r.per_day})


def _channels_panel(r: PolicyReport, days: list[date], colors: dict[str, str]) -> str:
    channels = sorted(r.channels)
    series = {ch: [r.per_day.get(d, Counter())[ch] for d in days] for ch in channels}
    labels = [d.strftime("%m-%d") for d in days]
    chart = stacked_columns(labels, series, colors, f"planned actions per channel per day, {_name(r)}")
    totals = _table(["channel", "planned actions"], sorted(r.channels.items()), [False, True])
    return chart + totals + f"<p>Legal referrals: <b>{r.legal_referrals}</b></p>"


def _suppressions_panel(r: PolicyReport) -> str:
    items = sorted(r.suppressed.items(), key=lambda kv: (-kv[1], kv[0]))
    return bar_chart(items, f"suppressions by reason, {_name(r)}", color="#f59e0b") + \
        _table(["reason", "suppressed actions"], items, [False, True])


def _offers_panel(r: PolicyReport) -> str:
    offers = sorted(set(r.offers_made) | set(r.offers_eligible))
    rows = [(o, r.offers_eligible[o], r.offers_made[o]) for o in offers]
    made = [(o, r.offers_made[o]) for o in offers if r.offers_made[o]]
    return bar_chart(made, f"offers made, {_name(r)}", color="#10b981") + \
        _table(["offer", "eligible accounts (first day)", "actions carrying it"], rows, [False, True, True])


def _notable(rows: Sequence[TimelineRow]) -> list[TimelineRow]:
    """The rows where something happens or changes (routine cadence suppressions do not count)."""
    out: list[TimelineRow] = []
    previous: tuple[object, ...] | None = None
    for row in rows:
        notable = tuple((a, r) for a, r, _ in row.suppressed if r not in ROUTINE)
        key = (row.stage, row.segment, row.holds, notable)
        if key != previous or row.actions or row.events:
            out.append(row)
        previous = key
    return out


def _action_html(action: str, channel: str, at: str, outcome: str | None, offer: str | None) -> str:
    text = f"<span class='send'>{_e(action)}</span> via {_e(channel)} {_e(at)}"
    if outcome:
        text += f" → {_e(outcome)}"
    if offer:
        text += f" <span class='tag'>offer {_e(offer)}</span>"
    return text


def _timeline_panel(rows: list[TimelineRow], colors: dict[str, str], label: str) -> str:
    lanes = sorted({a[1] for row in rows for a in row.actions})
    marks: Counter[tuple[int, str]] = Counter()
    for i, row in enumerate(rows):
        for a in row.actions:
            marks[(i, a[1])] += 1
    strip = timeline_strip([row.date.strftime("%m-%d") for row in rows], lanes, marks,
                           [bool(row.holds) for row in rows], colors, label) if len(rows) > 1 else ""
    body = []
    for row in _notable(rows):
        acts = "<br>".join(_action_html(*a) for a in row.actions)
        sup = "<br>".join(f"{_e(a)}: <span class='tag'>{_e(reason)}</span> "
                          f"<span class='muted'>{_e(detail)}</span>"
                          for a, reason, detail in row.suppressed if reason not in ROUTINE)
        stage = _e(row.stage or "-")
        if row.segment:
            stage += f" <span class='muted'>({_e(row.segment)})</span>"
        holds = "".join(f" <span class='tag'>hold {_e(h)}</span>" for h in row.holds)
        events = "<br>".join(_e(x) for x in row.events)
        body.append(f"<tr><td class='n'>{row.day + 1}</td><td class='d'>{_e(row.date.isoformat())}</td>"
                    f"<td class='n'>{row.dpd}</td><td>{stage}{holds}</td><td>{events}</td>"
                    f"<td>{acts}</td><td>{sup}</td></tr>")
    table = ("<table><thead><tr><th class='n'>day</th><th>date</th><th class='n'>dpd</th><th>stage</th>"
             "<th>history</th><th>actions</th><th>not sent</th></tr></thead><tbody>"
             + "".join(body) + "</tbody></table>")
    return strip + table


def _account_panel(r: PolicyReport, account_id: str, colors: dict[str, str]) -> str:
    return _timeline_panel(r.timelines[account_id], colors, f"timeline of {account_id}, {_name(r)}")


def _timelines(reports: Sequence[PolicyReport], colors: dict[str, str]) -> str:
    parts = ["<p class='muted'>A deterministic sample: the accounts with the smallest SHA-256 of their id. "
             "Rows show the days something happens; routine cadence suppressions are left out.</p>"]
    for account_id in reports[0].timelines:
        panels = _cols(reports, functools.partial(_account_panel, account_id=account_id, colors=colors))
        parts.append(f"<h3>account {_e(account_id)}</h3>{panels}")
    return "".join(parts)


def render_page(reports: Sequence[PolicyReport]) -> str:
    """The complete HTML document for one policy, or a base and a candidate side by side."""
    if not reports:
        raise ValueError("render_page needs at least one report")
    first = reports[0]
    days = _days(reports)
    channel_colors = color_map([ch for r in reports for ch in r.channels])
    segment_colors = color_map([seg for r in reports for _, seg in r.portfolio])
    title = " vs ".join(_name(r) for r in reports)
    span = (f"simulated for {first.days} days from {days[0].isoformat()} (daily at "
            f"{_e(first.as_of.strftime('%H:%M'))} local time)" if first.days and days else
            f"decided at {_e(first.as_of.isoformat())}")
    sections = [
        _section("policy", "Policy", _cols(reports, _policy_panel)),
        _section("portfolio", "Portfolio by stage and segment" + (" (first day)" if first.days else ""),
                 _cols(reports, lambda r: _portfolio_panel(r, segment_colors))),
        _section("channels", "Planned actions per channel per day",
                 _cols(reports, lambda r: _channels_panel(r, days, channel_colors))),
        _section("suppressions", "Suppressions by reason", _cols(reports, _suppressions_panel)),
        _section("offers", "Offers", _cols(reports, _offers_panel)),
        _section("timelines", "Timelines of sampled accounts", _timelines(reports, channel_colors)),
    ]
    digests = " · ".join(f"{_e(_name(r))} {_e(r.stamp.get('digest'))}" for r in reports)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            "<link rel='icon' href='data:,'>"
            f"<title>Policy report: {_e(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>Collection policy report: {_e(title)}</h1>"
            f"<p>{first.accounts} accounts, {span}.</p></header>"
            + "".join(sections)
            + f"<footer>policy-engine report · {digests}</footer></body></html>\n")
