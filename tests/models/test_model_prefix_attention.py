"""The exact shortcuts through open_clip's blocks: shared text prefix and pooled-row-only last blocks."""

from __future__ import annotations

import pytest
import torch
from cfipt_model_helpers import build, patches
from open_clip.transformer import CustomResidualAttentionBlock, ResidualAttentionBlock, Transformer
from torch import nn

from models.prefix_attention import is_causal_mask, prefix_block, rows_block, supports_shortcuts


def causal(length: int) -> torch.Tensor:
    """open_clip's text mask: -inf above the diagonal, 0 elsewhere."""
    return torch.full((length, length), float("-inf")).triu(1)


def block(width: int = 16, heads: int = 2, seed: int = 0) -> ResidualAttentionBlock:
    torch.manual_seed(seed)
    b = ResidualAttentionBlock(width, heads, act_layer=nn.GELU).eval()
    with torch.no_grad():  # non-trivial norms, so that ln_1 / ln_2 mistakes show
        for p in b.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return b


def test_prefix_block_equals_the_block_over_the_whole_sequences():
    blk, batch, classes, prefix_len, suffix_len = block(), 3, 4, 3, 5
    prefix = torch.randn(batch, prefix_len, 16)
    suffix = torch.randn(batch, classes, suffix_len, 16)
    mask = causal(20)  # longer than the sequences: its top-left part applies
    whole = torch.cat([prefix[:, None].expand(-1, classes, -1, -1), suffix], dim=2).flatten(0, 1)
    with torch.no_grad():
        expected = blk(whole, attn_mask=mask[:8, :8]).unflatten(0, (batch, classes))
        new_prefix, new_suffix = prefix_block(blk, prefix, suffix, mask)
        rows = torch.tensor([4, 0, 2, 1])
        none, picked = prefix_block(blk, prefix, suffix, mask, rows=rows)
    assert new_prefix is not None and none is None
    for k in range(classes):  # the prefix really is the same for every class sequence
        torch.testing.assert_close(new_prefix, expected[:, k, :prefix_len], atol=1e-5, rtol=0)
    torch.testing.assert_close(new_suffix, expected[:, :, prefix_len:], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        picked, expected[:, torch.arange(classes), prefix_len + rows], atol=1e-5, rtol=0
    )


def test_prefix_block_needs_the_causal_mask():
    # Without it the prefix would see the class tokens: the shortcut must not be taken (and is not
    # equal), which is why PromptedCLIP checks `is_causal_mask` first.
    blk, prefix, suffix = block(), torch.randn(2, 3, 16), torch.randn(2, 2, 4, 16)
    whole = torch.cat([prefix[:, None].expand(-1, 2, -1, -1), suffix], dim=2).flatten(0, 1)
    with torch.no_grad():
        expected = blk(whole).unflatten(0, (2, 2))
        new_prefix, _ = prefix_block(blk, prefix, suffix, causal(7))
    assert new_prefix is not None and not torch.allclose(new_prefix, expected[:, 0, :3], atol=1e-3)


def test_rows_block_equals_the_block_at_those_rows():
    blk, x = block(seed=3), torch.randn(5, 9, 16)
    rows = torch.tensor([0, 0, 3, 8, 1])
    with torch.no_grad():
        torch.testing.assert_close(rows_block(blk, x, rows), blk(x)[torch.arange(5), rows], atol=1e-5, rtol=0)


def test_causal_mask_detection():
    assert is_causal_mask(causal(6))
    assert not is_causal_mask(None)
    assert not is_causal_mask(torch.zeros(6, 6))
    assert not is_causal_mask(causal(6).T.contiguous())
    assert not is_causal_mask(torch.ones(6, 6, dtype=torch.bool).triu(1))


def test_only_standard_blocks_take_the_shortcuts():
    assert supports_shortcuts(Transformer(16, 2, 2))
    custom = Transformer(16, 2, 2)
    custom.resblocks[1] = CustomResidualAttentionBlock(16, 2)
    assert not supports_shortcuts(custom)


@pytest.mark.parametrize("variant", ["full", "4b", "4d"])
def test_shared_prefix_gives_the_plain_logits_and_gradients(variant):
    fast, plain = build(seed=4, variant=variant), build(seed=4, variant=variant, share_prefix=False)
    assert fast.backbone.text_shortcuts and fast.backbone.vision_shortcut
    assert not plain.backbone.text_shortcuts and not plain.backbone.vision_shortcut
    hsi, aux = patches(batch=3)
    out_fast, out_plain = fast.eval()(hsi, aux).logits, plain.eval()(hsi, aux).logits
    torch.testing.assert_close(out_fast, out_plain, atol=1e-5, rtol=0)
    (out_fast * torch.arange(out_fast.numel()).view_as(out_fast)).sum().backward()
    (out_plain * torch.arange(out_plain.numel()).view_as(out_plain)).sum().backward()
    grads_fast = {n: p.grad for n, p in fast.named_parameters() if p.grad is not None}
    grads_plain = {n: p.grad for n, p in plain.named_parameters() if p.grad is not None}
    assert grads_fast.keys() == grads_plain.keys() and grads_fast
    scale = max(float(g.abs().max()) for g in grads_plain.values())
    for name, grad in grads_plain.items():  # absolute tolerance: some true gradients are exactly zero
        torch.testing.assert_close(grads_fast[name], grad, atol=1e-5 * scale, rtol=0, msg=name)


def test_shortcuts_run_under_bf16_autocast():
    # The masks must follow the queries' dtype (bf16 under autocast, as on a GPU with --amp).
    # text_precision="autocast": the text tower (where the prefix shortcut is) runs in bf16 too
    fast = build(seed=4, text_precision="autocast")
    plain = build(seed=4, share_prefix=False, text_precision="autocast")
    hsi, aux = patches(batch=2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out_fast, out_plain = fast.eval()(hsi, aux).logits, plain.eval()(hsi, aux).logits
    assert out_fast.dtype == out_plain.dtype == torch.float32  # the logits are a float32 island
    torch.testing.assert_close(out_fast, out_plain, atol=0.25, rtol=0)
