"""The assembled CF-IPT: shapes, frozen backbone, gradients, determinism, weights I/O, exact text cut."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from cfipt_model_helpers import CLASSES, build, patches, silent_parameters, with_interaction

from models import CFIPT, CFIPTConfig, RandomBackboneWarning, cfipt_loss
from models.errors import ModelInputError, WeightsMismatchError


def test_output_shapes_and_logits_are_scaled_cosines():
    model = with_interaction(build())
    hsi, aux = patches(batch=3)
    out = model(hsi, aux)
    k = len(CLASSES)
    assert out.logits.shape == (3, k) and out.image_features.shape == (3, 16)
    assert out.text_features.shape == (3, k, 16)
    torch.testing.assert_close(out.image_features.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(out.text_features.norm(dim=-1), torch.ones(3, k))
    cosine = torch.einsum("be,bke->bk", out.image_features, out.text_features)
    torch.testing.assert_close(out.logits, model.backbone.clip.logit_scale.exp() * cosine)
    assert not torch.allclose(out.text_features[0], out.text_features[1])  # class texts depend on the sample


def test_gradients_reach_every_trainable_parameter_and_no_backbone_parameter():
    model = build().train()
    hsi, aux = patches(batch=4)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(not n.startswith("backbone.") for n in trainable)
    missing = silent_parameters(model, hsi, aux, torch.tensor([0, 1, 2, 0]))
    assert not missing, missing
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())


def test_backbone_is_bit_identical_after_optimiser_steps():
    model = build().train()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    fingerprint = model.backbone_fingerprint()
    trainable_before = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    hsi, aux = patches(batch=4)
    for _ in range(3):
        optimiser.zero_grad()
        cfipt_loss(model(hsi, aux), torch.tensor([0, 1, 2, 1]))[0].backward()
        optimiser.step()
    after = model.backbone.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert model.backbone_fingerprint() == fingerprint
    changed = [k for k, v in model.trainable_state_dict().items() if not torch.equal(v, trainable_before[k])]
    assert "vtpi.vision.prompts" in changed and "mfpg.spectral.key.weight" in changed


def test_train_mode_keeps_the_backbone_in_eval():
    model = build().train()
    assert model.training and model.iae.training
    assert not model.backbone.training and not any(m.training for m in model.backbone.modules())
    model.eval()
    assert not model.iae.training


def test_same_seed_same_output_different_seed_different_output():
    hsi, aux = patches()
    with torch.no_grad():
        first = build(seed=5).eval()(hsi, aux).logits
        again = build(seed=5).eval()(hsi, aux).logits
        other = build(seed=6).eval()(hsi, aux).logits
    assert torch.equal(first, again) and not torch.allclose(first, other)


def test_text_cut_gives_the_uncut_logits():
    cut, uncut = build(seed=2, cut_text=True), build(seed=2, cut_text=False)
    assert cut.backbone.cut_length < uncut.backbone.plain_embeds.shape[1]
    hsi, aux = patches(batch=3)
    with torch.no_grad():
        torch.testing.assert_close(
            cut.eval()(hsi, aux).logits, uncut.eval()(hsi, aux).logits, atol=1e-5, rtol=0
        )


def test_trainable_state_round_trip():
    trained, fresh = build(seed=1), build(seed=9)
    state = trained.trainable_state_dict()
    assert state and not any(k.startswith("backbone.") for k in state)
    assert any(k.endswith("running_mean") for k in state)  # BatchNorm statistics of the IAE
    fresh.backbone.load_state_dict(trained.backbone.state_dict())  # same frozen CLIP, as in a model folder
    fresh.load_trainable_state_dict(state)
    hsi, aux = patches()
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(hsi, aux).logits, trained.eval()(hsi, aux).logits)


def test_trainable_state_mismatch_is_a_checkpoint_error():
    model = build()
    state = model.trainable_state_dict()
    with pytest.raises(WeightsMismatchError, match="missing"):
        model.load_trainable_state_dict({k: v for k, v in state.items() if k != "vtpi.text.prompts"})
    with pytest.raises(WeightsMismatchError, match="unexpected"):
        model.load_trainable_state_dict({**state, "extra.weight": torch.zeros(1)})
    with pytest.raises(WeightsMismatchError, match="wrong shapes"):
        model.load_trainable_state_dict({**state, "vtpi.text.prompts": torch.zeros(1, 4, 24)})
    other_bands = build(hsi_bands=6)
    with pytest.raises(WeightsMismatchError):
        other_bands.load_trainable_state_dict(state)


def test_wrong_input_shapes_are_data_errors():
    model = build()
    hsi, aux = patches()
    with pytest.raises(ModelInputError, match="HSI patches must be"):
        model(hsi[:, :4], aux)
    with pytest.raises(ModelInputError, match="auxiliary patches"):
        model(hsi, aux[:2])


def test_backbone_fingerprint_depends_only_on_the_backbone():
    a, b = build(seed=3), build(seed=3)
    assert a.backbone_fingerprint() == b.backbone_fingerprint()
    vision: Any = a.vtpi.vision
    with torch.no_grad():
        vision.prompts.add_(1.0)
    assert a.backbone_fingerprint() == b.backbone_fingerprint()


def test_default_settings_work_with_the_tiny_backbone():
    torch.manual_seed(0)
    with pytest.warns(RandomBackboneWarning):
        model = CFIPT(
            CFIPTConfig(
                hsi_bands=4, aux_bands=1, class_names=CLASSES, clip_model="cfipt-tiny", pretrained=None
            )
        )
    assert model.depth == 4 and model.backbone.image_size == (32, 32)  # L = 9 capped at 4 layers
    assert model.vtpi.vision.prompts.shape == (4, 6, 64) and model.vtpi.text.prompts.shape == (4, 6, 48)
    hsi, aux = patches(batch=2, hsi=4, aux=1, p=11)
    assert model(hsi, aux).logits.shape == (2, len(CLASSES))
