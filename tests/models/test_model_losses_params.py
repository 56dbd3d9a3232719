"""Losses (L_CRC + 0.02 L_TRD) and the parameter report."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from cfipt_model_helpers import build

from models import CFIPTOutput, cfipt_loss, count_parameters, crc_loss, trd_loss
from models.params import main


def test_crc_is_cross_entropy_over_the_logits():
    logits, targets = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    torch.testing.assert_close(crc_loss(logits, targets), F.cross_entropy(logits, targets))


def test_trd_is_zero_for_orthogonal_and_maximal_for_identical_texts():
    assert trd_loss(torch.eye(4)).item() == 0.0
    same = F.normalize(torch.ones(3, 5), dim=-1)
    assert trd_loss(same).item() == pytest.approx(6 / 9)  # off-diagonal ones, diagonal zeros
    per_sample = torch.stack(
        [torch.eye(3), F.normalize(torch.ones(3, 3), dim=-1)]
    )  # (B, K, E): mean over samples too
    assert trd_loss(per_sample).item() == pytest.approx(3 / 9)


def test_total_is_crc_plus_two_hundredths_trd():
    text = F.normalize(torch.randn(2, 3, 8), dim=-1)
    out = CFIPTOutput(torch.randn(2, 3, requires_grad=True), F.normalize(torch.randn(2, 8), dim=-1), text)
    total, parts = cfipt_loss(out, torch.tensor([1, 2]))
    torch.testing.assert_close(total, parts["crc"] + 0.02 * parts["trd"])
    assert total.requires_grad and not parts["crc"].requires_grad and not parts["trd"].requires_grad


def test_parameter_report_counts_trainable_and_backbone():
    model = build()
    report = count_parameters(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert report.trainable_total == trainable and report.backbone == backbone
    assert report.frozen_outside_backbone == 0
    assert report.percent == pytest.approx(100 * trainable / backbone)
    assert {"mfpg.amff", "iae.blocks", "vtpi.vision", "vtpi.text_to_vision"} <= set(report.trainable)
    assert "trainable total" in report.format("micro")


def test_parameter_report_command(capsys):
    assert main(["--preset", "augsburg", "--clip", "cfipt-tiny", "--variant", "4c"]) == 0
    text = capsys.readouterr().out
    assert "augsburg (C=180, D=4, p=9, K=7), cfipt-tiny, variant 4c" in text
    assert "vtpi.text_to_vision" not in text and "paper" in text and "trainable / backbone" in text
