"""The ablation variants: each runs, trains, and differs from the full model in exactly its part."""

from __future__ import annotations

import pytest
import torch
from cfipt_model_helpers import build, patches, silent_parameters
from torch import nn

from models import VARIANTS
from models.iae import BilinearAdapter
from models.mamba import Mamba
from models.mfpg import ConcatFusion, OnesMatrix
from models.s2gpt import NoInteraction, S2GPTTransformer
from models.vtpi import NoPrompts

S2GPT = ("vtpi.text_to_vision", "vtpi.vision_to_text")
# Parameter-name prefixes the variant removes from / adds to the full model.
CHANGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "1": (("mfpg.spectral", "mfpg.spatial"), ()),
    "2": (("mfpg.fusion", "mfpg.amff"), ()),
    "3": (("iae",), ()),
    "4a": (("vtpi.text", *S2GPT), ()),
    "4b": (("vtpi.vision", *S2GPT), ()),
    "4c": (S2GPT, ()),
    "4d": (tuple(f"{p}.mamba" for p in S2GPT) + tuple(f"{p}.norm" for p in S2GPT), S2GPT),
}


def names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.fixture(scope="module")
def full_names() -> set[str]:
    return names(build())


def test_every_variant_is_covered():
    assert set(CHANGES) | {"full"} == set(VARIANTS)


@pytest.mark.parametrize("variant", sorted(CHANGES))
def test_variant_changes_exactly_its_part(variant, full_names):
    removed, added = CHANGES[variant]
    model = build(variant=variant)
    mine = names(model)
    assert {n for n in full_names - mine} == {n for n in full_names if under(n, removed)}
    assert all(under(n, added) for n in mine - full_names)
    if added:
        assert mine - full_names


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_runs_and_every_trainable_parameter_learns(variant):
    model = build(variant=variant).train()
    hsi, aux = patches(batch=3)
    out = model(hsi, aux)
    assert out.logits.shape == (3, 3) and torch.isfinite(out.logits).all()
    silent = silent_parameters(model, hsi, aux, torch.tensor([0, 1, 2]))
    assert not silent, silent


def test_variant_modules():
    assert isinstance(build(variant="1").mfpg.spatial, OnesMatrix)
    two = build(variant="2")
    assert isinstance(two.mfpg.fusion, ConcatFusion) and isinstance(two.mfpg.amff, nn.Identity)
    assert isinstance(build(variant="3").iae, BilinearAdapter)
    four_a = build(variant="4a").vtpi
    assert isinstance(four_a.text, NoPrompts) and isinstance(four_a.vision_to_text, NoInteraction)
    assert isinstance(build(variant="4b").vtpi.vision, NoPrompts)
    four_c = build(variant="4c").vtpi
    assert isinstance(four_c.text_to_vision, NoInteraction) and not isinstance(four_c.text, NoPrompts)
    four_d = build(variant="4d")
    assert isinstance(four_d.vtpi.text_to_vision, S2GPTTransformer)
    assert not any(isinstance(m, Mamba) for m in four_d.modules())
    assert any(isinstance(m, Mamba) for m in build().modules())


@pytest.mark.parametrize("variant", ["4a", "4b", "4c"])
def test_without_interaction_the_class_texts_do_not_depend_on_the_sample(variant):
    hsi, aux = patches(batch=3)
    with torch.no_grad():
        text = build(variant=variant).eval()(hsi, aux).text_features
    assert torch.equal(text[0], text[1]) and torch.equal(text[1], text[2])


def test_variant_3_feeds_the_backbone_bilinear_band_groups():
    model = build(variant="3").eval()
    hsi, aux = patches(batch=2)
    fused, _, _ = model.mfpg(hsi, aux)
    image = model.iae(fused)
    assert image.shape == (2, 3, 16, 16)
    # C = 5 HSI bands in thirds 0, 1-2, 3-4; every channel also takes half of the D = 2 LiDAR mean
    share = model.config.bilinear_aux_share
    channel_0 = (1 - share) * fused[:, :1].mean(1, keepdim=True) + share * fused[:, 5:].mean(1, keepdim=True)
    expected = torch.nn.functional.interpolate(channel_0, size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(image[:, :1], expected)
