"""The CLI frame: version, verbosity, and one place that maps errors to exit codes."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys

import pytest

from cfipt_cli import __version__
from cfipt_cli.cli.app import app, main
from cfipt_cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, DataError, InputNotFoundError


def run_main(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.fixture
def failing_command():
    """A throw-away subcommand raising whatever the test puts in `box`."""
    box: dict = {}

    def boom() -> None:
        raise box["error"]

    app.command("boom")(boom)
    yield box
    app.registered_commands.pop()


def test_version_prints_bare_version(capsys):
    assert run_main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (DataError("footprints do not overlap"), EXIT_ERROR),
        (InputNotFoundError("no such file x.tif"), EXIT_ERROR),
    ],
)
def test_library_errors_become_one_line(failing_command, capsys, error, code):
    failing_command["error"] = error
    assert run_main(["boom"]) == code
    err = capsys.readouterr().err
    assert err == f"cfipt: error: {error}\n"


def test_unknown_option_is_usage_error(capsys):
    assert run_main(["prepare", "--no-such-option"]) == EXIT_USAGE
    assert "No such option" in capsys.readouterr().err


def test_unknown_command_is_usage_error(capsys):
    assert run_main(["frobnicate"]) == EXIT_USAGE


def test_vv_shows_traceback_for_expected_errors(failing_command, capsys):
    failing_command["error"] = DataError("bad band")
    assert run_main(["-vv", "boom"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("cfipt: error: bad band\n")


def test_quiet_and_verbose_set_log_level(failing_command):
    failing_command["error"] = DataError("x")
    run_main(["-q", "boom"])
    assert logging.getLogger("cfipt").level == logging.ERROR
    run_main(["-v", "boom"])
    assert logging.getLogger("cfipt").level == logging.INFO


HEAVY_MODULES = ("torch", "rasterio", "open_clip", "geopandas", "scipy", "models.cfipt")


@pytest.mark.parametrize("command", ["", "prepare", "train", "predict", "evaluate"])
def test_help_is_fast_and_imports_no_heavy_module(command):
    """`cfipt [COMMAND] --help` renders the full option list (TrainConfig's fields, shared options)
    without importing torch, rasterio or the network: a stage is imported inside its command."""
    argv = [command, "--help"] if command else ["--help"]
    code = (
        "import sys\n"
        "from cfipt_cli.cli.app import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--help" in done.stdout and done.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/out/scene"),
            "Permission denied: /data/out/scene",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    ],
)
def test_os_errors_no_command_words_are_one_line(failing_command, capsys, error, phrase):
    failing_command["error"] = error
    assert run_main(["boom"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"cfipt: error: {phrase}") and err.count("\n") == 1 and "Traceback" not in err


def test_gdal_errors_are_one_line_with_their_cause(failing_command, capsys):
    from rasterio.errors import RasterioIOError

    error = RasterioIOError("Read failed. See previous exception for details.")
    error.__cause__ = RasterioIOError("TIFFReadEncodedTile() failed")
    failing_command["error"] = error
    assert run_main(["boom"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Read failed" in err and "TIFFReadEncodedTile() failed" in err


def test_ctrl_c_is_130_with_a_word(failing_command, capsys):
    failing_command["error"] = KeyboardInterrupt()
    assert run_main(["boom"]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "cfipt: error: interrupted; no output was written\n"


def test_an_error_quoting_text_with_line_breaks_stays_one_line(capsys):
    """A class name or GDAL message with line breaks must not break the one-line promise."""
    from cfipt_cli.cli.app import _error_line

    _error_line('no class name of the map ("Grass\nland", "Water\r\nbody", "Road\rway") in the reference\n')
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\r" not in err
    assert (
        err
        == 'cfipt: error: no class name of the map ("Grass\\nland", "Water\\nbody", "Road\\rway") in the reference\n'
    )
