"""A loaded pooling model: tokenizer + backbone + pooler settings + head, and its forward."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from encoders import classify, colbert, from_token, loading
from encoders.architectures import Family, model_family
from encoders.bge_m3 import BgeM3Heads
from encoders.config import PoolerConfig
from encoders.fast_linear import pack_linear_layers
from encoders.int8 import quantize_linear_layers
from encoders.plugins import PoolerPlugin
from encoders.pooling import DenseProjection, EmbeddingHead, pool_sequences, pool_tokens
from encoders.resolve import ResolvedModel
from encoders.sparse import mlm_head, splade_pool
from encoders.st_config import SentenceTransformersConfig, read_sentence_transformers_config
from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolerSettings:
    """Model defaults after merging architecture < sentence-transformers < user config."""

    pooling_type: str
    """CLS, MEAN, LAST (sequence) or ALL (token tasks only)."""
    normalize: bool
    """Default activation of the embed task: L2-normalize the output."""
    dimensions: int | None
    """Default Matryoshka size (from ``pooler_config``), None = full size."""


def merge_pooler_settings(
    config: Any, st: SentenceTransformersConfig | None, user: PoolerConfig, sparse: bool = False
) -> PoolerSettings:
    pooling_type = loading.default_pooling_type(config)
    # vLLM's embed default is to normalize; SPLADE weights are used as they come.
    normalize = not sparse
    if st is not None:
        if st.pooling_mode is not None and st.pooling_type is None:
            if user.pooling_type is None:
                msg = (
                    f"Unknown pooling type {st.pooling_mode!r} (from the sentence-transformers "
                    "config). Valid: CLS, MEAN, LAST, ALL. Set "
                    'pooler_config={"pooling_type": ...}.'
                )
                raise ConfigError(msg)
        elif st.pooling_type is not None:
            pooling_type = st.pooling_type
        normalize = st.normalize
    if user.pooling_type is not None:
        pooling_type = user.pooling_type
    if user.activation is not None:
        normalize = user.activation
    return PoolerSettings(pooling_type, normalize, user.dimensions)


class PoolingModel:
    """Everything needed to turn token ids into pooled outputs on one device."""

    def __init__(
        self,
        resolved: ResolvedModel,
        *,
        pooler_config: PoolerConfig,
        hf_overrides: loading.HfOverrides,
        trust_remote_code: bool,
        dtype: torch.dtype,
        device: torch.device,
        max_model_len: int | None,
        allow_pickle_weights: bool,
        convert: str = "auto",
        int8: bool = False,
    ) -> None:
        folder = resolved.path
        self.name = resolved.name
        self.resolved = resolved
        self.device = device
        self.dtype = dtype
        raw = loading.read_config_json(folder)
        loading.check_remote_code(folder, raw, trust_remote_code)
        loading.check_weights(folder, allow_pickle_weights)
        self.hf_config = loading.load_hf_config(folder, hf_overrides, trust_remote_code)
        self.st_config = read_sentence_transformers_config(folder)
        self.tokenizer = loading.load_tokenizer(folder, trust_remote_code)
        self.pooler_config = pooler_config
        self.family: Family = model_family(list(self.architectures), convert)
        if self.family == "embed" and colbert.is_colbert(self.architectures, folder):
            self.family = "colbert"
        self.settings = merge_pooler_settings(
            self.hf_config, self.st_config, pooler_config, sparse=self.family == "sparse"
        )
        self.max_model_len = self._max_len(max_model_len)
        self._prepare_padding_config()
        token_head = self.family == "classify" and from_token.wants_tokens(self.hf_config)
        if token_head:
            from_token.prepare_config(self.hf_config)
        self.backbone = loading.load_backbone(
            folder,
            self.hf_config,
            dtype,
            device,
            allow_pickle_weights,
            trust_remote_code,
            self.family,
        )
        if token_head:
            self._install_token_head(folder)
        self.m3 = None
        if self.family == "bge_m3":
            bos, eos = (getattr(self.hf_config, k, None) for k in ("bos_token_id", "eos_token_id"))
            self.m3 = BgeM3Heads(folder, bos, eos).to(device=device, dtype=dtype)
        dense: list[nn.Module] = [
            DenseProjection(s, allow_pickle_weights) for s in self._dense_specs()
        ]
        self.colbert = None
        if self.family == "colbert":
            self.colbert = colbert.read_settings(folder, self.tokenizer)
            linear = colbert.stanford_projection(folder, self.hidden_size)
            dense += [linear] if linear is not None else []
        dense = [d.to(device=device, dtype=dtype) for d in dense]
        last = dense[-1] if dense else None
        self._projected_size = int(
            getattr(last, "out_features", 0)
            or getattr(getattr(last, "linear", None), "out_features", 0)
        )
        self.head = EmbeddingHead(dense).eval()
        self.int8 = int8
        if int8:  # the backbone's GEMMs in int8; the small pooling head stays fp32
            quantize_linear_layers(self.backbone)
        if device.type == "cpu" and dtype == torch.float32:
            swapped = (0 if int8 else pack_linear_layers(self.backbone)) + pack_linear_layers(
                self.head
            )
            logger.debug("oneDNN packed %d linear layers", swapped)
        self.pad_token_id = self._pad_id()

    def _install_token_head(self, folder: Any) -> None:
        head = getattr(self.backbone, "score", None)
        if not isinstance(head, nn.Linear):
            msg = (
                "classifier_from_token works with decoder classifiers that have a linear "
                "`score` head (e.g. Qwen3ForSequenceClassification); "
                f"{self.architectures} has none."
            )
            raise ConfigError(msg)
        weight = from_token.head_weight(folder, self.hf_config, self.tokenizer)
        with torch.no_grad():
            head.weight.copy_(weight.to(head.weight.dtype))
            if head.bias is not None:
                head.bias.zero_()

    def _dense_specs(self) -> tuple[Any, ...]:
        return self.st_config.dense if self.st_config else ()

    def _max_len(self, requested: int | None) -> int:
        st_len = self.st_config.max_seq_length if self.st_config else None
        if self.st_config is not None and st_len is None:
            # sentence-transformers 6 keeps max_seq_length in the tokenizer config.
            tok_len = getattr(self.tokenizer, "model_max_length", None)
            st_len = tok_len if isinstance(tok_len, int) and 0 < tok_len < 10**7 else None
        derived = loading.derive_max_model_len(self.hf_config, self.tokenizer, st_len)
        if requested is None:
            return derived
        if requested < 1 or requested > derived:
            msg = (
                f"User-specified max_model_len ({requested}) must be between 1 and the "
                f"derived max_model_len ({derived}) of this model."
            )
            raise ConfigError(msg)
        return requested

    def _prepare_padding_config(self) -> None:
        # Decoder classifiers find the last real token through config.pad_token_id.
        if getattr(self.hf_config, "pad_token_id", None) is None:
            self.hf_config.pad_token_id = self._pad_id()

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = getattr(self.hf_config, "pad_token_id", None)
        if pad is None:
            pad = self.tokenizer.eos_token_id
        return int(pad) if pad is not None else 0

    # -- metadata ---------------------------------------------------------------------------
    @property
    def architectures(self) -> tuple[str, ...]:
        return tuple(getattr(self.hf_config, "architectures", None) or ())

    @property
    def lower_case(self) -> bool:
        return bool(self.st_config and self.st_config.do_lower_case)

    @property
    def hidden_size(self) -> int:
        return int(self.hf_config.hidden_size)

    @property
    def embedding_size(self) -> int:
        """Size of the pooled embedding after projections (before Matryoshka truncation)."""
        if self.family == "sparse":
            return int(self.hf_config.vocab_size)
        return self._projected_size or self.hidden_size

    @property
    def matryoshka_dimensions(self) -> list[int] | None:
        dims = getattr(self.hf_config, "matryoshka_dimensions", None)
        return [int(d) for d in dims] if dims else None

    @property
    def is_matryoshka(self) -> bool:
        return bool(getattr(self.hf_config, "is_matryoshka", False)) or bool(
            self.matryoshka_dimensions
        )

    # -- forward ----------------------------------------------------------------------------
    def model_inputs(
        self, batch: list[list[int]], type_ids: list[list[int]] | None = None
    ) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids``, ``attention_mask`` (and ``token_type_ids`` for pairs),
        each ``(b, l)`` on the model's device."""
        longest = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[row, : len(ids)] = 1
        inputs = {"input_ids": input_ids, "attention_mask": mask}
        if type_ids is not None:
            types = torch.zeros((len(batch), longest), dtype=torch.long)
            for row, ids in enumerate(type_ids):
                types[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            inputs["token_type_ids"] = types
        return {k: v.to(self.device) for k, v in inputs.items()}

    def hidden_states(self, batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states ``(b, l, h)`` and attention mask ``(b, l)`` for a batch."""
        inputs = self.model_inputs(batch)
        output = self.backbone(**inputs)
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        return hidden, inputs["attention_mask"]

    def base_hidden(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Last hidden states of the bare transformer inside a model with a head."""
        prefix = str(getattr(self.backbone, "base_model_prefix", "model"))
        base = getattr(self.backbone, prefix, self.backbone)
        return base(**inputs).last_hidden_state

    @torch.inference_mode()
    def pool_batch(self, batch: list[list[int]]) -> torch.Tensor:
        """Sequence-pooled hidden states before the head: ``(b, h)`` (SPLADE: ``(b, vocab)``)."""
        if self.family == "sparse":
            inputs = self.model_inputs(batch)
            hidden = self.base_hidden(inputs)
            st = self.st_config or SentenceTransformersConfig()
            return splade_pool(
                hidden,
                inputs["attention_mask"],
                mlm_head(self.backbone),
                reduce=st.splade_pooling,
                activation=st.splade_activation,
            )
        hidden, mask = self.hidden_states(batch)
        return pool_sequences(hidden, mask, self._sequence_pooling())

    @torch.inference_mode()
    def apply_head(
        self, pooled: torch.Tensor, dimensions: int | None, normalize: bool
    ) -> torch.Tensor:
        """Projection -> Matryoshka truncation -> normalization; float32 on the CPU."""
        return self.head(pooled, dimensions, normalize).float().cpu()

    @torch.inference_mode()
    def token_embed_batch(
        self, batch: list[list[int]], dimensions: int | None, normalize: bool
    ) -> list[torch.Tensor]:
        """Per-token embeddings: one ``(n_tokens, d)`` float32 CPU tensor per input
        (BGE-M3: its ColBERT vectors, without the BOS position)."""
        hidden, mask = self.hidden_states(batch)
        if self.m3 is not None:
            return [
                self.m3.colbert_vectors(tokens, ids, normalize).cpu()
                for tokens, ids in zip(pool_tokens(hidden, mask), batch, strict=True)
            ]
        return [
            self.apply_head(tokens, dimensions, normalize) for tokens in pool_tokens(hidden, mask)
        ]

    @torch.inference_mode()
    def marked_batch(self, batch: list[list[int]], is_query: bool) -> list[torch.Tensor]:
        """ColBERT query or document vectors: one ``(n_kept, d)`` tensor per input."""
        if self.colbert is None:
            msg = f"Model {self.name!r} is not a ColBERT model."
            raise ConfigError(msg)
        marked = colbert.mark(batch, self.colbert, is_query, self.pad_token_id)
        output = self.backbone(
            input_ids=marked.input_ids.to(self.device),
            attention_mask=marked.attention_mask.to(self.device),
        )
        settings = self.colbert
        normalize = settings.normalize or settings.truncate_dim is not None
        vectors = self.apply_head(output.last_hidden_state, settings.truncate_dim, normalize)
        return [vectors[i][marked.keep[i]] for i in range(len(batch))]

    @torch.inference_mode()
    def hybrid_batch(
        self, batch: list[list[int]], dimensions: int | None = None, normalize: bool = True
    ) -> list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]:
        """Everything one forward pass gives, per input: ``(dense (d,), lexical weights
        or None, token vectors (n_tokens, d))``.

        BGE-M3: normalized CLS, its sparse weights and its ColBERT vectors, exactly as
        ``token_classify`` / ``token_embed`` give them (``dimensions`` / ``normalize`` do not
        apply). An embedding model: exactly its ``embed`` output and its ``token_embed`` output
        (the same head over the pooled and the per-token states), no lexical weights.
        ``LLM.embed_hybrid`` checks that the model serves both.
        """
        hidden, mask = self.hidden_states(batch)
        per_token = pool_tokens(hidden, mask)
        if self.m3 is not None:
            dense = self.apply_head(pool_sequences(hidden, mask, "CLS"), None, True)
            m3 = self.m3
            return [
                (dense[row], m3.token_weights(t, ids).cpu(), m3.colbert_vectors(t, ids).cpu())
                for row, (t, ids) in enumerate(zip(per_token, batch, strict=True))
            ]
        pooled = pool_sequences(hidden, mask, self._sequence_pooling())
        dense = self.apply_head(pooled, dimensions, normalize)
        return [
            (dense[row], None, self.apply_head(t, dimensions, normalize))
            for row, t in enumerate(per_token)
        ]

    @torch.inference_mode()
    def classify_batch(
        self, batch: list[list[int]], type_ids: list[list[int]] | None, activation: str | None
    ) -> list[torch.Tensor]:
        """Class scores per input (``(n_labels,)``); raw logits when ``activation`` is None."""
        logits = classify.sequence_logits(self, self.model_inputs(batch, type_ids))
        scores = classify.apply_activation(logits, activation or "Identity").cpu()
        return list(scores.unbind(0))

    @torch.inference_mode()
    def token_classify_batch(
        self, batch: list[list[int]], activation: str | None
    ) -> list[torch.Tensor]:
        """Class scores per token: one ``(n_tokens, n_labels)`` tensor per input
        (BGE-M3: its lexical weight per token without BOS / EOS, ``(n_tokens - 2,)``; ReLU
        unless ``activation`` is None)."""
        if self.m3 is not None:
            hidden, mask = self.hidden_states(batch)
            relu = activation is not None
            return [
                self.m3.token_weights(tokens, ids, relu).cpu()
                for tokens, ids in zip(pool_tokens(hidden, mask), batch, strict=True)
            ]
        logits = classify.token_logits(self, self.model_inputs(batch))
        return [classify.apply_activation(x, activation or "Identity").cpu() for x in logits]

    @torch.inference_mode()
    def plugin_batch(self, batch: list[list[int]], plugin: PoolerPlugin) -> list[torch.Tensor]:
        """A plugin's output per input, from each input's real-token hidden states."""
        hidden, mask = self.hidden_states(batch)
        return [
            plugin.pool(tokens, ids)
            for tokens, ids in zip(pool_tokens(hidden, mask), batch, strict=True)
        ]

    def _sequence_pooling(self) -> str:
        if self.settings.pooling_type == "ALL":
            msg = (
                "Pooling type ALL yields per-token outputs; use pooling_task='token_embed' or "
                'set pooler_config={"pooling_type": "CLS" | "MEAN" | "LAST"} for embed.'
            )
            raise ConfigError(msg)
        return self.settings.pooling_type

    def modules(self) -> list[nn.Module]:
        return [self.backbone, self.head]
