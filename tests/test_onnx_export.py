"""ONNX export parity: fp32 and int8 graphs against the torch model, the parity gate,
and the runtime's promise that serving imports neither torch nor transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.onnx_runtime import OnnxTriageModel
from model.taxonomy import HEADS

TEXTS = [
    "@SkyHopCare my flight was delayed 3 hours and nobody tells us anything",
    "thanks so much for the great service today!",
    "@NSHelpdesk hoe laat vertrekt de trein naar Utrecht? De app doet het niet",
    "ok",
    "@Brand I have been waiting for a refund since March. This is the fourth time I ask. "
    "Order 12345, please check and call me back, I am really fed up with this by now.",
    "Tak for hjælpen i går, alt virker nu 👍",
    "Le colis n'est toujours pas arrivé, que se passe-t-il ?",
] * 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """An untrained multi-head model on the default base model, exported once."""
    import torch

    from model.transformer import MultiHeadClassifier, load_tokenizer
    from training.transformer import TransformerParams, export_and_verify

    torch.manual_seed(0)
    params = TransformerParams()
    tok = load_tokenizer(params.base_model, params.max_length)
    model = MultiHeadClassifier.from_pretrained(params.base_model).eval()
    with torch.no_grad():  # sharper heads than the default init, so labels are decisive
        for head in model.heads.values():
            head.weight.mul_(5)
    out = tmp_path_factory.mktemp("export")
    runtime, parity = export_and_verify(model, tok, out, TEXTS, params)
    return model, tok, runtime, parity, out


def test_fp32_and_int8_match_torch(exported) -> None:
    from model.transformer import torch_predict_proba

    model, tok, runtime, parity, out = exported
    reference = torch_predict_proba(model, tok, TEXTS)
    fp32 = OnnxTriageModel.load(out, onnx_file="model.fp32.onnx").predict_proba(TEXTS)
    int8 = runtime.predict_proba(TEXTS)
    for h in HEADS:
        assert fp32[h.name].shape == reference[h.name].shape == (len(TEXTS), len(h.labels))
        assert np.abs(fp32[h.name] - reference[h.name]).max() < 1e-4
        assert np.abs(int8[h.name] - reference[h.name]).max() < 0.15
    assert parity["parity.fp32.label_agreement"] == 1.0
    assert parity["parity.int8.decisive_label_agreement"] >= 0.99
    # int8 weights, except the FFN MatMuls the check kept in fp32 (meta.json names them)
    assert (out / "model.onnx").stat().st_size < 0.5 * (out / "model.fp32.onnx").stat().st_size


def test_single_text_and_batch_give_the_same_probabilities(exported) -> None:
    """fp32: padding and batch-mates change nothing. int8: dynamic quantisation scales
    activations per batch (padding included), so batch-mates shift probabilities a little."""
    runtime, out = exported[2], exported[4]
    fp32 = OnnxTriageModel.load(out, onnx_file="model.fp32.onnx")
    for rt, atol in ((fp32, 1e-5), (runtime, 0.25)):
        batch = rt.predict_proba(TEXTS)
        for i in (0, 3, 4):
            one = rt.predict_proba([TEXTS[i]])
            for h in HEADS:
                assert np.allclose(one[h.name][0], batch[h.name][i], atol=atol)
    empty = runtime.predict_proba([])
    assert all(empty[h.name].shape == (0, len(h.labels)) for h in HEADS)


def test_meta_describes_the_runtime(exported) -> None:
    out = exported[4]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["runtime"] == "onnx" and meta["family"] == "transformer"
    assert meta["labels"] == {h.name: list(h.labels) for h in HEADS}
    assert meta["parity"]["parity.int8.max_abs_diff"] < 0.15
    assert (out / "tokenizer.json").is_file()
    # what was applied: the BERT fusions (MiniLM is BERT-shaped) and the fp32 FFN nodes
    assert meta["graph"]["fused"] is True and meta["graph"]["fused_ops"]["Attention"] == 6
    assert meta["fp32_nodes"] and all("/MatMul" in n for n in meta["fp32_nodes"])
    assert "per-channel QInt8" in meta["quantization"]


def test_parity_gate_fails_with_a_clear_error(exported, tmp_path: Path) -> None:
    from training.transformer import ExportParityError, TransformerParams, export_and_verify

    model, tok = exported[0], exported[1]
    strict = TransformerParams(parity_max_diff=0.0)
    with pytest.raises(ExportParityError, match=r"int8: max \|p - p_torch\| = .* > 0.0"):
        export_and_verify(model, tok, tmp_path / "strict", TEXTS[:7], strict)
    # The evidence is kept for inspection.
    meta = json.loads((tmp_path / "strict" / "meta.json").read_text())
    assert meta["parity"]["parity.int8.max_abs_diff"] > 0


def test_serving_path_imports_neither_torch_nor_transformers(exported) -> None:
    """The API builds runtimes via model.runtime: no torch, transformers or MLflow."""
    out = exported[4]
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from model.runtime import load_runtime\n"
        f"rt = load_runtime(Path({str(out)!r}))\n"
        "p = rt.predict_proba(['hello there', 'my parcel is late'])\n"
        "assert p['intent'].shape == (2, 6)\n"
        "bad = [m for m in ('torch', 'transformers', 'mlflow') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_runtime_survives_pickling(exported) -> None:
    import pickle

    runtime = exported[2]
    clone = pickle.loads(pickle.dumps(runtime))
    a, b = runtime.predict_proba(TEXTS[:3]), clone.predict_proba(TEXTS[:3])
    assert all(np.allclose(a[h.name], b[h.name]) for h in HEADS)


def test_export_fails_on_a_deliberately_broken_int8_graph(exported, tmp_path: Path, monkeypatch) -> None:
    """The check runs on what will be served: a quantiser that writes a wrong graph (here
    every head's softmax takes the negated logits) must stop the export."""
    import onnx

    import model.transformer as mt
    from training.transformer import ExportParityError, TransformerParams, export_and_verify

    real_quantize = mt.quantize_int8

    def broken(source: Path, target: Path, *args: object, **kwargs: object) -> None:
        real_quantize(source, target, *args, **kwargs)
        graph_model = onnx.load(str(target))
        graph = graph_model.graph
        for node in [n for n in graph.node if n.op_type == "Softmax"]:
            negated = f"{node.input[0]}_negated"
            graph.node.append(onnx.helper.make_node("Neg", [node.input[0]], [negated]))
            node.input[0] = negated
        onnx.save(_toposorted(graph_model), str(target))

    monkeypatch.setattr(mt, "quantize_int8", broken)
    model, tok = exported[0], exported[1]
    with pytest.raises(ExportParityError, match=r"int8: label agreement"):
        export_and_verify(model, tok, tmp_path / "broken", TEXTS[:7], TransformerParams())


def _toposorted(graph_model):
    """Nodes in an order ONNX Runtime accepts (the Neg nodes were appended at the end)."""
    graph = graph_model.graph
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        assert ready, "cycle"
        for n in ready:
            ordered.append(n)
            known.update(n.output)
            pending.remove(n)
    del graph.node[:]
    graph.node.extend(ordered)
    return graph_model
