"""Inference runtime of the transformer family: ONNX Runtime + the tokenizers library.

This is what the API process loads, so it imports only numpy, onnxruntime and
tokenizers (no torch, no transformers): the feasibility run measured ~0.6 s
to ready and ~140 MB resident this way, against ~4 s and ~475 MB with torch.

The artefact folder holds ``meta.json`` (written by the trainer), the int8
ONNX graph and ``tokenizer.json``. The graph outputs one probability array
per head, named after the head, in taxonomy label order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

THREADS_ENV = "WEBCARE_ORT_THREADS"
SPIN_ENV = "WEBCARE_ORT_SPIN"
BATCH_SIZE = 64


def default_threads() -> int:
    """Intra-op threads: ``WEBCARE_ORT_THREADS`` or the cores we may use, at most 4.

    More threads than cores only adds contention; beyond ~4 a model this small
    gains nothing, and an API worker should leave cores to its siblings.
    """
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def session_options(threads: int | None = None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning():
        # idle intra-op threads sleep instead of spinning, leaving the cores to the Python
        # work (parsing, priority, routing) that shares them between model calls
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def spinning() -> bool:
    """``WEBCARE_ORT_SPIN`` (default on): whether idle intra-op threads spin. Read as pydantic
    reads a bool, so the API's start-up check (serving.settings) and this reader agree."""
    from pydantic import TypeAdapter, ValidationError

    value = os.environ.get(SPIN_ENV, "1")
    try:
        return TypeAdapter(bool).validate_python(value.strip())
    except ValidationError:
        raise ValueError(f"{SPIN_ENV} must be 0 or 1 (got {value!r})") from None


class OnnxTriageModel:
    """``predict_proba(texts)`` over an ONNX graph; length-sorted batches of 64.

    Sorting by token length before batching keeps padding (wasted compute) low
    for mixed-length batches; single texts skip padding altogether.
    """

    def __init__(
        self,
        folder: Path,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        heads: Sequence[str],
        pad_id: int = 0,
        batch_size: int = BATCH_SIZE,
        n_labels: dict[str, int] | None = None,
    ) -> None:
        self.folder = folder
        self.n_labels = n_labels or {}
        self.session = session
        self.tokenizer = tokenizer
        self.heads = list(heads)
        self.pad_id = pad_id
        self.batch_size = batch_size
        self.input_names = [i.name for i in session.get_inputs()]
        outputs = {o.name for o in session.get_outputs()}
        missing = [h for h in self.heads if h not in outputs]
        if missing:
            raise ValueError(f"{folder}: ONNX graph has no output for head(s) {missing}")

    @classmethod
    def load(
        cls, folder: Path, *, threads: int | None = None, onnx_file: str | None = None
    ) -> OnnxTriageModel:
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        tokenizer = Tokenizer.from_file(str(folder / meta.get("tokenizer", "tokenizer.json")))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(meta.get("max_length", 128)))
        path = folder / (onnx_file or meta.get("onnx", "model.onnx"))
        session = ort.InferenceSession(
            str(path), session_options(threads), providers=["CPUExecutionProvider"]
        )
        n_labels = {h: len(v) for h, v in meta.get("labels", {}).items()}
        return cls(
            folder,
            session,
            tokenizer,
            meta["heads"],
            int(meta.get("pad_id", 0)),
            n_labels=n_labels,
        )

    def __getstate__(self) -> dict:
        return {"folder": str(self.folder)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(OnnxTriageModel.load(Path(state["folder"])).__dict__)

    def _batches(self, order: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Cut length-sorted rows into batches of at most ``batch_size`` whose longest row is
        at most twice (+8 tokens) their shortest: little padding to compute, and padding
        also widens the per-call activation range that dynamic int8 quantises with."""
        batches = []
        start = 0
        for i in range(1, len(order) + 1):
            if (
                i == len(order)
                or i - start == self.batch_size
                or lengths[order[i]] > 2 * lengths[order[start]] + 8
            ):
                batches.append(order[start:i])
                start = i
        return batches

    def _feed(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        return feed

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.heads, self._feed(ids, mask))

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        texts = list(texts)
        n = len(texts)
        if n == 0:
            return {h: np.zeros((0, self.n_labels.get(h, 0)), dtype=np.float32) for h in self.heads}
        if n == 1:
            ids = np.asarray([self.tokenizer.encode(texts[0]).ids], dtype=np.int64)
            outs = self._run(ids, np.ones_like(ids))
            return dict(zip(self.heads, outs, strict=True))
        encodings = [e.ids for e in self.tokenizer.encode_batch(texts)]
        lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        results: dict[str, np.ndarray] | None = None
        for idx in self._batches(order, lengths):
            width = int(lengths[idx].max())
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                seq = encodings[i]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            outs = self._run(ids, mask)
            if results is None:
                results = {
                    h: np.empty((n, o.shape[1]), dtype=o.dtype) for h, o in zip(self.heads, outs, strict=True)
                }
            for h, o in zip(self.heads, outs, strict=True):
                results[h][idx] = o
        assert results is not None
        return results
