"""The model over the valid pixels of a block, in batches, on one device.

The block goes to the device in one transfer; the patches of each batch of `batch_size` valid pixels
are cut there (`patches.gather_patches`, equal to the host's `extract_patches` bit for bit; on CPU
numpy's `extract_patches` cuts them, faster there) and classified; the block's class ids (and
probabilities / confidence when asked) stay on the device until the block is done (one
synchronisation per block).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from cfipt_cli.compute.patches import extract_patches, gather_patches, split_sources
from cfipt_cli.compute.uncertainty import uncertainty
from cfipt_cli.predict.blocks import BlockInput, stage_block

if TYPE_CHECKING:
    import torch

    from cfipt_cli.contracts.model import ModelInfo
    from cfipt_cli.predict.settings import PredictSettings


class BlockClassifier:
    """Runs the model over the valid pixels of blocks, in batches, on one device."""

    def __init__(
        self,
        model: torch.nn.Module,
        info: ModelInfo,
        device: torch.device,
        settings: PredictSettings,
        want_proba: bool,
        want_confidence: bool,
        uncertainty_measure: str | None = None,
    ):
        import torch

        from cfipt_cli.io.gtiff import class_map_dtype

        self.model = model.to(device).eval()
        self.info = info
        self.device = device
        self.settings = replace(settings, device_cut=settings.cuts_on_device(device))
        self.patch_size = info.patch_size
        self.n_hsi = info.n_hsi
        self.ids = torch.tensor(info.class_ids, dtype=torch.int64, device=device)
        self.dtype = np.dtype(class_map_dtype(info.classes.max_id))
        self.want_proba = want_proba
        self.want_confidence = want_confidence
        self.uncertainty_measure = uncertainty_measure  # None: no uncertainty raster

    def _patch_cutter(self, data: BlockInput) -> Callable[[int, int], torch.Tensor]:
        """cut(start, stop): the patches of valid pixels start..stop-1, (n, bands, p, p) on the device.

        On the device (CUDA's default): block and pixel positions go there in one (asynchronous) transfer
        and each batch is gathered there. On the host (CPU's default: numpy's strided copy is faster
        there than torch's gather): `extract_patches`. Both give the same values bit for bit.
        """
        import torch

        p = self.patch_size
        if not self.settings.device_cut:
            return lambda start, stop: torch.from_numpy(
                extract_patches(data.padded, data.rows[start:stop], data.cols[start:stop], p)
            ).to(self.device)
        staged = data.staged or stage_block(data, pin=self.device.type == "cuda").staged
        assert staged is not None
        padded, rows, cols = staged.to(self.device)
        return lambda start, stop: gather_patches(padded, rows[start:stop], cols[start:stop], p)

    def _batch_logits(self, patches: torch.Tensor) -> torch.Tensor:
        from cfipt_cli.compute.devices import autocast

        hsi, aux = split_sources(patches, self.n_hsi)  # type: ignore[arg-type]
        with autocast(self.device, bool(self.settings.amp)):
            return self.model(hsi, aux).logits.float()

    def classify(self, data: BlockInput) -> dict[str, np.ndarray]:
        """Class ids (h, w) with 0 at nodata, plus 'proba' (K, h, w) / 'confidence' (h, w) /
        'uncertainty' (h, w) when asked, NaN at nodata: all from the same probabilities."""
        import torch

        n, batch = len(data.rows), int(self.settings.batch_size or 1)
        want_proba = self.want_proba or self.want_confidence or self.uncertainty_measure is not None
        # Results go into buffers allocated once per block: many small tensors kept per batch would
        # fragment the heap around the batch temporaries and grow memory by hundreds of MB per block.
        winners = torch.empty(n, dtype=torch.int64, device=self.device)
        probas = torch.empty((n, len(self.ids)) if want_proba else (0, 0), device=self.device)
        cut = self._patch_cutter(data)
        with torch.inference_mode():
            for start in range(0, n, batch):
                stop = min(n, start + batch)
                logits = self._batch_logits(cut(start, stop))
                winners[start:stop] = logits.argmax(dim=1)
                if want_proba:
                    probas[start:stop] = torch.softmax(logits, dim=1)
            # One transfer per block: the device works through the batches without waiting for it.
            ids = self.ids[winners].cpu().numpy()
            proba = probas.cpu().numpy() if want_proba else None
        return self._to_block(data, ids, proba)

    def _to_block(self, data: BlockInput, ids: np.ndarray, proba: np.ndarray | None) -> dict[str, np.ndarray]:
        h, w = data.block.height, data.block.width
        out = {"ids": np.zeros((h, w), dtype=self.dtype)}
        out["ids"][data.rows, data.cols] = ids
        if self.want_proba:
            out["proba"] = np.full((len(self.ids), h, w), np.nan, dtype=np.float32)
            if proba is not None:
                out["proba"][:, data.rows, data.cols] = proba.T
        if self.want_confidence:
            out["confidence"] = np.full((h, w), np.nan, dtype=np.float32)
            if proba is not None:
                out["confidence"][data.rows, data.cols] = proba.max(axis=1)
        if self.uncertainty_measure is not None:
            out["uncertainty"] = np.full((h, w), np.nan, dtype=np.float32)
            if proba is not None:
                out["uncertainty"][data.rows, data.cols] = uncertainty(proba, self.uncertainty_measure)
        return out
