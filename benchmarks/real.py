"""Every model family on the frozen real test split: quality per language and head, the
triage figures, calibration and serving speed, against the quality targets.

    .venv/bin/python -m benchmarks.real                       # all families (~20 min, 2 cores)
    .venv/bin/python -m benchmarks.real --only baseline       # one configuration

Each configuration trains through ``training.train.train`` (the same code path as
``webcare train``: calibration and priority figures included) into a private
MLflow store under ``var/benchmarks/``, so the figures are those of the artefact
the registry would serve. Only the random-sample real rows are scored. The
result is written into docs/benchmarks.md between the ``real:start``/``real:end``
markers and as JSON beside the store. Each store registers its model as champion, so
``MLFLOW_TRACKING_URI=sqlite:///var/benchmarks/real/<config>/mlflow.db python -m
benchmarks.load`` measures the served speed and memory of exactly that model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from benchmarks.models import latency, machine
from model.calibration import expected_calibration_error
from model.dataset import Row, load_dataset
from model.real_labels import load_real
from model.settings import PROJECT_ROOT, Settings
from model.taxonomy import BY_NAME, HEADS
from training.data import split_rows
from training.families import get_family, texts_of

LANGS = ("nl", "en")
START, END = "<!-- real:start -->", "<!-- real:end -->"
TARGETS = {"intent": 0.60, "sentiment": 0.70, "needs_reply": 0.88, "urgency": 0.65}
"""macro-F1 targets per head; needs_reply is F1 of "yes"."""


@dataclass
class Config:
    name: str
    family: str
    options: dict[str, Any] = field(default_factory=dict)
    public: str = ""
    replied: str = ""
    """``webcare train --replied``: weak needs_reply rows from reply histories, training only."""


CONFIGS = [
    Config("baseline", "baseline"),
    Config("baseline+public", "baseline", public="all"),
    Config("baseline+replied", "baseline", replied="orangebe,twcs"),
    Config("minilm", "transformer", {"epochs": 3}),
    Config("e5", "transformer", {"epochs": 3, "base_model": "e5-small-multilingual"}),
    Config("e5-pruned", "transformer", {"epochs": 3, "base_model": "e5-small-multilingual-pruned"}),
    Config("e5-pruned-6l", "transformer",
           {"epochs": 3, "base_model": "e5-small-multilingual-pruned", "layers": 6}),  # fmt: skip
    Config("e5-pruned+public", "transformer", {"epochs": 1, "base_model": "e5-small-multilingual-pruned"},
           public="all"),  # fmt: skip
]


def head_score(rows: Sequence[Row], probas: dict[str, np.ndarray], head: str) -> tuple[float, int]:
    """The target's figure for a head: F1 of "yes" for needs_reply, macro-F1 otherwise."""
    h = BY_NAME[head]
    idx = [i for i, r in enumerate(rows) if r.labels.get(head) is not None]
    if not idx:
        return float("nan"), 0
    y = np.array([h.index(rows[i].labels[head]) for i in idx])
    pred = probas[head][idx].argmax(axis=1)
    if head == "needs_reply":
        score = f1_score(y, pred, pos_label=h.index("yes"), average="binary", zero_division=0)
    else:
        score = f1_score(y, pred, labels=list(range(len(h.labels))), average="macro", zero_division=0)
    return float(score), len(idx)


def real_test_rows(settings: Settings, split: str = "test") -> list[Row]:
    real = load_real(settings.real_labels, settings.shared_datasets)
    return [r for r in split_rows(real.rows)[split] if r.sample == "random"]


def quality_of(model: Any, rows: Sequence[Row]) -> dict[str, Any]:
    """Each head's target figure on ``rows``, overall and per language."""
    probas = model.predict_proba(texts_of(rows))
    quality: dict[str, Any] = {}
    for h in HEADS:
        for scope in ("all", *LANGS):
            rows_idx = [i for i, r in enumerate(rows) if scope == "all" or r.lang == scope]
            sub = [rows[i] for i in rows_idx]
            score, n = head_score(sub, {k: v[rows_idx] for k, v in probas.items()}, h.name)
            quality[f"{h.name}.{scope}"] = {"score": score, "n": n}
    return quality


def run_config(cfg: Config, settings: Settings, work: Path, log: Any) -> dict[str, Any]:
    from training.train import train

    store = work / cfg.name
    shutil.rmtree(store, ignore_errors=True)  # a fresh registry: its champion is this run's model
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    store.mkdir(parents=True)
    options = dict(cfg.options)
    if cfg.family == "transformer":
        options["checkpoint_dir"] = work / "checkpoints" / cfg.name
        options["progress"] = False
        options["resume"] = True  # a re-run reuses a finished fine-tune (same rows, same params)
    family = get_family(cfg.family, **options)
    # registered in the configuration's own store, so benchmarks.load can serve exactly this model
    result = train(family, [settings.seed_dir], settings, register=True, log=log, public=cfg.public,
                   replied=[n for n in cfg.replied.split(",") if n])  # fmt: skip
    assert result.model is not None
    test = real_test_rows(settings)
    texts = texts_of(test)
    probas = result.model.predict_proba(texts)
    quality = quality_of(result.model, test)
    m = result.metrics
    seed_rows = [r for r in split_rows(load_dataset([settings.seed_dir]))["test"]]
    seed_probas = result.model.predict_proba(texts_of(seed_rows))
    seed = {h.name: head_score(seed_rows, seed_probas, h.name)[0] for h in HEADS}
    idx = [i for i, r in enumerate(test) if r.labels.get("needs_reply") is not None]
    y = np.array([BY_NAME["needs_reply"].index(test[i].labels["needs_reply"]) for i in idx])
    ece = expected_calibration_error(probas["needs_reply"][idx], y)
    speed = latency(result.model.predict_proba, texts, 300, 20)
    return {
        "config": cfg.name,
        "family": cfg.family,
        "options": {k: str(v) for k, v in cfg.options.items()},
        "public": cfg.public,
        "replied": cfg.replied,
        "quality": quality,
        "validation": quality_of(result.model, real_test_rows(settings, "validation")),
        "seed": seed,
        "ece.needs_reply": ece,
        "ece.needs_reply.before": m.get("test.real.needs_reply.ece_before"),
        "ece.urgency": m.get("test.real.urgency.ece_after"),
        "ece.urgency.before": m.get("test.real.urgency.ece_before"),
        "priority": {k.removeprefix("test.real.priority."): v for k, v in m.items()
                     if k.startswith("test.real.priority.")},  # fmt: skip
        "public_sets": {k: m.get(f"test.source.{k}") for k in (
            "airline.sentiment.macro_f1", "complaints.complaint.macro_f1", "dutch.sentiment.macro_f1")},
        "train_seconds": m.get("train_seconds"),
        "speed": speed,
        "n_test": len(test),
    }


def fmt(v: float | None, d: int = 3) -> str:
    return "-" if v is None or v != v else f"{v:.{d}f}"


def _when(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The run's date, or the span of the configurations' own dates when they were measured
    by several runs (``--only`` adds to the saved results)."""
    dates = sorted(r["measured"] for r in results if r.get("measured"))
    if not dates:
        return meta["date"]
    if dates[0] == dates[-1] and len(dates) == len(results):
        return dates[0]
    return f"{dates[0]} to {dates[-1]} over several runs"


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    names = [r["config"] for r in results]
    lines = [
        START,
        "## Real traffic: the frozen real test split",
        "",
        f"Measured {_when(results, meta)} by `{meta['command']}` ({meta['machine']['cpu']}, "
        f"{meta['machine']['cores']} cores; "
        + (f"1-minute load average {meta['load']:.1f} at the end: " if meta.get("load") is not None else "")
        + "speed figures are only as good as the machine was quiet). "
        "Rows: the random-sample real test rows of "
        f"[data/real](../data/real/README.md) ({results[0]['n_test']} mentions; hash split, frozen). "
        "Every configuration trains on seed + real train rows (+ the public sets where named), "
        "through `webcare train`'s code path, and is scored as served (calibrated; int8 ONNX for "
        "transformers). needs_reply is F1 of `yes`, the other heads macro-F1.",
        "",
        "| head | language | n | " + " | ".join(names) + " | target |",
        "|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for h in HEADS:
        for scope in ("all", *LANGS):
            key = f"{h.name}.{scope}"
            n = results[0]["quality"][key]["n"]
            cells = [fmt(r["quality"][key]["score"]) for r in results]
            target = f"≥ {TARGETS[h.name]:.2f}" if scope != "all" or h.name == "needs_reply" else ""
            lines.append(f"| {h.name} | {scope} | {n} | " + " | ".join(cells) + f" | {target} |")
    lines += ["", "Seed test split (138 team-written rows) for comparison:", "",
              "| head | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]  # fmt: skip
    for h in HEADS:
        lines.append(f"| {h.name} | " + " | ".join(fmt(r["seed"][h.name]) for r in results) + " |")
    lines += ["", "### Triage, calibration, public sets and speed (same models)", "",
              "| figure | " + " | ".join(names) + " | target |",
              "|---|" + "---|" * (len(names) + 1)]  # fmt: skip

    def row(label: str, values: list[str], target: str) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + f" | {target} |")

    def pct(v: float | None) -> str:
        return "-" if v is None or v != v else f"{100 * v:.1f} %"

    p = [{k.removeprefix("tuned."): v for k, v in r["priority"].items() if k.startswith("tuned.")}
         for r in results]  # fmt: skip
    row("P1 share (as served: thresholds tuned on real validation)", [pct(x.get("share.P1")) for x in p],
        "≤ 20 %")
    row("urgency = high in P1 or P2", [pct(x.get("high_recall.P1_P2")) for x in p], "≥ 80 %")
    row("urgency = high in P1", [pct(x.get("high_recall.P1")) for x in p], "-")
    row("P1 precision (urgency = high)", [pct(x.get("precision.P1")) for x in p], "≥ 60 %")
    row("needs_reply = no that land in P4", [pct(x.get("no_reply_in_P4")) for x in p], "-")
    row("share P2 / P3 / P4", [f"{pct(x.get('share.P2'))} / {pct(x.get('share.P3'))} / "
                               f"{pct(x.get('share.P4'))}" for x in p], "-")  # fmt: skip
    row("P1 share with the file's fixed thresholds (75/50/25)",
        [pct(r["priority"].get("share.P1")) for r in results], "-")
    row("needs_reply ECE, raw → calibrated",
        [f"{fmt(r['ece.needs_reply.before'])} → {fmt(r['ece.needs_reply'])}" for r in results], "≤ 0.05")
    row("urgency ECE, raw → calibrated",
        [f"{fmt(r['ece.urgency.before'])} → {fmt(r['ece.urgency'])}" for r in results], "-")
    public = (("airline.sentiment.macro_f1", "airline sentiment macro-F1", "≥ 0.83"),
              ("complaints.complaint.macro_f1", "complaints macro-F1", "≥ 0.88"),
              ("dutch.sentiment.macro_f1", "Dutch polarity macro-F1", "≥ 0.65"))
    for key, label, target in public:
        row(label, [fmt(r["public_sets"].get(key)) for r in results], target)
    row("single mention p50", [f"{r['speed']['single_p50_ms']:.2f} ms" for r in results], "-")
    row("batch-64 throughput", [f"{r['speed']['batch64_per_s']:,.0f} texts/s" for r in results], "-")
    row("training wall time (a resumed fine-tune counts the export only)",
        [f"{(r['train_seconds'] or 0) / 60:.1f} min" for r in results], "-")
    lines += ["", "Configurations: " + "; ".join(
        f"`{r['config']}` = {r['family']}" + (f" {r['options']}" if r["options"] else "")
        + (f", public sets {r['public']}" if r["public"] else "")
        + (f", weak replied rows from {r['replied']}" if r.get("replied") else "") for r in results)
        + ".", END]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_section(doc: Path, section: str) -> None:
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    if START in text and END in text:
        pattern = re.escape(START) + r".*?" + re.escape(END) + r"\n?"
        text = re.sub(pattern, lambda _: section, text, flags=re.S)
    else:
        head, _, rest = text.partition("\n")
        text = f"{head}\n\n{section}\n{rest.lstrip()}"
    doc.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated configuration names: "
                        + ", ".join(c.name for c in CONFIGS))  # fmt: skip
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--render-only", action="store_true", help="rewrite the docs from saved results")
    args = parser.parse_args(argv)
    settings = Settings()
    if not settings.shared_datasets.is_dir() or not settings.real_labels.is_file():
        print(f"needs {settings.shared_datasets} and {settings.real_labels}", file=sys.stderr)
        return 2
    wanted = args.only.split(",") if args.only else [c.name for c in CONFIGS]
    if args.render_only:
        wanted = []
    unknown = set(wanted) - {c.name for c in CONFIGS}
    if unknown:
        print(f"unknown configuration(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    work = settings.var_dir / "benchmarks" / "real"
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if saved.is_file() else {}
    with tempfile.TemporaryDirectory():
        for cfg in CONFIGS:
            if cfg.name in wanted:
                print(f"== {cfg.name}", file=sys.stderr)
                results[cfg.name] = run_config(cfg, settings, work, lambda *a: print(*a, file=sys.stderr))
                results[cfg.name]["measured"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
                saved.write_text(json.dumps(results, indent=2, default=str))
    ordered = [results[c.name] for c in CONFIGS if c.name in results]
    meta = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": ".venv/bin/python -m benchmarks.real" + (f" --only {args.only}" if args.only else ""),
            "machine": machine(), "load": None if args.render_only else os.getloadavg()[0]}  # fmt: skip
    write_section(args.out, render(ordered, meta))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
