"""Native BERT encoder for embedding and ColBERT models (all-MiniLM-L6-v2, BGE, E5, ...).

transformers' ``BertModel`` computes the same thing, but importing its modeling code pulls
in ``torch._dynamo``, ``torch.distributed.tensor``, sympy, scipy and the hub-kernels
machinery: ~2.5-3 s of a cold ``retrieval search`` on a shared 2-core box
(``benchmarks/cli_latency.py``), many times the model's own load (~20 ms) and first
forward. vLLM runs BERT on its own implementation too (``bert.py``). This is the post-LN
BERT of the original paper, with transformers' module and weight names (so checkpoints load
as they are and ``fast_linear`` packs the same layers):

* embeddings: ``word + position (0..l-1) + token_type``, then ``LayerNorm``;
* per layer: ``h = LN(h + out(attn(q(h), k(h), v(h))))``, ``h = LN(h + down(act(up(h))))``,
  attention over the real (unpadded) keys (``scaled_dot_product_attention``).

Only plain configs load here (absolute positions, an encoder without cross-attention, a
known activation, safetensors weights, no trusted custom code); anything else, or a
checkpoint whose weights do not match exactly, loads through transformers as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from encoders.native import BackboneOutput, safetensors_files

FAMILIES = ("embed", "colbert")
"""Model families whose backbone is the bare encoder (``AutoModel``)."""
_ACTIVATIONS = {
    "gelu": lambda: nn.GELU(),
    "gelu_new": lambda: nn.GELU(approximate="tanh"),
    "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": lambda: nn.ReLU(),
}
_PREFIX = "bert."
"""Task checkpoints (``BertForMaskedLM``, ColBERT) keep the encoder under this prefix."""


def wants_native(config: Any, family: str, trust_remote_code: bool) -> bool:
    """True for a plain BERT encoder config this module implements exactly."""
    return (
        family in FAMILIES
        and getattr(config, "model_type", None) == "bert"
        and getattr(config, "position_embedding_type", "absolute") in (None, "absolute")
        and getattr(config, "hidden_act", None) in _ACTIVATIONS
        and not getattr(config, "is_decoder", False)
        and not getattr(config, "add_cross_attention", False)
        and not (trust_remote_code and getattr(config, "auto_map", None))
    )


class _Embedding(nn.Embedding):
    def reset_parameters(self) -> None:
        """Nothing: the model is built on the meta device and every weight comes from the
        checkpoint (``normal_`` on a meta tensor would import ``torch._dynamo``, ~1 s)."""


class Embeddings(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        hidden = int(config.hidden_size)
        self.word_embeddings = _Embedding(int(config.vocab_size), hidden)
        self.position_embeddings = _Embedding(int(config.max_position_embeddings), hidden)
        self.token_type_embeddings = _Embedding(int(config.type_vocab_size), hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=float(config.layer_norm_eps))

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
        return self.LayerNorm(x + self.token_type_embeddings(token_type_ids))


class SelfAttention(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        hidden = int(config.hidden_size)
        self.heads = int(config.num_attention_heads)
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, h // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return out.transpose(1, 2).reshape(b, n, h)


class Residual(nn.Module):
    """``LayerNorm(x + dense(y))``: transformers' ``BertSelfOutput`` / ``BertOutput``."""

    def __init__(self, inner: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(x + self.dense(y))


class Attention(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        hidden = int(config.hidden_size)
        self.self = SelfAttention(config)
        self.output = Residual(hidden, hidden, float(config.layer_norm_eps))


class Intermediate(nn.Module):
    """``act(dense(x))``; the names let ``fast_linear`` fuse an exact GELU into ``dense``."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.dense = nn.Linear(int(config.hidden_size), int(config.intermediate_size))
        self.intermediate_act_fn: nn.Module = _ACTIVATIONS[config.hidden_act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class Layer(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        hidden, eps = int(config.hidden_size), float(config.layer_norm_eps)
        self.attention = Attention(config)
        self.intermediate = Intermediate(config)
        self.output = Residual(int(config.intermediate_size), hidden, eps)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention.output(self.attention.self(x, key_mask), x)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(int(config.num_hidden_layers)))


class BertEncoderModel(nn.Module):
    """The bare encoder: ``(input_ids, attention_mask, token_type_ids)`` -> last hidden
    states ``(b, l, h)`` (no pooler: pooling is the runtime's)."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

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
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.encoder.layer:
            x = layer(x, key_mask)
        return BackboneOutput(x)


def load_backbone(
    folder: Path, config: Any, dtype: torch.dtype, device: torch.device
) -> BertEncoderModel | None:
    """The encoder filled from the folder's safetensors weights, in eval mode; None when
    the weights are not exactly this model's (the caller then loads through transformers,
    whose errors name what is wrong)."""
    files = safetensors_files(folder)
    if files is None:
        return None
    with torch.device("meta"):  # no random init: every weight comes from the checkpoint
        model = BertEncoderModel(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = _read_weights(files, expected)
    if state is None:
        return None
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device=device, dtype=dtype).eval()


def _read_weights(
    files: list[Path], expected: dict[str, tuple[int, ...]]
) -> dict[str, torch.Tensor] | None:
    state: dict[str, torch.Tensor] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - not a mapping
                name = _canonical(key)
                if name in expected:
                    state[name] = handle.get_tensor(key)
    if state.keys() != expected.keys():
        return None
    if any(tuple(state[k].shape) != shape for k, shape in expected.items()):
        return None
    return state


def _canonical(key: str) -> str:
    """A checkpoint key as this model names it (legacy ``gamma`` / ``beta`` LayerNorm)."""
    key = key.removeprefix(_PREFIX)
    if key.endswith(".gamma"):
        return key.removesuffix(".gamma") + ".weight"
    if key.endswith(".beta"):
        return key.removesuffix(".beta") + ".bias"
    return key
