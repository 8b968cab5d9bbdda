"""Native Jina XLM-RoBERTa backbone (``jinaai/xlm-roberta-flash-implementation`` weights).

jina-colbert-v2 and jina-embeddings-v3 declare ``model_type: "xlm-roberta"`` but their
weights follow Jina's flash-attention layout, and their config asks for rotary positions
(``position_embedding_type: "rotary"``), which transformers' XLM-RoBERTa does not implement.
Their ``auto_map`` points at code in another repository, so without this module they need
``trust_remote_code`` (and network access). vLLM serves them natively the same way
(``JinaRobertaModel`` in ``bert_with_rope.py``); this is the same math, written for a
padded batch:

* embeddings: ``word + token_type`` (no absolute positions), then ``emb_ln``;
* ``num_hidden_layers`` post-LN blocks: ``h = norm1(h + out_proj(attn(Wqkv(h))))``,
  ``h = norm2(h + fc2(gelu(fc1(h))))``; ``Wqkv`` rows are ``[q; k; v]``;
* attention: softmax(q k^T / sqrt(head_dim)) over the real (unpadded) keys, with rotary
  positions 0..l-1 applied to q and k: GPT-NeoX "rotate half" style (Jina's
  ``rotary_emb_interleaved`` defaults to False; vLLM always uses this style), base
  ``rotary_emb_base``, over the first ``rotary_emb_dim`` (default: all) dims of each head.

Checkpoint keys (``roberta.`` prefix optional): ``embeddings.word_embeddings.weight``,
``embeddings.token_type_embeddings.weight``, ``emb_ln.*``,
``encoder.layers.N.{mixer.Wqkv, mixer.out_proj, norm1, mlp.fc1, mlp.fc2, norm2}.*``.
A ColBERT ``linear.weight`` and the unused ``pooler.*`` are read elsewhere / ignored.
jina-embeddings-v3 stores LoRA task adapters beside the weights; one is merged at load
(:func:`merge_lora`), as vLLM does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from encoders.native import BackboneOutput, safetensors_files
from retrieval.errors import ConfigError

_GELU = {"gelu": "none", "gelu_new": "tanh", "gelu_fast": "tanh", "gelu_pytorch_tanh": "tanh"}
# Checkpoint keys that are not part of the backbone.
_NOT_BACKBONE = ("pooler.", "linear.", "colbert_linear.", "lm_head.", "classifier.")


def wants_native(config: Any) -> bool:
    """True for an XLM-RoBERTa config asking for rotary positions (Jina's layout)."""
    return (
        getattr(config, "model_type", None) == "xlm-roberta"
        and getattr(config, "position_embedding_type", None) == "rotary"
    )


class Rotary(nn.Module):
    """Rotary position embedding on the first ``dim`` channels of each head."""

    def __init__(self, dim: int, base: float, interleaved: bool) -> None:
        super().__init__()
        self.dim = dim
        self.base = base
        self.interleaved = interleaved

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(b, heads, l, head_dim)``, rotated by position along ``l``."""
        # Frequencies and angles in float32 whatever the model dtype (not a buffer, which
        # ``model.to(bfloat16)`` would round).
        exponent = torch.arange(0, self.dim, 2, device=x.device, dtype=torch.float32) / self.dim
        inv_freq = 1.0 / (self.base**exponent)
        positions = torch.arange(x.shape[-2], device=x.device, dtype=torch.float32)
        angles = torch.outer(positions, inv_freq)  # (l, dim / 2)
        if self.interleaved:
            angles = angles.repeat_interleave(2, dim=-1)
        else:
            angles = torch.cat((angles, angles), dim=-1)
        rot, rest = x[..., : self.dim].float(), x[..., self.dim :]
        rotated = rot * angles.cos() + _rotate(rot, self.interleaved) * angles.sin()
        return torch.cat((rotated.to(x.dtype), rest), dim=-1)


def _rotate(x: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on halves (NeoX) or on even/odd pairs (interleaved)."""
    if interleaved:
        pairs = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1)
        return pairs.flatten(-2)
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class Mixer(nn.Module):
    """Self-attention with a fused ``Wqkv`` projection and rotary positions."""

    def __init__(self, hidden: int, heads: int, rotary: Rotary) -> None:
        super().__init__()
        self.heads = heads
        self.Wqkv = nn.Linear(hidden, 3 * hidden)
        self.out_proj = nn.Linear(hidden, hidden)
        self.rotary = rotary

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """``x``: ``(b, l, h)``; ``key_mask``: ``(b, 1, 1, l)`` bool, True = attend."""
        b, length, hidden = x.shape
        qkv = self.Wqkv(x).view(b, length, 3, self.heads, hidden // self.heads)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(dim=2))  # (b, heads, l, d)
        q, k = self.rotary(q), self.rotary(k)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, length, hidden))


class Mlp(nn.Module):
    def __init__(self, hidden: int, inner: int, approximate: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))


class Block(nn.Module):
    """Post-LN transformer block (``prenorm=False`` in Jina's code)."""

    def __init__(self, config: Any, rotary: Rotary) -> None:
        super().__init__()
        hidden, eps = int(config.hidden_size), float(config.layer_norm_eps)
        self.mixer = Mixer(hidden, int(config.num_attention_heads), rotary)
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = Mlp(hidden, int(config.intermediate_size), _GELU[config.hidden_act])
        self.norm2 = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.mixer(x, key_mask))
        return self.norm2(x + self.mlp(x))


class Embeddings(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        hidden = int(config.hidden_size)
        self.word_embeddings = nn.Embedding(int(config.vocab_size), hidden)
        types = int(getattr(config, "type_vocab_size", 0) or 0)
        self.token_type_embeddings = nn.Embedding(types, hidden) if types > 0 else None

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        x = self.word_embeddings(input_ids)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = x + self.token_type_embeddings(token_type_ids)
        return x


class Encoder(nn.Module):
    def __init__(self, config: Any, rotary: Rotary) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(config, rotary) for _ in range(config.num_hidden_layers))


class JinaXLMRobertaModel(nn.Module):
    """The bare encoder: ``(input_ids, attention_mask)`` -> last hidden states ``(b, l, h)``."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.emb_ln = nn.LayerNorm(int(config.hidden_size), eps=float(config.layer_norm_eps))
        head_dim = int(config.hidden_size) // int(config.num_attention_heads)
        rotary = Rotary(
            int(getattr(config, "rotary_emb_dim", None) or head_dim),
            float(getattr(config, "rotary_emb_base", None) or 10000.0),
            bool(getattr(config, "rotary_emb_interleaved", False)),
        )
        self.encoder = Encoder(config, rotary)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> BackboneOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        key_mask = attention_mask.bool()[:, None, None, :]
        x = self.emb_ln(self.embeddings(input_ids, token_type_ids))
        for layer in self.encoder.layers:
            x = layer(x, key_mask)
        return BackboneOutput(x)


def load_backbone(
    folder: Path, config: Any, dtype: torch.dtype, device: torch.device
) -> JinaXLMRobertaModel:
    """Build the encoder from ``config`` and fill it from the folder's safetensors weights;
    any missing or mis-shaped weight is a :class:`ConfigError` naming the key."""
    _check_config(folder, config)
    model = JinaXLMRobertaModel(config)
    state = backbone_state(folder)
    merge_lora(folder, state, config)
    expected = model.state_dict()
    for key, param in expected.items():
        if key not in state:
            msg = (
                f"Model {str(folder)!r}: weight {key!r} (or 'roberta.{key}') is missing from "
                "the checkpoint. Its config asks for Jina's rotary XLM-RoBERTa "
                "(position_embedding_type='rotary'), whose weights are named like "
                "'roberta.encoder.layers.0.mixer.Wqkv.weight'; re-download the model, or fix "
                "position_embedding_type if this is a plain XLM-RoBERTa checkpoint."
            )
            raise ConfigError(msg)
        if tuple(state[key].shape) != tuple(param.shape):
            msg = (
                f"Model {str(folder)!r}: weight {key!r} has shape {tuple(state[key].shape)} "
                f"but config.json implies {tuple(param.shape)}; the config does not match "
                "the weights (check hidden_size, intermediate_size, vocab_size, "
                "type_vocab_size)."
            )
            raise ConfigError(msg)
    model.load_state_dict({k: state[k] for k in expected}, strict=True)
    return model.to(device=device, dtype=dtype).eval()


def has_lora(folder: Path) -> bool:
    """True when the weights carry jina-embeddings-v3 style LoRA ``parametrizations``."""
    for path in _weight_files(folder):
        with safe_open(str(path), framework="pt") as handle:
            if any(".parametrizations." in key for key in handle.keys()):  # noqa: SIM118
                return True
    return False


def merge_lora(folder: Path, state: dict[str, torch.Tensor], config: Any) -> None:
    """Fold one task adapter of jina-embeddings-v3 into the weights, in place.

    Each adapted weight is stored as ``X.parametrizations.weight.original`` with per-task
    ``...weight.0.lora_A`` / ``lora_B`` stacks; Jina's code computes
    ``W + (B[t] @ A[t]) * lora_alpha / lora_rank`` for linear layers (A: ``(tasks, r, in)``,
    B: ``(tasks, out, r)``) and ``W + (A[t] @ B[t]) * scale`` for embeddings (A:
    ``(tasks, vocab, r)``, B: ``(tasks, r, hidden)``). Like vLLM, the last adapter
    ("text-matching") is used; ``hf_overrides={"lora_adaptation": name}`` picks another.
    """
    suffix = ".parametrizations.weight.original"
    originals = sorted(k for k in state if k.endswith(suffix))
    if not originals:
        return
    names = [str(n) for n in getattr(config, "lora_adaptations", None) or []]
    chosen = getattr(config, "lora_adaptation", None)
    if chosen is not None and chosen not in names:
        msg = (
            f"Model {str(folder)!r}: unknown lora_adaptation {chosen!r}. "
            f"Valid: {', '.join(names) or '(none listed in lora_adaptations)'}."
        )
        raise ConfigError(msg)
    task = names.index(chosen) if chosen is not None else -1
    scale = float(getattr(config, "lora_alpha", 1)) / float(getattr(config, "lora_rank", 4))
    for key in originals:
        base = key.removesuffix(suffix)
        lora = [f"{base}.parametrizations.weight.0.lora_{x}" for x in ("A", "B")]
        if any(k not in state for k in lora):
            msg = f"Model {str(folder)!r}: LoRA weights {lora} for {key!r} are incomplete."
            raise ConfigError(msg)
        a, b = (state.pop(k)[task].float() for k in lora)
        weight = state.pop(key)
        delta = a @ b if base.endswith("_embeddings") else b @ a
        state[f"{base}.weight"] = (weight.float() + delta.view(weight.shape) * scale).to(
            weight.dtype
        )


def _check_config(folder: Path, config: Any) -> None:
    hidden, heads = int(config.hidden_size), int(config.num_attention_heads)
    if config.hidden_act not in _GELU:
        msg = (
            f"Model {str(folder)!r}: hidden_act {config.hidden_act!r} is not supported by "
            f"Jina's XLM-RoBERTa. Valid: {', '.join(_GELU)}."
        )
        raise ConfigError(msg)
    rotary_dim = int(getattr(config, "rotary_emb_dim", None) or hidden // heads)
    if hidden % heads or rotary_dim % 2 or rotary_dim > hidden // heads:
        msg = (
            f"Model {str(folder)!r}: hidden_size {hidden}, num_attention_heads {heads} and "
            f"rotary_emb_dim {rotary_dim} are inconsistent (need an even rotary_emb_dim no "
            "larger than hidden_size / num_attention_heads)."
        )
        raise ConfigError(msg)


def backbone_state(folder: Path) -> dict[str, torch.Tensor]:
    """Every backbone tensor of the folder's safetensors weights, ``roberta.`` stripped."""
    state: dict[str, torch.Tensor] = {}
    for path in _weight_files(folder):
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - not a mapping
                name = key.removeprefix("roberta.")
                if not name.startswith(_NOT_BACKBONE):
                    state[name] = handle.get_tensor(key)
    return state


def _weight_files(folder: Path) -> list[Path]:
    files = safetensors_files(folder)
    if files is None:
        msg = (
            f"Model {str(folder)!r} has no model.safetensors; Jina's XLM-RoBERTa is loaded "
            "from safetensors weights only."
        )
        raise ConfigError(msg)
    return files
