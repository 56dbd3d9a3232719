"""Speed and memory of `cfipt predict`: pixels/s against a naive reference, GPU FLOP rate, peak RSS.

Three measurements, each printed as it finishes (and all together with --json):

1. cpu: the tiny backbone (`cfipt-tiny`, random weights, the default CF-IPT settings: p = 11, n = 6,
   L = 9 capped at the backbone's 4 layers) on a generated scene. `predict_scene` (blocks, batches of
   --batch-size, cut text and shared prefix, reader thread; disk to GeoTIFF, end to end) against a naive reference in the
   same run: one pixel at a time (its patch read from disk, batch 1), fp32, uncut text without the shared prefix. Runs alternate
   and the best of --repeats is kept for each, so background load hurts both alike.
2. cuda (only with a CUDA device): ViT-B-16 (random weights) with bf16 autocast on an in-memory block
   of 144 HSI + 1 LiDAR bands, 15 classes: pixels/s, FLOPs per pixel (`flop_count.py`, attention included) and the
   achieved FLOP rate as a fraction of a large bf16 matrix product timed in the same run.
3. rss: peak resident memory of `cfipt predict` (a child process, its VmHWM) on a generated 2000 x 2000
   scene (4 HSI + 1 LiDAR bands), written window by window, with --proba and --confidence, against a
   child that only imports cfipt and loads the model. Every block is read, classified, saved and
   assembled; to keep CPU time short only pixels on a grid of --rss-stride are valid (the rest is
   nodata). A second child runs `predict_scene` with a linear stand-in for the network on the same
   size with every pixel valid, so that all of the scene's pixels go through the pipeline (patches,
   batches, result buffers, parts, assembly) in seconds.

    nice python benchmarks/predict_throughput.py [--json] [--threads 1] [--skip-rss] [--rss-stride 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]  # cfipt, models and flop_count.py from this checkout
CLASS_NAMES = ["Trees", "Grass", "Buildings", "Road", "Water", "Soil"]
PATCH_SIZE = 11  # the default CF-IPT patch of every benchmark model


def class_names(n: int) -> list[str]:
    """n class names: the six above, then 'class 7', 'class 8', ..."""
    return (CLASS_NAMES + [f"class {k}" for k in range(len(CLASS_NAMES) + 1, n + 1)])[:n]


# ------------------------------------------------------------------------------------------------
# Generated inputs: a prepared scene folder (window by window) and a model folder
# ------------------------------------------------------------------------------------------------


def write_scene(
    root: Path, size: int, n_hsi: int, n_classes: int = 6, stride: int = 1, seed: int = 0, train: float = 0.0
) -> Path:
    """A prepared scene folder `size` x `size`, HSI + 1 LiDAR band; valid pixels on a `stride` grid.

    With `train` > 0 the pixels belong to classes laid out in 4 px cells, each class shifting every band
    by its own offset, and that share of the pixels is labelled for training (a scene `cfipt train`
    can learn from); otherwise the bands are noise and nothing is labelled. No `cfipt prepare`: this
    needs neither scipy nor the vector libraries (the GPU machine has neither).
    """
    import rasterio
    from rasterio.transform import from_origin

    from cfipt_cli.contracts.scene import write_scene_meta
    from cfipt_cli.io.classes import ClassTable
    from cfipt_cli.testing.scene_folder import describe_test_scene

    root.mkdir(parents=True)
    n_bands = n_hsi + 1
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "crs": "EPSG:32632",
        "transform": from_origin(664000.0, 5104000.0, 1.0, 1.0),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    rng = np.random.default_rng(seed)
    layout = np.random.default_rng([seed, 1])  # its own stream: without `train` the bands are as before
    cells = layout.integers(1, n_classes + 1, size=(-(-size // 4),) * 2)
    cells.flat[:n_classes] = np.arange(1, n_classes + 1)  # every class present
    truth = np.kron(cells, np.ones((4, 4), dtype=cells.dtype))[:size, :size]
    offsets = layout.normal(0.0, 2.0, size=(n_classes + 1, n_bands)) * (train > 0)
    valid_grid = mask_grid(size, stride)
    labels = np.where((layout.random(truth.shape) < train) & valid_grid, truth, 0).astype(np.uint8)
    statistics = _write_stack(root, profile, offsets, truth, valid_grid, rng)
    with rasterio.open(root / "train_labels.tif", "w", count=1, dtype="uint8", nodata=0, **profile) as dst:
        dst.write(labels[None])
    with rasterio.open(root / "test_labels.tif", "w", count=1, dtype="uint8", nodata=0, **profile):
        pass  # unlabelled: prediction does not read labels
    description = describe_test_scene(
        ["hsi"] * n_hsi + ["lidar"],
        ClassTable.from_names(class_names(n_classes)),
        statistics,
        size=(size, size),
        crs=profile["crs"],
        transform=profile["transform"],
        labels=(labels, None),
    )
    write_scene_meta(root, description)
    return root


def _write_stack(
    root: Path,
    profile: dict[str, Any],
    offsets: np.ndarray,
    truth: np.ndarray,
    valid_grid: np.ndarray,
    rng: np.random.Generator,
) -> Any:
    """stack.tif (noise + band index + the offsets of each pixel's class, NaN off `valid_grid`) and
    mask.tif, 256 rows at a time.

    Returns the `BandStatistics` of the valid pixels, gathered on the way.
    """
    import rasterio
    from rasterio.windows import Window

    from cfipt_cli.contracts.scene import BandStatistics

    n_bands, size = offsets.shape[1], truth.shape[1]
    sums, squares = np.zeros(n_bands), np.zeros(n_bands)
    lows, highs = np.full(n_bands, np.inf), np.full(n_bands, -np.inf)
    count = 0
    with (
        rasterio.open(
            root / "stack.tif", "w", count=n_bands, dtype="float32", nodata=float("nan"), **profile
        ) as stack,
        rasterio.open(root / "mask.tif", "w", count=1, dtype="uint8", nodata=0, **profile) as mask,
    ):
        for row in range(0, size, 256):
            h = min(256, size - row)
            valid = valid_grid[row : row + h]
            data = rng.normal(size=(n_bands, h, size)) + np.arange(n_bands)[:, None, None]
            data = (data + offsets[truth[row : row + h]].transpose(2, 0, 1)).astype(np.float32)
            sums += data[:, valid].sum(axis=1)
            squares += (data[:, valid].astype(np.float64) ** 2).sum(axis=1)
            if valid.any():
                lows = np.minimum(lows, data[:, valid].min(axis=1))
                highs = np.maximum(highs, data[:, valid].max(axis=1))
            count += int(valid.sum())
            data[:, ~valid] = np.nan
            window = Window(0, row, size, h)
            stack.write(data, window=window)
            mask.write(valid.astype(np.uint8)[None], window=window)
    mean = sums / count
    std = np.sqrt(squares / count - mean**2)
    return BandStatistics(*(tuple(v.tolist()) for v in (mean, std, lows, highs)), count)


def mask_grid(size: int, stride: int) -> np.ndarray:
    """The valid pixels of `write_scene`: those on a `stride` grid."""
    rows, cols = np.mgrid[0:size, 0:size]
    return (rows % stride == 0) & (cols % stride == 0)


def write_model(root: Path, scene_dir: Path, clip_model: str = "cfipt-tiny") -> Path:
    """A model folder as `cfipt train` writes it, with untrained random weights (speed does not care)."""
    from cfipt_cli.contracts.scene import Scene
    from cfipt_cli.testing.model_folder import write_untrained_model

    network = {"clip_model": clip_model, "patch_size": PATCH_SIZE}
    return write_untrained_model(root, Scene.open(scene_dir), network)


# ------------------------------------------------------------------------------------------------
# 1. CPU: predict_scene vs one pixel at a time
# ------------------------------------------------------------------------------------------------


def naive_predict(scene: Any, model: Any, info: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The reference: each pixel's patch read from disk and classified alone (batch 1, fp32)."""
    import rasterio
    import torch

    from cfipt_cli.compute.patches import read_pixel_patches

    ids = np.zeros(len(rows), dtype=np.int64)
    with rasterio.open(scene.stack_path) as src, torch.inference_mode():
        for k in range(len(rows)):
            patch = read_pixel_patches(
                src, rows[k : k + 1], cols[k : k + 1], info.patch_size, info.mean, info.std
            )
            x = torch.from_numpy(patch)
            ids[k] = info.class_ids[int(model(x[:, : info.n_hsi], x[:, info.n_hsi :]).logits.argmax())]
    return ids


def bench_cpu(
    work: Path, size: int, bands: int, classes: int, naive_pixels: int, batch_size: int, repeats: int
) -> dict[str, Any]:
    """Pixels/s of predict_scene and of the naive reference on the same model and scene."""
    import rasterio
    import torch

    from cfipt_cli.contracts.model import load_model
    from cfipt_cli.contracts.scene import Scene
    from cfipt_cli.predict.pipeline import predict_scene
    from cfipt_cli.predict.settings import PredictOutputs, PredictSettings
    from models import CFIPT

    scene = Scene.open(write_scene(work / f"cpu_scene_{bands}_{classes}", size, bands, classes))
    model, info = load_model(write_model(work / f"cpu_model_{bands}_{classes}", scene.root))
    plain = model.config.replace(cut_text=False, share_prefix=False)  # no text shortcut at all
    naive = CFIPT(plain, clip_model=model.backbone.clip).eval()
    naive.load_trainable_state_dict(model.trainable_state_dict())
    rng = np.random.default_rng(0)
    pick = rng.choice(size * size, size=naive_pixels, replace=False)
    rows, cols = pick // size, pick % size
    fast_rates, naive_rates, agreement = [], [], None
    for r in range(repeats):
        out = work / f"cpu_map_{bands}_{classes}_{r}.tif"
        settings = PredictSettings(batch_size=batch_size)
        summary = predict_scene(
            scene, model, info, PredictOutputs(map_path=out), settings, torch.device("cpu")
        )
        fast_rates.append(summary["pixels_classified"] / summary["seconds"])
        t0 = time.perf_counter()
        ids = naive_predict(scene, naive, info, rows, cols)
        naive_rates.append(naive_pixels / (time.perf_counter() - t0))
        with rasterio.open(out) as src:
            agreement = float((src.read(1)[rows, cols] == ids).mean())
        print(
            f"  cpu repeat {r + 1}: predict {fast_rates[-1]:.1f} px/s, naive {naive_rates[-1]:.2f} px/s",
            file=sys.stderr,
        )
    return {
        "backbone": "cfipt-tiny (random weights)",
        "scene": f"{size} x {size} px, {bands} HSI + 1 LiDAR bands, {classes} classes, p = 11",
        "torch_threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "predict_pixels_per_s": round(max(fast_rates), 1),
        "naive_pixels_per_s": round(max(naive_rates), 2),
        "naive_pixels": naive_pixels,
        "speedup": round(max(fast_rates) / max(naive_rates), 1),
        "naive_agrees_with_map": agreement,
    }


# ------------------------------------------------------------------------------------------------
# 2. CUDA: ViT-B-16 bf16, pixels/s and FLOP rate
# ------------------------------------------------------------------------------------------------


def _timed(fn: Any, repeats: int, device: Any) -> float:
    """Seconds per call of `fn` after one warm-up call, synchronising the device around the timing."""
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def matmul_flops_per_s(device: Any, n: int = 8192) -> float:
    """bf16 FLOP/s of an n x n x n matrix product (the attainable peak of this GPU, roughly)."""
    import torch

    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    return 2 * n**3 / _timed(lambda: a @ b, 20, device)


def houston_block(
    device: Any, block: int, clip_model: str = "ViT-B-16", hsi_bands: int = 144, n_classes: int = 15
) -> tuple[Any, Any, Any]:
    """(model, ModelInfo, staged BlockInput): CF-IPT with random weights and one random in-memory block.

    The block (with its halo) is packed into a (pinned) host buffer once, as the reader thread of
    `cfipt predict` does, so timing `BlockClassifier.classify` measures transfer and compute.
    """
    import torch

    from cfipt_cli.contracts.model import ModelInfo
    from cfipt_cli.predict.blocks import Block, BlockInput, stage_block
    from models import CFIPT, CFIPTConfig

    names = tuple(f"class {k}" for k in range(1, n_classes + 1))
    config = CFIPTConfig(
        hsi_bands=hsi_bands, aux_bands=1, class_names=names, clip_model=clip_model, pretrained=None
    )
    torch.manual_seed(0)
    model = CFIPT(config).to(device).eval()
    n_bands = hsi_bands + 1
    meta = {
        "classes": [{"id": k, "name": n} for k, n in enumerate(names, start=1)],
        "band_layout": ["hsi"] * hsi_bands + ["lidar"],
        "band_roles": {"hsi": hsi_bands, "aux": 1},
        "normalisation": {"mean": [0.0] * n_bands, "std": [1.0] * n_bands},
        "patch_size": config.patch_size,
    }
    r = config.patch_size // 2
    padded = np.random.default_rng(0).normal(size=(n_bands, block + 2 * r, block + 2 * r)).astype(np.float32)
    rows, cols = (a.ravel() for a in np.mgrid[0:block, 0:block])
    data = stage_block(BlockInput(Block(0, 0, 0, block, block), padded, rows, cols), device.type == "cuda")
    return model, ModelInfo(root=Path("."), meta=meta), data


def bench_gpu(
    batch_size: int,
    block: int,
    device_name: str = "cuda",
    clip_model: str = "ViT-B-16",
    hsi_bands: int = 144,
    n_classes: int = 15,
    matmul_n: int = 8192,
) -> dict[str, Any]:
    """CF-IPT in bf16 on one in-memory block: pixels/s, FLOPs per pixel and achieved FLOP/s.

    The defaults are the GPU measurement; `device_name="cpu"` with a tiny backbone smoke-tests the code.
    """
    import functools

    import torch
    from flop_count import count_forward

    from cfipt_cli.compute.devices import autocast
    from cfipt_cli.predict.classifier import BlockClassifier
    from cfipt_cli.predict.settings import PredictSettings

    device = torch.device(device_name)
    model, info, data = houston_block(device, block, clip_model, hsi_bands, n_classes)
    settings = PredictSettings(batch_size=batch_size, block_size=block, amp=True)
    classifier = BlockClassifier(model, info, device, settings, want_proba=False, want_confidence=False)
    pixels_per_s = block * block / _timed(lambda: classifier.classify(data), 2, device)
    p = info.patch_size
    x = torch.randn(8, hsi_bands + 1, p, p, device=device)
    # Grad mode stays on: FlopCounterMode's module tracker fails on inference tensors (torch 2.x).
    amp = functools.partial(autocast, device, True)
    flops_per_pixel = count_forward(model, x[:, :hsi_bands], x[:, hsi_bands:], amp)["total"]
    peak = matmul_flops_per_s(device, matmul_n)
    achieved = flops_per_pixel * pixels_per_s
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "backbone": f"{clip_model} (random weights), bf16 autocast",
        "block": f"{block} x {block} px in memory, {hsi_bands} HSI + 1 LiDAR bands, {n_classes} classes, "
        f"p = {p}",
        "batch_size": batch_size,
        "pixels_per_s": round(pixels_per_s, 1),
        "gflops_per_pixel": round(flops_per_pixel / 1e9, 3),
        "achieved_tflops": round(achieved / 1e12, 3),
        "matmul_bf16_tflops": round(peak / 1e12, 3),
        "fraction_of_matmul": round(achieved / peak, 3),
    }


# ------------------------------------------------------------------------------------------------
# 3. Peak RSS of the CLI on a 2000 x 2000 scene
# ------------------------------------------------------------------------------------------------


def bench_rss(work: Path, size: int, stride: int, batch_size: int) -> dict[str, Any]:
    """Peak RSS of `cfipt predict` on a size x size scene vs a child that only loads the model."""
    t0 = time.perf_counter()
    scene = write_scene(work / f"rss_scene_{size}", size, n_hsi=4, stride=stride)
    model = write_model(work / f"rss_model_{size}", scene)
    generated = time.perf_counter() - t0
    load_only = "from cfipt_cli.contracts.model import load_model; load_model(sys.argv[1])"
    cli = "from cfipt_cli.cli.app import main; main()"
    cmd = ["-q", "predict", str(scene), "--model", str(model)]
    cmd += ["--out", str(work / f"rss_map_{size}.tif"), "--proba", str(work / f"rss_proba_{size}.tif")]
    cmd += [
        "--confidence",
        str(work / f"rss_conf_{size}.tif"),
        "--batch-size",
        str(batch_size),
        "--device",
        "cpu",
        "--json",
    ]
    base_rss, _, _ = _run_measured(load_only, [str(model)])
    rss, seconds, out = _run_measured(cli, cmd)
    summary = json.loads(out)
    return {
        "scene": f"{size} x {size} px, 4 HSI + 1 LiDAR bands (float32), 6 classes, p = 11, blocks of 512",
        "valid_pixels": summary["pixels_classified"],
        "valid_share": round(summary["pixels_classified"] / size**2, 4),
        "outputs": "map + --proba (6 bands) + --confidence",
        "peak_rss_mib": round(rss),
        "baseline_rss_mib": round(base_rss),
        "seconds": round(seconds, 1),
        "scene_generation_seconds": round(generated, 1),
    }


# A child running predict_scene with a linear stand-in for the network: every pixel of the scene goes
# through the pipeline (blocks, halos, batches, parts, assembly) in seconds instead of hours.
_STANDIN_CHILD = """
import json, torch
from pathlib import Path
from types import SimpleNamespace
from cfipt_cli.contracts.model import read_model_info
from cfipt_cli.predict.pipeline import predict_scene
from cfipt_cli.predict.settings import PredictOutputs, PredictSettings
from cfipt_cli.contracts.scene import Scene
scene, info, out, batch = Scene.open(sys.argv[1]), read_model_info(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
class Linear(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)
    def forward(self, hsi, aux):
        return SimpleNamespace(logits=self.linear(torch.cat([hsi, aux], 1).flatten(1)))
model = Linear(len(info.band_layout) * info.patch_size**2, len(info.classes))
outputs = PredictOutputs(out / 'map.tif', out / 'proba.tif', out / 'conf.tif')
summary = predict_scene(scene, model, info, outputs, PredictSettings(batch_size=batch), torch.device('cpu'))
print(json.dumps(summary))
"""


def bench_rss_pipeline(work: Path, size: int, batch_size: int) -> dict[str, Any]:
    """Peak RSS of predict_scene with a linear stand-in model on a size x size scene, every pixel valid."""
    scene = write_scene(work / f"standin_scene_{size}", size, n_hsi=4)
    model = write_model(work / f"standin_model_{size}", scene)
    (work / f"standin_out_{size}").mkdir()
    args = [str(scene), str(model), str(work / f"standin_out_{size}"), str(batch_size)]
    rss, seconds, out = _run_measured(_STANDIN_CHILD, args)
    base_rss, _, _ = _run_measured("import torch, rasterio, cfipt_cli.predict.pipeline", [])
    summary = json.loads(out)
    return {
        "scene": f"{size} x {size} px, 4 HSI + 1 LiDAR bands, every pixel valid, 6 classes, p = 11",
        "model": "linear stand-in (the pipeline alone)",
        "valid_pixels": summary["pixels_classified"],
        "outputs": "map + proba (6 bands) + confidence",
        "batch_size": batch_size,
        "peak_rss_mib": round(rss),
        "baseline_rss_mib": round(base_rss),
        "seconds": round(seconds, 1),
    }


# Run in the child: its own peak RSS is VmHWM of /proc/self/status, read at exit. getrusage's
# ru_maxrss is no good here: Linux carries the parent's high-water mark over fork + exec into it.
_HWM_CHILD = """
import atexit, sys
def _report(path=sys.argv[1]):
    hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]
    open(path, 'w').write(hwm)
atexit.register(_report)
code, sys.argv = sys.argv[2], ['measured', *sys.argv[3:]]
exec(code)
"""


def _run_measured(code: str, args: list[str]) -> tuple[float, float, str]:
    """Run Python `code` with `args` in a child; returns its peak RSS (MiB), wall time and stdout."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        hwm = Path(tmp) / "hwm"
        cmd = [sys.executable, "-c", _HWM_CHILD, str(hwm), code, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False)
        seconds = time.perf_counter() - start
        if done.returncode:
            raise RuntimeError(f"the measured child failed: {done.stderr[-2000:]}")
        return int(hwm.read_text()) / 1024, seconds, done.stdout


# ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-size", type=int, default=48, help="side of the CPU throughput scene")
    parser.add_argument(
        "--cpu-config",
        action="append",
        default=None,
        metavar="C,K",
        help="HSI bands and classes of a CPU run (repeatable; default 8,6 and 144,15)",
    )
    parser.add_argument("--naive-pixels", type=int, default=96, help="pixels the naive reference classifies")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of predict (CPU and RSS)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs; the best counts")
    parser.add_argument("--gpu-batch", type=int, default=256, help="batch size on CUDA")
    parser.add_argument("--gpu-block", type=int, default=128, help="side of the in-memory CUDA block")
    parser.add_argument(
        "--rss-size",
        type=int,
        action="append",
        default=None,
        help="side of a memory scene (repeatable; 2000)",
    )
    parser.add_argument("--rss-stride", type=int, default=16, help="valid pixels on this grid (1 = all)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads, also for the RSS child (0: torch's default)",
    )
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--json", action="store_true", help="print all results as JSON at the end")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # random backbones warn by design
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the RSS child
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cfipt-predict-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_cpu:
            results["cpu"] = []
            for item in args.cpu_config or ["8,6", "144,15"]:
                bands, classes = (int(v) for v in item.split(","))
                result = bench_cpu(
                    work, args.cpu_size, bands, classes, args.naive_pixels, args.batch_size, args.repeats
                )
                results["cpu"].append(result)
                print("cpu:", json.dumps(result), file=sys.stderr)
        if torch.cuda.is_available():
            results["cuda"] = bench_gpu(args.gpu_batch, args.gpu_block)
        else:
            results["cuda"] = "not measured: no CUDA device"
        print("cuda:", json.dumps(results["cuda"]), file=sys.stderr)
        if not args.skip_rss:
            results["rss"] = []
            for size in args.rss_size or [2000]:
                results["rss"].append(bench_rss(work, size, args.rss_stride, args.batch_size))
                print("rss:", json.dumps(results["rss"][-1]), file=sys.stderr)
            for size in args.rss_size or [2000]:
                results["rss"].append(bench_rss_pipeline(work, size, 4096))
                print("rss:", json.dumps(results["rss"][-1]), file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
