"""A frozen open_clip CLIP with MaPLe-style deep prompts in both towers.

Placement (shared/spec/method.md, "Prompt placement as in MaPLe"):

- text: prompts replace token positions 1..n (after SOS) of layer i's input for i < L; at layer 0 they
  replace the token embeddings before the positional embedding is added. Pooled at EOT, as CLIP does.
- vision: prompts are appended after the patch tokens at the input (after the positional embedding,
  before ln_pre) and replace the last n tokens at layers 0 < i < L. Pooled at the class token.
- layers >= L run unchanged.

Speed (exact): the class texts are tokenised and embedded once (non-persistent buffers, rebuilt only
if the backbone's embedding table is replaced or moved), and, because
the text tower is causal, sequences are cut after the longest EOT: positions after it cannot change any
pooled feature. Prompts may be shared by the batch ((L, n, width): the K class texts run once) or per
sample ((B, L, n, width): B * K sequences in one batch). With per-sample prompts the tokens before the
class name (SOS and the n prompts) are the same for a sample's K texts and, the mask being causal, see
nothing else: they run once per sample (`models.prefix_attention`); the last block of each tower is
computed only at the pooled token. Both are exact too, and on by default (`share_prefix`).

Width, depth, image size and context length are read from the open_clip model; any open_clip ViT CLIP
with a transformer text tower works (ResNet, timm and Hugging Face towers do not).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.errors import ModelSettingError
from models.precision import float32_region
from models.prefix_attention import is_causal_mask, prefix_block, rows_block, supports_shortcuts

__all__ = ["PromptedCLIP"]

log = logging.getLogger(__name__)

_CUTTABLE_POOLS = ("argmax", "eos", "first")


def _layer(prompts: Tensor, i: int) -> Tensor:
    """Layer i of (L, n, w) or (B, L, n, w) prompts."""
    return prompts[i] if prompts.dim() == 3 else prompts[:, i]


def _batched(prompt: Tensor, rows: int) -> Tensor:
    """(n, w) -> (rows, n, w), or (rows, n, w) unchanged."""
    return prompt.expand(rows, -1, -1) if prompt.dim() == 2 else prompt


class PromptedCLIP(nn.Module):
    """Prompted encoders over a frozen open_clip model.

    Args:
        clip: An open_clip `CLIP` or `CustomTextCLIP` with a ViT vision tower.
        tokenizer: open_clip tokenizer of that model (`open_clip.get_tokenizer(name)`).
        class_names: The K class names.
        n_prompt: n.
        depth: L (capped at the number of layers of the shallower tower).
        template: Words before the class name; "<template> <class name>."
        cut_text: Cut text sequences after the longest EOT.
        share_prefix: Run the class-independent text prefix once per sample and the last blocks at
            the pooled token only, where the towers are made of open_clip's standard blocks.
    """

    clip: Any  # an open_clip model: its towers are read by attribute (typed loosely on purpose)
    plain_ids: Tensor
    prompted_ids: Tensor
    plain_embeds: Tensor
    prompted_embeds: Tensor
    plain_eot: Tensor
    prompted_eot: Tensor

    def __init__(
        self,
        clip: nn.Module,
        tokenizer: Callable[[list[str]], Tensor],
        class_names: Sequence[str],
        n_prompt: int,
        depth: int,
        template: str,
        cut_text: bool = True,
        share_prefix: bool = True,
    ) -> None:
        super().__init__()
        self.clip = clip
        self._check_supported()
        text = self._text_tower
        visual = self.clip.visual
        self.vision_width = int(visual.transformer.width)
        self.text_width = int(text.transformer.width)
        layers = min(len(visual.transformer.resblocks), len(text.transformer.resblocks))
        if depth > layers:
            log.info("prompt depth %d capped at the backbone's %d layers", depth, layers)
        self.depth = min(depth, layers)
        self.n_prompt = n_prompt
        size = visual.image_size
        self.image_size: tuple[int, int] = (
            (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        )
        self._pool = str(getattr(text, "text_pool_type", getattr(text, "pool_type", "argmax")))
        self._eos_id = getattr(text, "text_eos_id", getattr(text, "eos_id", None))
        self.cut_text = cut_text
        self._tokenize(tokenizer, list(class_names), template)
        self.text_shortcuts = (
            share_prefix
            and self._pool in ("argmax", "eos")
            and bool((self.prompted_eot > n_prompt).all())  # the EOT lies after the shared prefix
            and is_causal_mask(getattr(text, "attn_mask", None))
            and supports_shortcuts(text.transformer)
        )
        self.vision_shortcut = (
            share_prefix
            and getattr(visual, "pool_type", "tok") == "tok"
            and supports_shortcuts(visual.transformer)
        )

    # ---------------------------------------------------------------- setup
    @property
    def _text_tower(self) -> Any:
        """The module holding token_embedding .. text_projection (CLIP itself or CustomTextCLIP.text)."""
        return getattr(self.clip, "text", self.clip)

    def _check_supported(self) -> None:
        visual, text = getattr(self.clip, "visual", None), self._text_tower
        vision_ok = (
            all(
                hasattr(visual, a)
                for a in ("conv1", "class_embedding", "positional_embedding", "ln_pre", "ln_post")
            )
            and getattr(visual, "attn_pool", None) is None
        )
        text_ok = all(hasattr(text, a) for a in ("token_embedding", "positional_embedding", "ln_final"))
        if not (vision_ok and text_ok) or getattr(text, "cls_emb", None) is not None:
            raise ModelSettingError(
                f"backbone {type(self.clip).__name__} is not a ViT CLIP with a transformer text tower "
                "(ResNet, timm, Hugging Face and CoCa towers are not supported); choose e.g. clip_model='ViT-B-16-quickgelu'"
            )

    def _eot_positions(self, ids: Tensor) -> Tensor:
        if self._pool == "eos" and self._eos_id is not None:
            return (ids == self._eos_id).int().argmax(dim=-1)
        if self._pool == "first":
            return torch.zeros(ids.shape[0], dtype=torch.long)
        if self._pool == "last":
            return torch.full((ids.shape[0],), ids.shape[1] - 1, dtype=torch.long)
        return ids.argmax(dim=-1)  # CLIP's EOT has the largest token id

    def _tokenize(self, tokenizer: Callable[[list[str]], Tensor], names: list[str], template: str) -> None:
        """Token ids, EOT positions and frozen token embeddings of the class texts, once."""
        self._template_tokens = int(self._eot_positions(tokenizer([template]))[0]) - 1
        plain = tokenizer([f"{template} {name}." for name in names])
        # Prompt slots 1..n: the template's own tokens when it has exactly n, else placeholders.
        filler = template if self._template_tokens == self.n_prompt else " ".join(["X"] * self.n_prompt)
        prompted = tokenizer([f"{filler} {name}." for name in names])
        text = self._text_tower
        self.register_buffer("plain_ids", plain, persistent=False)
        self.register_buffer("prompted_ids", prompted, persistent=False)
        self.register_buffer("plain_embeds", torch.empty(0), persistent=False)
        self.register_buffer("prompted_embeds", torch.empty(0), persistent=False)
        self._cache_key: tuple[int, int, str] | None = None
        self.refresh_text_cache()
        self.register_buffer("plain_eot", self._eot_positions(plain), persistent=False)
        self.register_buffer("prompted_eot", self._eot_positions(prompted), persistent=False)
        causal = getattr(text, "attn_mask", None) is not None
        longest = int(torch.cat([self.plain_eot, self.prompted_eot]).max()) + 1
        self.cut_length = longest if causal and self._pool in _CUTTABLE_POOLS else int(plain.shape[1])
        if longest >= plain.shape[1]:
            log.warning("a class text fills the %d-token context and was truncated", plain.shape[1])

    @torch.no_grad()
    def refresh_text_cache(self) -> None:
        """Recompute the cached token embeddings of the class texts from the backbone's current weights."""
        embed = self._text_tower.token_embedding
        self.plain_embeds = embed(self.plain_ids)
        self.prompted_embeds = embed(self.prompted_ids)
        self._cache_key = self._embedding_key()

    def _embedding_key(self) -> tuple[int, int, str]:
        # Storage, in-place version counter and device of the embedding table: loading new backbone
        # weights (copy_) or moving the model changes it, and the cache is then rebuilt once.
        weight = self._text_tower.token_embedding.weight
        return weight.data_ptr(), weight._version, str(weight.device)

    def template_embedding(self) -> Tensor | None:
        """Token embeddings (n, text width) of the template words, or None when they are not n tokens."""
        if self._template_tokens != self.n_prompt:
            log.info(
                "the template has %d tokens and n_prompt is %d: the first text prompt layer starts random",
                self._template_tokens,
                self.n_prompt,
            )
            return None
        return self.plain_embeds[0, 1 : 1 + self.n_prompt].clone()

    @property
    def logit_scale(self) -> Tensor:
        """CLIP's learned temperature, exp(logit_scale) (frozen)."""
        return self.clip.logit_scale.exp()

    # ---------------------------------------------------------------- vision
    def encode_image(self, image: Tensor, prompts: Tensor | None) -> Tensor:
        """Image (B, 3, H, W), prompts (L, n, w_v) / (B, L, n, w_v) / None -> L2-normalised (B, E)."""
        visual = self.clip.visual
        x = visual.conv1(image).flatten(2).transpose(1, 2)  # (B, grid^2, width)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
        x = visual.patch_dropout(x)
        n_tokens = x.shape[1]
        if prompts is not None:
            x = torch.cat([x, _batched(_layer(prompts, 0), x.shape[0]).to(x.dtype)], dim=1)
        x = visual.ln_pre(x)
        pooled_row = 0 if self.vision_shortcut else None  # the last block at the class token only
        x = self._run_blocks(visual.transformer, x, prompts, self._replace_last, None, pooled_row)
        with float32_region(x) as lift:  # pooled token -> features in float32: they make the logits
            return F.normalize(self._pool_image(lift(x), n_tokens), dim=-1)

    def _replace_last(self, x: Tensor, prompt: Tensor) -> Tensor:
        return torch.cat([x[:, : -self.n_prompt], _batched(prompt, x.shape[0]).to(x.dtype)], dim=1)

    def _pool_image(self, x: Tensor, n_tokens: int) -> Tensor:
        """Tokens (B, T, width), or the class token alone (B, width) -> image features (B, E)."""
        visual = self.clip.visual
        pool = getattr(visual, "pool_type", "tok")
        if not getattr(visual, "final_ln_after_pool", False):
            x = visual.ln_post(x)
        pooled = x if x.dim() == 2 else x[:, 1:n_tokens].mean(dim=1) if pool == "avg" else x[:, 0]
        if getattr(visual, "final_ln_after_pool", False):
            pooled = visual.ln_post(pooled)
        return pooled @ visual.proj if visual.proj is not None else pooled

    # ---------------------------------------------------------------- text
    def encode_text(self, prompts: Tensor | None) -> Tensor:
        """Prompts (L, n, w_t) / (B, L, n, w_t) / None -> L2-normalised (K, E) or (B, K, E)."""
        if self._cache_key != self._embedding_key():
            self.refresh_text_cache()
        text = self._text_tower
        length = self.cut_length if self.cut_text else self.plain_embeds.shape[1]
        if prompts is not None and prompts.dim() == 4 and self.text_shortcuts:
            return self._project_text(self._encode_text_shared_prefix(prompts, length))
        position = text.positional_embedding[:length]
        if prompts is None:
            x = self.plain_embeds[:, :length].to(position.dtype) + position
            eot, groups = self.plain_eot, 1
        else:
            x, groups = self._first_text_layer(prompts, length), 1 if prompts.dim() == 3 else prompts.shape[0]
            x = x.flatten(0, -3) + position
            eot = self.prompted_eot.repeat(groups)
        mask = text.attn_mask[:length, :length] if text.attn_mask is not None else None
        x = self._run_blocks(
            text.transformer, x, prompts, self._replace_slots, mask, classes=len(self.plain_eot)
        )
        pooled = self._project_text(x[torch.arange(x.shape[0], device=x.device), eot])
        return pooled if prompts is None or prompts.dim() == 3 else pooled.view(groups, -1, pooled.shape[-1])

    def _project_text(self, pooled: Tensor) -> Tensor:
        """EOT tokens (..., text width) -> ln_final, projection, L2-normalised features (..., E), float32."""
        text = self._text_tower
        with float32_region(
            pooled
        ) as lift:  # one token per sequence: float32 costs little, keeps logits exact
            pooled = text.ln_final(lift(pooled))
            if text.text_projection is not None:
                projection = text.text_projection
                pooled = projection(pooled) if isinstance(projection, nn.Linear) else pooled @ projection
            return F.normalize(pooled, dim=-1)

    def _encode_text_shared_prefix(self, prompts: Tensor, length: int) -> Tensor:
        """Per-sample prompts (B, L, n, w) -> EOT tokens (B, K, w) before ln_final, the prefix run once.

        Sequences split into the prefix (SOS and the n prompt slots, (B, n + 1, w)) and the class
        tokens of each text ((B, K, S, w)); deep prompts replace the prefix's slots, the last block
        computes each text's EOT row only.
        """
        text = self._text_tower
        n = self.n_prompt
        position = text.positional_embedding[:length]
        embeds = self.prompted_embeds[:, :length]
        first = _layer(prompts, 0).to(embeds.dtype)
        sos = embeds[0, :1].expand(first.shape[0], -1, -1)
        prefix = torch.cat([sos, first], dim=1) + position[: n + 1]
        suffix = (embeds[:, n + 1 :] + position[n + 1 :]).expand(first.shape[0], -1, -1, -1)
        blocks = text.transformer.resblocks
        result: Tensor | None = None
        for i, block in enumerate(blocks):
            if 0 < i < self.depth:
                prefix = torch.cat([prefix[:, :1], _layer(prompts, i).to(prefix.dtype)], dim=1)
            if i < len(blocks) - 1:
                prefix, suffix = prefix_block(block, prefix, suffix, text.attn_mask)
            else:
                _, result = prefix_block(
                    block, prefix, suffix, text.attn_mask, rows=self.prompted_eot - n - 1
                )
        assert result is not None
        return result

    def _first_text_layer(self, prompts: Tensor, length: int) -> Tensor:
        """Token embeddings with slots 1..n replaced by layer-0 prompts: (K, T, w) or (B, K, T, w)."""
        base = self.prompted_embeds[:, :length]
        first = _layer(prompts, 0).to(base.dtype)
        k, n = base.shape[0], self.n_prompt
        if first.dim() == 2:
            slots = first.expand(k, -1, -1)
        else:
            base = base.expand(first.shape[0], -1, -1, -1)
            slots = first[:, None].expand(-1, k, -1, -1)
        return torch.cat([base[..., :1, :], slots, base[..., 1 + n :, :]], dim=-2)

    def _replace_slots(self, x: Tensor, prompt: Tensor, classes: int) -> Tensor:
        rows, n = x.shape[0], self.n_prompt
        slots = prompt.expand(rows, -1, -1) if prompt.dim() == 2 else prompt.repeat_interleave(classes, dim=0)
        return torch.cat([x[:, :1], slots.to(x.dtype), x[:, 1 + n :]], dim=1)

    # ---------------------------------------------------------------- shared
    def _run_blocks(
        self,
        transformer: Any,
        x: Tensor,
        prompts: Tensor | None,
        replace: Callable[..., Tensor],
        mask: Tensor | None,
        pooled_row: int | None = None,
        **replace_kwargs: int,
    ) -> Tensor:
        """The residual blocks, with prompts swapped in before blocks 1..L-1 (block 0 got them at input).

        With `pooled_row` the last block is computed at that token only and (B, width) is returned.
        """
        batch_first = getattr(transformer, "batch_first", True)
        last = len(transformer.resblocks) - 1
        for i, block in enumerate(transformer.resblocks):
            if prompts is not None and 0 < i < self.depth:
                x = replace(x, _layer(prompts, i), **replace_kwargs)
            if pooled_row is not None and i == last:
                return rows_block(block, x, x.new_full((x.shape[0],), pooled_row, dtype=torch.long))
            if batch_first:
                x = block(x, attn_mask=mask)
            else:
                x = block(x.transpose(0, 1), attn_mask=mask).transpose(0, 1)
        return x
