# Copyright 2026 The transformers-condenser Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Training kernels of the Condenser pre-training models: swappable parts the model calls, none of them model logic.

- `"sdpa_recompute"`, an attention implementation registered with transformers' `AttentionInterface` (and its mask
  format with `AttentionMaskInterface`): scaled dot-product attention that, in training on the CPU with attention
  dropout, keeps no attention probabilities for backward and recomputes them there. Everywhere else it is `sdpa`.
  Select it like any other backend, `from_pretrained(..., attn_implementation="sdpa_recompute")` or
  `model.set_attn_implementation("sdpa_recompute")`; [`CondenserForPreTraining`] uses it by default.
- `layer_forward_at_rows`: a BERT layer's output at a few positions only (the CLS and the labelled ones), which is all
  the pre-training losses read from the last backbone layer and the last head layer (`config.sparse_prediction`).
"""

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.bert.modeling_bert import eager_attention_forward


RECOMPUTE_ATTENTION = "sdpa_recompute"


class _AttentionWithRecomputedProbabilities(torch.autograd.Function):
    """Attention (eager's formula: `dropout(softmax(q k^T * scaling + mask)) v`) that keeps only the queries, keys,
    values and the dropout's keep-mask (1 byte per probability) for backward, and recomputes the probabilities there
    (one matmul and a softmax).

    Unfused kernels keep the probabilities and the dropped-out probabilities (8 bytes per probability in float32) for
    backward: on the CPU, where sdpa has no fused kernel with dropout, that is about 90 MiB per BERT-base layer at
    32 x 128 tokens. The dropout is `nn.functional.dropout`, the call eager attention and sdpa's unfused kernel make,
    so it draws the same masks from the same random-number stream. The mask is read back from the dropout's output:
    where a probability is 0 its gradient is 0 whatever the mask says.
    """

    @staticmethod
    def _probabilities(query, key, attention_mask, scaling):
        """Softmax over the keys, computed in float32 (or float64) from the (possibly half-precision) queries and keys.

        The large intermediate tensors are updated in place: on the CPU every fresh one costs page faults."""
        scores = torch.matmul(query, key.transpose(-1, -2))
        scores = scores.to(torch.promote_types(scores.dtype, torch.float32))
        scores.mul_(scaling)
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:
                scores.masked_fill_(attention_mask.logical_not(), torch.finfo(scores.dtype).min)
            else:
                scores.add_(attention_mask)
        return torch.softmax(scores, dim=-1)

    @staticmethod
    def forward(ctx, query, key, value, attention_mask, scaling, dropout):
        """`(batch, heads, queries, head_dim)` inputs, `(batch, queries, heads, head_dim)` output, as the attention
        functions of transformers' `AttentionInterface` return it."""
        weights = _AttentionWithRecomputedProbabilities._probabilities(query, key, attention_mask, scaling)
        kept = None
        if dropout > 0:
            # On the full-precision probabilities, as eager attention (whose additive mask promotes them) does.
            weights = F.dropout(weights, p=dropout, training=True, inplace=True)
            kept = weights != 0
        output = torch.matmul(weights.to(value.dtype), value)
        ctx.save_for_backward(query, key, value, attention_mask, kept)
        ctx.scaling, ctx.dropout = scaling, dropout
        return output.transpose(1, 2).contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        query, key, value, attention_mask, kept = ctx.saved_tensors
        probabilities = _AttentionWithRecomputedProbabilities._probabilities(query, key, attention_mask, ctx.scaling)
        grad_output = grad_output.transpose(1, 2)
        # The forward's dropped-out weights, and the gradient with respect to them and then to the probabilities.
        weights = probabilities
        grad_weights = torch.matmul(grad_output, value.transpose(-1, -2)).to(probabilities.dtype)
        if kept is not None:
            keep_scale = 1 / (1 - ctx.dropout) if ctx.dropout < 1 else 0.0
            weights = (weights * kept).mul_(keep_scale)
            grad_weights.mul_(kept).mul_(keep_scale)
        grad_value = torch.matmul(weights.to(value.dtype).transpose(-1, -2), grad_output)
        del weights
        # Softmax backward, in float32 and in place: p * (g - sum(g * p)).
        grad_scores = grad_weights.sub_((grad_weights * probabilities).sum(dim=-1, keepdim=True))
        grad_scores = grad_scores.mul_(probabilities).mul_(ctx.scaling).to(query.dtype)
        grad_query = torch.matmul(grad_scores, key)
        grad_key = torch.matmul(grad_scores.transpose(-1, -2), query)
        return grad_query, grad_key, grad_value, None, None, None


def recomputes_probabilities(module: nn.Module, query: torch.Tensor, dropout: float) -> bool:
    """Whether `sdpa_recompute_attention_forward` recomputes rather than calls sdpa: in training mode (with or without
    gradient, so that the gradient cache's first pass and its replay compute the same values), with attention dropout,
    on the CPU (where PyTorch has no fused kernel with dropout and sdpa keeps the probabilities), outside
    `torch.compile` (whose own kernels decide what to keep)."""
    return module.training and dropout > 0 and query.device.type == "cpu" and not torch.compiler.is_compiling()


def sdpa_recompute_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """The `"sdpa_recompute"` attention implementation (signature of transformers' `AttentionInterface`).

    Bidirectional scaled dot-product attention. Where `recomputes_probabilities` holds, it keeps for backward only the
    queries, keys, values and a 1-byte dropout keep-mask per probability (about 90 MiB less per BERT-base layer at
    32 x 128 tokens than sdpa's unfused CPU kernel) and recomputes the probabilities in backward; the dropout masks
    are the ones sdpa's unfused kernel draws (same calls, same random stream), so outputs and gradients equal sdpa's up
    to float rounding. Everywhere else (GPU, evaluation, no dropout) it is the registered `"sdpa"` implementation.
    Attention weights are never returned (`None`), as with sdpa.
    """
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    if recomputes_probabilities(module, query, dropout):
        output = _AttentionWithRecomputedProbabilities.apply(query, key, value, attention_mask, scaling, dropout)
        return output, None
    return ALL_ATTENTION_FUNCTIONS["sdpa"](
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )


# The kernel takes sdpa's mask format (boolean, or None where nothing is masked).
AttentionInterface.register(RECOMPUTE_ATTENTION, sdpa_recompute_attention_forward)
AttentionMaskInterface.register(RECOMPUTE_ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def _is_output_capturing_hook(hook) -> bool:
    # transformers' `capture_outputs` hooks record a layer's output only while `output_hidden_states` /
    # `output_attentions` is requested, and the pre-training model never selects rows then.
    return getattr(hook, "__name__", "") == "output_capturing_hook"


def supports_row_selection(layer: nn.Module) -> bool:
    """Whether `layer_forward_at_rows` computes what `layer(...)` would: not when the module call matters (forward
    hooks, other than transformers' output-capturing ones, or accelerate's device hooks on the layer; gradient
    checkpointing, which wraps the module call; `chunk_size_feed_forward`, whose chunks must divide the rows) or the
    attention backend takes no tensor mask (flash, flex). Hooks on the layer's sub-modules are not looked at: on the
    rows path the attention and feed-forward sub-modules see only the selected rows."""
    attention = layer.attention.self
    return (
        attention.config._attn_implementation in ("eager", "sdpa", RECOMPUTE_ATTENTION)
        and not layer.chunk_size_feed_forward
        and all(_is_output_capturing_hook(hook) for hook in layer._forward_hooks.values())
        and not layer._forward_pre_hooks
        and not hasattr(layer, "_hf_hook")
        and not getattr(layer, "gradient_checkpointing", False)
    )


def layer_forward_at_rows(
    layer: nn.Module,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None,
    rows: torch.Tensor,
    **kwargs,
) -> torch.Tensor:
    """`layer(hidden_states, attention_mask, **kwargs)` (a `BertLayer` of a bidirectional encoder) at the positions
    `rows` (`(batch, num_rows)` indices) only: shape `(batch, num_rows, hidden_size)`.

    Every position still serves as key and value; the queries, the attention output block and the feed-forward block
    run on the selected rows. The attention core is the layer's own backend (`config._attn_implementation`), called
    with `**kwargs`. Use it only where `supports_row_selection(layer)`.
    """
    attention = layer.attention.self
    batch_size, length, hidden_size = hidden_states.shape
    queries = hidden_states.gather(1, rows.unsqueeze(-1).expand(-1, -1, hidden_size))
    if attention_mask is not None and attention_mask.shape[-2] != 1:
        attention_mask = attention_mask.expand(batch_size, -1, -1, -1)
        attention_mask = attention_mask.gather(
            2, rows[:, None, :, None].expand(-1, attention_mask.shape[1], -1, length)
        )

    def split_heads(states: torch.Tensor) -> torch.Tensor:
        return states.view(batch_size, states.shape[1], -1, attention.attention_head_size).transpose(1, 2)

    attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
        attention.config._attn_implementation, eager_attention_forward
    )
    context, _ = attention_interface(
        attention,
        split_heads(attention.query(queries)),
        split_heads(attention.key(hidden_states)),
        split_heads(attention.value(hidden_states)),
        attention_mask,
        dropout=attention.dropout.p if attention.training else 0.0,
        scaling=attention.scaling,
        **kwargs,
    )
    attention_output = layer.attention.output(context.reshape(batch_size, queries.shape[1], -1), queries)
    return layer.feed_forward_chunk(attention_output)
