"""The transformer family: fine-tune a shared encoder with one head per taxonomy field,
export it to ONNX, quantise it to int8 and hand back the ONNX runtime.

``fit`` returns what is served (the int8 ONNX runtime), so the test metrics
``training.train`` logs are those of the registered artefact, not of the torch
model. Training is resumable: checkpoints live under
``$WEBCARE_VAR_DIR/checkpoints/transformer/<run key>/`` and ``resume=True``
(``webcare train --resume``) continues from the last one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from model.base import TriageModel
from model.dataset import Row
from model.onnx_runtime import OnnxTriageModel
from model.settings import Settings
from model.taxonomy import HEADS
from training.artefact import pins, texts_of, write_meta
from training.e5_convert import E5_NAME, E5_PRUNED
from training.evaluate import complaint_metrics, head_metrics

ONNX_INT8 = "model.onnx"
ONNX_FP32 = "model.fp32.onnx"
ONNX_FUSED = "model.fused.onnx"
FP32_MAX_DIFF = 1e-3
"""fp32 ONNX must match torch to float rounding; anything larger means a broken graph."""


class ExportParityError(RuntimeError):
    """The exported graph disagrees with the torch model beyond the documented bound."""


@dataclass
class TransformerParams:
    base_model: str = field(default_factory=lambda: Settings().base_model)
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 8e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    dropout: float = 0.1
    max_class_weight: float = 10.0
    patience: int = 2
    """Evaluations without a better validation score before training stops early."""
    evals_per_epoch: int = 1
    precision: str = "auto"
    """Training matmul precision: "bf16" autocast (weights stay fp32), "fp32", or "auto" =
    bf16 where the CPU has native bf16 (AVX512-BF16/AMX), where it is ~2x faster."""
    freeze_embeddings: bool = False
    """Keep the word-embedding matrix fixed: less optimizer work per step."""
    seed: int = 13
    checkpoint_every: int = 200
    """Optimizer steps between checkpoints (one is also written at every evaluation)."""
    layers: int | None = None
    """Encoder layers to keep (evenly spaced): a layer-reduced student of the base model,
    faster to serve; None keeps them all."""
    fp32_ffn_layers: int = 3
    """FFN output MatMuls of the first N encoder layers stay fp32 in the int8 graph."""
    parity_max_diff: float = 0.3
    """Max |p_int8 - p_torch| over held-out texts, any head and class."""
    parity_min_agreement: float = 0.99
    """Min share of decisive (text, head) pairs where int8 and torch pick the same label."""
    parity_tie_margin: float = 0.05
    """A pair is decisive when torch's top-2 probability margin is at least this: quantisation
    noise may legitimately flip near-ties (raw agreement is logged too)."""
    parity_texts: int = 1000

    def as_dict(self) -> dict[str, object]:
        return {f"transformer.{k}": v for k, v in asdict(self).items()}

    def run_key(self, train_ids: Sequence[str], validation_ids: Sequence[str]) -> str:
        """Same hyper-parameters and data -> same checkpoint folder (what resume finds)."""
        skip = {
            "parity_max_diff",
            "parity_min_agreement",
            "parity_tie_margin",
            "parity_texts",
            "checkpoint_every",
            "fp32_ffn_layers",
        }
        relevant = {k: v for k, v in asdict(self).items() if k not in skip}
        if relevant.get("layers") is None:  # keys of runs from before the setting stay valid
            relevant.pop("layers", None)
        digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode())
        for ids in (train_ids, validation_ids):
            digest.update("\n".join(sorted(ids)).encode())
            digest.update(b"\0")
        return digest.hexdigest()[:16]


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def bf16_supported() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of similar length: far less padding than random batches.

    Rows are shuffled, cut into pools of 50 batches, sorted by length inside a
    pool, batched, and the batches shuffled again. Deterministic per seed, so
    a resumed run replays exactly the same order.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        part = order[start : start + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def validation_score(metrics: dict[str, float], prefix: str = "validation") -> float:
    """Early-stopping score: mean macro-F1 over the heads (and complaint-vs-not) scored."""
    keys = [f"{prefix}.{h.name}.macro_f1" for h in HEADS] + [f"{prefix}.complaint.macro_f1"]
    values = [metrics[k] for k in keys if k in metrics]
    return float(np.mean(values)) if values else float("nan")


def _margin(probas: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row."""
    top = np.sort(probas, axis=1)
    return top[:, -1] - top[:, -2]


def _log_mlflow(metrics: dict[str, float], step: int | None = None) -> None:
    """Log to the active MLflow run, if any (fit also runs outside MLflow)."""
    import mlflow

    if mlflow.active_run() is not None and metrics:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)


class TransformerFamily:
    """Family protocol implementation (see training.families.Family)."""

    name = "transformer"

    def __init__(
        self,
        epochs: int | None = None,
        base_model: str | None = None,
        *,
        resume: bool = False,
        checkpoint_dir: Path | None = None,
        progress: bool = True,
        **hyper: Any,
    ) -> None:
        known = {f.name for f in fields(TransformerParams)}
        unknown = sorted(set(hyper) - known)
        if unknown:
            raise ValueError(f"unknown transformer option(s): {', '.join(unknown)}")
        if epochs is not None:
            hyper["epochs"] = int(epochs)
        if base_model:
            hyper["base_model"] = str(base_model)
        if hyper.get("base_model") in (E5_NAME, E5_PRUNED):
            # 96M of its 118M parameters are the 250k-piece embedding table: updating it
            # with AdamW dominates a CPU step and a few thousand tweets cannot teach it
            hyper.setdefault("freeze_embeddings", True)
        self.hyper = TransformerParams(**hyper)
        if self.hyper.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if self.hyper.precision not in ("auto", "bf16", "fp32"):
            raise ValueError("precision must be auto, bf16 or fp32")
        if self.hyper.layers is not None and self.hyper.layers < 1:
            raise ValueError("layers must be at least 1")
        self.resume = resume
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress
        # Set by fit, for benchmarks and inspection:
        self.torch_model: Any = None
        self.tokenizer: Any = None
        self.export_dir: Path | None = None
        self.timings: dict[str, float] = {}
        self.parity: dict[str, float] = {}
        self._run_dir_path: Path | None = None

    # ------------------------------------------------------------------ protocol

    def params(self) -> dict[str, object]:
        return self.hyper.as_dict()

    def pip_requirements(self) -> list[str]:
        return pins("mlflow", "onnxruntime", "tokenizers", "numpy", "pandas")

    def save(self, model: TriageModel, folder: Path) -> None:
        if not isinstance(model, OnnxTriageModel):
            raise TypeError("TransformerFamily.save expects the OnnxTriageModel fit returned")
        folder.mkdir(parents=True, exist_ok=True)
        for name in (ONNX_INT8, "tokenizer.json"):
            shutil.copyfile(model.folder / name, folder / name)
        meta = json.loads((model.folder / "meta.json").read_text())
        extra = {k: v for k, v in meta.items() if k not in ("runtime", "family")}
        write_meta(folder, "onnx", self.name, **extra)

    def fit(self, train: Sequence[Row], validation: Sequence[Row]) -> TriageModel:
        model, tok = self._fine_tune(train, validation)
        started = time.perf_counter()
        runtime = self._export(model, tok, train, validation)
        self.timings["export_seconds"] = time.perf_counter() - started
        _log_mlflow(self.timings)
        return runtime

    # ------------------------------------------------------------------ training

    def _run_dir(self, train: Sequence[Row], validation: Sequence[Row]) -> Path:
        root = self.checkpoint_dir or Settings().var_dir / "checkpoints" / "transformer"
        key = self.hyper.run_key([r.id for r in train], [r.id for r in validation])
        return Path(root) / key

    def _fine_tune(self, train: Sequence[Row], validation: Sequence[Row]) -> tuple[Any, Any]:
        import torch
        from tqdm.auto import tqdm

        from model.transformer import (
            MultiHeadClassifier,
            class_weights,
            encode_targets,
            load_tokenizer,
            masked_loss,
            pad_batch,
            pad_id,
            torch_predict_proba,
        )

        if not train:
            raise ValueError("no training rows")
        session_start = time.perf_counter()
        p = self.hyper
        _seed_everything(p.seed)
        torch.set_num_threads(_cores())
        os.environ.setdefault("HF_HUB_OFFLINE", "1")

        from training.e5_convert import resolve_base_model

        settings = Settings()
        base = resolve_base_model(p.base_model, settings.var_dir, seed_dir=settings.seed_dir)
        tok = load_tokenizer(base, p.max_length)
        pad = pad_id(tok)
        encodings = tok.encode_batch(texts_of(train))
        ids = [e.ids for e in encodings]
        type_ids = [e.type_ids for e in encodings]
        lengths = np.array([len(x) for x in ids])
        targets, excludes = encode_targets(train)
        weights = {
            k: torch.tensor(v, dtype=torch.float32)
            for k, v in class_weights(targets, p.max_class_weight).items()
        }
        model = MultiHeadClassifier.from_pretrained(base, p.dropout, p.layers)
        use_bf16 = p.precision == "bf16" or (p.precision == "auto" and bf16_supported())
        if p.freeze_embeddings:
            for param in model.encoder.get_input_embeddings().parameters():
                param.requires_grad_(False)
        _log_mlflow({"bf16_autocast": float(use_bf16)})

        decay, no_decay = [], []
        for n, param in model.named_parameters():
            if not param.requires_grad:
                continue
            (no_decay if param.ndim < 2 or "LayerNorm" in n else decay).append(param)
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": p.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=p.learning_rate,
        )
        steps_per_epoch = (len(train) + p.batch_size - 1) // p.batch_size
        total_steps = steps_per_epoch * p.epochs
        warmup = max(1, int(total_steps * p.warmup_ratio))

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        eval_every = max(1, steps_per_epoch // max(1, p.evals_per_epoch))
        val_rows = list(validation)
        val_texts = texts_of(val_rows)

        run_dir = self._run_dir(train, validation)
        last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
        state: dict[str, Any] = {
            "epoch": 0,
            "step_in_epoch": 0,
            "global_step": 0,
            "best_score": float("-inf"),
            "best_step": -1,
            "bad_evals": 0,
            "history": [],
            "complete": False,
            "train_seconds": 0.0,
        }
        prior_seconds = 0.0
        if self.resume and last_path.is_file():
            checkpoint = torch.load(last_path, map_location="cpu", weights_only=False)
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            torch.set_rng_state(checkpoint["torch_rng"])
            state = checkpoint["state"]
            prior_seconds = float(state.get("train_seconds", 0.0))
            where = "finished" if state["complete"] else f"epoch {state['epoch'] + 1}"
            print(
                f"resuming from {last_path} ({where}, step {state['global_step']}/{total_steps})",
                file=sys.stderr,
            )
            for entry in state["history"]:  # replay earlier curves into this run
                _log_mlflow(entry["metrics"], step=entry["step"])
        else:
            if self.resume:
                print(f"no checkpoint in {run_dir}: starting from scratch", file=sys.stderr)
            shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        print(f"checkpoints: {run_dir}", file=sys.stderr)

        def save_checkpoint() -> None:
            state["train_seconds"] = prior_seconds + time.perf_counter() - session_start
            tmp = last_path.with_suffix(".tmp")
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "state": state,
                },
                tmp,
            )
            os.replace(tmp, last_path)

        def evaluate() -> bool:
            """Score validation, keep the best weights; True when patience is used up."""
            if not val_rows:
                return False
            probas = torch_predict_proba(model, tok, val_texts, batch_size=128)
            metrics = head_metrics(val_rows, probas, prefix="validation")
            metrics.update(complaint_metrics(val_rows, probas, prefix="validation"))
            score = validation_score(metrics)
            curve = {
                "curve.validation.score": score,
                "curve.epoch": state["global_step"] / steps_per_epoch,
            }
            curve.update(
                {f"curve.{k}": v for k, v in metrics.items() if k.endswith(".macro_f1") and ".lang." not in k}
            )
            _log_mlflow(curve, step=state["global_step"])
            state["history"].append({"step": state["global_step"], "metrics": curve})
            model.train()
            if score > state["best_score"]:
                state.update(best_score=score, best_step=state["global_step"], bad_evals=0)
                tmp = best_path.with_suffix(".tmp")
                torch.save(model.state_dict(), tmp)
                os.replace(tmp, best_path)
            else:
                state["bad_evals"] += 1
            print(
                f"step {state['global_step']}: validation score {score:.4f} "
                f"(best {state['best_score']:.4f} at step {state['best_step']})",
                file=sys.stderr,
            )
            return state["bad_evals"] >= p.patience

        model.train()
        bar = tqdm(
            total=total_steps,
            initial=state["global_step"],
            desc="fine-tune",
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        running, running_n = 0.0, 0
        try:
            while not state["complete"] and state["epoch"] < p.epochs:
                epoch = state["epoch"]
                batches = epoch_batches(lengths, p.batch_size, p.seed + epoch)
                stop = False
                for b in range(state["step_in_epoch"], len(batches)):
                    idx = batches[b]
                    bi, bm, bt = pad_batch([ids[i] for i in idx], [type_ids[i] for i in idx], pad)
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                        logits = model(torch.from_numpy(bi), torch.from_numpy(bm), torch.from_numpy(bt))
                    loss = masked_loss(
                        {k: v.float() for k, v in logits.items()},
                        {k: torch.from_numpy(v[idx]) for k, v in targets.items()},
                        {k: torch.from_numpy(v[idx]) for k, v in excludes.items()},
                        weights,
                    )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    state["global_step"] += 1
                    state["step_in_epoch"] = b + 1
                    running += float(loss.detach())
                    running_n += 1
                    bar.update(1)
                    if state["global_step"] % 20 == 0 or state["step_in_epoch"] == len(batches):
                        curve = {
                            "curve.train.loss": running / running_n,
                            "curve.train.lr": scheduler.get_last_lr()[0],
                        }
                        bar.set_postfix(loss=f"{curve['curve.train.loss']:.3f}")
                        _log_mlflow(curve, step=state["global_step"])
                        state["history"].append({"step": state["global_step"], "metrics": curve})
                        running, running_n = 0.0, 0
                    at_eval = state["step_in_epoch"] % eval_every == 0 and (
                        len(batches) - state["step_in_epoch"] >= eval_every // 2
                    )
                    if at_eval or state["step_in_epoch"] == len(batches):
                        stop = evaluate()
                        save_checkpoint()
                        if stop:
                            break
                    elif state["global_step"] % p.checkpoint_every == 0:
                        save_checkpoint()
                if stop:
                    print("early stopping: validation score stopped improving", file=sys.stderr)
                    break
                state.update(epoch=epoch + 1, step_in_epoch=0)
            state["complete"] = True
            save_checkpoint()
        except KeyboardInterrupt:
            save_checkpoint()
            print(
                f"\ninterrupted: checkpoint saved in {run_dir}; rerun with --resume",
                file=sys.stderr,
            )
            raise
        finally:
            bar.close()

        if best_path.is_file():
            model.load_state_dict(torch.load(best_path, map_location="cpu"))
        model.eval()
        _log_mlflow(
            {"best_validation_score": state["best_score"], "best_step": state["best_step"]}
            if state["best_step"] >= 0
            else {}
        )
        # Wall time of the fine-tune over all sessions of a resumed run (model loading,
        # training steps, validation passes), not counting the export.
        state["train_seconds"] = prior_seconds + time.perf_counter() - session_start
        self.timings["fine_tune_seconds"] = state["train_seconds"]
        self.torch_model, self.tokenizer = model, tok
        self._run_dir_path = run_dir
        return model, tok

    # ------------------------------------------------------------------ export

    def _export(
        self, model: Any, tok: Any, train: Sequence[Row], validation: Sequence[Row]
    ) -> OnnxTriageModel:
        assert self._run_dir_path is not None
        # Held-out texts: validation rows (never trained on); training texts only as a
        # fallback for tiny runs without validation data.
        source = "validation" if validation else "train"
        texts = texts_of(validation or train)[: self.hyper.parity_texts]
        runtime, parity = export_and_verify(
            model, tok, self._run_dir_path / "export", texts, self.hyper, texts_from=source
        )
        self.parity = parity
        self.export_dir = runtime.folder
        return runtime


def _parity(
    variant: str,
    got: dict,
    reference: dict,
    max_diff: float,
    hyper: TransformerParams,
    parity: dict[str, float],
) -> list[str]:
    """Record one variant's agreement with torch in ``parity``; the bounds it breaks."""
    diff = max(float(np.abs(got[h.name] - reference[h.name]).max()) for h in HEADS)
    agree = [got[h.name].argmax(1) == reference[h.name].argmax(1) for h in HEADS]
    decisive = [_margin(reference[h.name]) >= hyper.parity_tie_margin for h in HEADS]
    all_agree, all_decisive = np.concatenate(agree), np.concatenate(decisive)
    decisive_agreement = float(all_agree[all_decisive].mean()) if all_decisive.any() else 1.0
    parity[f"parity.{variant}.max_abs_diff"] = diff
    parity[f"parity.{variant}.label_agreement"] = float(all_agree.mean())
    parity[f"parity.{variant}.decisive_label_agreement"] = decisive_agreement
    parity[f"parity.{variant}.decisive_share"] = float(all_decisive.mean())
    for h, a in zip(HEADS, agree, strict=True):
        parity[f"parity.{variant}.{h.name}.label_agreement"] = float(a.mean())
    failures = []
    if diff > max_diff:
        failures.append(f"{variant}: max |p - p_torch| = {diff:.4f} > {max_diff}")
    if decisive_agreement < hyper.parity_min_agreement:
        failures.append(
            f"{variant}: label agreement {decisive_agreement:.4f} < "
            f"{hyper.parity_min_agreement} where torch's top-2 margin >= {hyper.parity_tie_margin}"
        )
    return failures


def export_and_verify(
    model: Any,
    tok: Any,
    out: Path,
    texts: Sequence[str],
    hyper: TransformerParams,
    *,
    texts_from: str = "held-out",
) -> tuple[OnnxTriageModel, dict[str, float]]:
    """Export fp32 ONNX, fuse it, quantise to int8, and check the graphs against torch on ``texts``.

    Bounds: fp32 (and the fused fp32 graph) within ``FP32_MAX_DIFF`` (a wrong graph, not
    rounding, if not); int8 within ``hyper.parity_max_diff`` of every torch probability, and
    the same label on at least ``hyper.parity_min_agreement`` of the (text, head) pairs where
    torch is not on a near-tie. The parity figures are logged to the active MLflow run and
    stored in meta.json before a violation raises ExportParityError, so a failed export still
    leaves its evidence.
    """
    from model.transformer import (
        export_onnx,
        ffn_output_matmuls,
        pad_id,
        quantize_int8,
        torch_predict_proba,
    )

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    inputs = export_onnx(model, tok, out / ONNX_FP32)
    tok.save(str(out / "tokenizer.json"))
    config = model.encoder.config
    layers = int(getattr(config, "num_hidden_layers", hyper.fp32_ffn_layers))
    meta: dict[str, object] = {
        "onnx": ONNX_FP32,
        "tokenizer": "tokenizer.json",
        "max_length": hyper.max_length,
        "pad_id": pad_id(tok),
        "inputs": inputs,
        "labels": {h.name: list(h.labels) for h in HEADS},
        "base_model": hyper.base_model,
        "num_heads": int(config.num_attention_heads),
        "hidden_size": int(config.hidden_size),
    }
    write_meta(out, "onnx", TransformerFamily.name, **meta)
    reference = torch_predict_proba(model, tok, texts)
    parity: dict[str, float] = {"parity.n_texts": float(len(texts))}
    failures = check_parity(out, {"fp32": (ONNX_FP32, FP32_MAX_DIFF)}, texts, reference, hyper, parity)
    source, fusion = _fuse(out, config, texts, reference, hyper, parity)
    # more FFN MatMuls stay fp32 only when the int8 graph fails the check: the fewest that
    # pass, by measurement (deeper encoders need more; the fine-tuned e5-small needed both
    # MatMuls of all 12 FFNs, benchmarks.export), fastest first
    first = min(hyper.fp32_ffn_layers, layers)
    plan = [(n, False) for n in sorted({first, *(n for n in (6, layers) if first < n <= layers)})]
    plan.append((layers, True))
    for fp32_layers, whole_ffn in plan if not failures else ():
        keep_fp32 = ffn_output_matmuls(out / source, fp32_layers, whole_ffn=whole_ffn)
        quantize_int8(out / source, out / ONNX_INT8, keep_fp32)
        meta.update(
            onnx=ONNX_INT8,
            graph=fusion,
            quantization="onnxruntime dynamic int8, per-channel QInt8 weights",
            fp32_ffn_layers=fp32_layers,
            fp32_ffn="both MatMuls" if whole_ffn else "output MatMul",
            fp32_nodes=keep_fp32,
        )
        write_meta(out, "onnx", TransformerFamily.name, **meta)
        failures = check_parity(
            out, {"int8": (ONNX_INT8, hyper.parity_max_diff)}, texts, reference, hyper, parity
        )
        parity["parity.int8.fp32_ffn_layers"] = float(fp32_layers)
        parity["parity.int8.fp32_whole_ffn"] = float(whole_ffn)
        if not failures:
            break
    _log_mlflow(parity)
    meta["parity"] = {"texts": f"{len(texts)} {texts_from} texts", **parity}
    write_meta(out, "onnx", TransformerFamily.name, **meta)
    if failures:
        raise ExportParityError(
            f"ONNX export of {hyper.base_model} disagrees with the torch model on "
            f"{len(texts)} {texts_from} texts: " + "; ".join(failures)
        )
    return OnnxTriageModel.load(out), parity


def check_parity(
    folder: Path,
    variants: dict[str, tuple[str, float]],
    texts: Sequence[str],
    reference: dict[str, np.ndarray],
    hyper: TransformerParams,
    parity: dict[str, float],
) -> list[str]:
    """Run each ``{variant: (onnx file, max |p - p_torch|)}`` of ``folder`` on ``texts``; the
    bounds they break (empty: all within bounds). Figures go into ``parity``."""
    failures: list[str] = []
    for variant, (file, max_diff) in variants.items():
        got = OnnxTriageModel.load(folder, onnx_file=file).predict_proba(texts)
        failures += _parity(variant, got, reference, max_diff, hyper, parity)
    return failures


def _fuse(
    out: Path,
    config: Any,
    texts: Sequence[str],
    reference: dict[str, np.ndarray],
    hyper: TransformerParams,
    parity: dict[str, float],
) -> tuple[str, dict[str, object]]:
    """The graph to quantise: the BERT-fused one when the fusions apply and it still matches
    torch, else the plain export (with the reason in meta.json)."""
    from model.transformer import fuse_bert

    try:
        ops = fuse_bert(out / ONNX_FP32, out / ONNX_FUSED, config.num_attention_heads, config.hidden_size)
    except Exception as exc:  # noqa: BLE001 - an architecture the fusions do not know
        return ONNX_FP32, {"fused": False, "reason": f"fusion failed: {type(exc).__name__}: {exc}"[:300]}
    if not ops.get("Attention"):
        (out / ONNX_FUSED).unlink(missing_ok=True)
        return ONNX_FP32, {"fused": False, "reason": "no attention subgraph matched", "fused_ops": ops}
    failures = check_parity(out, {"fused": (ONNX_FUSED, FP32_MAX_DIFF)}, texts, reference, hyper, parity)
    if failures:
        return ONNX_FP32, {"fused": False, "reason": "; ".join(failures), "fused_ops": ops}
    return ONNX_FUSED, {"fused": True, "fused_ops": ops}
