"""Parameter report: trainable parameters by sub-module, the frozen backbone, the percentage.

python -m models.params --preset houston --clip ViT-B-16-quickgelu      # random weights suffice
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field

from torch import nn

__all__ = ["ParameterReport", "count_parameters", "main"]

BACKBONE = "backbone"


@dataclass
class ParameterReport:
    """Counts of one model.

    Attributes:
        trainable: Trainable parameters per sub-module (two name levels, e.g. "mfpg.amff").
        backbone: Parameters of the frozen backbone.
        frozen_outside_backbone: Parameters with requires_grad=False outside the backbone (should be 0).
    """

    trainable: dict[str, int] = field(default_factory=dict)
    backbone: int = 0
    frozen_outside_backbone: int = 0

    @property
    def trainable_total(self) -> int:
        """All trainable parameters."""
        return sum(self.trainable.values())

    @property
    def percent(self) -> float:
        """Trainable parameters as a percentage of the backbone's."""
        return 100.0 * self.trainable_total / self.backbone if self.backbone else float("nan")

    def format(self, title: str = "") -> str:
        """A plain-text table."""
        lines = [title] if title else []
        lines += [f"  {name:<28} {count:>11,}" for name, count in self.trainable.items()]
        lines.append(
            f"  {'trainable total':<28} {self.trainable_total:>11,}  ({self.trainable_total / 1e6:.3f} M)"
        )
        lines.append(f"  {'frozen backbone':<28} {self.backbone:>11,}  ({self.backbone / 1e6:.2f} M)")
        lines.append(f"  {'trainable / backbone':<28} {self.percent:>10.3f} %")
        return "\n".join(lines)


def count_parameters(model: nn.Module) -> ParameterReport:
    """Count a `CFIPT` model's parameters (any module with a `backbone` child works).

    Trainable parameters are grouped by their first two name levels (e.g. "vtpi.text_to_vision");
    everything under `backbone` is counted as the frozen backbone.
    """
    report = ParameterReport()
    for name, param in model.named_parameters():
        parts = name.split(".")
        if parts[0] == BACKBONE:
            report.backbone += param.numel()
        elif param.requires_grad:
            group = ".".join(parts[:2]) if len(parts) > 2 else parts[0]
            report.trainable[group] = report.trainable.get(group, 0) + param.numel()
        else:
            report.frozen_outside_backbone += param.numel()
    return report


def main(argv: list[str] | None = None) -> int:
    """Print the parameter report of a dataset preset (random backbone weights are enough)."""
    from models.backbone import RandomBackboneWarning
    from models.cfipt import CFIPT
    from models.config import CFIPTConfig, list_presets, load_preset

    parser = argparse.ArgumentParser(prog="python -m models.params", description=main.__doc__)
    parser.add_argument("--preset", choices=list_presets(), required=True)
    parser.add_argument("--clip", default="ViT-B-16-quickgelu", help="open_clip model name")
    parser.add_argument("--variant", default="full")
    parser.add_argument("--pretrained", default=None, help="weights (not needed for counting)")
    args = parser.parse_args(argv)
    config = CFIPTConfig.from_preset(
        args.preset, clip_model=args.clip, pretrained=args.pretrained, variant=args.variant
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        report = count_parameters(CFIPT(config))
    paper = load_preset(args.preset).get("paper", {})
    title = (
        f"{args.preset} (C={config.hsi_bands}, D={config.aux_bands}, p={config.patch_size}, "
        f"K={config.n_classes}), {args.clip}, variant {args.variant}"
    )
    print(report.format(title))
    if "trainable_params" in paper:
        ratio = report.trainable_total / paper["trainable_params"] - 1
        print(f"  {'paper':<28} {paper['trainable_params'] / 1e6:>10.2f} M  (ours {ratio:+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
