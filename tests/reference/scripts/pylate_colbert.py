"""PyLate builds, saves, reloads and encodes tiny random ColBERTs (pylate reference env).

    python pylate_colbert.py SPECS.json

SPECS is a list, one entry per checkpoint (one process pays PyLate's import once):
{"out": folder, "backbone": "bert" | "modernbert", "tokenizer": folder (bert), "corpus": texts
to train the ModernBERT tokenizer on, "colbert": ColBERT(...) keyword arguments,
"second_dense": int | null, "queries": [...], "documents": [...]}.

For each it writes OUT/model (PyLate's own save: modules.json, 1_Dense,
config_sentence_transformers.json with query/document prefixes, lengths, skiplist,
attend_to_expansion_tokens) and OUT/reference.safetensors: query_i / document_j vectors from
``encode(is_query=...)`` of the reloaded folder, the token ids PyLate kept, and ``scores``
(queries x documents) from ``pylate.scores.colbert_scores`` on each unpadded pair.
Imports only PyLate and its stack.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from pylate import models, scores
from safetensors.torch import save_file
from tiny_bert import save_tiny_bert


def modernbert_base(folder: Path, corpus: list[str]) -> None:
    """ModernBERT with a byte-level BPE tokenizer shaped like ModernBERT's own ([CLS] text [SEP],
    [MASK] / [PAD] / [UNK] specials), trained here on a few sentences."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers import models as tok_models
    from transformers import ModernBertConfig, ModernBertModel, PreTrainedTokenizerFast

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = Tokenizer(tok_models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    config = ModernBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=128,
        global_attn_every_n_layers=3,
        local_attention=8,  # short windows, so the documents here cross them
        pad_token_id=tokenizer.pad_token_id,
        cls_token_id=cls,
        sep_token_id=sep,
        bos_token_id=cls,
        eos_token_id=sep,
    )
    torch.manual_seed(12)
    ModernBertModel(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def main() -> None:
    for spec in json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")):
        build_and_encode(spec)


def build_and_encode(spec: dict) -> None:
    out = Path(spec["out"])
    base, saved = out / "base", out / "model"
    if spec["backbone"] == "bert":
        save_tiny_bert(base, spec["tokenizer"], seed=11)
    else:
        modernbert_base(base, spec["corpus"])
    torch.manual_seed(13)  # the Dense projection PyLate adds on top of the base
    model = models.ColBERT(str(base), device="cpu", **spec["colbert"])
    if spec.get("second_dense"):
        # A second projection, as PyLate appends when embedding_size differs from the saved one.
        model.save(str(out / "first"))
        width = spec["second_dense"]
        model = models.ColBERT(str(out / "first"), device="cpu", embedding_size=width)
    model.save(str(saved))

    model = models.ColBERT(str(saved), device="cpu")  # everything below reads the saved folder
    tensors: dict[str, torch.Tensor] = {}
    for side, texts in (("query", spec["queries"]), ("document", spec["documents"])):
        is_query = side == "query"
        vectors = model.encode(texts, is_query=is_query, batch_size=2, convert_to_tensor=True)
        detail = model.encode(texts, is_query=is_query, batch_size=2, output_value=None)
        rows = zip(vectors, detail["input_ids"], detail["masks"], strict=True)
        for i, (v, ids, keep) in enumerate(rows):
            tensors[f"{side}_{i}"] = v.float().contiguous()
            tensors[f"{side}_ids_{i}"] = torch.as_tensor(ids)[torch.as_tensor(keep)].contiguous()
    table = [
        [
            float(scores.colbert_scores([tensors[f"query_{i}"]], [tensors[f"document_{j}"]])[0, 0])
            for j in range(len(spec["documents"]))
        ]
        for i in range(len(spec["queries"]))
    ]
    tensors["scores"] = torch.tensor(table, dtype=torch.float32)
    save_file(tensors, str(out / "reference.safetensors"))


if __name__ == "__main__":
    main()
