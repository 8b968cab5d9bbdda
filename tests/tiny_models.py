"""Tiny random checkpoints in the exact on-disk formats of real models.

Every builder writes a folder with ``save_pretrained`` (safetensors) plus the extra files the
real checkpoints carry (sentence-transformers configs, Dense weights, Matryoshka keys), so
tests load them through the public loader exactly as a user's download would be loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

# A small English vocabulary (plus letters and word pieces, so any text tokenizes).
WORDS = [
    *"the a an of to in and is are was were be on for with as by at from this that it".split(),
    *"man woman eating food bread piece apple fruit cat dog runs sleeps street city".split(),
    *"sky blue wing lift flow air speed pressure model search query document".split(),
    *"retrieval embedding hello my name what how why when where who can do does not".split(),
    *"no yes very good bad big small fast slow new old first last day night time".split(),
    *"year people world life work".split(),
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "[unused1]", "[Q]", "[D]"]


def write_vocab(folder: Path) -> Path:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = [f"##{c}" for c in letters]
    punct = list(".,;:!?'\"()-")
    vocab = SPECIAL + WORDS + letters + pieces + punct
    path = folder / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    return path


def make_bert(
    folder: Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    max_positions: int = 64,
    seed: int = 0,
    safe: bool = True,
    shard_size: str | None = None,
    config_extra: dict[str, Any] | None = None,
) -> Path:
    """A random ``BertModel`` + ``BertTokenizerFast`` saved as a Hugging Face folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_vocab(folder)
    tokenizer = BertTokenizerFast(vocab=str(vocab), model_max_length=max_positions)
    config = BertConfig(
        vocab_size=len(vocab.read_text().split("\n")) - 1,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=hidden * 2,
        max_position_embeddings=max_positions,
        **(config_extra or {}),
    )
    torch.manual_seed(seed)
    model = BertModel(config).eval()
    kwargs: dict[str, Any] = {"max_shard_size": shard_size} if shard_size else {}
    model.save_pretrained(str(folder), **kwargs)
    tokenizer.save_pretrained(str(folder))
    if not safe:
        # The legacy pickled format, only to prove that the loader refuses it by default.
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    return folder


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def add_legacy_st_files(
    folder: Path,
    *,
    pooling: str = "mean",
    normalize: bool = True,
    dense_out: int | None = None,
    max_seq_length: int | None = 48,
    seed: int = 1,
) -> Path:
    """The legacy (v2-v5) sentence-transformers layout, as on all-MiniLM-L6-v2.

    The ``Normalize`` module is listed without a folder, exactly as real checkpoints ship.
    """
    hidden = json.loads((folder / "config.json").read_text())["hidden_size"]
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
    legacy = {"cls": "cls_token", "mean": "mean_tokens", "max": "max_tokens"}
    write_json(
        folder / "1_Pooling" / "config.json",
        {"word_embedding_dimension": hidden}
        | {f"pooling_mode_{m}": m == legacy.get(pooling) for m in modes}
        | {"pooling_mode_lasttoken": pooling == "lasttoken"},
    )
    if dense_out is not None:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
        )
        write_dense(folder / "2_Dense", hidden, dense_out, seed)
    if normalize:
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": f"{len(modules)}_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    write_json(folder / "modules.json", modules)
    sbert: dict[str, Any] = {"do_lower_case": False}
    if max_seq_length is not None:
        sbert["max_seq_length"] = max_seq_length
    write_json(folder / "sentence_bert_config.json", sbert)
    write_json(
        folder / "config_sentence_transformers.json",
        {"__version__": {"sentence_transformers": "2.0.0"}, "prompts": {"query": "query: "}},
    )
    return folder


def write_dense(
    folder: Path,
    in_features: int,
    out_features: int,
    seed: int,
    *,
    bias: bool = True,
    activation: str = "torch.nn.modules.activation.Tanh",
) -> None:
    generator = torch.Generator().manual_seed(seed)
    tensors = {"linear.weight": torch.randn(out_features, in_features, generator=generator) * 0.2}
    if bias:
        tensors["linear.bias"] = torch.randn(out_features, generator=generator) * 0.1
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"))
    write_json(
        folder / "config.json",
        {
            "in_features": in_features,
            "out_features": out_features,
            "bias": bias,
            "activation_function": activation,
        },
    )


def save_v6_st_model(base: Path, out: Path, *, pooling: str, dense_out: int | None) -> Path:
    """Save with sentence-transformers >= 6 itself, which writes the v6 layout."""
    import warnings

    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers.models import Dense, Normalize, Pooling, Transformer

    transformer = Transformer(str(base), max_seq_length=40)
    dim = transformer.get_embedding_dimension()
    modules: list[Any] = [transformer, Pooling(dim, pooling_mode=pooling)]
    if dense_out is not None:
        torch.manual_seed(3)
        modules.append(Dense(dim, dense_out, activation_function=torch.nn.Tanh()))
    modules.append(Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    return out


def make_family(folder: Path, family: str, head: str, *, labels: int = 3, seed: int = 5) -> Path:
    """A tiny random checkpoint of ``family`` (bert, roberta, modernbert, qwen3) with ``head``:
    ``model`` (bare), ``seq`` (*ForSequenceClassification), ``token``
    (*ForTokenClassification) or ``causal`` (*ForCausalLM); saved with its tokenizer."""
    import transformers
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_vocab(folder)
    tokenizer = BertTokenizerFast(vocab=str(vocab), model_max_length=64)
    size = len(tokenizer.get_vocab())
    common: dict[str, Any] = {
        "vocab_size": size,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 64 if family != "roberta" else 66,
        "pad_token_id": 0,
        "num_labels": labels,
        "id2label": {i: f"LABEL_{chr(65 + i)}" for i in range(labels)},
        "label2id": {f"LABEL_{chr(65 + i)}": i for i in range(labels)},
    }
    if family == "qwen3":
        common |= {"num_key_value_heads": 2, "head_dim": 8, "bos_token_id": 2, "eos_token_id": 3}
    if family == "modernbert":
        common |= {"global_attn_every_n_layers": 1, "local_attention": 16, "bos_token_id": 2,
                   "eos_token_id": 3, "sep_token_id": 3, "cls_token_id": 2}  # fmt: skip
    prefix = {"bert": "Bert", "roberta": "Roberta", "modernbert": "ModernBert", "qwen3": "Qwen3"}
    config = getattr(transformers, f"{prefix[family]}Config")(**common)
    suffix = {"model": "Model", "seq": "ForSequenceClassification",
              "token": "ForTokenClassification", "causal": "ForCausalLM"}[head]  # fmt: skip
    torch.manual_seed(seed)
    model = getattr(transformers, f"{prefix[family]}{suffix}")(config).eval()
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
