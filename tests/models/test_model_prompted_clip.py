"""The prompted open_clip wrapper: equal to open_clip without prompts, MaPLe placement, exact text cut."""

from __future__ import annotations

import warnings

import open_clip
import pytest
import torch
import torch.nn.functional as F
from cfipt_model_helpers import CLASSES, MICRO_NAME

from models import RandomBackboneWarning, load_backbone
from models.errors import ModelSettingError
from models.prompted_clip import PromptedCLIP

TEMPLATE = "a multisource fusion patch of"  # 6 BPE tokens


def wrapper(n_prompt: int = 6, depth: int = 2, cut_text: bool = True, seed: int = 0) -> PromptedCLIP:
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        clip = load_backbone(MICRO_NAME, None)
    tokenizer = open_clip.get_tokenizer(MICRO_NAME)
    return PromptedCLIP(clip, tokenizer, CLASSES, n_prompt, depth, TEMPLATE, cut_text=cut_text)


def test_sizes_are_read_from_the_model():
    clip = wrapper(depth=9)
    assert (clip.vision_width, clip.text_width, clip.image_size) == (32, 24, (16, 16))
    assert clip.depth == 3  # capped at the micro backbone's 3 layers
    assert clip.cut_length < 77


def test_unprompted_towers_equal_open_clip():
    clip = wrapper()
    image = torch.randn(2, 3, 16, 16)
    texts = open_clip.get_tokenizer(MICRO_NAME)([f"{TEMPLATE} {name}." for name in CLASSES])
    with torch.no_grad():
        torch.testing.assert_close(
            clip.encode_image(image, None), clip.clip.encode_image(image, normalize=True)
        )
        torch.testing.assert_close(clip.encode_text(None), clip.clip.encode_text(texts, normalize=True))


def test_text_prompt_slots_are_positions_one_to_n():
    # Layer-0 prompts equal to the template's own embeddings must reproduce the plain text exactly.
    clip = wrapper(depth=1)
    template = clip.template_embedding()
    assert template is not None and template.shape == (6, 24)
    with torch.no_grad():
        torch.testing.assert_close(clip.encode_text(template[None]), clip.encode_text(None))


def test_vision_prompts_are_appended_before_ln_pre_and_pooled_at_the_class_token():
    clip = wrapper(n_prompt=4, depth=1)
    visual = clip.clip.visual
    image, prompts = torch.randn(2, 3, 16, 16), torch.randn(1, 4, 32)
    with torch.no_grad():
        tokens = torch.cat([visual._embeds(image), visual.ln_pre(prompts[0]).expand(2, -1, -1)], 1)
        pooled, _ = visual._pool(visual.transformer(tokens))
        expected = F.normalize(pooled @ visual.proj, dim=-1)
        torch.testing.assert_close(clip.encode_image(image, prompts), expected)


@pytest.mark.parametrize("per_sample", [False, True])
def test_text_cut_is_exact(per_sample):
    cut, uncut = wrapper(n_prompt=4, cut_text=True), wrapper(n_prompt=4, cut_text=False)
    assert cut.cut_length < uncut.plain_embeds.shape[1]
    shape = (2, 2, 4, 24) if per_sample else (2, 4, 24)
    prompts = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(cut.encode_text(prompts), uncut.encode_text(prompts), atol=1e-5, rtol=0)
        torch.testing.assert_close(cut.encode_text(None), uncut.encode_text(None), atol=1e-5, rtol=0)


def test_per_sample_prompts_give_each_sample_its_own_class_texts():
    clip = wrapper(n_prompt=4)
    prompts = torch.randn(3, 2, 4, 24)
    with torch.no_grad():
        batched = clip.encode_text(prompts)
        assert batched.shape == (3, len(CLASSES), 16)
        for b in range(3):
            torch.testing.assert_close(batched[b], clip.encode_text(prompts[b]))


def test_deeper_prompts_matter_and_layers_past_depth_do_not_exist():
    clip = wrapper(n_prompt=4, depth=2)
    prompts = torch.randn(2, 4, 24)
    changed = prompts.clone()
    changed[1] += torch.randn(4, 24)  # the layer-1 prompt replaces slots before block 1
    with torch.no_grad():
        assert not torch.allclose(clip.encode_text(prompts), clip.encode_text(changed))
    with pytest.raises(IndexError):
        clip.encode_text(torch.randn(1, 4, 24))  # depth 2 needs two layers of prompts


def test_class_tokens_are_embedded_once(monkeypatch):
    clip = wrapper(n_prompt=4)
    embeds = clip.prompted_embeds.clone()

    def fail(*args, **kwargs):
        raise AssertionError("token embedding recomputed")

    monkeypatch.setattr(clip.clip.token_embedding, "forward", fail)
    with torch.no_grad():
        clip.encode_text(torch.randn(2, 4, 24))
    assert torch.equal(clip.prompted_embeds, embeds)
    assert "prompted_embeds" not in clip.state_dict()  # derived from the backbone, never saved


def test_non_vit_backbones_are_refused():
    with pytest.raises(ModelSettingError, match="ViT"):
        PromptedCLIP(torch.nn.Linear(2, 2), lambda texts: torch.zeros(1, 77), CLASSES, 4, 2, TEMPLATE)


def test_new_backbone_weights_refresh_the_cached_class_embeddings():
    clip, donor = wrapper(seed=0), wrapper(seed=1)
    clip.clip.load_state_dict(donor.clip.state_dict())
    texts = open_clip.get_tokenizer(MICRO_NAME)([f"{TEMPLATE} {name}." for name in CLASSES])
    with torch.no_grad():
        torch.testing.assert_close(clip.encode_text(None), donor.clip.encode_text(texts, normalize=True))
