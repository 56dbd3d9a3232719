"""Ranks claim blocks dynamically: every block is computed once, a slow rank takes fewer, same map."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rasterio
import torch
from predict_helpers import PatchLinear, model_info

from cfipt_cli.predict.blocks import block_grid
from cfipt_cli.predict.parts import PartStore
from cfipt_cli.predict.pipeline import predict_scene
from cfipt_cli.predict.ranks import BlockClaims, Ranks
from cfipt_cli.predict.settings import PredictOutputs, PredictSettings

CPU = torch.device("cpu")


@dataclass
class ThreadRanks(Ranks):
    """Ranks of a job whose processes are threads of this one (barrier and sum across the threads)."""

    gate: threading.Barrier = field(default_factory=lambda: threading.Barrier(1))
    totals: list[list[int]] = field(default_factory=list)

    def barrier(self) -> None:
        self.gate.wait(timeout=60)

    def sum(self, values: list[int], device: torch.device) -> list[int]:
        self.totals.append(values)
        self.gate.wait(timeout=60)
        return [sum(column) for column in zip(*self.totals, strict=True)]


def _store(tmp_path: Path, n_blocks: int) -> tuple[PartStore, list]:
    store = PartStore(tmp_path / "map.tif")
    store.prepare({"job": 1})
    return store, block_grid(n_blocks, 1, 1)


def test_claims_are_exclusive_and_dropped_on_resume(tmp_path):
    store, _ = _store(tmp_path, 3)
    assert store.claim(1) and not store.claim(1) and store.claimed() == 1
    assert store.prepare({"job": 1}) == 0 and store.claimed() == 0  # a killed run's claims go
    assert store.claim(1)


def test_no_block_is_claimed_ahead_while_another_rank_could_have_none(tmp_path):
    store, blocks = _store(tmp_path, 3)
    claims = BlockClaims(store, blocks, world_size=4)  # fewer blocks than ranks
    assert claims(False) is blocks[0]
    assert claims(True) is None  # with a block in hand, leave the rest to the idle ranks
    other = BlockClaims(store, blocks, world_size=4)
    assert other(False) is blocks[1] and claims(False) is blocks[2] and other(False) is None
    many = BlockClaims(*_store(tmp_path / "many", 9), world_size=2)
    assert [many(k > 0).index for k in range(3)] == [0, 1, 2]  # plenty left: read ahead


def test_a_slow_rank_takes_fewer_blocks_and_the_map_is_the_same(make_scene, tmp_path):
    scene = make_scene(nodata_fraction=0.1, n_classes=3)
    model, info = PatchLinear(len(scene.band_layout), 5, 3), model_info(scene, 5)
    settings = PredictSettings(batch_size=16, block_size=4, prefetch=1)
    one = PredictOutputs(map_path=tmp_path / "one.tif", proba_path=tmp_path / "one_p.tif")
    predict_scene(scene, model, info, one, settings, CPU, model_id="m")

    two = PredictOutputs(map_path=tmp_path / "two.tif", proba_path=tmp_path / "two_p.tif")
    gate, totals = threading.Barrier(2), []
    done: dict[int, list[int]] = {0: [], 1: []}
    summaries: dict[int, dict] = {}
    errors: list[BaseException] = []

    rank_1_started = threading.Event()

    def rank(r: int) -> None:
        def on_block(index: int, _done: int, _total: int) -> None:
            done[r].append(index)
            if r == 1:
                rank_1_started.set()
                time.sleep(0.3)  # the slow rank
            else:  # wait (on a loaded machine too) until the slow rank has a block: it must take part
                rank_1_started.wait(timeout=60)

        try:
            ranks = ThreadRanks(r, 2, gate=gate, totals=totals)
            summaries[r] = predict_scene(
                scene, model, info, two, settings, CPU, model_id="m", ranks=ranks, on_block=on_block
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            gate.abort()

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    n_blocks = len(block_grid(scene.width, scene.height, 4))
    assert sorted(done[0] + done[1]) == list(range(n_blocks))  # each block once
    assert 1 <= len(done[1]) < len(done[0])  # the slow rank worked, and took fewer
    assert summaries[0]["blocks_computed"] == n_blocks
    for a, b in (("one.tif", "two.tif"), ("one_p.tif", "two_p.tif")):
        assert (tmp_path / a).read_bytes() == (tmp_path / b).read_bytes()
    with rasterio.open(tmp_path / "two.tif") as src:
        assert (src.read(1) > 0).any()


@pytest.mark.parametrize(
    ("gpus", "local_rank", "spec", "expected", "backend"),
    [
        (2, 1, "cuda", 1, "nccl"),
        (2, 0, "cuda:1", 0, "nccl"),  # LOCAL_RANK wins over --device cuda:N, with a warning
        (1, 1, "cuda", 0, "gloo"),  # 2 ranks, 1 GPU: they share it; NCCL would refuse
    ],
)
def test_torchrun_ranks_pick_their_gpu_backend_and_timeout(
    monkeypatch, gpus, local_rank, spec, expected, backend
):
    """The CUDA branch of `init_ranks`, on CPU: torch.cuda and torch.distributed stand-ins."""
    import datetime

    import torch.distributed as dist

    from cfipt_cli.compute import devices
    from cfipt_cli.predict import ranks as prediction

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    monkeypatch.setattr(devices, "resolve_device", lambda s: torch.device(s))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    calls: list[dict] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(dist, "get_rank", lambda: local_rank)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    warned: list[str] = []  # (the cfipt logger's level and propagation depend on earlier CLI tests)
    monkeypatch.setattr(prediction.log, "warning", lambda msg, *args: warned.append(msg % args))
    ranks, device = prediction.init_ranks(spec, timeout_s=5400)
    assert device == torch.device("cuda", expected)
    assert calls == [{"backend": backend, "timeout": datetime.timedelta(seconds=5400)}]
    assert ranks.collectives_on_cpu == (backend == "gloo")
    assert ranks.device_ids == ([expected] if backend == "nccl" else None)
    assert any("overridden" in w for w in warned) == (spec == "cuda:1")
    assert any("share" in w for w in warned) == (gpus == 1)
