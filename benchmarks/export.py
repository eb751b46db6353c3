"""Which int8 graph to serve: BERT fusions and quantisation options, measured side by side.

    .venv/bin/python -m benchmarks.export [--alias champion] [--texts 400]

Takes the fp32 ONNX graph of a registered transformer (the export keeps it next to the
int8 one in the run's export folder; pass ``--folder`` to use another), builds each variant,
and measures on held-out real validation texts (never trained on): label agreement with
the fp32 graph (which matches torch to 1e-3), the worst probability error, single-text
p50/p99 of the model call and batch-64 texts/s on the threads the API uses. The export
(training/transformer.py) applies the variant this table picks; the figures and the choice
are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model.onnx_runtime import OnnxTriageModel
from model.taxonomy import HEADS

FP32 = "model.fp32.onnx"


def held_out_texts(n: int) -> list[str]:
    """Real validation texts (texts from ../shared/datasets), else the seed validation split."""
    from model.dataset import load_dataset
    from model.real_labels import load_real
    from model.settings import get_settings
    from training.artefact import texts_of
    from training.data import split_rows

    settings = get_settings()
    try:
        rows = split_rows(load_real(settings.real_labels, settings.shared_datasets).rows)["validation"]
    except (FileNotFoundError, OSError, ValueError):
        rows = split_rows(load_dataset([settings.seed_dir]))["validation"]
    return texts_of(rows)[:n]


def timing(model: OnnxTriageModel, texts: list[str], reps: int = 300) -> dict[str, float]:
    singles = []
    for t in (texts * (reps // len(texts) + 1))[:reps]:
        started = time.perf_counter()
        model.predict_proba([t])
        singles.append((time.perf_counter() - started) * 1000)
    batch = (texts * (512 // len(texts) + 1))[:512]
    model.predict_proba(batch[:64])
    started = time.perf_counter()
    for i in range(0, len(batch), 64):
        model.predict_proba(batch[i : i + 64])
    batch_s = time.perf_counter() - started
    singles.sort()
    return {
        "single_p50_ms": round(statistics.median(singles), 3),
        "single_p99_ms": round(singles[int(len(singles) * 0.99) - 1], 3),
        "batch64_texts_per_s": round(len(batch) / batch_s),
    }


def agreement(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    """Label agreement over every (text, head) pair, and where the reference is decisive (top-2
    margin >= the export check's tie margin), plus the worst probability error."""
    from training.transformer import TransformerParams

    tie = TransformerParams().parity_tie_margin
    agree = np.concatenate([got[h.name].argmax(1) == ref[h.name].argmax(1) for h in HEADS])
    top2 = [np.sort(ref[h.name], axis=1)[:, -2:] for h in HEADS]
    decisive = np.concatenate([(t[:, 1] - t[:, 0]) >= tie for t in top2])
    diff = max(float(np.abs(got[h.name] - ref[h.name]).max()) for h in HEADS)
    return {
        "label_agreement": round(float(agree.mean()), 4),
        "decisive_agreement": round(float(agree[decisive].mean()), 4),
        "max_abs_diff": round(diff, 4),
    }


def variants(folder: Path, meta: dict) -> dict[str, Callable[[Path], None]]:
    """name -> builder writing the variant's graph to the given path."""
    from model.transformer import ffn_output_matmuls, fuse_bert, quantize_int8

    fp32 = folder / FP32
    fused = folder / "model.fused.onnx"
    if not fused.is_file():
        heads, hidden = int(meta.get("num_heads", 12)), int(meta.get("hidden_size", 384))
        fuse_bert(fp32, fused, heads, hidden)
    layers = int(meta.get("fp32_ffn_layers", 3))

    def dynamic(
        source: Path, fp32_layers: int, ffn_in: bool = False, **options: object
    ) -> Callable[[Path], None]:
        def build(target: Path) -> None:
            keep = ffn_output_matmuls(source, fp32_layers)
            if ffn_in:  # the FFN's first MatMul too (its output feeds GELU)
                keep += [n.replace("/output/dense/", "/intermediate/dense/") for n in keep]
            quantize_int8(source, target, keep, **options)  # type: ignore[arg-type]

        return build

    def static(target: Path) -> None:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        ref = OnnxTriageModel.load(folder, onnx_file=FP32)
        calib = held_out_texts(600)[400:528] or held_out_texts(128)

        def feed(text: str) -> dict[str, np.ndarray]:
            ids = np.asarray([ref.tokenizer.encode(text).ids], dtype=np.int64)
            return ref._feed(ids, np.ones_like(ids))

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.feeds = iter([feed(t) for t in calib])

            def get_next(self) -> dict | None:
                return next(self.feeds, None)

        quantize_static(
            str(fused), str(target), Reader(), quant_format=QuantFormat.QDQ,
            per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
            nodes_to_exclude=ffn_output_matmuls(fused, layers),
            extra_options={"DefaultTensorType": 1},
        )  # fmt: skip

    return {
        "unfused, dynamic per-channel QInt8 (previous export)": dynamic(fp32, layers),
        "fused, dynamic per-channel QInt8": dynamic(fused, layers),
        "fused, dynamic per-tensor QInt8": dynamic(fused, layers, per_channel=False),
        "fused, dynamic per-channel QUInt8": dynamic(fused, layers, weight_type="QUInt8"),
        "fused, dynamic MatMul only (attention fp32)": dynamic(fused, layers, op_types=["MatMul"]),
        "fused, dynamic, every FFN output int8": dynamic(fused, 0),
        "fused, dynamic MatMul only, FFN in+out fp32": dynamic(
            fused, layers, ffn_in=True, op_types=["MatMul"]
        ),
        "fused, dynamic, FFN in+out fp32": dynamic(fused, layers, ffn_in=True),
        "fused, static QDQ (calibrated)": static,
        "fused fp32 (no quantisation)": lambda target: shutil.copyfile(fused, target),
    }


def export_folder(alias: str) -> Path:
    """The export folder (with the fp32 graph) of the run behind a registered alias."""
    from mlflow import MlflowClient

    from model.settings import configure_mlflow, get_settings

    settings = get_settings()
    configure_mlflow(settings)
    client = MlflowClient()
    version = client.get_model_version_by_alias(settings.registered_model, alias)
    run = client.get_run(version.run_id)
    found = sorted(Path(settings.var_dir, "checkpoints", "transformer").glob("*/export/" + FP32))
    key = run.data.params.get("run_key")
    for path in found:
        if key and key in str(path):
            return path.parent
    if not found:
        raise SystemExit("no transformer export with an fp32 graph under var/checkpoints: train one first")
    return max(found, key=lambda p: p.stat().st_mtime).parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--folder", type=Path, help="an export folder holding model.fp32.onnx")
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    source = args.folder or export_folder(args.alias)
    texts = held_out_texts(args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("meta.json", "tokenizer.json", FP32):
            shutil.copyfile(source / name, work / name)
        if (source / "model.fused.onnx").is_file():
            shutil.copyfile(source / "model.fused.onnx", work / "model.fused.onnx")
        meta = json.loads((work / "meta.json").read_text())
        ref = OnnxTriageModel.load(work, onnx_file=FP32).predict_proba(texts)
        rows = []
        for name, build in variants(work, meta).items():
            target = work / "variant.onnx"
            try:
                build(target)
            except Exception as exc:  # noqa: BLE001 - a variant that cannot be built is a result
                rows.append({"variant": name, "error": f"{type(exc).__name__}: {exc}"[:160]})
                continue
            model = OnnxTriageModel.load(work, onnx_file=target.name)
            row = {
                "variant": name,
                **agreement(model.predict_proba(texts), ref),
                **timing(model, texts[:100]),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{len(texts)} held-out texts; reference: the fp32 graph of {source}\n")
    print(
        "| graph | label agreement with fp32 (all / decisive) | max abs diff "
        "| single p50 / p99 ms | batch-64 texts/s |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['variant']} | failed: {r['error']} | | | |")
        else:
            print(
                f"| {r['variant']} | {r['label_agreement']:.2%} / {r['decisive_agreement']:.2%} "
                f"| {r['max_abs_diff']:.3f} "
                f"| {r['single_p50_ms']:.2f} / {r['single_p99_ms']:.2f} | {r['batch64_texts_per_s']} |"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
