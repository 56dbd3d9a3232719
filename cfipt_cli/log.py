"""Logging to stderr with counted verbosity (-v / -q), as rasterio's `rio` does."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

from cfipt_cli.errors import cli_terms

LOGGER_NAME = "cfipt"

# verbosity = (#-v) - (#-q); warnings are shown by default.
_LEVELS = {-2: logging.CRITICAL, -1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def level_for(verbosity: int) -> int:
    """Logging level for a verbosity count, clamped to the known range."""
    return _LEVELS[max(-2, min(2, verbosity))]


# cfipt_cli never calls warnings.warn (it logs); models does. A warning attributed to a cfipt_cli file
# comes from a library that points at its caller (matplotlib's warn_external, stacklevel).
_MODELS_CODE = os.sep + "models" + os.sep
_LIBRARY_HANDLER = "cfipt-library-records"


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return cli_terms(" ".join(f"{message}".split()))  # warnings of `models` name settings as Python does


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Python warnings as one log line: cfipt's own at WARNING, those of libraries (GeoPandas,
    matplotlib, ...) at INFO, so that they show with -v only instead of leaking onto stderr."""
    own = _MODELS_CODE in filename or category.__module__.split(".")[0] in ("models", LOGGER_NAME + "_cli")
    logger = logging.getLogger(f"{LOGGER_NAME}.warnings" if own else f"{LOGGER_NAME}.library")
    text = _format_warning(message, category, filename, lineno)
    logger.log(logging.WARNING if own else logging.INFO, "%s%s", "" if own else "(library) ", text)


def configure_logging(verbosity: int) -> None:
    """Send cfipt's log records (and Python warnings) to stderr at the level `verbosity` asks for.

    Libraries' own log records (matplotlib, pyogrio, ...) go to stderr only with -vv.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("cfipt: %(levelname)s: %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level_for(verbosity))
    logger.propagate = False
    # One line per warning, without the file name and source line Python adds by default.
    warnings.formatwarning = _format_warning
    warnings.showwarning = _show_warning
    if verbosity < 0:
        warnings.simplefilter("ignore")
    # Records of other libraries' loggers: to stderr with -vv only (else Python's last-resort handler
    # would print their warnings bare).
    library: logging.Handler = logging.NullHandler()
    if verbosity >= 2:
        library = logging.StreamHandler(sys.stderr)
        library.setFormatter(_OneLine("cfipt: debug: %(name)s: %(message)s"))
    library.set_name(_LIBRARY_HANDLER)
    root = logging.getLogger()  # other handlers (a host application's, pytest's) stay
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _LIBRARY_HANDLER] + [library]


class _OneLine(logging.Formatter):
    """A record's message on one line (a library's multi-line warning would break the one-line rule)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = " ".join(record.message.split("\n"))
        return super().formatMessage(record)


def get_logger(name: str) -> logging.Logger:
    """A child of the cfipt logger, e.g. `get_logger(__name__)`."""
    return logging.getLogger(f"{LOGGER_NAME}.{name.rsplit('.', 1)[-1]}")
