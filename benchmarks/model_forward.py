"""Forward cost of CF-IPT: FLOPs per sample and samples/s, with and without its exact text shortcuts.

Usage:
    python benchmarks/model_forward.py                          # cfipt-tiny and ViT-B-16-quickgelu
    python benchmarks/model_forward.py --clip cfipt-tiny --batch 32 --json out.json

For every backbone (random weights: the cost does not depend on them) one CF-IPT of the chosen dataset
preset is built three times around the same frozen CLIP, with the same trainable weights: the default
("cut + prefix": class texts cut after the longest EOT token, the class-independent prefix run once per
sample, last blocks at the pooled token only), the cut alone ("cut"), and neither ("uncut": the whole
77-token context for every class text of every sample). FLOPs come from
torch.utils.flop_counter.FlopCounterMode with the CPU attention kernel added (`flop_count.py`: matrix
products, convolutions and attention on every device; the element-wise work and the selective scan's
exponentials are not counted), per sample = batch total / batch size, split into vision tower, text
tower and the rest (trainable blocks). Speed is
inference (no_grad), after one warm-up batch; on CUDA under bf16 autocast, on CPU in float32.
The largest difference between each path's logits and the uncut path's is printed as a check of exactness.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


PATHS = {
    "cut + prefix": {},
    "cut": {"share_prefix": False},
    "uncut": {"share_prefix": False, "cut_text": False},
}


def _build_paths(preset: str, clip_name: str) -> dict[str, Any]:
    """One CF-IPT per text path of `PATHS`, sharing one frozen backbone and the same trainable weights."""
    import torch

    from models import CFIPT, CFIPTConfig, RandomBackboneWarning, load_backbone

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        clip = load_backbone(clip_name, None)
    config = CFIPTConfig.from_preset(preset, clip_model=clip_name, pretrained=None)
    models = {name: CFIPT(config.replace(**changes), clip_model=clip) for name, changes in PATHS.items()}
    weights = models["cut + prefix"].trainable_state_dict()
    for model in models.values():
        model.load_trainable_state_dict(weights)
    return {name: model.eval() for name, model in models.items()}


def _flops_per_sample(model: Any, hsi: Any, aux: Any, amp: Any) -> dict[str, float]:
    from flop_count import count_forward

    return count_forward(model, hsi, aux, amp)  # (grad mode on: the counter's module tracker needs it)


def _samples_per_second(model: Any, hsi: Any, aux: Any, amp: Any, repeats: int) -> tuple[float, Any]:
    import torch

    def run() -> Any:
        with torch.no_grad(), amp():
            logits = model(hsi, aux).logits
        if hsi.is_cuda:
            torch.cuda.synchronize()
        return logits

    run()  # warm-up (kernels, allocator)
    start = time.perf_counter()
    for _ in range(repeats):
        logits = run()
    return repeats * hsi.shape[0] / (time.perf_counter() - start), logits


def measure(preset: str, clip_name: str, batch: int, repeats: int, device: Any) -> list[dict[str, Any]]:
    """Figures of one backbone, one JSON-ready row per text path."""
    import functools

    import torch

    from cfipt_cli.compute.devices import autocast

    paths = {name: model.to(device) for name, model in _build_paths(preset, clip_name).items()}
    cfg = paths["uncut"].config
    gen = torch.Generator().manual_seed(1)
    hsi = torch.randn(batch, cfg.hsi_bands, cfg.patch_size, cfg.patch_size, generator=gen).to(device)
    aux = torch.randn(batch, cfg.aux_bands, cfg.patch_size, cfg.patch_size, generator=gen).to(device)
    amp = functools.partial(autocast, device, True)
    rows, outputs = [], {}
    for name, model in paths.items():
        rate, logits = _samples_per_second(model, hsi, aux, amp, repeats)
        outputs[name] = logits.float()
        flops = _flops_per_sample(model, hsi, aux, amp)
        rows.append(
            {
                "backbone": clip_name,
                "preset": preset,
                "text_path": name,
                "text_tokens": model.backbone.cut_length
                if model.config.cut_text
                else model.backbone.plain_embeds.shape[1],
                "gflops_per_sample": round(flops["total"] / 1e9, 3),
                "gflops_vision": round(flops["vision"] / 1e9, 3),
                "gflops_text": round(flops["text"] / 1e9, 3),
                "gflops_trainable": round(flops["rest"] / 1e9, 3),
                "gflops_attention": round(flops["attention"] / 1e9, 3),
                "samples_per_s": round(rate, 2),
                "batch": batch,
                "device": str(device),
                "dtype": "bf16 autocast" if device.type == "cuda" else "float32",
                "threads": torch.get_num_threads(),
            }
        )
    for row in rows:
        row["max_abs_logit_difference_to_uncut"] = float(
            (outputs[row["text_path"]] - outputs["uncut"]).abs().max()
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table (and JSON when asked)."""
    from cfipt_cli.compute.devices import resolve_device

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", nargs="+", default=["cfipt-tiny", "ViT-B-16-quickgelu"])
    parser.add_argument("--preset", default="houston")
    parser.add_argument("--batch", type=int, default=0, help="0: 16 for cfipt-tiny, 4 otherwise (CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    import models.backbone  # noqa: F401  (registers cfipt-tiny)

    device = resolve_device(args.device)
    rows: list[dict[str, Any]] = []
    for clip_name in args.clip:
        batch = args.batch or (16 if clip_name == "cfipt-tiny" or device.type == "cuda" else 4)
        rows += measure(args.preset, clip_name, batch, args.repeats, device)
    print(
        "| backbone | text path | tokens | GFLOP/sample (vision + text + trainable; attention) "
        "| samples/s | batch | device |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        split = (
            f"{r['gflops_vision']} + {r['gflops_text']} + {r['gflops_trainable']}; {r['gflops_attention']}"
        )
        print(
            f"| {r['backbone']} | {r['text_path']} | {r['text_tokens']} | {r['gflops_per_sample']} ({split}) "
            f"| {r['samples_per_s']} | {r['batch']} | {r['device']} ({r['dtype']}, {r['threads']} threads) |"
        )
    for r in rows:
        if r["text_path"] != "uncut":
            difference = r["max_abs_logit_difference_to_uncut"]
            print(f"{r['backbone']}: max |logit({r['text_path']}) - logit(uncut)| = {difference:.2e}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
