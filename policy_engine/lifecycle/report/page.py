"""The report as ONE self-contained HTML page: inline CSS, inline SVG, no script, nothing fetched.

A Content-Security-Policy meta tag forbids every external load, so the page looks the same offline.
Every piece of data is escaped (:func:`html.escape`) after its control characters are made visible.
With two reports (base and candidate), each section shows them side by side, their charts on one
shared scale, followed by a table of the differences. The page reads on a phone (panels stack below
800 px) and prints on A4 (print styles: no backgrounds, sections kept whole where they fit).

Sections, in the order a reviewer reads them: how the report was made (engine, time, input files and
their digests, rejected rows, the assumptions of a simulation), the policy, the limits it keeps with the
file and line that set each, the portfolio, planned actions per day, contact intensity per customer,
suppressions, offers, legal referrals, and the timelines of a sample of accounts.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Final

from policy_engine.lifecycle.report.collect import ALL_KINDS, WINDOW_DAYS, PolicyReport, TimelineRow
from policy_engine.lifecycle.report.limits import effective_limits
from policy_engine.lifecycle.report.provenance import Provenance
from policy_engine.lifecycle.report.svg import bar_chart, color_map, stacked_bars, stacked_columns, timeline_strip
from policy_engine.lifecycle.untrusted import printable

__all__ = ["LEGAL_SHOWN", "render_page"]

ROUTINE: Final = frozenset({"cadence", "already_sent"})
CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # nothing is ever fetched
LEGAL_SHOWN: Final = 200
"""Legal referrals listed one by one (all are counted)."""
KIND_ORDER: Final = ("call", "text", "email", "letter", ALL_KINDS)

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
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border-bottom:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f1f5f9;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dt{color:#64748b}
dd{margin:0;overflow-wrap:anywhere}
code{font-size:12px;background:#f1f5f9;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
.muted{color:#64748b}.tag{display:inline-block;background:#fef3c7;border-radius:3px;padding:0 4px;margin:1px}
.up{color:#b91c1c}.down{color:#047857}
.send{color:#047857}td.d{white-space:nowrap}svg{max-width:100%;height:auto;display:block}
footer{color:#64748b;font-size:12px;margin-top:24px;overflow-wrap:anywhere}
p,li,h1,h2,h3{overflow-wrap:break-word}
@media (max-width:800px){body{padding:12px}.cols{grid-template-columns:minmax(0,1fr)}section{padding:12px}}
@page{size:A4;margin:14mm}
@media print{body{background:#fff;padding:0;font-size:11px;color:#000}
section{border:none;border-radius:0;padding:0;margin:10px 0;break-inside:avoid-page}
th{background:#eee}.scroll{overflow:visible}tr{break-inside:avoid}h2{break-after:avoid}
.tag,code{background:none;border:1px solid #ccc}}
"""


def _e(value: object) -> str:
    return escape(printable(value), quote=True)


def _name(report: PolicyReport) -> str:
    return f"{report.stamp.get('id')} {report.stamp.get('version') or ''}".strip()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _cols(reports: Sequence[PolicyReport], panel: Callable[[PolicyReport], str]) -> str:
    titled = len(reports) > 1
    parts = []
    for role, report in zip(("base", "candidate"), reports, strict=False):
        head = f"<h3>{_e(role)}: {_e(_name(report))}</h3>" if titled else ""
        parts.append(f"<div class='panel'>{head}{panel(report)}</div>")
    return f"<div class='cols' style='--n:{len(reports)}'>{''.join(parts)}</div>"


def _section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{_e(anchor)}'><h2>{_e(title)}</h2>{body}</section>"


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[bool] = ()) -> str:
    def cell(tag: str, index: int, value: object) -> str:
        css = " class='n'" if index < len(numeric) and numeric[index] else ""
        return f"<{tag}{css}>{_e(value)}</{tag}>"

    out = ["<div class='scroll'><table><thead><tr>", *(cell("th", i, h) for i, h in enumerate(head)),
           "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(cell("td", i, value) for i, value in enumerate(row)) + "</tr>")
    if not rows:
        out.append(f"<tr><td colspan='{len(head)}' class='muted'>none</td></tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _signed(change: int) -> str:
    if change > 0:
        return f"<span class='up'>+{change}</span>"
    if change < 0:
        return f"<span class='down'>−{-change}</span>"
    return "<span class='muted'>0</span>"


def _comparison(what: str, base: Counter[str], candidate: Counter[str], order: Sequence[str] | None = None) -> str:
    """A table of base, candidate and the change for each name (only with two reports)."""
    names = list(order) if order is not None else sorted(set(base) | set(candidate))
    rows = "".join(f"<tr><td>{_e(name)}</td><td class='n'>{base[name]}</td><td class='n'>{candidate[name]}</td>"
                   f"<td class='n'>{_signed(candidate[name] - base[name])}</td></tr>"
                   for name in names if base[name] or candidate[name])
    total = f"<tr><th>total</th><th class='n'>{sum(base.values())}</th><th class='n'>{sum(candidate.values())}</th>" \
            f"<th class='n'>{_signed(sum(candidate.values()) - sum(base.values()))}</th></tr>"
    return (f"<h3>Change, candidate against base</h3><div class='scroll'><table><thead><tr><th>{_e(what)}</th>"
            "<th class='n'>base</th><th class='n'>candidate</th><th class='n'>change</th></tr></thead><tbody>"
            + (rows or "<tr><td colspan='4' class='muted'>none</td></tr>") + total + "</tbody></table></div>")


def _meta_value(key: str, value: str) -> str:
    return f"<code>{_e(value)}</code>" if key == "digest" else _e(value)


def _policy_panel(report: PolicyReport) -> str:
    labels = (("title", "title"), ("id", "id"), ("version", "version"), ("jurisdiction", "jurisdiction"),
              ("owner", "owner"), ("extends", "extends"), ("time zone", "timezone"), ("currency", "currency"),
              ("locale", "locale"), ("file", "file"), ("resolved from", "chain"), ("digest", "digest"))
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_meta_value(key, report.meta[key])}</dd>"
                    for label, key in labels if key in report.meta)
    description = f"<p>{_e(report.meta['description'])}</p>" if "description" in report.meta else ""
    return f"{description}<dl>{items}</dl>"


def _limits_panel(report: PolicyReport) -> str:
    if report.engine is None:
        return "<p class='muted'>not available</p>"
    body = []
    group = None
    for limit in effective_limits(report.engine.loaded):
        if limit.group != group:
            group = limit.group
            body.append(f"<tr><th colspan='3'>{_e(group)}</th></tr>")
        body.append(f"<tr><td>{_e(limit.rule)}</td><td>{_e(limit.value)}</td>"
                    f"<td class='muted'>{_e(limit.source)}</td></tr>")
    return ("<p class='muted'>What the engine enforces: the tightest of the policy and the baselines it extends, "
            "each with the file and line that set it.</p><div class='scroll'><table><thead><tr><th>rule</th>"
            "<th>in force</th><th>set by</th></tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def _provenance(provenance: Provenance | None, first: PolicyReport, days: list[date]) -> str:
    if provenance is None:
        return "<p class='muted'>Made by the library without input-file details.</p>" + _assumptions(first, days)
    items = [("engine", f"policy-engine {provenance.engine_version} (rule backend {provenance.backend})"),
             ("generated", provenance.generated_at.isoformat()),
             ("decided as of", first.as_of.isoformat())]
    facts = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in items)
    files = _table(["input", "file", "bytes", "SHA-256"],
                   [(item.role, item.path, "-" if item.size is None else item.size, item.sha256 or "-")
                    for item in provenance.inputs], [False, False, True, False])
    if provenance.rejected:
        examples = "".join(f"<li><code>{_e(line)}</code></li>" for line in provenance.rejected_examples)
        shown = f"; the first {len(provenance.rejected_examples)}:" if provenance.rejected_examples else ""
        rejected = (f"<p><b>{_plural(provenance.rejected, 'input row')} rejected</b> and left out of every number "
                    f"below{shown}</p><ul>{examples}</ul>")
    else:
        rejected = "<p>No input row was rejected.</p>"
    notes = "".join(f"<p class='muted'>{_e(note)}</p>" for note in provenance.notes)
    return f"<dl>{facts}</dl>{files}{rejected}{_assumptions(first, days)}{notes}"


def _assumptions(first: PolicyReport, days: list[date]) -> str:
    if first.days and days:
        return ("<h3>Assumptions of the simulation</h3><ul>"
                f"<li>Each account is decided once a day for {_plural(first.days, 'day')} from {_e(days[0])}, at "
                f"{_e(first.as_of.strftime('%H:%M'))} local time.</li>"
                "<li>Every planned action is assumed delivered at its send time and becomes part of the history "
                "for the next day.</li>"
                "<li>Calls are assumed not answered (<code>no_answer</code>) unless the history records the call "
                "and its outcome; other channels are assumed delivered.</li>"
                "<li>History events take effect when their time comes; payments dated in the span lower the "
                "balance and can cure the account.</li>"
                "<li>Nothing else happens: no new consent, dispute or promise unless the history says so.</li></ul>")
    return ("<h3>Assumptions</h3><ul><li>Each account is decided once, at the time above; nothing is sent and "
            "nothing is simulated.</li></ul>")


def _portfolio_panel(report: PolicyReport, segment_colors: dict[str, str], top: int) -> str:
    stages = [stage for stage in report.stage_order if any(key[0] == stage for key in report.portfolio)]
    segments = [segment for segment in report.segment_order if any(key[1] == segment for key in report.portfolio)]
    rows = [(stage, {segment: report.portfolio[(stage, segment)] for segment in segments}) for stage in stages]
    chart = stacked_bars(rows, segment_colors, f"accounts per stage and segment, {_name(report)}", scale_top=top)
    table = _table(["stage", *segments, "total"],
                   [[stage, *(parts[segment] for segment in segments), sum(parts.values())] for stage, parts in rows],
                   [False, *([True] * (len(segments) + 1))])
    extra = _table(["holds (accounts)", "count"], sorted(report.holds.items()), [False, True])
    if report.variants:
        extra += _table(["variant", "accounts"], sorted(report.variants.items()), [False, True])
    scope = (f"<p class='muted'>{_plural(report.out_of_scope, 'account')} outside the policy's scope "
             "(<code>policy.applies_to</code>) are counted here only.</p>") if report.out_of_scope else ""
    return scope + chart + table + extra


def _days(reports: Sequence[PolicyReport]) -> list[date]:
    return sorted({day for report in reports for day in report.per_day})


def _channels_panel(report: PolicyReport, days: list[date], colors: dict[str, str], top: int) -> str:
    channels = sorted(report.channels)
    series = {channel: [report.per_day.get(day, Counter())[channel] for day in days] for channel in channels}
    labels = [day.strftime("%m-%d") for day in days]
    chart = stacked_columns(labels, series, colors, f"planned actions per channel per day, {_name(report)}",
                            scale_top=top)
    totals = _table(["channel", "planned actions"], sorted(report.channels.items()), [False, True])
    return chart + totals


def _intensity_panel(report: PolicyReport, top: int) -> str:
    rows = []
    for kind in [kind for kind in KIND_ORDER if kind in report.intensity]:
        counts = report.intensity[kind]
        customers = sum(counts.values())
        ordered = sorted(value for value, many in counts.items() for _ in range(many))
        median = ordered[len(ordered) // 2]
        p95 = ordered[min(len(ordered) - 1, (95 * len(ordered)) // 100)]
        most, who = report.most_contacted.get(kind, (0, ""))
        rows.append((kind, customers, median, p95, most, who))
    table = _table(["channel kind", "customers contacted", "median", "95th percentile", "highest", "account"],
                   rows, [False, True, True, True, True, False])
    every = report.intensity.get(ALL_KINDS, Counter())
    chart = bar_chart([(f"{value} in {WINDOW_DAYS} days", every[value]) for value in sorted(every)],
                      f"customers by their most contacts in any {WINDOW_DAYS} days, {_name(report)}", color="#8b5cf6",
                      scale_top=top)
    return table + chart


def _suppressions_panel(report: PolicyReport, top: int) -> str:
    items = sorted(report.suppressed.items(), key=lambda pair: (-pair[1], pair[0]))
    return bar_chart(items, f"suppressions by reason, {_name(report)}", color="#f59e0b", scale_top=top) + \
        _table(["reason", "suppressed actions"], items, [False, True])


def _offers_panel(report: PolicyReport, top: int) -> str:
    offers = sorted(set(report.offers_made) | set(report.offers_eligible))
    rows = [(offer, report.offers_eligible[offer], report.offers_made[offer]) for offer in offers]
    made = [(offer, report.offers_made[offer]) for offer in offers if report.offers_made[offer]]
    return bar_chart(made, f"offers made, {_name(report)}", color="#10b981", scale_top=top) + \
        _table(["offer", "eligible accounts (first day)", "actions carrying it"], rows, [False, True, True])


def _legal_panel(report: PolicyReport) -> str:
    referrals = sorted(report.legal, key=lambda item: (item.date, item.account_id, item.action))
    rows = [(item.date.isoformat(), item.account_id, item.action, item.channel, item.stage or "-", item.dpd)
            for item in referrals[:LEGAL_SHOWN]]
    more = (f"<p class='muted'>... and {_plural(len(referrals) - LEGAL_SHOWN, 'more referral')} (all are counted)"
            "</p>") if len(referrals) > LEGAL_SHOWN else ""
    accounts = len({item.account_id for item in referrals})
    return (f"<p><b>{_plural(len(referrals), 'legal referral')}</b> for {_plural(accounts, 'account')}.</p>"
            + _table(["date", "account", "action", "channel", "stage", "dpd"], rows,
                     [False, False, False, False, False, True]) + more)


def _notable(rows: Sequence[TimelineRow]) -> list[TimelineRow]:
    """The rows where something happens or changes (routine cadence suppressions do not count)."""
    out: list[TimelineRow] = []
    previous: tuple[object, ...] | None = None
    for row in rows:
        notable = tuple((action, reason) for action, reason, _ in row.suppressed if reason not in ROUTINE)
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
    lanes = sorted({action[1] for row in rows for action in row.actions})
    marks: Counter[tuple[int, str]] = Counter()
    for index, row in enumerate(rows):
        for action in row.actions:
            marks[(index, action[1])] += 1
    strip = timeline_strip([row.date.strftime("%m-%d") for row in rows], lanes, marks,
                           [bool(row.holds) for row in rows], colors, label) if len(rows) > 1 else ""
    body = []
    for row in _notable(rows):
        actions = "<br>".join(_action_html(*action) for action in row.actions)
        stopped = "<br>".join(f"{_e(action)}: <span class='tag'>{_e(reason)}</span> "
                              f"<span class='muted'>{_e(detail)}</span>"
                              for action, reason, detail in row.suppressed if reason not in ROUTINE)
        stage = _e(row.stage or "-")
        if row.segment:
            stage += f" <span class='muted'>({_e(row.segment)})</span>"
        holds = "".join(f" <span class='tag'>hold {_e(hold)}</span>" for hold in row.holds)
        events = "<br>".join(_e(event) for event in row.events)
        body.append(f"<tr><td class='n'>{row.day + 1}</td><td class='d'>{_e(row.date.isoformat())}</td>"
                    f"<td class='n'>{row.dpd}</td><td>{stage}{holds}</td><td>{events}</td>"
                    f"<td>{actions}</td><td>{stopped}</td></tr>")
    table = ("<div class='scroll'><table><thead><tr><th class='n'>day</th><th>date</th><th class='n'>dpd</th>"
             "<th>stage</th><th>history</th><th>actions</th><th>not sent</th></tr></thead><tbody>"
             + "".join(body) + "</tbody></table></div>")
    return strip + table


def _account_panel(report: PolicyReport, account_id: str, colors: dict[str, str]) -> str:
    return _timeline_panel(report.timelines[account_id], colors, f"timeline of {account_id}, {_name(report)}")


def _timelines(reports: Sequence[PolicyReport], colors: dict[str, str]) -> str:
    parts = ["<p class='muted'>A deterministic sample of accounts in scope: those with the smallest SHA-256 of "
             "their id. Rows show the days something happens; routine cadence suppressions are left out.</p>"]
    for account_id in reports[0].timelines:
        panels = _cols(reports, functools.partial(_account_panel, account_id=account_id, colors=colors))
        parts.append(f"<h3>account {_e(account_id)}</h3>{panels}")
    return "".join(parts)


def _intensity_counter(report: PolicyReport) -> Counter[str]:
    """The highest count per kind, as the comparison table shows it."""
    return Counter({kind: most for kind, (most, _) in report.most_contacted.items()})


def _with_change(reports: Sequence[PolicyReport], panel: Callable[[PolicyReport], str], what: str,
                 counts: Callable[[PolicyReport], Counter[str]], order: Sequence[str] | None = None) -> str:
    body = _cols(reports, panel)
    if len(reports) == 2:
        body += _comparison(what, counts(reports[0]), counts(reports[1]), order)
    return body


@dataclass(frozen=True)
class _Scales:
    """The largest count of each chart over all the reports, so that charts side by side share a scale."""

    portfolio: int
    day: int
    suppression: int
    offer: int
    intensity: int


def _scales(reports: Sequence[PolicyReport], days: Sequence[date]) -> _Scales:
    """The shared scales of the charts."""
    return _Scales(
        portfolio=max((sum(count for (stage, _), count in report.portfolio.items() if stage == name)
                       for report in reports for name in report.stage_order), default=0),
        day=max((sum(report.per_day.get(day, Counter()).values()) for report in reports for day in days), default=0),
        suppression=max((count for report in reports for count in report.suppressed.values()), default=0),
        offer=max((count for report in reports for count in report.offers_made.values()), default=0),
        intensity=max((count for report in reports for count in report.intensity.get(ALL_KINDS, Counter()).values()),
                      default=0),
    )


def _summary_line(first: PolicyReport, days: Sequence[date]) -> str:
    """The accounts in scope, those outside it, and the span the report covers."""
    span = (f"simulated for {_plural(first.days, 'day')} from {days[0].isoformat()} (daily at "
            f"{_e(first.as_of.strftime('%H:%M'))} local time)" if first.days and days else
            f"decided at {_e(first.as_of.isoformat())}")
    scope = (f" ({_plural(first.out_of_scope, 'more account')} outside the policy's scope, counted nowhere else)"
             if first.out_of_scope else "")
    return f"{_plural(first.in_scope, 'account')} in scope{scope}, {span}."


def _sections(reports: Sequence[PolicyReport], provenance: Provenance | None, days: list[date]) -> list[str]:
    """The report's sections, in the order of the page."""
    first = reports[0]
    scales = _scales(reports, days)
    channel_colors = color_map([channel for report in reports for channel in report.channels])
    segment_colors = color_map([segment for report in reports for _, segment in report.portfolio])
    kinds = [kind for kind in KIND_ORDER if any(kind in report.most_contacted for report in reports)]
    return [
        _section("about", "How this report was made", _provenance(provenance, first, days)),
        _section("policy", "Policy", _cols(reports, _policy_panel)),
        _section("limits", "Limits in force", _cols(reports, _limits_panel)),
        _section("portfolio", "Portfolio by stage and segment" + (" (first day)" if first.days else ""),
                 _with_change(reports, lambda report: _portfolio_panel(report, segment_colors, scales.portfolio),
                              "stage", lambda report: Counter({stage: count for (stage, _), count in
                                                               report.portfolio.items()}))),
        _section("channels", "Planned actions per channel per day",
                 _with_change(reports, lambda report: _channels_panel(report, days, channel_colors, scales.day),
                              "channel", lambda report: report.channels)),
        _section("intensity", f"Contact intensity: the most contacts a customer gets in any {WINDOW_DAYS} days",
                 "<p class='muted'>Per customer and channel kind (call covers voice calls and agent tasks), counting "
                 f"the contacts the history records from {WINDOW_DAYS - 1} days before the span and those the "
                 "policy makes; letters and legal referrals to the bank's lawyers are not calls.</p>"
                 + _with_change(reports, lambda report: _intensity_panel(report, scales.intensity),
                                "highest, by channel kind", _intensity_counter, kinds)),
        _section("suppressions", "Suppressions by reason",
                 _with_change(reports, lambda report: _suppressions_panel(report, scales.suppression), "reason",
                              lambda report: report.suppressed)),
        _section("offers", "Offers", _with_change(reports, lambda report: _offers_panel(report, scales.offer),
                                                  "offer", lambda report: report.offers_made)),
        _section("legal", "Legal referrals", _with_change(
            reports, _legal_panel, "legal referrals",
            lambda report: Counter({"legal referrals": report.legal_referrals}))),
        _section("timelines", "Timelines of sampled accounts", _timelines(reports, channel_colors)),
    ]


def render_page(reports: Sequence[PolicyReport], provenance: Provenance | None = None) -> str:
    """The complete HTML document for one policy, or a base and a candidate side by side."""
    if not reports:
        raise ValueError("render_page needs at least one report")
    days = _days(reports)
    title = " vs ".join(_name(report) for report in reports)
    sections = _sections(reports, provenance, days)
    digests = " · ".join(f"{_e(_name(report))} {_e(report.stamp.get('digest'))}" for report in reports)
    generated = f" · generated {_e(provenance.generated_at.isoformat())}" if provenance else ""
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            "<link rel='icon' href='data:,'>"
            f"<title>Policy report: {_e(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>Collection policy report: {_e(title)}</h1>"
            f"<p>{_summary_line(reports[0], days)}</p></header>"
            + "".join(sections)
            + f"<footer>policy-engine report · {digests}{generated}</footer></body></html>\n")
