"""A fused SPLADE max-pooling head: the MLM logits are never stored, the backward is sparse.

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

Masked-LM heads understood (SUPPORTED_MASKED_LMS): BERT, DistilBERT, RoBERTa, XLM-RoBERTa,
CamemBERT and ModernBERT. For any other model `enable_fused_head` leaves it unfused and warns
once, naming the architecture.

Precision: the output has the dtype of the logits the unfused head would produce (bf16 under bf16
autocast or with bf16 weights); the running max, the bias sum and the backward's sums are kept in
fp32, and each gradient is cast to its input's dtype at the end.

sentence-transformers lacks this: SpladePooling's `chunk_size` only chunks the pooling of logits
that were already materialised by the MLM head, and autograd keeps them for backward.
"""

from __future__ import annotations

import inspect
import types
import warnings
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


def _logits_dtype(flat_hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The dtype of the logits the unfused head would produce: bf16 under bf16 autocast or bf16 weights.

    Found with an empty matmul, so it follows whatever autocast decides for this device, at no cost.
    """
    return (flat_hidden[:0] @ weight[:0].t()).dtype


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least fp32: the dtype of the running max, the bias sum and the backward's sums."""
    return torch.promote_types(dtype, torch.float32)


def _max_logits(flat_hidden: torch.Tensor, ends: list[int], weight: torch.Tensor,
                bias: torch.Tensor | None, chunk: int) -> torch.Tensor:
    """Max logit per (row, vocab) over each row's tokens, one [tokens, vocab] tile at a time.

    Tiles of `chunk` tokens x VOCAB_BLOCK entries stay in cache between the matmul that
    writes them and the max that reads them: with whole-vocabulary chunks the max, not the
    matmul, took most of the time (measured 2x slower on 2 cores). The bias is added after the
    max (max(x + b) == max(x) + b, rounding being monotone).

    The tiles are in the dtype of `flat_hidden` and `weight` (bf16 in bf16 training); the running
    max and the bias sum are kept in fp32 whatever that dtype: the max is exact in any dtype, but
    adding the bias in bf16 would round the logit a second time.
    """
    vocab = weight.shape[0]
    best = flat_hidden.new_full((len(ends), vocab), float("-inf"),
                                dtype=_accumulation_dtype(flat_hidden.dtype))
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
    return best if bias is None else best + bias.to(best.dtype)


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


def _forward_values(flat_hidden: torch.Tensor, ends: list[int], weight: torch.Tensor, bias: torch.Tensor | None,
                    chunk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.dtype]:
    """Max logits (fp32 or wider), the projection operands in the logits dtype, and that dtype.

    Under autocast the operands are cast once here rather than per tile by each matmul.
    """
    dtype = _logits_dtype(flat_hidden, weight)
    flat_hidden, weight = flat_hidden.to(dtype), weight.to(dtype)
    return _max_logits(flat_hidden, ends, weight, bias, chunk), flat_hidden, weight, dtype


class _SpladeMaxHead(torch.autograd.Function):
    """Autograd for `splade_max_head`: only the argmax token of an active entry gets a gradient.

    The output has the dtype of the logits of the unfused head (so bf16 under bf16 autocast); the
    backward sums in fp32 (a token is the argmax of hundreds of vocabulary entries, an entry's
    weight row gets one term per text) and casts each gradient to its input's dtype at the end,
    as a bf16 matmul with fp32 accumulation does on the unfused path.
    """

    @staticmethod
    def forward(ctx, hidden, mask, weight, bias, chunk, double_log):  # noqa: D102
        flat_hidden, flat_index, ends = _flatten(hidden, mask)
        best, cast_hidden, cast_weight, dtype = _forward_values(flat_hidden, ends, weight, bias, chunk)
        row, vocab_id = (best > 0).nonzero(as_tuple=True)  # value 0 and gradient 0 elsewhere
        token = _argmax_tokens(cast_hidden, ends, cast_weight, row, vocab_id)
        ctx.save_for_backward(flat_hidden, flat_index, weight, row, vocab_id, token, best[row, vocab_id])
        ctx.shape, ctx.double_log = hidden.shape, double_log
        ctx.bias_dtype = None if bias is None else bias.dtype
        return _activate(best, double_log).to(dtype)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        flat_hidden, flat_index, weight, row, vocab_id, token, value = ctx.saved_tensors
        batch, length, width = ctx.shape
        acc = value.dtype
        coef = (grad_out[row, vocab_id].to(acc) * _activation_grad(value, ctx.double_log))[:, None]
        grad_hidden = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_flat = flat_hidden.new_zeros(flat_hidden.shape, dtype=acc)
            grad_flat.index_add_(0, token, weight.index_select(0, vocab_id).to(acc) * coef)
            grad_hidden = flat_hidden.new_zeros(batch * length, width).index_copy_(
                0, flat_index, grad_flat.to(flat_hidden.dtype))
            grad_hidden = grad_hidden.view(batch, length, width)
        if ctx.needs_input_grad[2]:
            grad_weight = weight.new_zeros(weight.shape, dtype=acc)
            grad_weight.index_add_(0, vocab_id, flat_hidden.index_select(0, token).to(acc) * coef)
            grad_weight = grad_weight.to(weight.dtype)
        if ctx.bias_dtype is not None and ctx.needs_input_grad[3]:
            grad_bias = weight.new_zeros(weight.shape[0], dtype=acc)
            grad_bias.index_add_(0, vocab_id, coef.squeeze(1))
            grad_bias = grad_bias.to(ctx.bias_dtype)
        return grad_hidden, None, grad_weight, grad_bias, None, None


def splade_max_head(hidden: torch.Tensor, attention_mask: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor | None = None, activation: str = "relu",
                    chunk: int | None = None) -> torch.Tensor:
    """max over unmasked positions of log1p(relu(hidden @ weight.T + bias)) -> [batch, vocab].

    `activation="log1p_relu"` applies log1p twice, as SpladePooling does for that option. The
    result has the dtype `hidden @ weight.T` would have here (bf16 under bf16 autocast).
    """
    double_log = activation == "log1p_relu"
    chunk = chunk or CHUNK_TOKENS
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (hidden, weight, bias))
    if needs_grad:
        return _SpladeMaxHead.apply(hidden, attention_mask, weight, bias, chunk, double_log)
    flat_hidden, _, ends = _flatten(hidden, attention_mask)
    best, _, _, dtype = _forward_values(flat_hidden, ends, weight, bias, chunk)
    return _activate(best, double_log).to(dtype)


# --- which masked-LM heads are understood ----------------------------------------------------

MlmParts = tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor], nn.Linear]
# Masked-LMs whose head is `decoder(layer_norm(gelu(dense(x))))` under `lm_head`, body under `roberta`.
_ROBERTA_STYLE = ("RobertaForMaskedLM", "XLMRobertaForMaskedLM", "CamembertForMaskedLM")
SUPPORTED_MASKED_LMS = ("BertForMaskedLM", "DistilBertForMaskedLM", *_ROBERTA_STYLE, "ModernBertForMaskedLM")


def _mlm_parts(hf_model: nn.Module) -> MlmParts | None:
    """(encoder body, MLM transform, vocabulary projection) of a known masked-LM, else None.

    Each transform is the masked-LM's own head up to, not including, its vocabulary projection;
    the projection's bias is the one its forward adds (RoBERTa's `lm_head.bias` is tied to it).
    """
    name = type(hf_model).__name__
    if name == "BertForMaskedLM":
        predictions = hf_model.cls.predictions
        return hf_model.bert, predictions.transform, predictions.decoder
    if name == "DistilBertForMaskedLM":
        def distilbert_transform(hidden: torch.Tensor) -> torch.Tensor:
            return hf_model.vocab_layer_norm(hf_model.activation(hf_model.vocab_transform(hidden)))

        return hf_model.distilbert, distilbert_transform, hf_model.vocab_projector
    if name in _ROBERTA_STYLE:
        from transformers.activations import gelu

        head = hf_model.lm_head

        def roberta_transform(hidden: torch.Tensor) -> torch.Tensor:
            return head.layer_norm(gelu(head.dense(hidden)))

        return hf_model.roberta, roberta_transform, head.decoder
    if name == "ModernBertForMaskedLM":
        return hf_model.model, hf_model.head, hf_model.decoder
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


def _refusal(transformer: nn.Module, pooling: nn.Module) -> str | None:
    """Why this fill-mask Transformer + SpladePooling pair cannot run fused, or None if it can."""
    hf_model = getattr(transformer, "model", None)
    architecture = type(hf_model).__name__
    config = getattr(transformer, "modality_config", {}).get("text", {})
    if pooling.pooling_strategy != "max" or pooling.activation_function not in ("relu", "log1p_relu"):
        return (f"{architecture} + SpladePooling({pooling.pooling_strategy!r}, activation "
                f"{pooling.activation_function!r}) is not max pooling of relu/log1p_relu")
    if getattr(transformer, "backend", "torch") != "torch" or not isinstance(hf_model, nn.Module):
        return f"{architecture} runs on the {getattr(transformer, 'backend', '?')} backend, not torch"
    if (config.get("method") != "forward"
            or config.get("method_output_name") not in ("logits", ["logits"], ("logits",))):
        return f"{architecture} is called as {config.get('method')!r} -> {config.get('method_output_name')!r}"
    if _mlm_parts(hf_model) is None:
        return f"the masked-LM head of {architecture} is not one of {', '.join(SUPPORTED_MASKED_LMS)}"
    return None


_WARNED: set[str] = set()


def _warn_once(reason: str) -> None:
    if reason not in _WARNED:
        _WARNED.add(reason)
        warnings.warn(f"fused SPLADE head not enabled, the model runs unfused: {reason}", RuntimeWarning,
                      stacklevel=3)


def enable_fused_head(model: SparseEncoder) -> bool:
    """Run every fill-mask Transformer + SpladePooling(max) of `model` with the fused head.

    Returns False, leaving the model untouched, when it has no such pair (silently: there is
    nothing to fuse) or one of them is not supported, warning once per reason (naming the
    architecture): sum pooling, a non-torch backend, a masked-LM head other than those of
    SUPPORTED_MASKED_LMS. The switch lives on the module instances only: saving writes the usual
    sentence-transformers folder.
    """
    pairs = _pairs(model)
    if not pairs:
        # Nothing to fuse (a CSR autoencoder, static query weights): not a fallback, so no warning.
        return False
    for transformer, pooling in pairs:
        if (reason := _refusal(transformer, pooling)) is not None:
            _warn_once(reason)
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
