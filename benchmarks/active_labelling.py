"""The labelling loop, simulated: does labelling `cfipt suggest`'s pixels beat labelling random ones?

On a generated scene whose truth is known everywhere (the oracle), for each seed:

- a fixed test set (a share of the pixels, drawn once) and a labelling pool (every other pixel);
- round 0: `--start` labels per class drawn from the pool, then prepare (`--labels train.tif
  --test-labels test.tif --train-per-class all`), train, predict `--pixels test`, evaluate (OA);
- each further round adds `--add` pixels to the labels and fine-tunes the previous model
  (`train --init-from`, `--finetune-epochs`):
  - active: the pixels `cfipt suggest` returns (labelled by the oracle);
  - random: as many pixels drawn uniformly from the pool pixels not yet labelled (same seed).

Both strategies share round 0 and every setting; only the choice of the added pixels differs. Every
step is the real command (`cfipt_cli.cli.app.main` in this process). Prints a table of test OA per
round (mean and std over seeds) and writes JSON lines with `--json`.

    python benchmarks/active_labelling.py --seeds 3 --rounds 3 --add 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from cfipt_cli.cli.app import main as cfipt
from cfipt_cli.testing.synthetic import SceneSpec, make_scene


def run(argv: list[Any]) -> dict[str, Any]:
    """One cfipt command in this process; its --json summary."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random tiny backbone warns by design
        try:
            cfipt([str(a) for a in [*argv, "--json", "-q"]])
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"cfipt {' '.join(map(str, argv[:2]))} failed (exit {exc.code})") from None
    return dict(json.loads(out.getvalue()))


def write_labels(path: Path, like: Path, labels: np.ndarray) -> Path:
    with rasterio.open(like) as src:
        profile = {**src.profile, "count": 1, "dtype": "uint8", "nodata": 0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(labels.astype(np.uint8)[None])
    return path


def first_labels(truth: np.ndarray, pool: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    labels = np.zeros_like(truth)
    for class_id in np.unique(truth[pool]):
        where = np.flatnonzero(pool & (truth == class_id))
        chosen = rng.choice(where, size=min(per_class, where.size), replace=False)
        labels.flat[chosen] = class_id
    return labels


class Study:
    """One seed's scene, test set, pool and settings; `round_oa` runs one round of the loop."""

    def __init__(self, root: Path, seed: int, args: argparse.Namespace):
        self.root, self.seed, self.args = root, seed, args
        spec = SceneSpec(
            height=args.size, width=args.size, n_bands=16, n_classes=args.classes, seed=seed, cell=8
        )
        self.scene = make_scene(root / "data", spec)
        self.truth = self.scene.truth.astype(np.int64)
        rng = np.random.default_rng(seed)
        self.test = rng.random(self.truth.shape) < args.test_share
        self.pool = ~self.test
        self.test_path = write_labels(root / "test.tif", self.scene.hsi, np.where(self.test, self.truth, 0))
        self.start = first_labels(self.truth, self.pool, args.start, rng)

    def round_oa(self, name: str, labels: np.ndarray, init_from: Path | None) -> tuple[float, Path, Path]:
        """prepare + train (fine-tune from `init_from`) + predict the test pixels + evaluate: test OA."""
        folder = self.root / name
        folder.mkdir()
        train = write_labels(folder / "train.tif", self.scene.hsi, labels)
        scene, model = folder / "scene", folder / "model"
        run(
            [
                "prepare",
                "--hsi",
                self.scene.hsi,
                "--lidar",
                self.scene.lidar,
                "--labels",
                train,
                "--test-labels",
                self.test_path,
                "--train-per-class",
                "all",
                "--out",
                scene,
            ]
        )
        epochs = self.args.epochs if init_from is None else self.args.finetune_epochs
        extra = ["--init-from", init_from] if init_from is not None else []
        run(
            [
                "train",
                scene,
                "--out",
                model,
                "--clip",
                "cfipt-tiny",
                "--pretrained",
                "none",
                "--epochs",
                epochs,
                "--seed",
                self.seed,
                "--device",
                "cpu",
                *extra,
            ]
        )
        run(
            [
                "predict",
                scene,
                "--model",
                model,
                "--out",
                folder / "map.tif",
                "--pixels",
                "test",
                "--device",
                "cpu",
            ]
        )
        report = run(["evaluate", folder / "map.tif", "--reference", scene, "--out", folder / "report"])
        return float(report["overall_accuracy"]), scene, model

    def additions(self, strategy: str, labels: np.ndarray, scene: Path, model: Path, step: int) -> np.ndarray:
        """The flat indices of the pixels to label next (round `step`)."""
        if strategy == "random":
            rng = np.random.default_rng([self.seed, step])
            eligible = np.flatnonzero(self.pool & (labels == 0))
            return rng.choice(eligible, size=self.args.add, replace=False)
        out = self.root / f"suggestions{step}.gpkg"
        spacing = ["--min-distance", self.args.min_distance] if self.args.min_distance else []
        summary = run(
            [
                "suggest",
                scene,
                "--model",
                model,
                "--out",
                out,
                "-n",
                self.args.add,
                "--seed",
                self.seed,
                "--device",
                "cpu",
                *spacing,
            ]
        )
        if summary["suggested"] < self.args.add:
            raise RuntimeError(
                f"suggest found only {summary['suggested']} of {self.args.add} pixels; lower --min-distance"
            )
        import geopandas as gpd

        points = gpd.read_file(out)
        return points["row"].to_numpy() * self.truth.shape[1] + points["col"].to_numpy()


def study(root: Path, seed: int, args: argparse.Namespace) -> dict[str, list[float]]:
    """OA per round of both strategies for one seed (round 0 shared)."""
    s = Study(root, seed, args)
    oa0, scene0, model0 = s.round_oa("round0", s.start, None)
    result = {}
    for strategy in ("active", "random"):
        labels, scene, model, curve = s.start.copy(), scene0, model0, [oa0]
        for r in range(1, args.rounds + 1):
            added = s.additions(strategy, labels, scene, model, r)
            labels.flat[added] = s.truth.flat[added]  # the oracle labels them
            oa, scene, model = s.round_oa(f"{strategy}{r}", labels, model)
            curve.append(oa)
        result[strategy] = curve
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=int, default=5, help="labels per class in round 0")
    parser.add_argument("--add", type=int, default=10, help="pixels added per round")
    # a few labels make an epoch one or two steps: epochs are many and short
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--size", type=int, default=48, help="scene side in pixels")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--test-share", type=float, default=0.4)
    # the patch size (11) would not fit 10 spread suggestions into a 48 x 48 scene every round
    parser.add_argument("--min-distance", type=int, default=5, help="suggest's --min-distance")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout instead of the table")
    args = parser.parse_args()
    started, curves = time.perf_counter(), []
    for seed in range(args.seeds):
        root = Path(tempfile.mkdtemp(prefix=f"cfipt-active-{seed}-"))
        try:
            curves.append(study(root, seed, args))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        if args.json:
            print(json.dumps({"seed": seed, **curves[-1]}), flush=True)
    report(curves, args, time.perf_counter() - started)


def report(curves: list[dict[str, list[float]]], args: argparse.Namespace, seconds: float) -> None:
    active = 100 * np.array([c["active"] for c in curves])
    random = 100 * np.array([c["random"] for c in curves])
    lines = [
        f"test OA (%) per round, mean ± std over {len(curves)} seeds; {args.start} labels per class, "
        f"then +{args.add} per round ({seconds:.0f} s)",
        "| round | labels added | active (suggest) | random | active - random |",
        "|---|---|---|---|---|",
    ]
    for r in range(active.shape[1]):
        gain = active[:, r] - random[:, r]
        lines.append(
            f"| {r} | {r * args.add} | {active[:, r].mean():.2f} ± {active[:, r].std(ddof=1) if len(curves) > 1 else 0:.2f}"
            f" | {random[:, r].mean():.2f} ± {random[:, r].std(ddof=1) if len(curves) > 1 else 0:.2f}"
            f" | {gain.mean():+.2f} (wins {int((gain > 0).sum())}/{len(gain)}) |"
        )
    print("\n".join(lines), file=sys.stderr if args.json else sys.stdout)


if __name__ == "__main__":
    main()
