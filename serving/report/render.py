"""The report as one self-contained HTML page: plots are base64 PNGs, styles inline.

Drawn from the figures dict alone (``figures.build``), never from mentions, so the page
cannot show a text or a handle. A Content-Security-Policy forbids every external
request: the page opens the same offline, from a mail attachment or from ``/report``.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

BLUE, ORANGE, GREEN, RED, GREY = "#1f6fb2", "#e8772e", "#3a9a4a", "#c8453c", "#9aa0a6"
MARK_LABELS = {60: "1 h", 240: "4 h", 1440: "24 h"}
TICKS_MIN = (1, 5, 15, 30, 60, 240, 1440, 4320, 10080)
TICK_LABELS = ("1 min", "5 min", "15 min", "30 min", "1 h", "4 h", "24 h", "3 d", "7 d")
TITLES = {
    "summary": "Summary",
    "response_times": "Response times",
    "by_hour": "Response time by hour and weekday",
    "peak_hours": "Peak hours",
    "consistency": "Consistency",
    "followups": "Unanswered follow-ups",
    "tiers": "SLA and triage tiers",
    "method": "How these figures were made",
}


def duration(minutes: float | None) -> str:
    """``42 min``, ``3.2 h``, ``1.5 d``; an en dash when there is nothing to show."""
    if minutes is None or (isinstance(minutes, float) and math.isnan(minutes)):
        return "–"
    if minutes < 60:
        return f"{minutes:.0f} min"
    if minutes < 2 * 1440:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f} %"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig: Figure, name: str, alt: str) -> str:
    return (f'<img class="plot" data-plot="{name}" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{_png(fig)}">')  # fmt: skip


def _log_minutes_axis(ax, *, axis: str = "x") -> None:
    set_scale, set_lim = (ax.set_xscale, ax.set_xlim) if axis == "x" else (ax.set_yscale, ax.set_ylim)
    set_ticks, set_labels = (ax.set_xticks, ax.set_xticklabels) if axis == "x" else (
        ax.set_yticks, ax.set_yticklabels)  # fmt: skip
    ticks = [(t, label) for t, label in zip(TICKS_MIN, TICK_LABELS, strict=True) if axis == "y" or t != 30]
    set_scale("log")
    set_lim(1, 10080)
    set_ticks([t for t, _ in ticks])
    set_labels([label for _, label in ticks])
    ax.minorticks_off()


def plot_cdf(rt: dict) -> Figure:
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    styles = {"all": (BLUE, "all inbound mentions"), "complaints": (RED, "complaints")}
    for name, group in rt["groups"].items():
        if group["inbound"]:
            color, label = styles[name]
            ax.step(group["cdf"]["minutes"], group["cdf"]["share"], where="post", color=color, lw=2,
                    label=f"{label} (n={group['inbound']:,})")  # fmt: skip
    for m in rt["marks_min"]:
        ax.axvline(m, color=GREY, ls="--", lw=1)
    exp = rt["expected"]
    lines = ((exp["within_1h"], BLUE, "53 % of customers expect an answer within 1 h"),
             (exp["complaints_within_1h"], RED, "72 % of complainers expect one within 1 h"))
    for share, color, text in lines:
        ax.axhline(share, xmax=0.5, color=color, ls=":", lw=1.2)
        ax.plot([60], [share], marker="o", color=color, ms=6)
        ax.text(1.2, share + 0.015, text, color=color, fontsize=8.5)
    _log_minutes_axis(ax)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share answered within")
    ax.set_xlabel("time to the brand's first answer")
    ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f} %")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def plot_buckets(rt: dict) -> Figure:
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    groups = [(n, g) for n, g in rt["groups"].items() if g["inbound"]]
    labels = [b["label"] for b in rt["groups"]["all"]["buckets"]]
    width = 0.8 / max(1, len(groups))
    for k, (name, g) in enumerate(groups):
        xs = [i + (k - (len(groups) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, [b["share"] or 0 for b in g["buckets"]], width, color=BLUE if name == "all" else RED,
               label="all inbound" if name == "all" else "complaints")  # fmt: skip
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f} %")
    ax.set_ylabel("share of inbound")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def _minutes_of(rows: list[dict], key: str) -> list[float]:
    return [math.nan if r[key] is None else max(r[key], 1) for r in rows]


def plot_by_hour(bh: dict) -> Figure:
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2, width_ratios=[2.2, 1])
    hours = [r["hour"] for r in bh["by_hour"]]
    left.plot(hours, _minutes_of(bh["by_hour"], "median_min"), marker="o", color=BLUE, label="median")
    left.plot(hours, _minutes_of(bh["by_hour"], "p90_min"), marker="s", color=ORANGE, label="90th percentile")
    left.set_xticks(range(0, 24, 2))
    left.set_xlabel("hour the mention arrived")
    days = [r["weekday"] for r in bh["by_weekday"]]
    xs = list(range(len(days)))
    right.plot(xs, _minutes_of(bh["by_weekday"], "median_min"), marker="o", color=BLUE, label="median")
    right.plot(xs, _minutes_of(bh["by_weekday"], "p90_min"), marker="s", color=ORANGE, label="p90")
    right.set_xticks(xs)
    right.set_xticklabels(days, fontsize=8)
    right.set_xlabel("weekday the mention arrived")
    for ax in (left, right):
        _log_minutes_axis(ax, axis="y")
        for m in MARK_LABELS:
            ax.axhline(m, color=GREY, ls="--", lw=1)
        ax.grid(alpha=0.3)
    left.set_ylabel("response time")
    left.legend(fontsize=9)
    return fig


def plot_heatmap(ph: dict) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    ax = fig.subplots()
    counts = ph["counts"]
    image = ax.imshow(counts, aspect="auto", cmap="YlOrRd")
    top = max(max(row) for row in counts) or 1
    for d, row in enumerate(counts):
        for h, c in enumerate(row):
            if c:
                ax.text(h, d, str(c), ha="center", va="center", fontsize=6.5,
                        color="white" if c > 0.6 * top else "black")  # fmt: skip
    ax.set_yticks(range(7))
    ax.set_yticklabels(ph["weekdays"])
    ax.set_xticks(range(24))
    ax.set_xlabel("hour of arrival")
    fig.colorbar(image, ax=ax, label="inbound mentions", fraction=0.03)
    return fig


def plot_consistency(cons: dict) -> Figure:
    from datetime import date

    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2, width_ratios=[2.4, 1])
    days = [date.fromisoformat(d["day"]) for d in cons["daily"]]
    med = [max(d["median_min"], 1) for d in cons["daily"]]
    left.scatter(days, med, s=8, color=BLUE, alpha=0.6)
    right.hist(med, bins=[10 ** (k / 4) for k in range(0, 17)], color=BLUE, orientation="horizontal")
    for ax, axis in ((left, "y"), (right, "y")):
        _log_minutes_axis(ax, axis=axis)
        for m in MARK_LABELS:
            ax.axhline(m, color=GREY, ls="--", lw=1)
        ax.grid(alpha=0.3)
    left.set_ylabel("median response time of the day")
    right.set_xlabel("days")
    fig.autofmt_xdate()
    return fig


def plot_followups(fu: dict) -> Figure:
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    labels = [f"{r['mentions']} mentions" for r in fu["chain_lengths"]]
    never = [r["never_answered"] for r in fu["chain_lengths"]]
    answered = [r["chains"] - r["never_answered"] for r in fu["chain_lengths"]]
    ax.bar(labels, answered, color=GREEN, label="answered in the end")
    ax.bar(labels, never, bottom=answered, color=RED, label="never answered")
    ax.set_ylabel("chains")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def plot_tiers(t: dict) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    rows = t["per_tier"]
    names = [r["tier"] for r in rows]
    met = [r["sla_met"] for r in rows]
    missed = [r["sla_missed"] for r in rows]
    left.bar(names, met, color=GREEN, label="met")
    left.bar(names, missed, bottom=met, color=RED, label="missed")
    left.bar(names, [r["sla_open"] for r in rows], bottom=[a + b for a, b in zip(met, missed, strict=True)],
             color=GREY, label="open, not yet due")  # fmt: skip
    left.set_ylabel("mentions that need a reply")
    left.legend(fontsize=9)
    xs = range(len(rows))
    right.scatter(xs, [r["median_min"] or math.nan for r in rows], color=BLUE, s=40, label="median")
    right.scatter(xs, [r["p90_min"] or math.nan for r in rows], color=ORANGE, marker="s", s=40, label="p90")
    right.scatter(xs, [r["window_min"] or math.nan for r in rows], color="black", marker="_", s=600,
                  label="respond within")  # fmt: skip
    right.set_xticks(list(xs))
    right.set_xticklabels(names)
    _log_minutes_axis(right, axis="y")
    right.set_ylabel("response time")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#202124;
  background:#f6f7f9}
header{background:#17324d;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85;font-size:13px}
nav{padding:8px 28px;background:#fff;border-bottom:1px solid #ddd}
nav a{margin-right:14px;color:#17324d;font-size:13px}
main{max-width:1100px;margin:0 auto;padding:8px 20px 40px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;margin:18px 0;padding:14px 22px}
h2{font-size:18px;margin:4px 0 10px}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #e1e4e8;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#555}
.ok{color:#2d7d3a}.bad{color:#b3261e}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border-bottom:1px solid #e6e6e6;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}img.plot{max-width:100%;display:block;margin:8px 0}
.note{color:#555;font-size:13px}code{background:#f0f0f0;padding:1px 4px;border-radius:3px}
"""


def _card(value: str, label: str, cls: str = "") -> str:
    return (f'<div class="card"><b class="{cls}">{html.escape(value)}</b>'
            f"<span>{html.escape(label)}</span></div>")  # fmt: skip


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _vs(share: float | None, target: float) -> str:
    return "" if share is None else ("ok" if share >= target else "bad")


def section_summary(f: dict) -> str:
    s, exp = f["summary"], f["summary"]["expected"]
    w = s["within"]
    cards = [
        _card(f"{s['inbound']:,}", "inbound mentions"),
        _card(pct(s["share_answered"]), "answered"),
        _card(pct(w["60"]), f"answered within 1 h (customers expect {pct(exp['within_1h'])})",
              _vs(w["60"], exp["within_1h"])),  # fmt: skip
        _card(pct(w["240"]), "within 4 h"),
        _card(pct(w["1440"]), "within 24 h"),
        _card(duration(s["median_min"]), "median response time"),
        _card(duration(s["p90_min"]), "90th percentile"),
    ]
    complaints = f["response_times"]["groups"].get("complaints")
    if complaints and complaints["inbound"]:
        cards.append(_card(pct(complaints["within"]["60"]),
                           f"complaints within 1 h (expected {pct(exp['complaints_within_1h'])})",
                           _vs(complaints["within"]["60"], exp["complaints_within_1h"])))  # fmt: skip
    tiers = f["tiers"]
    if tiers.get("available"):
        met = sum(r["sla_met"] for r in tiers["per_tier"])
        decided = met + sum(r["sla_missed"] for r in tiers["per_tier"])
        cards.append(_card(pct(met / decided if decided else None), "respond-by met (all tiers)"))
    period = f"{s['first_day']} to {s['last_day']}"
    return ('<div class="cards">' + "".join(cards) + "</div>"
            + _note(f"Period {period}. Shares are of all inbound mentions; times of the answered ones. "
                    f"Large brands average about {exp['brand_average_h']} h; under {exp['acceptable_h']} h "
                    "is generally acceptable."))  # fmt: skip


def section_response_times(f: dict) -> str:
    rt = f["response_times"]
    rows = []
    for name, g in rt["groups"].items():
        rows.append([name, f"{g['inbound']:,}", pct(g["share_answered"]), pct(g["within"]["60"]),
                     pct(g["within"]["240"]), pct(g["within"]["1440"]), duration(g["median_min"]),
                     duration(g["p90_min"])])  # fmt: skip
    out = _img(plot_cdf(rt), "response_cdf", "share answered within a given time, with 1 h/4 h/24 h marks")
    out += _img(plot_buckets(rt), "response_buckets", "response-time buckets")
    out += _table(["group", "inbound", "answered", "≤ 1 h", "≤ 4 h", "≤ 24 h", "median", "p90"], rows)
    if rt["complaints_from"] is None:
        out += _note("Complaints: no intent labels in the file and no model, so no complaint curve. "
                     "Run with a registered champion (webcare train) or add an intent column.")  # fmt: skip
    else:
        out += _note(f"Complaints are taken from the {rt['complaints_from']}.")
    return out


def section_by_hour(f: dict) -> str:
    bh = f["by_hour"]
    rows = [[r["weekday"], f"{r['inbound']:,}", pct(r["share_answered"]), duration(r["median_min"]),
             duration(r["p90_min"])] for r in bh["by_weekday"]]  # fmt: skip
    return (_img(plot_by_hour(bh), "by_hour", "median and p90 response time per hour of day and weekday")
            + _table(["weekday", "inbound", "answered", "median", "p90"], rows)
            + _note(f"Grouped by when the mention arrived, in {f['meta']['tz']}."))  # fmt: skip


def section_peak_hours(f: dict) -> str:
    ph = f["peak_hours"]
    busiest = ", ".join(f"{b['weekday']} {b['hour']:02d}:00 ({b['inbound']})" for b in ph["busiest"])
    bh = ph["business_hours"]
    return (_img(plot_heatmap(ph), "heatmap", "inbound mentions per hour and weekday")
            + _note(f"Busiest hours ({f['meta']['tz']}): {busiest}. "
                    f"{pct(ph['share_outside_business_hours'])} of mentions arrive outside "
                    f"{bh['open']:02d}:00-{bh['close']:02d}:00."))  # fmt: skip


def section_consistency(f: dict) -> str:
    c = f["consistency"]
    if not c["days"]:
        return _note(f"No day has {c['min_answered_per_day']} or more answered mentions.")
    rows = [[label, duration(c[key])] for label, key in (
        ("10th percentile of daily medians", "p10_min"), ("25th percentile", "p25_min"),
        ("median day", "median_min"), ("75th percentile", "p75_min"), ("90th percentile", "p90_min"),
        ("interquartile range", "iqr_min"))]  # fmt: skip
    ratio = "–" if c["p90_over_p10"] is None else f"{c['p90_over_p10']:.1f}×"
    return (_img(plot_consistency(c), "consistency", "median response time per day")
            + _table(["daily median response time", "value"], rows)
            + _note(f"{c['days']:,} days with at least {c['min_answered_per_day']} answers. The slowest "
                    f"tenth of days is {ratio} slower than the fastest tenth; "
                    f"{pct(c['share_days_median_within_1h'])} of days have a median within 1 h, "
                    f"{pct(c['share_days_median_over_24h'])} over 24 h."))  # fmt: skip


def section_followups(f: dict) -> str:
    fu = f["followups"]
    if not fu.get("available"):
        return _note(fu["note"])
    rows = [[r["mentions"], f"{r['chains']:,}", f"{r['never_answered']:,}"] for r in fu["chain_lengths"]]
    return (_img(plot_followups(fu), "followups", "follow-up chains, answered or not")
            + _table(["mentions in chain", "chains", "never answered"], rows)
            + _note(f"{fu['followups']:,} mentions ({pct(fu['share_of_inbound'])} of inbound) came from a "
                    f"customer asking again, within {fu['window_hours']:.0f} h, before any answer. "
                    f"{fu['chains_never_answered']:,} of {fu['chains']:,} chains were never answered; "
                    f"{fu['unanswered_followups']:,} follow-ups got no answer of their own. Answered chains "
                    f"waited {duration(fu['wait_until_first_answer']['median_min'])} (median) from the first "
                    "mention."))  # fmt: skip


def section_tiers(f: dict) -> str:
    t = f["tiers"]
    if not t.get("available"):
        return _note(t["note"])
    rows = [[r["tier"], duration(r["window_min"]), f"{r['mentions']:,}", f"{r['needs_reply']:,}",
             pct(r["share_answered"]), duration(r["median_min"]), duration(r["p90_min"]), f"{r['sla_met']:,}",
             f"{r['sla_missed']:,}", f"{r['sla_open']:,}", pct(r["share_met"])]
            for r in t["per_tier"]]  # fmt: skip
    out = _img(plot_tiers(t), "tiers", "respond-by met or missed per tier, response times per tier")
    out += _table(["tier", "respond within", "mentions", "need a reply", "answered", "median", "p90",
                   "met", "missed", "open", "met share"], rows)  # fmt: skip
    out += _note(f"{t['p1_waited_over_30min']:,} of {t['p1_mentions']:,} P1 mentions waited over 30 min "
                 f"({pct(t['share_p1_waited_over_30min'])}); {t['p4_answered_within_1h']:,} of "
                 f"{t['p4_mentions']:,} P4 mentions were answered within the hour "
                 f"({pct(t['share_p4_answered_within_1h'])}). Tiers from: {t['tiers_from']}.")  # fmt: skip
    nr = t.get("needs_reply")
    if nr:
        out += _table(["needs_reply predicted", "answered", "not answered", "share answered"], [
            ["yes", f"{nr['predicted_yes_answered']:,}", f"{nr['predicted_yes_unanswered']:,}",
             pct(nr["share_answered_when_yes"])],
            ["no", f"{nr['predicted_no_answered']:,}", f"{nr['predicted_no_unanswered']:,}",
             pct(nr["share_answered_when_no"])],
        ])  # fmt: skip
        out += _note(f"Prediction and the team agree on {pct(nr['agreement'])} of mentions; "
                     f"{pct(nr['answered_predicted_yes'])} of the answered mentions were predicted to need "
                     "a reply.")  # fmt: skip
    return out


def section_method(f: dict) -> str:
    meta = f["meta"]
    skip = {"notes"}
    rows = [[k.replace("_", " "), str(v)] for k, v in meta.items() if k not in skip and v is not None]
    notes = "".join(_note(n) for n in meta.get("notes", []))
    return _table(["", ""], rows) + notes + _note(
        "Response time: from the mention to the brand's first answer to it. Follow-up: a later mention by "
        "the same author to the same brand before any of the earlier ones was answered. SLA: a mention that "
        "needs a reply meets its tier's respond-by if answered by then, misses it if answered later or still "
        "unanswered after it; mentions predicted not to need a reply are left out of met/missed.")


SECTIONS: tuple[tuple[str, Callable[[dict], str]], ...] = (
    ("summary", section_summary), ("response_times", section_response_times), ("by_hour", section_by_hour),
    ("peak_hours", section_peak_hours), ("consistency", section_consistency),
    ("followups", section_followups), ("tiers", section_tiers), ("method", section_method),
)  # fmt: skip


def page(f: dict, title: str = "Response times and SLA") -> str:
    """The whole report as one HTML string."""
    meta = f["meta"]
    subtitle = " · ".join(str(x) for x in (
        meta.get("file") or meta.get("source"), f"{f['summary']['first_day']} to {f['summary']['last_day']}",
        f"times in {meta['tz']}", f"generated {meta['generated_at']}") if x)  # fmt: skip
    nav = "".join(f'<a href="#{key}">{html.escape(TITLES[key])}</a>' for key, _ in SECTIONS)
    body = "".join(
        f'<section id="{key}"><h2>{html.escape(TITLES[key])}</h2>{make(f)}</section>'
        for key, make in SECTIONS
    )
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )


def notice_page(title: str, message: str) -> str:
    """A page with one message (no records yet), in the report's style and under the same CSP."""
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1></header><main><section id=\"notice\">"
        f"<p>{html.escape(message)}</p></section></main></body></html>\n"
    )
