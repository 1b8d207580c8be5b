"""A fused SPLADE max-pooling head: the MLM logits are never stored, the backward is sparse (issue 9).

sentence-transformers runs SPLADE as a fill-mask `Transformer` (logits [batch, length, vocab])
followed by `SpladePooling(max)`, which takes max over positions of log(1 + ReLU(logits)). For a
small encoder such as BERT-tiny the vocabulary projection is ~90% of the forward FLOPs, and the
[batch, length, vocab] tensor (500 MB at 16 x 256 x 30,522 in fp32) is written, masked,
activated, reduced, and in training kept and backpropagated through in full, although a max-pool
has a non-zero gradient at only one position per (text, vocabulary entry).

`enable_fused_head(model)` swaps, at runtime only, the forward of such a module pair for:
encoder body -> MLM transform -> `splade_max_head`, which computes the same function chunk by
chunk over the non-padding tokens, keeps only the running max and its argmax per vocabulary
entry, and in backward sends each entry's gradient to its argmax token alone. ReLU and log1p are
monotone, so log1p(relu(max(logits))) == max(log1p(relu(logits))); an entry whose max logit is
<= 0 has value 0 and gradient 0. Nothing is saved differently: a model folder written while the
head is fused is a plain sentence-transformers folder.

sentence-transformers lacks this: SpladePooling's `chunk_size` only chunks the pooling of logits
that were already materialised by the MLM head, and autograd keeps them for backward.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

# A logits tile is CHUNK_TOKENS x VOCAB_BLOCK (8 MB fp32): large enough for the matmul to run at
# full speed and for few small ops (which suffer most when other processes share the cores),
# small enough to stay in cache for the max that follows.
CHUNK_TOKENS = 512
VOCAB_BLOCK = 4096
HIDDEN_KEY = "fused_mlm_hidden_states"
DECODER_KEY = "fused_mlm_decoder"
_BODY_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds")


def _flatten(hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The non-padding tokens as [tokens, width], their flat positions, and each row's end offset."""
    batch, length, width = hidden.shape
    flat_index = mask.reshape(-1).nonzero().squeeze(1)
    flat_hidden = hidden.reshape(batch * length, width).index_select(0, flat_index)
    ends = torch.cumsum(torch.bincount(flat_index // length, minlength=batch), 0).tolist()
    return flat_hidden, flat_index, ends


def _max_logits(flat_hidden: torch.Tensor, ends: list[int], weight: torch.Tensor,
                bias: torch.Tensor | None, chunk: int) -> torch.Tensor:
    """Max logit per (row, vocab) over each row's tokens, one [tokens, vocab] tile at a time.

    Tiles of `chunk` tokens x VOCAB_BLOCK entries stay in cache between the matmul that
    writes them and the max that reads them: with whole-vocabulary chunks the max, not the
    matmul, took most of the time (measured 2x slower on 2 cores). The bias is added after the
    max (max(x + b) == max(x) + b, rounding being monotone).
    """
    vocab = weight.shape[0]
    best = flat_hidden.new_full((len(ends), vocab), float("-inf"))
    starts = [0, *ends[:-1]]
    for lo in range(0, flat_hidden.shape[0], chunk):
        hi = min(lo + chunk, flat_hidden.shape[0])
        tokens = flat_hidden[lo:hi]
        rows = [(row, max(start, lo) - lo, min(end, hi) - lo)
                for row, (start, end) in enumerate(zip(starts, ends, strict=True))
                if max(start, lo) < min(end, hi)]
        for v0 in range(0, vocab, VOCAB_BLOCK):
            logits = tokens @ weight[v0:v0 + VOCAB_BLOCK].t()
            for row, s, e in rows:
                target = best[row, v0:v0 + VOCAB_BLOCK]
                torch.maximum(target, logits[s:e].amax(0), out=target)
    return best if bias is None else best + bias


def _argmax_tokens(flat_hidden: torch.Tensor, ends: list[int], weight: torch.Tensor,
                   row: torch.Tensor, vocab_id: torch.Tensor) -> torch.Tensor:
    """The token (flat index) reaching the max, recomputed for the active (row, vocab) pairs only.

    A SPLADE text has a few hundred active entries out of 30,522, so this costs a sliver of a
    full argmax over [tokens, vocab], which would take longer than the logits themselves.
    """
    token = torch.empty_like(vocab_id)
    starts = [0, *ends[:-1]]
    for r in row.unique().tolist():
        pick = (row == r).nonzero().squeeze(1)
        scores = flat_hidden[starts[r]:ends[r]] @ weight.index_select(0, vocab_id[pick]).t()
        token[pick] = scores.argmax(0) + starts[r]
    return token


def _activation_grad(max_logit: torch.Tensor, double_log: bool) -> torch.Tensor:
    """d/dx of log1p(x) (or log1p(log1p(x))) at x = the max logit, for positive x."""
    grad = 1.0 / (1.0 + max_logit)
    return grad / (1.0 + torch.log1p(max_logit)) if double_log else grad


def _activate(max_logit: torch.Tensor, double_log: bool) -> torch.Tensor:
    values = torch.log1p(max_logit.clamp_min(0))
    return torch.log1p(values) if double_log else values


class _SpladeMaxHead(torch.autograd.Function):
    """Autograd for `splade_max_head`: only the argmax token of an active entry gets a gradient."""

    @staticmethod
    def forward(ctx, hidden, mask, weight, bias, chunk, double_log):  # noqa: D102
        flat_hidden, flat_index, ends = _flatten(hidden, mask)
        best = _max_logits(flat_hidden, ends, weight, bias, chunk)
        row, vocab_id = (best > 0).nonzero(as_tuple=True)  # value 0 and gradient 0 elsewhere
        token = _argmax_tokens(flat_hidden, ends, weight, row, vocab_id)
        ctx.save_for_backward(flat_hidden, flat_index, weight, row, vocab_id, token, best[row, vocab_id])
        ctx.shape, ctx.double_log, ctx.has_bias = hidden.shape, double_log, bias is not None
        return _activate(best, double_log)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        flat_hidden, flat_index, weight, row, vocab_id, token, value = ctx.saved_tensors
        batch, length, width = ctx.shape
        coef = (grad_out[row, vocab_id] * _activation_grad(value, ctx.double_log))[:, None]
        grad_hidden = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_flat = flat_hidden.new_zeros(flat_hidden.shape)
            grad_flat.index_add_(0, token, (weight.index_select(0, vocab_id) * coef).to(grad_flat.dtype))
            grad_hidden = flat_hidden.new_zeros(batch * length, width).index_copy_(0, flat_index, grad_flat)
            grad_hidden = grad_hidden.view(batch, length, width)
        if ctx.needs_input_grad[2]:
            grad_weight = weight.new_zeros(weight.shape)
            grad_weight.index_add_(0, vocab_id, (flat_hidden.index_select(0, token) * coef).to(weight.dtype))
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_bias = weight.new_zeros(weight.shape[0])
            grad_bias.index_add_(0, vocab_id, coef.squeeze(1).to(weight.dtype))
        return grad_hidden, None, grad_weight, grad_bias, None, None


def splade_max_head(hidden: torch.Tensor, attention_mask: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor | None = None, activation: str = "relu",
                    chunk: int | None = None) -> torch.Tensor:
    """max over unmasked positions of log1p(relu(hidden @ weight.T + bias)) -> [batch, vocab].

    `activation="log1p_relu"` applies log1p twice, as SpladePooling does for that option.
    """
    double_log = activation == "log1p_relu"
    chunk = chunk or CHUNK_TOKENS
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (hidden, weight, bias))
    if needs_grad:
        return _SpladeMaxHead.apply(hidden, attention_mask, weight, bias, chunk, double_log)
    flat_hidden, _, ends = _flatten(hidden, attention_mask)
    return _activate(_max_logits(flat_hidden, ends, weight, bias, chunk), double_log)


# --- which masked-LM heads are understood ----------------------------------------------------

MlmParts = tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor], nn.Linear]


def _mlm_parts(hf_model: nn.Module) -> MlmParts | None:
    """(encoder body, MLM transform, vocabulary projection) of a known masked-LM, else None."""
    name = type(hf_model).__name__
    if name == "BertForMaskedLM":
        predictions = hf_model.cls.predictions
        return hf_model.bert, predictions.transform, predictions.decoder
    if name == "DistilBertForMaskedLM":
        def transform(hidden: torch.Tensor) -> torch.Tensor:
            return hf_model.vocab_layer_norm(hf_model.activation(hf_model.vocab_transform(hidden)))

        return hf_model.distilbert, transform, hf_model.vocab_projector
    return None


def _fused_transformer_forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Transformer.forward replacement: hidden states after the MLM transform, no logits."""
    parts = _mlm_parts(self.model)
    if parts is None or "cu_seq_lens_q" in features or features.get("modality", "text") != "text":
        return type(self).forward(self, features, **kwargs)
    body, transform, decoder = parts
    accepted = inspect.signature(body.forward).parameters
    inputs = {k: features[k] for k in _BODY_INPUTS if k in features and k in accepted}
    hidden = body(**inputs, return_dict=True)[0]
    features[HIDDEN_KEY] = transform(hidden)
    features[DECODER_KEY] = decoder
    return features


def _fused_pooling_forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """SpladePooling.forward replacement: the fused head on the transformed hidden states."""
    if HIDDEN_KEY not in features:
        return type(self).forward(self, features, **kwargs)
    hidden, decoder = features.pop(HIDDEN_KEY), features.pop(DECODER_KEY)
    pooled = splade_max_head(hidden, features["attention_mask"], decoder.weight, decoder.bias,
                             self.activation_function)
    if self.embedding_dimension is None:
        self.embedding_dimension = pooled.shape[1]
    features["sentence_embedding"] = pooled
    return features


# --- switching a SparseEncoder -----------------------------------------------------------------

def _module_lists(model: nn.Module) -> Iterator[list[nn.Module]]:
    """The module sequences of a SparseEncoder: its own, and each Router route's."""
    yield list(model.children())
    for module in model.modules():
        if type(module).__name__ == "Router":
            for route in module.sub_modules.values():
                yield list(route)


def _pairs(model: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    pairs = []
    for modules in _module_lists(model):
        for first, second in zip(modules, modules[1:], strict=False):
            is_mlm = getattr(first, "transformer_task", None) == "fill-mask"
            if is_mlm and type(second).__name__ == "SpladePooling":
                pairs.append((first, second))
    return pairs


def _supported(transformer: nn.Module, pooling: nn.Module) -> bool:
    config = getattr(transformer, "modality_config", {}).get("text", {})
    return (pooling.pooling_strategy == "max"
            and pooling.activation_function in ("relu", "log1p_relu")
            and getattr(transformer, "backend", "torch") == "torch"
            and config.get("method") == "forward"
            and config.get("method_output_name") in ("logits", ["logits"], ("logits",))
            and isinstance(getattr(transformer, "model", None), nn.Module)
            and _mlm_parts(transformer.model) is not None)


def enable_fused_head(model: SparseEncoder) -> bool:
    """Run every fill-mask Transformer + SpladePooling(max) of `model` with the fused head.

    Returns False, leaving the model untouched, when there is no such pair or one of them has a
    head this module does not know (CSR, sum pooling, non-BERT/DistilBERT masked-LMs). The switch
    lives on the module instances only: saving writes the usual sentence-transformers folder.
    """
    pairs = _pairs(model)
    if not pairs or not all(_supported(t, p) for t, p in pairs):
        return False
    for transformer, pooling in pairs:
        transformer.forward = types.MethodType(_fused_transformer_forward, transformer)
        pooling.forward = types.MethodType(_fused_pooling_forward, pooling)
    return True


def disable_fused_head(model: SparseEncoder) -> None:
    """Undo `enable_fused_head`: the modules' own forwards run again."""
    for transformer, pooling in _pairs(model):
        for module in (transformer, pooling):
            if "forward" in vars(module):
                del module.forward


def is_fused(model: SparseEncoder) -> bool:
    """Whether `enable_fused_head` is in effect on `model`."""
    return any("forward" in vars(t) for t, _ in _pairs(model))
