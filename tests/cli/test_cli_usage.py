"""Usage errors as one line, -v/-q after the subcommand, and consistent help placeholders."""

from __future__ import annotations

import logging
import re
from typing import Annotated

import pytest
import typer

from cfipt_cli.cli.app import _command_tree, app, main
from cfipt_cli.cli.argv import hoist_verbosity
from cfipt_cli.errors import EXIT_ERROR, EXIT_USAGE


def run_main(argv):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    return info.value.code


@pytest.fixture
def probe():
    """Throw-away subcommands recording what they got: `probe [-n/--name VALUE] [REST]...`, `own-quiet [-q]`."""
    box: dict = {}

    def command(
        name: Annotated[str, typer.Option("--name", "-n")] = "",
        rest: Annotated[list[str] | None, typer.Argument()] = None,
    ) -> None:
        box.update(name=name, rest=rest or [], level=logging.getLogger("cfipt").level)

    def own_quiet(quiet: Annotated[bool, typer.Option("-q", "--quiet")] = False) -> None:
        box.update(quiet=quiet)

    app.command("probe")(command)
    app.command("own-quiet")(own_quiet)
    yield box
    del app.registered_commands[-2:]


@pytest.mark.parametrize(
    ("argv", "message", "where"),
    [
        (["predict", "scene"], "Missing option '--out' / '-o'.", "cfipt predict"),
        (
            ["predict", "scene", "--out", "m.tif", "--block-size", "0"],
            "Invalid value for '--block-size': ",
            "cfipt predict",
        ),
        (["prepare", "--no-such-option"], "No such option: --no-such-option", "cfipt prepare"),
        (["predict", "scene", "--out"], "Option '--out' requires an argument.", "cfipt predict"),
        (["train", "scene", "--epochs", "many"], "Invalid value for '--epochs': ", "cfipt train"),
        (["frobnicate"], "No such command 'frobnicate'.", "cfipt"),
    ],
)
def test_usage_errors_are_one_line(capsys, argv, message, where):
    assert run_main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 1 and captured.err.endswith("\n")
    assert lines[0].startswith(f"cfipt: error: {message}")
    assert lines[0].endswith(f"(see '{where} --help')")
    assert "Usage:" not in captured.err and "Try '" not in captured.err


@pytest.mark.parametrize(
    "argv", [["--help"], *([name, "--help"] for name in ("prepare", "train", "predict"))]
)
def test_help_still_prints_help_and_exits_0(capsys, argv):
    assert run_main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Usage: cfipt") and captured.err == ""


@pytest.mark.parametrize("argv", [[], ["predict"], ["evaluate"]])
def test_no_arguments_show_the_help(capsys, argv):
    assert run_main(argv) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("Usage: cfipt")


def test_quiet_after_the_subcommand_is_the_root_option(capsys, tmp_path):
    logging.getLogger("cfipt").setLevel(logging.NOTSET)
    argv = ["prepare", "--hsi", tmp_path / "missing.tif", "--lidar", tmp_path / "missing2.tif", "-q"]
    assert run_main(argv) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("cfipt: error: ") and err.count("\n") == 1 and "does not exist" in err
    assert logging.getLogger("cfipt").level == logging.ERROR


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["probe", "x", "-q"], logging.ERROR),
        (["probe", "-v", "x"], logging.INFO),
        (["probe", "--quiet", "x", "--quiet"], logging.CRITICAL),
        (["-v", "probe", "x", "-v"], logging.DEBUG),
    ],
)
def test_verbosity_after_the_subcommand_works_like_before_it(probe, argv, level):
    assert run_main(argv) == 0
    assert probe["level"] == level and probe["rest"] == ["x"]


def test_an_option_value_that_looks_like_quiet_stays_a_value(probe):
    logging.getLogger("cfipt").setLevel(logging.NOTSET)
    assert run_main(["probe", "--name", "-q"]) == 0
    assert probe["name"] == "-q" and probe["level"] != logging.ERROR
    assert run_main(["probe", "-n", "-q", "-v"]) == 0
    assert probe["name"] == "-q" and probe["level"] == logging.INFO
    assert run_main(["probe", "--", "-q"]) == 0
    assert probe["rest"] == ["-q"]


def test_a_subcommand_own_quiet_is_not_moved(probe):
    assert run_main(["own-quiet", "-q"]) == 0
    assert probe["quiet"] is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "s", "-q"], ["-q", "train", "s"]),
        (["-v", "train", "s", "-vv", "--out", "-q"], ["-v", "-vv", "train", "s", "--out", "-q"]),
        (["prepare", "--label-field", "-q", "--verbose"], ["--verbose", "prepare", "--label-field", "-q"]),
        (["prepare", "--label-field=-q", "-q"], ["-q", "prepare", "--label-field=-q"]),
        (["prepare", "-o-q", "-q"], ["-q", "prepare", "-o-q"]),  # -o with its value attached
        (["prepare", "-ao", "-q"], ["prepare", "-ao", "-q"]),  # -a flag, then -o taking -q
        (["evaluate", "m.tif", "-qx"], ["evaluate", "m.tif", "-qx"]),  # not a verbosity token
        (["unknown", "-q"], ["unknown", "-q"]),
    ],
)
def test_hoist_verbosity(argv, expected):
    assert hoist_verbosity(_command_tree, argv) == expected


@pytest.mark.parametrize("name", ["prepare", "train", "predict", "evaluate"])
def test_help_mentions_verbosity_after_the_subcommand(capsys, name):
    assert run_main([name, "--help"]) == 0
    assert "-q/--quiet" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["prepare", "train", "predict", "suggest", "regularize"])
def test_help_placeholders_are_upper_case_words(capsys, name):
    """Placeholders are upper-case words (FILE, N, NAME=VALUE), a word with its literal alternative
    (N|all), or the literal choices (4|8)."""
    assert run_main([name, "--help"]) == 0
    out = capsys.readouterr().out
    usage = out.splitlines()[0]
    assert "scene" not in usage  # the positional argument is SCENE
    options = out.split("\nOptions:\n", 1)[1]
    metavars = re.findall(r"^\s+(?:-\w, )?--[\w-]+ (\S+)", options, flags=re.MULTILINE)
    assert metavars and all(
        m == "/" or re.fullmatch(r"[A-Z]+(=[A-Z]+|\|[a-z]+)?|\d+(\|\d+)+", m) for m in metavars
    ), metavars
