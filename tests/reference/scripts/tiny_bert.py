"""A tiny random ``BertModel`` saved with a real tokenizer: the backbone the ColBERT reference
scripts wrap (imported by them from this folder, which is on their ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertModel


def save_tiny_bert(folder: Path, tokenizer_folder: str, seed: int) -> None:
    """Two layers of width 32, the tokenizer's vocabulary, weights from ``seed``."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
