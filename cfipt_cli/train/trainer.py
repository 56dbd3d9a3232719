"""One training run: the network, its optimizer and data, the epochs, and what each epoch writes.

The run: AdamW on the trainable parameters only (the CLIP backbone stays frozen), a per-step linear
warm-up then cosine decay to zero, class-balanced batches, optional flips / rot90, an optional
stratified validation hold-out.

Determinism: every random choice derives from `seed`. The network is initialised under
`torch.manual_seed(seed)`; the validation split uses its own generator; each epoch `e` reseeds torch
and a numpy generator from (seed, e) before drawing its batches and augmentations. So a run depends
only on its configuration (on CPU, bit for bit), and a resumed run needs nothing but the epoch number,
the weights and the optimizer moments to continue exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cfipt_cli.contracts import model as modelio
from cfipt_cli.contracts.model_json import STATUS_COMPLETE, STATUS_INCOMPLETE, ModelRecord, checkpoint_record
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CheckpointError
from cfipt_cli.io.files import utc_now
from cfipt_cli.log import get_logger
from cfipt_cli.train import data
from cfipt_cli.train.checkpoint import read_checkpoint_state, restore_checkpoint, save_checkpoint
from cfipt_cli.train.config import TrainConfig
from cfipt_cli.train.init_from import InitSource

if TYPE_CHECKING:
    import torch

    from models import CFIPT

log = get_logger(__name__)

PROGRESS_EVERY = 20  # steps between the progress bar's loss updates (each one waits for the device)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warm-up, then cosine decay to 0."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * (step - warmup_steps) / span))


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit torch seed for epoch `epoch` of a run seeded with `seed`."""
    return int(np.random.SeedSequence([seed, epoch, 2]).generate_state(1, dtype=np.uint64)[0] >> 1)


def model_config_for(config: TrainConfig, scene: Scene, class_names: list[str]) -> dict[str, Any]:
    """The CFIPTConfig fields of a run on `scene`."""
    pretrained = config.pretrained_arg
    if pretrained is not None and Path(pretrained).expanduser().is_file():
        pretrained = str(Path(pretrained).expanduser().resolve())  # usable from any working directory
    return {
        "hsi_bands": scene.n_hsi,
        "aux_bands": scene.n_aux,
        "patch_size": config.patch_size,
        "class_names": list(class_names),
        "clip_model": config.clip_model,
        "pretrained": pretrained,
        "n_prompt": config.prompt_length,
        "depth": config.prompt_depth,
        "variant": config.variant,
    }


@dataclass
class RunState:
    """What changes while training: epochs done, optimizer steps done, the log, timing."""

    epoch: int = 0
    step: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=utc_now)


class Trainer:
    """One training run; `train_model` is its public face."""

    def __init__(
        self, scene: Scene, out: Path, config: TrainConfig, cache_bytes: int, init: InitSource | None = None
    ):
        import torch

        from cfipt_cli.compute.devices import enable_tf32, resolve_amp, resolve_device

        self.scene, self.out = scene, out
        self.device = resolve_device(config.device)
        # The resolved precision is what model.json records (train_config.amp: true / false).
        self.config = config = dataclasses.replace(config, amp=resolve_amp(config.amp, self.device))
        tf32 = enable_tf32(self.device)
        log.info(
            "training on %s: bf16 autocast %s, TF32 %s, batch %d",
            self.device,
            "on" if config.amp else "off",
            "on" if tf32 else "off",
            config.batch_size,
        )
        self.pixels: data.LabelledPixels = data.labelled_pixels(scene, config.drop_empty_classes)
        self.train_idx, self.val_idx = data.split_validation(
            self.pixels.targets, config.val_fraction, config.seed
        )
        self.fingerprint = data.scene_fingerprint(scene)
        model_config = model_config_for(config, scene, self.pixels.classes.names)
        source = model_config["pretrained"]
        self.checkpoint = checkpoint_record(source) if source and Path(source).is_file() else None
        self.model: CFIPT = modelio.build_network(model_config, config.seed)
        if init is not None:  # fine-tuning: MODEL's trained weights replace the fresh ones
            init.apply(self.model, self.pixels.classes.names)
        self.init_from = init.record() if init is not None else None
        self.model_config = self.model.config.to_dict()  # every setting, defaults included
        self.model.to(self.device)
        self.names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        self.store = data.PatchStore(scene, self.pixels, config.patch_size, cache_bytes)
        self.backbone_fingerprint = self.model.backbone_fingerprint()
        self.steps_per_epoch = len(self._batches(0))
        self.state = RunState()

    # Schedule and data

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def warmup_steps(self) -> int:
        return self.steps_per_epoch * min(self.config.warmup_epochs, self.config.epochs - 1)

    def _batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.config.seed, epoch, 0])
        return data.balanced_batches(self.train_idx, self.pixels.targets, self.config.batch_size, rng)

    def _loader(self, batches: list[np.ndarray]) -> Any:
        """Batches of patches: straight from the cache, or through DataLoader workers reading the stack."""
        if self.store.cached is not None or self.config.num_workers == 0:
            return (self.store[b] for b in batches)
        from torch.utils.data import DataLoader

        return DataLoader(
            self.store,  # type: ignore[arg-type]  # a map-style dataset indexed by batches
            sampler=batches,
            batch_size=None,
            num_workers=self.config.num_workers,
        )

    def _inputs(self, patches: Any, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hsi, aux, targets) of a batch on the device: one pinned, non-blocking transfer."""
        from cfipt_cli.compute.devices import upload

        x, targets = upload(
            [np.asarray(patches, dtype=np.float32), self.pixels.targets[index].astype(np.int64)],
            self.device,
        )
        n_hsi = self.scene.n_hsi
        return x[:, :n_hsi], x[:, n_hsi:], targets

    # Epochs

    def run_epoch(self, epoch: int, progress: Any) -> dict[str, Any]:
        """Train one epoch; returns its log record (without the validation figure)."""
        import torch

        from cfipt_cli.compute.devices import autocast
        from models import cfipt_loss

        torch.manual_seed(epoch_seed(self.config.seed, epoch))
        batches = self._batches(epoch)
        aug_rng = np.random.default_rng([self.config.seed, epoch, 1])
        self.model.train()
        # loss, crc, trd (sample-weighted sums) and correct predictions stay on the device, so that a
        # step never waits for the GPU: the host reads them every PROGRESS_EVERY steps (when a progress
        # bar shows the running loss) and once at the end of the epoch. Samples are counted on the host.
        totals = torch.zeros(4, device=self.device)
        samples = 0
        lr = self.config.lr
        start = time.perf_counter()
        for step, (index, patches) in enumerate(zip(batches, self._loader(batches), strict=True), start=1):
            if self.config.augment:
                patches = data.augment(np.asarray(patches), aug_rng)
            hsi, aux, targets = self._inputs(patches, index)
            lr = lr_at(self.state.step, self.total_steps, self.warmup_steps, self.config.lr)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            with autocast(self.device, bool(self.config.amp)):
                output = self.model(hsi, aux)
                loss, parts = cfipt_loss(output, targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.state.step += 1
            n = float(len(index))
            samples += len(index)
            correct = (output.logits.detach().argmax(1) == targets).sum()
            terms = [loss.detach() * n, parts["crc"] * n, parts["trd"] * n, correct]
            totals += torch.stack([t.float() for t in terms])  # bf16 terms under autocast
            progress.update(1)
            if not progress.disable and (step % PROGRESS_EVERY == 0 or step == len(batches)):
                progress.set_postfix(
                    epoch=f"{epoch + 1}/{self.config.epochs}", loss=f"{float(totals[0]) / samples:.4f}"
                )
        loss_sum, crc_sum, trd_sum, correct_sum = totals.tolist()
        n_sum = float(samples)
        return {
            "epoch": epoch + 1,
            "loss": loss_sum / n_sum,
            "crc": crc_sum / n_sum,
            "trd": trd_sum / n_sum,
            "train_oa": correct_sum / n_sum,
            "lr": lr,
            "seconds": round(time.perf_counter() - start, 3),
        }

    def validation_oa(self) -> float:
        """Overall accuracy on the held-out pixels (eval mode, no augmentation)."""
        import torch

        from cfipt_cli.compute.devices import autocast

        self.model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        size = max(1, self.config.batch_size)
        with torch.no_grad():
            for i in range(0, len(self.val_idx), size):
                index = self.val_idx[i : i + size]
                hsi, aux, truth = self._inputs(self.store[index], index)
                with autocast(self.device, bool(self.config.amp)):
                    logits = self.model(hsi, aux).logits
                correct += (logits.argmax(1) == truth).sum()
        return int(correct) / len(self.val_idx)

    def complete_epoch(self, epoch: int, progress: Any, folder: Path) -> dict[str, Any]:
        """Train epoch `epoch`, then write the checkpoint and the model folder into `folder`."""
        record = self.run_epoch(epoch, progress)
        if len(self.val_idx):
            record["val_oa"] = self.validation_oa()
        self.state.epoch = epoch + 1
        self.state.log.append(record)
        self.write(folder)
        log.info("epoch %d/%d: %s", epoch + 1, self.config.epochs, record)
        return record

    # Outputs

    def record(self) -> ModelRecord:
        """What model.json records of the run so far."""
        done = self.state.epoch >= self.config.epochs
        return ModelRecord(
            model_config=self.model_config,
            classes=self.pixels.classes,
            scene=self.scene,
            backbone_fingerprint=self.backbone_fingerprint,
            checkpoint=self.checkpoint,
            train_config=self.config.to_dict(),
            scene_fingerprint=self.fingerprint,
            counts=self.pixels.counts(),
            dropped_classes=self.pixels.dropped,
            status=STATUS_COMPLETE if done else STATUS_INCOMPLETE,
            epochs_done=self.state.epoch,
            summary=self.state.log[-1] if self.state.log else {},
            created=self.state.created,
            init_from=self.init_from,
        )

    def write(self, folder: Path) -> None:
        """Checkpoint first (the resume authority), then weights, log and model.json last."""
        state = {
            "epoch": self.state.epoch,
            "step": self.state.step,
            "log": self.state.log,
            "created": self.state.created,
            "scene_fingerprint": self.fingerprint,
            "backbone_fingerprint": self.backbone_fingerprint,
            "train_config": self.config.to_dict(),
            "init_from": self.init_from,
        }
        save_checkpoint(folder, self.model, self.optimizer, self.names, state)
        modelio.save_model(folder, self.model, self.record(), log=self.state.log)

    def restore(self) -> None:
        """Load the checkpoint of `out` and check that it belongs to this scene and backbone."""
        saved = read_checkpoint_state(self.out)
        if saved.get("backbone_fingerprint") != self.backbone_fingerprint:
            raise CheckpointError(
                f"the checkpoint in {self.out} was trained with other backbone weights; pass the original "
                "ones with --pretrained"
            )
        state = restore_checkpoint(self.out, self.model, self.optimizer, self.names)
        self.init_from = state.get("init_from")  # a resumed fine-tuning run still records its start
        try:
            self.state = RunState(
                epoch=int(state["epoch"]),
                step=int(state["step"]),
                log=list(state["log"]),
                created=str(state["created"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"the checkpoint in {self.out} is corrupt ({exc}); train anew") from exc
        if (
            not 0 < self.state.epoch <= self.config.epochs
            or self.state.step != self.state.epoch * self.steps_per_epoch
        ):
            raise CheckpointError(f"the checkpoint in {self.out} does not fit its configuration; train anew")

    def summary(self, seconds: float, resumed_from: int | None) -> dict[str, Any]:
        last = self.state.log[-1] if self.state.log else {}
        return {
            "model": str(self.out),
            "status": STATUS_COMPLETE,
            "epochs": self.state.epoch,
            "resumed_from_epoch": resumed_from,
            "classes": len(self.pixels.classes),
            "dropped_classes": [c["name"] for c in self.pixels.dropped],
            "train_pixels": len(self.train_idx),
            "val_pixels": len(self.val_idx),
            "trainable_parameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            "device": str(self.device),
            "seconds": round(seconds, 3),
            **{k: last[k] for k in ("loss", "crc", "trd", "train_oa", "val_oa") if k in last},
        }

    def close(self) -> None:
        self.store.close()
