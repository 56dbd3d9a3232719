"""Exact shortcuts through open_clip's residual attention blocks: a shared prefix, and row subsets.

With per-sample prompts the text tower runs B * K sequences "SOS, P_1..P_n, class tokens, EOT". Under
the causal mask positions 0..n see only SOS and the sample's prompts, the same for its K classes:
`prefix_block` computes them once per sample (B sequences of n + 1 tokens), and only the class tokens
run B * K times, attending to their sample's prefix keys and values. `rows_block` computes a block's
output for a few rows only (the pooled token in the last block), the keys and values still coming
from every token. Both equal the plain block up to float rounding (tests: 1e-5).

They rebuild `open_clip.transformer.ResidualAttentionBlock` (ln_1, nn.MultiheadAttention, ls_1, ln_2,
mlp, ls_2) from its parts; `supports_shortcuts` says when a tower is made of exactly those blocks, and
callers fall back to the blocks' own forward otherwise.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock
from torch import Tensor, nn

__all__ = ["is_causal_mask", "prefix_block", "rows_block", "supports_shortcuts"]


def supports_shortcuts(transformer: Any) -> bool:
    """True when every block is a batch-first self-attention `ResidualAttentionBlock`."""
    if not getattr(transformer, "batch_first", True):
        return False
    for block in transformer.resblocks:
        attn = getattr(block, "attn", None)
        if (
            type(block) is not ResidualAttentionBlock
            or hasattr(block, "ln_1_kv")
            or not isinstance(attn, nn.MultiheadAttention)
            or not attn.batch_first
            or not attn._qkv_same_embed_dim
            or attn.bias_k is not None
        ):
            return False
    return True


def is_causal_mask(mask: Tensor | None) -> bool:
    """True for an additive (T, T) mask that is -inf exactly above the diagonal and 0 elsewhere."""
    if mask is None or mask.dim() != 2 or mask.shape[0] != mask.shape[1] or mask.dtype == torch.bool:
        return False
    above = torch.ones(mask.shape, dtype=torch.bool, device=mask.device).triu(1)
    return bool(torch.isneginf(mask[above]).all() and (mask[~above] == 0).all())


def _project(block: Any, normed: Tensor, parts: str = "qkv") -> list[Tensor]:
    """ln_1 output (..., T, w) -> the "qkv", "kv" or "q" projections, each (..., heads, T, w / heads)."""
    attn = block.attn
    width, start = attn.embed_dim, "qkv".index(parts[0])
    rows = slice(start * width, (start + len(parts)) * width)
    bias = None if attn.in_proj_bias is None else attn.in_proj_bias[rows]
    out = F.linear(normed, attn.in_proj_weight[rows], bias)
    return list(out.unflatten(-1, (len(parts), attn.num_heads, -1)).movedim(-3, 0).transpose(-3, -2))


def _finish(block: Any, x: Tensor, heads_out: Tensor) -> Tensor:
    """Residual, output projection and MLP of a block: x (..., T, w), attention (..., heads, T, d)."""
    x = x + block.ls_1(block.attn.out_proj(heads_out.transpose(-3, -2).flatten(-2)))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def prefix_block(
    block: Any, prefix: Tensor, suffix: Tensor, mask: Tensor | None, rows: Tensor | None = None
) -> tuple[Tensor | None, Tensor]:
    """One block over sequences that share their first P tokens per sample.

    Args:
        block: A `ResidualAttentionBlock`.
        prefix: (B, P, w), the tokens shared by the K sequences of each sample.
        suffix: (B, K, S, w), the rest of each sequence.
        mask: Additive causal mask, at least (P + S) x (P + S) (the top-left part is used).
        rows: (K,) the one suffix position needed of each class sequence (last block: the pooled
            EOT). Only those rows are computed and the prefix's output is skipped.

    Returns:
        (prefix, suffix) after the block, or (None, (B, K, w)) with `rows`.
    """
    batch, classes, length = suffix.shape[0], suffix.shape[1], prefix.shape[1]
    total = length + suffix.shape[2]
    normed_p, normed_s = block.ln_1(prefix), block.ln_1(suffix)
    k_p, v_p = _project(block, normed_p, "kv")  # (B, h, P, d)
    k_s, v_s = _project(block, normed_s, "kv")  # (B, K, h, S, d)
    suffix_mask = None if mask is None else mask[length:total, :total]  # (S, P + S)
    if rows is not None:
        pick = torch.arange(classes, device=suffix.device), rows
        suffix, normed_s = suffix[:, pick[0], pick[1]][:, :, None], normed_s[:, pick[0], pick[1]][:, :, None]
        if suffix_mask is not None:  # (K, P + S) -> (B * K, 1, 1, P + S), one row per sequence
            suffix_mask = suffix_mask[rows][None, :, None, None].expand(batch, -1, -1, -1, -1).flatten(0, 1)
    (q_s,) = _project(block, normed_s, "q")
    if suffix_mask is not None:  # sdpa wants a float mask in the queries' dtype (bf16 under autocast)
        suffix_mask = suffix_mask.to(q_s.dtype)
    # Each class sequence attends to its sample's prefix (broadcast over K) and to its own tokens.
    keys = torch.cat([k_p[:, None].expand(-1, classes, -1, -1, -1), k_s], dim=-2)
    values = torch.cat([v_p[:, None].expand(-1, classes, -1, -1, -1), v_s], dim=-2)
    out_s = F.scaled_dot_product_attention(
        q_s.flatten(0, 1), keys.flatten(0, 1), values.flatten(0, 1), attn_mask=suffix_mask
    ).unflatten(0, (batch, classes))
    suffix = _finish(block, suffix, out_s)
    if rows is not None:
        return None, suffix[:, :, 0]
    (q_p,) = _project(block, normed_p, "q")
    prefix_mask = None if mask is None else mask[:length, :length].to(q_p.dtype)
    out_p = F.scaled_dot_product_attention(q_p, k_p, v_p, attn_mask=prefix_mask)
    return _finish(block, prefix, out_p), suffix


def rows_block(block: Any, x: Tensor, rows: Tensor) -> Tensor:
    """A block's output at one row per sequence: x (N, T, w), rows (N,) -> (N, w); no mask (vision)."""
    normed = block.ln_1(x)
    keys, values = _project(block, normed, "kv")  # (N, h, T, d)
    pick = torch.arange(x.shape[0], device=x.device), rows
    (queries,) = _project(block, normed[pick][:, None], "q")  # (N, h, 1, d)
    out = F.scaled_dot_product_attention(queries, keys, values)
    return _finish(block, x[pick][:, None], out)[:, 0]
