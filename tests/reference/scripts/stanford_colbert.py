"""Stanford ColBERT (colbert-ai) builds, saves and encodes tiny random HF_ColBERT checkpoints
(colbert_ai reference env).

    python stanford_colbert.py SPECS.json

SPECS is a list, one entry per checkpoint: {"out": folder, "tokenizer": a BERT tokenizer folder,
"config": ColBERTConfig keyword arguments (query_maxlen, doc_maxlen, dim, attend_to_mask_tokens,
mask_punctuation...), "queries": [...], "documents": [...]}.

For each, colbert-ai's own ``BaseColBERT`` wraps a random tiny BertModel as ``HF_ColBERT``
(``bert.*`` + a random ``linear.weight``) and saves it (``save_pretrained`` + tokenizer +
``artifact.metadata``) to OUT/model; ``Checkpoint`` reloads that folder and writes
OUT/reference.safetensors: query_i from ``queryFromText``, document_j from
``docFromText(keep_dims=False)``, and ``scores`` (queries x documents) from
``colbert_score`` on the padded documents with their mask. Imports only colbert-ai and its
stack.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from colbert.infra import ColBERTConfig
from colbert.modeling.base_colbert import BaseColBERT
from colbert.modeling.checkpoint import Checkpoint
from colbert.modeling.colbert import colbert_score
from safetensors.torch import save_file
from tiny_bert import save_tiny_bert


def build_and_encode(spec: dict) -> None:
    out = Path(spec["out"])
    base, saved = out / "base", out / "model"
    save_tiny_bert(base, spec["tokenizer"], seed=31)
    torch.manual_seed(32)  # HF_ColBERT's linear layer is initialised by colbert-ai
    config = ColBERTConfig(root=str(out / "experiments"), **spec["config"])
    BaseColBERT(str(base), colbert_config=config).save(str(saved))

    checkpoint = Checkpoint(str(saved), colbert_config=ColBERTConfig(root=str(out)), verbose=0)
    tensors: dict[str, torch.Tensor] = {}
    queries = checkpoint.queryFromText(spec["queries"], to_cpu=True)
    for i, q in enumerate(queries):
        tensors[f"query_{i}"] = q.float().contiguous()
    # bsize: the batched path the indexer takes (it also sorts documents by length).
    (documents,) = checkpoint.docFromText(spec["documents"], bsize=2, keep_dims=False)
    for j, d in enumerate(documents):
        tensors[f"document_{j}"] = d.float().contiguous()
    ids, attention = checkpoint.doc_tokenizer.tensorize(spec["documents"])
    padded, mask = checkpoint.doc(ids, attention, keep_dims="return_mask")
    config = checkpoint.colbert_config
    table = [colbert_score(q[None], padded, mask, config=config) for q in queries]
    tensors["scores"] = torch.stack(table).float().contiguous()
    save_file(tensors, str(out / "reference.safetensors"))


def main() -> None:
    # Checkpoint compiles a C++ extension on first use, with this environment's ninja (the venv
    # is not activated, so its bin folder goes on PATH); the build is kept with the environment.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(sys.prefix, "torch_extensions"))
    for spec in json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")):
        build_and_encode(spec)


if __name__ == "__main__":
    main()
