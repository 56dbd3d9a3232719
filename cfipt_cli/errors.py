"""The one exception family of cfipt.

Every expected failure raises a `CfiptError` subclass; the CLI catches them in one place
(`cfipt_cli.cli.app.main`) and turns them into one line on stderr and an exit code. Each subclass also
inherits the builtin it refines, so library callers can catch `FileNotFoundError`, `ValueError`, ...
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class CfiptError(Exception):
    """Base of every error cfipt reports to a user. `exit_code` is what the CLI exits with."""

    exit_code = EXIT_ERROR


class CfiptUsageError(CfiptError, ValueError):
    """Options that contradict each other or values out of range: exit code 2."""

    exit_code = EXIT_USAGE


class InputNotFoundError(CfiptError, FileNotFoundError):
    """An input file or folder does not exist."""


class DataError(CfiptError, ValueError):
    """Input data that cannot be used: corrupt raster, no overlap, missing field, empty classes..."""


class OutputExistsError(CfiptError, FileExistsError):
    """The output exists and `--overwrite` was not given."""


class OutputBusyError(CfiptError, BlockingIOError):
    """Another cfipt run holds the lock of this output (see `cfipt_cli.io.outputs.locked_outputs`)."""


class OutputNotWritableError(CfiptError, PermissionError):
    """The folder of an output cannot be written (read-only, no permission, not a folder)."""


class InterruptedRun(CfiptError):
    """Ctrl-C: the message says what the run leaves behind (exit code 130)."""

    exit_code = EXIT_INTERRUPTED


class DeviceUnavailableError(CfiptError, RuntimeError):
    """A device (e.g. CUDA) was asked for but is not available."""


class WeightsUnavailableError(CfiptError, RuntimeError):
    """Pretrained backbone weights could not be obtained (offline, unknown tag, bad file)."""


class CheckpointError(CfiptError, ValueError):
    """A model folder or checkpoint is corrupt, foreign or does not match the data."""


class NotBuiltYetError(CfiptError, NotImplementedError):
    """A command that exists in the CLI frame but is not implemented yet."""


# ------------------------------------------------------------------- errors of the models package
# `models` stands alone: its errors (models/errors.py) name model settings as Python does
# (`pretrained='openai'`); the CLI reports them through the classes above, with its option names.
MODEL_ERRORS: dict[str, type[CfiptError]] = {
    "ModelSettingError": CfiptUsageError,
    "ModelInputError": DataError,
    "WeightsUnavailableError": WeightsUnavailableError,
    "WeightsMismatchError": CheckpointError,
}
SETTING_FLAGS = {"pretrained": "--pretrained", "clip_model": "--clip"}


def cli_terms(text: str) -> str:
    """A message of `models` in the CLI's terms: `pretrained=None` -> `--pretrained none`,
    `pretrained='x'` -> `--pretrained 'x'`, `clip_model=...` -> `--clip ...`."""
    text = text.replace("pretrained=None", "--pretrained none")
    for setting, flag in SETTING_FLAGS.items():
        text = re.sub(rf"(?<![\w-]){setting}=", f"{flag} ", text)
    return text


def from_model_error(exc: BaseException) -> CfiptError | None:
    """The CLI error for an error of the models package (None for any other exception).

    Matched by class name and module, so that this module, imported by `cfipt --help`, needs no torch.
    """
    for cls in type(exc).__mro__:
        if cls.__module__ == "models.errors" and cls.__name__ in MODEL_ERRORS:
            converted = MODEL_ERRORS[cls.__name__](cli_terms(str(exc)))
            converted.__cause__ = exc
            return converted
    return None
