"""A tiny random BGE-M3 laid out as BAAI/bge-m3 is, written by FlagEmbedding itself.

What a real download holds, at toy size: an ``XLMRobertaModel`` folder (``config.json`` with
``bos_token_id=0``, ``pad_token_id=1``, ``eos_token_id=2``; weights), an XLM-R Unigram
tokenizer (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, ``<mask>`` last),
``colbert_linear.pt`` / ``sparse_linear.pt`` (pickled ``nn.Linear`` state dicts, as the hub
ships them) and the legacy sentence-transformers files (CLS pooling + Normalize).

The weights and the two ``.pt`` files are written by FlagEmbedding's own
``EncoderOnlyEmbedderM3Model.save`` (the method its trainer saves checkpoints with), so the
folder is in that library's format, not in our reading of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tests.tiny_models import WORDS

HIDDEN = 32
MAX_TOKENS = 64
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def xlmr_tokenizer() -> Any:
    """An XLM-R style Unigram tokenizer over a small English vocabulary: whole words score
    higher than letters, so known words stay one piece; capitals and other characters
    outside the vocabulary become ``<unk>``."""
    from transformers import XLMRobertaTokenizer

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = [(f"▁{w}", -2.0) for w in dict.fromkeys(WORDS)]
    pieces += [(f"▁{c}", -6.0) for c in letters] + [(c, -5.0) for c in letters]
    pieces += [("▁", -8.0)] + [(p, -5.0) for p in ".,;:!?'\"()-"]
    vocab = [(s, 0.0) for s in SPECIALS] + pieces + [("<mask>", 0.0)]
    return XLMRobertaTokenizer(vocab=vocab, model_max_length=MAX_TOKENS)


def xlmr_config(vocab_size: int) -> Any:
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=2 * HIDDEN,
        max_position_embeddings=MAX_TOKENS + 2,  # RoBERTa positions start after pad_token_id
        type_vocab_size=1,
        architectures=["XLMRobertaModel"],
    )


def make_xlmr(folder: Path, *, seed: int = 13) -> Path:
    """A bare random ``XLMRobertaModel`` + its tokenizer (the base of bge-reranker-like
    cross-encoders), saved by transformers."""
    from transformers import XLMRobertaModel

    tokenizer = xlmr_tokenizer()
    torch.manual_seed(seed)
    XLMRobertaModel(xlmr_config(len(tokenizer))).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def make_bge_m3(folder: Path, *, seed: int = 11) -> Path:
    """Write the tiny checkpoint into ``folder`` (created) and return it."""
    from FlagEmbedding.finetune.embedder.encoder_only.m3.modeling import (
        EncoderOnlyEmbedderM3Model,
    )
    from transformers import XLMRobertaModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = xlmr_tokenizer()
    torch.manual_seed(seed)
    model = XLMRobertaModel(xlmr_config(len(tokenizer))).eval()
    heads = {
        "model": model,
        "colbert_linear": torch.nn.Linear(HIDDEN, HIDDEN),
        "sparse_linear": torch.nn.Linear(HIDDEN, 1),
    }
    with torch.no_grad():  # a positive bias, so most tokens get a non-zero lexical weight
        heads["sparse_linear"].bias.fill_(0.3)
    EncoderOnlyEmbedderM3Model(heads, tokenizer=tokenizer).save(str(folder))
    tokenizer.save_pretrained(str(folder))
    _write_sentence_transformers_files(folder)
    return folder


def _write_sentence_transformers_files(folder: Path) -> None:
    """The legacy sentence-transformers files BAAI/bge-m3 carries: CLS pooling + Normalize."""
    kinds = ("Transformer", "Pooling", "Normalize")
    paths = ("", "1_Pooling", "2_Normalize")
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (kind, path) in enumerate(zip(kinds, paths, strict=True))
    ]
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
    pooling = {"word_embedding_dimension": HIDDEN} | {
        f"pooling_mode_{m}": m == "cls_token" for m in modes
    }
    files: dict[str, Any] = {
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        "sentence_bert_config.json": {"max_seq_length": MAX_TOKENS, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "__version__": {"sentence_transformers": "2.2.2", "transformers": "4.33.0"}
        },
    }
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    (folder / "2_Normalize").mkdir(exist_ok=True)
