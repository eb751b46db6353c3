"""Torch side of the transformer family: the multi-head network, its masked loss,
tokenisation and the ONNX export.

Only training and benchmarks import this module; serving uses
``model.onnx_runtime`` and never loads torch or transformers.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from model.dataset import Row
from model.taxonomy import HEADS

TOKENIZER_FILE = "tokenizer.json"


def load_tokenizer(base_model: str, max_length: int) -> Tokenizer:
    """The fast tokenizer of a base model, as the ``tokenizers`` library reads it.

    Training, export checks and serving all tokenise with this same object, so
    the ids the ONNX graph sees in production are exactly those it was trained on.
    A local folder with ``tokenizer.json`` is read directly; anything else goes
    through transformers (hub id or a folder with only a slow vocabulary).
    """
    folder = Path(base_model)
    if (folder / TOKENIZER_FILE).is_file():
        tok = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    else:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(base_model)
        backend = getattr(hf, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(f"{base_model}: no fast tokenizer (tokenizer.json) available")
        tok = Tokenizer.from_str(backend.to_str())
    return configure_tokenizer(tok, max_length)


def configure_tokenizer(tok: Tokenizer, max_length: int) -> Tokenizer:
    """Truncate to ``max_length`` and never pad: batches are padded to their longest row."""
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def pad_id(tok: Tokenizer) -> int:
    for candidate in ("[PAD]", "<pad>", "<|padding|>"):
        found = tok.token_to_id(candidate)
        if found is not None:
            return found
    return 0


def pad_batch(
    ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]], pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-pad a batch to its longest sequence (dynamic padding)."""
    n, width = len(ids), max(len(x) for x in ids)
    input_ids = np.full((n, width), pad, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    for i, (seq, tt) in enumerate(zip(ids, type_ids, strict=True)):
        input_ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
        types[i, : len(tt)] = tt
    return input_ids, mask, types


class MultiHeadClassifier(nn.Module):
    """A shared encoder, mean pooling, and one linear head per taxonomy field.

    Mean pooling matches how sentence-transformer checkpoints such as
    all-MiniLM-L6-v2 were pre-trained, so fine-tuning starts from useful
    sentence vectors.
    """

    def __init__(self, encoder: nn.Module, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h.name: nn.Linear(hidden, len(h.labels)) for h in HEADS})
        params = inspect.signature(encoder.forward).parameters
        self.uses_token_types = (
            "token_type_ids" in params and (getattr(encoder.config, "type_vocab_size", 0) or 0) > 1
        )

    @classmethod
    def from_pretrained(
        cls, base_model: str, dropout: float = 0.1, layers: int | None = None
    ) -> MultiHeadClassifier:
        """``layers``: keep that many encoder layers, evenly spaced from the first (DistilBERT's
        every-other-layer initialisation for half): a layer-reduced student, same tokenizer."""
        from transformers import AutoModel

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        encoder = AutoModel.from_pretrained(base_model)
        if layers is not None:
            keep_layers(encoder, layers)
        return cls(encoder, dropout)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.uses_token_types and token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        pooled = self.dropout(pooled)
        return {name: head(pooled) for name, head in self.heads.items()}


def keep_layers(encoder: nn.Module, layers: int) -> list[int]:
    """Cut a BERT-style encoder to ``layers`` of its layers (indices ``i * L // layers``)."""
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(stack, nn.ModuleList):
        raise ValueError(f"{type(encoder).__name__}: cannot reduce layers (no encoder.layer list)")
    total = len(stack)
    if not 1 <= layers <= total:
        raise ValueError(f"layers must be between 1 and {total} for this base model, got {layers}")
    kept = [i * total // layers for i in range(layers)]
    encoder.encoder.layer = nn.ModuleList(stack[i] for i in kept)
    encoder.config.num_hidden_layers = layers
    return kept


class _ProbabilityGraph(nn.Module):
    """Export wrapper: softmax per head, outputs in taxonomy order, named by head."""

    def __init__(self, model: MultiHeadClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.model(*inputs)
        return tuple(torch.softmax(logits[h.name], dim=-1) for h in HEADS)


# ---------------------------------------------------------------- targets and loss


def encode_targets(rows: Sequence[Row]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per head: class index per row (-1 = unlabelled) and a bool (n, C) exclusion mask."""
    targets: dict[str, np.ndarray] = {}
    excludes: dict[str, np.ndarray] = {}
    for h in HEADS:
        y = np.full(len(rows), -1, dtype=np.int64)
        ex = np.zeros((len(rows), len(h.labels)), dtype=bool)
        for i, row in enumerate(rows):
            label = row.labels.get(h.name)
            if label is not None:
                y[i] = h.index(label)
            for value in row.excludes.get(h.name, []):
                ex[i, h.index(value)] = True
        ex[ex.all(axis=1)] = False  # excluding every class says nothing usable
        targets[h.name], excludes[h.name] = y, ex
    return targets, excludes


def class_weights(targets: dict[str, np.ndarray], max_weight: float = 10.0) -> dict[str, np.ndarray]:
    """'Balanced' weights n / (C * count) per head, from labelled rows only, capped."""
    out: dict[str, np.ndarray] = {}
    for h in HEADS:
        y = targets[h.name]
        y = y[y >= 0]
        counts = np.bincount(y, minlength=len(h.labels)).astype(np.float64)
        w = np.ones(len(h.labels))
        if len(y):
            present = counts > 0
            w[present] = len(y) / (present.sum() * counts[present])
        out[h.name] = np.clip(w, 1.0 / max_weight, max_weight)
    return out


def masked_loss(
    logits: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    excludes: dict[str, torch.Tensor],
    weights: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Sum over heads of the mean loss of the rows that carry information for the head.

    A labelled row adds (weighted) cross-entropy. A row that only excludes
    classes adds ``-log(1 - sum p(excluded))``, computed as
    ``logsumexp(allowed logits) - logsumexp(all logits)`` for stability. A row
    with neither adds nothing, and a head with no such rows in the batch is
    left out, so it receives no gradient at all.
    """
    total: torch.Tensor | None = None
    for name, z in logits.items():
        y = targets[name]
        labelled = y >= 0
        ex = excludes[name]
        only_excl = ~labelled & ex.any(dim=1)
        if not bool(labelled.any()) and not bool(only_excl.any()):
            continue
        numerator = z.new_zeros(())
        denominator = z.new_zeros(())
        if bool(labelled.any()):
            logp = torch.log_softmax(z[labelled], dim=-1)
            nll = -logp.gather(1, y[labelled].unsqueeze(1)).squeeze(1)
            w = weights[name][y[labelled]] if weights is not None else torch.ones_like(nll)
            numerator = numerator + (w * nll).sum()
            denominator = denominator + w.sum()
        if bool(only_excl.any()):
            ze = z[only_excl]
            allowed = ze.masked_fill(ex[only_excl], float("-inf"))
            loss = torch.logsumexp(ze, dim=-1) - torch.logsumexp(allowed, dim=-1)
            numerator = numerator + loss.sum()
            denominator = denominator + only_excl.sum()
        head_loss = numerator / denominator
        total = head_loss if total is None else total + head_loss
    if total is None:
        return next(iter(logits.values())).sum() * 0.0
    return total


# ---------------------------------------------------------------- inference and export


@torch.no_grad()
def torch_predict_proba(
    model: MultiHeadClassifier,
    tok: Tokenizer,
    texts: Sequence[str],
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """Reference probabilities from the torch model (length-sorted batches)."""
    model.eval()
    encodings = tok.encode_batch(list(texts))
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    out = {h.name: np.zeros((len(texts), len(h.labels)), dtype=np.float32) for h in HEADS}
    pad = pad_id(tok)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask, types = pad_batch(
            [encodings[i].ids for i in idx], [encodings[i].type_ids for i in idx], pad
        )
        logits = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
        for name, z in logits.items():
            out[name][idx] = torch.softmax(z, dim=-1).numpy()
    return out


def export_onnx(model: MultiHeadClassifier, tok: Tokenizer, path: Path) -> list[str]:
    """Export probabilities per head to ONNX (legacy tracer, dynamic batch and length).

    ``dynamo=False``: the dynamo exporter needs onnxscript, which the project
    does not ship; the tracer handles BERT-style encoders fine. Returns the
    graph's input names.
    """
    model.eval()
    if hasattr(model.encoder, "set_attn_implementation"):
        # eager attention traces to plain MatMul/Softmax, which ORT fuses well
        with contextlib.suppress(ValueError, ImportError):
            model.encoder.set_attn_implementation("eager")
    sample = tok.encode_batch(["a short example", "another, somewhat longer example text"])
    ids, mask, types = pad_batch([e.ids for e in sample], [e.type_ids for e in sample], 0)
    inputs = [torch.from_numpy(ids), torch.from_numpy(mask)]
    names = ["input_ids", "attention_mask"]
    if model.uses_token_types:
        inputs.append(torch.from_numpy(types))
        names.append("token_type_ids")
    outputs = [h.name for h in HEADS]
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes.update({n: {0: "batch"} for n in outputs})
    path.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _ProbabilityGraph(model),
            tuple(inputs),
            str(path),
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    return names


_FFN_OUTPUT = re.compile(r"layer\.(\d+)/(?:output/dense|ffn/lin2)/MatMul$")
_FFN_INPUT = re.compile(r"layer\.(\d+)/(?:intermediate/dense|ffn/lin1)/MatMul$")


def ffn_output_matmuls(path: Path, first_layers: int, *, whole_ffn: bool = False) -> list[str]:
    """Names of the FFN output MatMuls of the first ``first_layers`` encoder layers.

    Their inputs are post-GELU activations with large outliers, which one
    per-tensor dynamic int8 scale represents badly; on the fine-tuned MiniLM,
    keeping the first three of them in fp32 cut the worst probability error
    from 0.29 to 0.18 and label disagreement with torch from 1.6 % to 0.7 %
    (later layers mattered little). Matches BERT/RoBERTa/XLM-R and DistilBERT
    node names; other architectures are simply quantised throughout. ``whole_ffn`` adds
    the FFN's first MatMul (whose output feeds GELU): the fine-tuned e5-small needed that to
    pass the export check (decisive agreement 98.4 % -> 99.9 %, benchmarks.export).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    patterns = (_FFN_OUTPUT, _FFN_INPUT) if whole_ffn else (_FFN_OUTPUT,)
    names = []
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        for pattern in patterns:
            found = pattern.search(node.name)
            if found and int(found.group(1)) < first_layers:
                names.append(node.name)
    return names


def quantize_int8(
    source: Path,
    target: Path,
    keep_fp32: Sequence[str] = (),
    *,
    per_channel: bool = True,
    weight_type: str = "QInt8",
    op_types: Sequence[str] | None = None,
) -> None:
    """Dynamic int8 quantisation, by default with per-channel QInt8 weight scales.

    Per-channel scales keep probabilities closer to fp32 than one scale per
    tensor; ``keep_fp32`` names nodes left unquantised (see ffn_output_matmuls);
    ``op_types`` limits the operators quantised (default: all ORT supports, which on a
    fused graph includes Attention -> QAttention). The other options exist so that
    ``benchmarks.export`` can measure them.
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # silences ORT's "consider pre-processing" hint
    try:
        quantize_dynamic(
            str(source),
            str(target),
            per_channel=per_channel,
            weight_type=QuantType[weight_type],
            nodes_to_exclude=list(keep_fp32) or None,
            op_types_to_quantize=list(op_types) if op_types else None,
            # fused contrib ops (Attention, SkipLayerNormalization) have no ONNX type inference:
            # without a default the quantiser cannot type their outputs
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def fuse_bert(source: Path, target: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """ONNX Runtime's BERT fusions (Attention, SkipLayerNormalization, BiasGelu, ...) on the
    fp32 graph; returns how many of each fused operator the graph now holds.

    The traced graph computes attention and every layer norm in 10-20 small operators; the
    fused kernels do each in one pass. Run before quantisation, so the quantiser sees (and
    turns into QAttention) the fused attention. Only the Python fusions run here
    (``opt_level=0``): ONNX Runtime applies its own graph optimisations when it loads the file.
    """
    import logging

    from onnxruntime.transformers.optimizer import optimize_model

    quiet = [logging.getLogger(n) for n in ("onnxruntime.transformers", "fusion_utils", "onnx_model")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        fused = optimize_model(
            str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0
        )
        stats = {k: int(v) for k, v in fused.get_fused_operator_statistics().items() if v}
        fused.save_model_to_file(str(target))
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    return stats
