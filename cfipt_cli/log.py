"""Logging to stderr with counted verbosity (-v / -q), as rasterio's `rio` does."""

from __future__ import annotations

import logging
import sys
import warnings

LOGGER_NAME = "cfipt"

# verbosity = (#-v) - (#-q); warnings are shown by default.
_LEVELS = {-2: logging.CRITICAL, -1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def level_for(verbosity: int) -> int:
    """Logging level for a verbosity count, clamped to the known range."""
    return _LEVELS[max(-2, min(2, verbosity))]


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return f"{message}"


def configure_logging(verbosity: int) -> None:
    """Send cfipt's log records (and Python warnings) to stderr at the level `verbosity` asks for."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cfipt: %(levelname)s: %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level_for(verbosity))
    logger.propagate = False
    # One line per warning, without the file name and source line Python adds by default.
    warnings.formatwarning = _format_warning
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.handlers[:] = [handler]
    warnings_logger.setLevel(level_for(verbosity))
    warnings_logger.propagate = False
    if verbosity < 0:
        warnings.simplefilter("ignore")


def get_logger(name: str) -> logging.Logger:
    """A child of the cfipt logger, e.g. `get_logger(__name__)`."""
    return logging.getLogger(f"{LOGGER_NAME}.{name.rsplit('.', 1)[-1]}")
