"""Transformer family: masked partial-label loss, batching, resume, and a tiny
fine-tune registered end to end in a temporary MLflow store."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from model.dataset import Row
from model.taxonomy import BY_NAME, HEAD_NAMES, HEADS
from model.transformer import class_weights, encode_targets, masked_loss
from training.transformer import TransformerFamily, epoch_batches, validation_score

FIXTURES = Path(__file__).parent / "fixtures" / "public"


def row(i: int, **labels: str | None) -> Row:
    full: dict[str, str | None] = dict.fromkeys(HEAD_NAMES)
    full.update(labels)
    return Row(id=f"t-{i}", text=f"text {i}", lang="en", labels=full)


def heads_and_logits(n: int, seed: int = 0) -> tuple[torch.nn.ModuleDict, dict]:
    torch.manual_seed(seed)
    heads = torch.nn.ModuleDict({h.name: torch.nn.Linear(8, len(h.labels)) for h in HEADS})
    x = torch.randn(n, 8)
    return heads, {name: layer(x) for name, layer in heads.items()}


def as_tensors(rows: list[Row]) -> tuple[dict, dict]:
    targets, excludes = encode_targets(rows)
    return (
        {k: torch.from_numpy(v) for k, v in targets.items()},
        {k: torch.from_numpy(v) for k, v in excludes.items()},
    )


# ---------------------------------------------------------------- masked loss


def test_head_without_labels_gets_no_gradient() -> None:
    rows = [row(0, intent="complaint"), row(1, intent="question"), row(2)]
    heads, logits = heads_and_logits(len(rows))
    targets, excludes = as_tensors(rows)
    masked_loss(logits, targets, excludes).backward()
    assert heads["intent"].weight.grad is not None
    assert heads["intent"].weight.grad.abs().sum() > 0
    for name in ("sentiment", "needs_reply", "urgency"):
        grad = heads[name].weight.grad
        assert grad is None or torch.count_nonzero(grad) == 0, name


def test_unlabelled_row_adds_nothing_to_a_labelled_head() -> None:
    rows = [row(0, sentiment="negative"), row(1)]
    _, logits = heads_and_logits(2)
    targets, excludes = as_tensors(rows)
    loss = masked_loss(logits, targets, excludes)
    expected = torch.nn.functional.cross_entropy(logits["sentiment"][:1], torch.tensor([0]))
    assert torch.allclose(loss, expected)


def test_class_weights_match_weighted_cross_entropy() -> None:
    rows = [row(0, sentiment="negative"), row(1, sentiment="positive"), row(2, sentiment="positive")]
    _, logits = heads_and_logits(3)
    targets, excludes = as_tensors(rows)
    weights = {
        k: torch.tensor(v, dtype=torch.float32) for k, v in class_weights(encode_targets(rows)[0]).items()
    }
    loss = masked_loss(logits, targets, excludes, weights)
    expected = torch.nn.functional.cross_entropy(
        logits["sentiment"], targets["sentiment"], weight=weights["sentiment"]
    )
    assert torch.allclose(loss, expected)
    # balanced: the rare class weighs twice the frequent one
    assert weights["sentiment"][0] == pytest.approx(2 * weights["sentiment"][2])


def test_exclusion_loss_is_minus_log_of_the_allowed_mass() -> None:
    excl = row(0)
    excl.excludes = {"intent": ["complaint"]}
    _, logits = heads_and_logits(1)
    targets, excludes = as_tensors([excl])
    loss = masked_loss(logits, targets, excludes)
    p = torch.softmax(logits["intent"], dim=-1)[0]
    assert torch.allclose(loss, -torch.log(1 - p[BY_NAME["intent"].index("complaint")]))


def test_exclusion_pushes_probability_away_from_the_excluded_class() -> None:
    complaint = BY_NAME["intent"].index("complaint")
    excl = row(0)
    excl.excludes = {"intent": ["complaint"]}
    targets, excludes = as_tensors([excl])
    z = torch.zeros(1, len(BY_NAME["intent"].labels))
    z[0, complaint] = 2.0  # starts out believing "complaint"
    z.requires_grad_(True)
    optimizer = torch.optim.SGD([z], lr=1.0)
    before = torch.softmax(z, -1)[0].detach().clone()
    for _ in range(20):
        optimizer.zero_grad()
        masked_loss({"intent": z}, targets, excludes).backward()
        optimizer.step()
    after = torch.softmax(z, -1)[0].detach()
    assert after[complaint] < before[complaint] / 4
    others = [i for i in range(len(after)) if i != complaint]
    # The freed mass is spread over the other classes, not given to one guess.
    assert torch.allclose(after[others], after[others].mean().expand(len(others)), atol=1e-6)


def test_excluding_every_class_is_ignored() -> None:
    r = row(0)
    r.excludes = {"needs_reply": ["yes", "no"]}
    _, excludes = encode_targets([r])
    assert not excludes["needs_reply"].any()


def test_batch_without_any_signal_gives_zero_loss_with_a_graph() -> None:
    heads, logits = heads_and_logits(2)
    targets, excludes = as_tensors([row(0), row(1)])
    loss = masked_loss(logits, targets, excludes)
    loss.backward()
    assert float(loss) == 0.0


# ---------------------------------------------------------------- batching, options


def test_epoch_batches_cover_every_row_once_and_are_deterministic() -> None:
    lengths = np.random.default_rng(1).integers(3, 60, size=203)
    a = epoch_batches(lengths, 16, seed=5)
    assert sorted(np.concatenate(a).tolist()) == list(range(203))
    assert all(len(b) <= 16 for b in a)
    b = epoch_batches(lengths, 16, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, epoch_batches(lengths, 16, 6), strict=False))
    # length-grouped: padding waste is far below that of random batches
    waste = sum(lengths[x].max() * len(x) - lengths[x].sum() for x in a)
    perm = np.random.default_rng(0).permutation(203)
    rand = [perm[i : i + 16] for i in range(0, 203, 16)]
    assert waste < 0.5 * sum(lengths[x].max() * len(x) - lengths[x].sum() for x in rand)


def test_validation_score_averages_heads_and_complaint() -> None:
    metrics = {
        "validation.sentiment.macro_f1": 0.8,
        "validation.intent.macro_f1": 0.4,
        "validation.complaint.macro_f1": 0.9,
        "validation.sentiment.accuracy": 0.1,
    }
    assert validation_score(metrics) == pytest.approx(0.7)


def test_family_options() -> None:
    fam = TransformerFamily(epochs=2, base_model="some/model", batch_size=8)
    assert fam.params()["transformer.epochs"] == 2
    assert fam.params()["transformer.base_model"] == "some/model"
    reqs = " ".join(fam.pip_requirements())
    assert "onnxruntime==" in reqs and "tokenizers==" in reqs
    assert "torch" not in reqs and "transformers" not in reqs
    with pytest.raises(ValueError, match="unknown transformer option"):
        TransformerFamily(learning_rat=1e-3)


def test_default_base_model_is_the_offline_minilm_folder() -> None:
    from model.settings import Settings

    base = Settings().base_model
    assert (Path(base) / "tokenizer.json").is_file(), base


# ---------------------------------------------------------------- end to end

TEMPLATES = [
    (
        "en",
        "@Brand my {x} has been broken for three days, nobody answers",
        "complaint",
        "negative",
        "yes",
        "high",
    ),
    ("en", "@Brand what time does the {x} desk open on Sunday?", "question", "neutral", "yes", "normal"),
    ("en", "@Brand thanks, the {x} team sorted it quickly!", "praise", "positive", "no", "low"),
    (
        "nl",
        "@Merk mijn {x} doet het al drie dagen niet en niemand reageert",
        "complaint",
        "negative",
        "yes",
        "high",
    ),
    ("nl", "@Merk hoe laat gaat de {x} balie open op zondag?", "question", "neutral", "yes", "normal"),
    ("nl", "@Merk bedankt, het {x} team heeft het snel opgelost!", "praise", "positive", "no", "low"),
]
THINGS = ["router", "card", "app", "meter", "ticket", "parcel"]


def write_seed(folder: Path) -> Path:
    """Invented mentions in the seed schema (every head labelled)."""
    folder.mkdir(parents=True)
    lines = []
    for i, (lang, text, intent, sentiment, reply, urgency) in enumerate(TEMPLATES * 6):
        lines.append(
            {
                "id": f"{lang}-telecom-{i:04d}",
                "text": text.format(x=THINGS[i % len(THINGS)]),
                "lang": lang,
                "domain": "telecom",
                "context": None,
                "intent": intent,
                "sentiment": sentiment,
                "needs_reply": reply,
                "urgency": urgency,
            }
        )
    path = folder / "mini.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return folder


@pytest.mark.slow
def test_tiny_fine_tune_registers_an_onnx_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    from model.loading import load_alias
    from model.onnx_runtime import OnnxTriageModel
    from model.settings import Settings
    from training.train import train

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("WEBCARE_VAR_DIR", str(tmp_path / "var"))
    settings = Settings(var_dir=tmp_path / "var", shared_datasets=FIXTURES)
    seed = write_seed(tmp_path / "seed")
    family = TransformerFamily(epochs=1, batch_size=8, progress=False)
    result = train(family, [seed], settings, public="all", log=lambda *a: None)

    assert result.version == "1" and result.alias == "champion"
    m = result.metrics
    assert "test.sentiment.macro_f1" in m
    assert any(k.startswith("test.source.airline.") for k in m), sorted(m)
    assert any(k.startswith("test.source.seed.") for k in m)

    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert run.data.params["data.public"] == "airline,complaints,tweeteval,dutch"
    assert len(run.data.params["data.public.airline.sha256"]) == 64
    assert client.get_metric_history(result.run_id, "curve.train.loss")
    assert "parity.int8.max_abs_diff" in run.data.metrics
    assert run.data.metrics["parity.fp32.max_abs_diff"] < 1e-3

    loaded = load_alias(settings.registered_model, "champion")
    assert loaded.family == "transformer"
    assert isinstance(loaded.runtime, OnnxTriageModel)
    probas = loaded.runtime.predict_proba(["@Brand my router is broken", "bedankt!"])
    for h in HEADS:
        assert probas[h.name].shape == (2, len(h.labels))
        assert np.allclose(probas[h.name].sum(axis=1), 1, atol=1e-4)
    reqs = Path(mlflow.pyfunc.get_model_dependencies(f"models:/{settings.registered_model}/1"))
    text = reqs.read_text()
    assert "onnxruntime" in text and "torch" not in text and "transformers" not in text
    frame = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}/1").predict(
        {"text": ["@Brand hoe laat gaan jullie open?"]}
    )
    assert set(HEAD_NAMES) <= set(frame.columns)

    # the API serves it through ONNX Runtime, in a process without torch or transformers
    import httpx

    from tests.servers import running_api

    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "WEBCARE_VAR_DIR": str(tmp_path / "var"), "WEBCARE_ALLOW_OPEN": "true"}  # fmt: skip
    with running_api(env, log=tmp_path / "api.log") as url:
        r = httpx.post(f"{url}/v1/score", json={"mentions": [
            {"id": "1", "text": "@Brand my router is broken since Monday!"}]}, timeout=30)  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == {"name": "webcare-triage", "version": "1", "family": "transformer"}
        probs = body["results"][0]["intent"]["probabilities"]
        assert abs(sum(probs.values()) - 1) < 1e-3
        maps = Path(f"/proc/{url.pid}/maps").read_text()
        assert "onnxruntime" in maps
        assert "libtorch" not in maps


@pytest.mark.slow
def test_interrupted_run_resumes_from_its_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.adapters import load_public

    rows = load_public(["airline", "complaints", "tweeteval", "dutch"], FIXTURES)
    random.Random(0).shuffle(rows)
    train_rows, val_rows = rows[:16], rows[16:]
    options = {"epochs": 2, "batch_size": 4, "checkpoint_every": 1, "progress": False}
    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def flaky_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", flaky_step)
    first = TransformerFamily(checkpoint_dir=tmp_path, **options)
    with pytest.raises(KeyboardInterrupt):
        first.fit(train_rows, val_rows)
    (run_dir,) = list(tmp_path.iterdir())
    saved = torch.load(run_dir / "last.pt", weights_only=False)["state"]
    assert saved["global_step"] == 2 and not saved["complete"]

    calls["n"] = 100  # no more interruptions; count the steps of the resumed run
    resumed = TransformerFamily(checkpoint_dir=tmp_path, resume=True, **options)
    runtime = resumed.fit(train_rows, val_rows)
    assert calls["n"] - 100 == 8 - 2  # 2 epochs x 4 steps, 2 already done
    final = torch.load(run_dir / "last.pt", weights_only=False)["state"]
    assert final["complete"] and final["global_step"] == 8
    assert runtime.predict_proba(["hello"])["sentiment"].shape == (1, 3)


def test_layer_reduced_student_keeps_evenly_spaced_layers() -> None:
    from transformers import BertConfig, BertModel

    from model.transformer import MultiHeadClassifier, keep_layers

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=6, num_attention_heads=2,
                        intermediate_size=32)  # fmt: skip
    encoder = BertModel(config)
    originals = list(encoder.encoder.layer)
    assert keep_layers(encoder, 3) == [0, 2, 4]
    assert list(encoder.encoder.layer) == [originals[0], originals[2], originals[4]]
    assert encoder.config.num_hidden_layers == 3
    out = MultiHeadClassifier(encoder)(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.long))
    assert out["intent"].shape == (1, len(BY_NAME["intent"].labels))
    with pytest.raises(ValueError, match="between 1 and 3"):
        keep_layers(encoder, 4)
    with pytest.raises(ValueError, match="layers must be at least 1"):
        TransformerFamily(layers=0)
