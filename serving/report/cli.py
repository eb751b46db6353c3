"""`webcare report history | sla`: the webcare lead's response-time and SLA reports.

Failures print ``error:`` lines naming the file and line (``file:line: reason``) and exit 2.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Response-time, SLA and peak-hour reports for webcare leads.")
console = Console(soft_wrap=True, highlight=False)


def _fail(lines: list[str], code: int = 2) -> typer.Exit:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f} %"


def _print_summary(figs: dict, paths: list[Path]) -> None:
    from serving.report.render import duration

    s = figs["summary"]
    table = Table(title="Response times", show_header=False)
    table.add_row("inbound mentions", f"{s['inbound']:,}")
    table.add_row("answered", _pct(s["share_answered"]))
    marks = (("60", "within 1 h (53 % expect it)"), ("240", "within 4 h"), ("1440", "within 24 h"))
    for minutes, label in marks:
        table.add_row(label, _pct(s["within"][minutes]))
    table.add_row("median / p90", f"{duration(s['median_min'])} / {duration(s['p90_min'])}")
    complaints = figs["response_times"]["groups"].get("complaints")
    if complaints:
        table.add_row("complaints within 1 h (72 % expect it)", _pct(complaints["within"]["60"]))
    busiest = figs["peak_hours"]["busiest"][:3]
    table.add_row(f"busiest hours ({figs['meta']['tz']})",
                  ", ".join(f"{b['weekday']} {b['hour']:02d}:00" for b in busiest))  # fmt: skip
    c = figs["consistency"]
    if c["days"]:
        table.add_row("daily median, p10-p90", f"{duration(c['p10_min'])} - {duration(c['p90_min'])}")
    fu = figs["followups"]
    if fu.get("available"):
        never = f"{fu['chains_never_answered']:,} of {fu['chains']:,}"
        table.add_row("follow-up chains never answered", never)
    t = figs["tiers"]
    if t.get("available"):
        for r in t["per_tier"]:
            decided = r["sla_met"] + r["sla_missed"]
            table.add_row(f"{r['tier']} respond-by met", f"{_pct(r['share_met'])} of {decided:,}")
        table.add_row("P1 waited over 30 min", f"{t['p1_waited_over_30min']:,} of {t['p1_mentions']:,}")
        table.add_row("P4 answered within 1 h", f"{t['p4_answered_within_1h']:,} of {t['p4_mentions']:,}")
    else:
        table.add_row("triage tiers", t["note"])
    console.print(table)
    for path in paths:
        console.print(f"wrote {path}")


def _out_dir(out: Path | None, name: str) -> Path:
    if out is not None:
        return out
    from model.settings import get_settings

    return get_settings().var_dir / "reports" / name


@app.command()
def history(
    file: Annotated[Path, typer.Argument(help="the history CSV (TWCS, Orange Belgium or generic format)")],
    fmt: Annotated[str, typer.Option("--format", help="twcs, orangebe, generic or auto")] = "auto",
    tz: Annotated[
        str | None, typer.Option(help="the brand's time zone for hours and weekdays; default: the policy's")
    ] = None,
    naive_tz: Annotated[str, typer.Option(help="time zone of timestamps written without one")] = "UTC",
    out: Annotated[
        Path | None, typer.Option(help="folder for report.html, report.json, mentions.csv")
    ] = None,
    model: Annotated[
        bool, typer.Option(help="compare with the champion's triage (intent, needs_reply, tier)")
    ] = True,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="report without the malformed rows instead of stopping")
    ] = False,
    followup_window_hours: Annotated[
        float, typer.Option(min=0.0, help="a follow-up comes within this many hours of the previous mention")
    ] = 48.0,
) -> None:
    """Report on a conversation history: speed, consistency, peaks, follow-ups, triage tiers."""
    from serving.report.build import from_history, write
    from serving.report.history import HistoryError

    try:
        report = from_history(
            file, fmt=fmt, tz=tz, naive_tz=naive_tz, skip_bad=skip_bad_rows, use_model=model,
            followup_window=timedelta(hours=followup_window_hours),
        )  # fmt: skip
    except HistoryError as exc:
        shown = exc.problems[:50]
        more = [f"... and {len(exc.problems) - len(shown)} more"] if len(exc.problems) > len(shown) else []
        hint = [] if skip_bad_rows or len(exc.problems) == 1 else ["(--skip-bad-rows reports without them)"]
        raise _fail([*shown, *more, *hint]) from None
    except ValueError as exc:
        raise _fail([str(exc)]) from None
    for line in report.figures["meta"].get("notes", []):
        console.print(f"note: {line}")
    _print_summary(report.figures, write(report, _out_dir(out, file.stem)))


@app.command()
def sla(
    out: Annotated[Path | None, typer.Option(help="folder for report.html and report.json")] = None,
    tz: Annotated[
        str | None, typer.Option(help="time zone for hours and weekdays; default: the policy's")
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(min=0, help="delete older records first (default: WEBCARE_RECORD_RETENTION_DAYS)"),
    ] = None,
) -> None:
    """Report from the API's score records: respond-by met or missed per tier, volume per hour."""
    from model.feedback import FeedbackStore, ScoreRecords, feedback_url
    from model.priority import Policy
    from model.settings import get_settings
    from serving.report.build import from_records, write
    from serving.settings import get_serve_settings

    cfg = get_serve_settings()
    try:
        policy = Policy.load(cfg.policy)
        days = cfg.record_retention_days if retention_days is None else retention_days
        store = ScoreRecords(FeedbackStore(feedback_url(get_settings().var_dir)).engine, days)
        report = from_records(store, policy=policy, tz=tz, record_scores=cfg.record_scores)
    except (LookupError, ValueError) as exc:
        raise _fail([str(exc)]) from None
    _print_summary(report.figures, write(report, _out_dir(out, "sla")))
