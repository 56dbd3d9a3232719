"""The in-memory probe of `--co` options: GDAL's objections for one output, found before any work.

`probe_creation_options` writes a small in-memory GeoTIFF with the whole profile of an output (dtype,
band count, the user's options over the defaults), pixels like the output's included, and turns GDAL's
errors and its warnings about the options (e.g. `BLOCKXSIZE=100`, `PREDICTOR=3` on integers,
`PHOTOMETRIC=RGB` on one band, and what only encoding refuses: JPEG on float32, LERC with a negative
`MAX_Z_ERROR`) into a usage error (exit 2). The warnings are captured, so no raw `rasterio._env` log
line reaches stderr. It is the second step of `cfipt_cli.io.creation_options`, after the check against
GDAL's option list.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io.gdal import GTIFF, driver_doc_url, gdal_errors, gdal_message
from cfipt_cli.log import get_logger

log = get_logger(__name__)

PROBE_SIDE = 64  # pixels per side of the in-memory probe (enough for 16-multiple blocks to be checked)
GDAL_LOGGER = "rasterio._env"  # where rasterio sends GDAL's CPLE_* warnings


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured_gdal_warnings() -> Iterator[list[str]]:
    """Collect the GDAL warnings rasterio logs (instead of printing them) while the block runs."""
    logger = logging.getLogger(GDAL_LOGGER)
    collector = _Collector()
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers[:] = [collector]
    logger.propagate = False
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield collector.messages
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


def _clean(message: str, dataset_name: str) -> str:
    """GDAL's message without rasterio's `CPLE_xxx in ` prefix, its "See previous exception" and the
    probe's temporary file name."""
    text = re.sub(r"^CPLE_\w+ in ", "", str(message).strip())
    text = re.sub(r"(\w+ failed\. )?See previous exception for details\.?(: )?", "", text).strip() or text
    for name in (dataset_name, Path(dataset_name).name):
        if name:
            text = text.replace(f"{name}: ", "").replace(name, "the file")
    return text


def _blamed(message: str, user: Mapping[str, str]) -> list[str]:
    """The user's options that a GDAL message is about (all of them for 'creation option' messages)."""
    named = [n for n in user if re.search(rf"\b{re.escape(n)}\b", message, re.IGNORECASE)]
    if named:
        return named
    return list(user) if "creation option" in message.lower() else []


def _sample(profile: Mapping[str, Any], max_value: float | None) -> Any:
    """Pixels like those the output will hold: integers 0..max_value (the dtype's range when None),
    floats in [0, 1] with NaN nodata among them."""
    import numpy as np

    count, height, width = int(profile.get("count", 1)), int(profile["height"]), int(profile["width"])
    dtype = np.dtype(str(profile.get("dtype", "uint8")))
    ramp = np.arange(count * height * width, dtype=np.float64).reshape(count, height, width)
    if dtype.kind == "f":
        values = ramp / max(1, ramp.size - 1)
        values.reshape(-1)[::7] = np.nan
        return values.astype(dtype)
    top = float(max_value) if max_value is not None else float(np.iinfo(dtype).max)
    return np.mod(ramp, top + 1).astype(dtype)


def probe_creation_options(
    profile: Mapping[str, Any],
    user_options: Mapping[str, str] | None,
    what: str,
    max_value: float | None = None,
) -> None:
    """Write a small in-memory GeoTIFF with `profile`; GDAL's objections to the user's options -> exit 2.

    `profile` is the full rasterio profile to be written (the user's options merged over the defaults);
    `user_options` are the `--co` options alone (nothing is probed without any); `what` names the output
    in the message, e.g. "stack.tif (float32, 20 bands)"; `max_value` is the largest value an integer
    output holds (its class ids). The probe creates the file, writes pixels like the real ones
    (`_sample`) and closes it, so that what GDAL refuses only when encoding (JPEG on Float32, LERC with a
    negative MAX_Z_ERROR) is found here, before any work, not after the last block.
    """
    user = {str(k).upper(): str(v) for k, v in (user_options or {}).items()}
    if not user:
        return
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    small = dict(profile)
    small["width"] = max(1, min(int(profile.get("width", PROBE_SIDE)), PROBE_SIDE))
    small["height"] = max(1, min(int(profile.get("height", PROBE_SIDE)), PROBE_SIDE))
    shown = " ".join(f"{k}={v}" for k, v in user.items())
    url = driver_doc_url(str(profile.get("driver", GTIFF)))
    with captured_gdal_warnings() as messages, warnings.catch_warnings(), MemoryFile() as memory:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        probe_name = str(memory.name)
        try:
            with memory.open(**small) as probe:
                probe.write(_sample(small, max_value))
        except gdal_errors() as exc:
            detail = _clean(gdal_message(exc), probe_name)
            raise CfiptUsageError(
                f"--co {shown}: GDAL cannot write {what} with these creation options: {detail} (see {url})"
            ) from exc
    for message in messages:
        text = _clean(message, probe_name)
        blamed = _blamed(text, user)
        if blamed:
            options = " ".join(f"{k}={user[k]}" for k in blamed)
            raise CfiptUsageError(f"--co {options}: GDAL would ignore it for {what}: {text} (see {url})")
        log.debug("GDAL, creating %s: %s", what, text)
