"""The `cfipt` command: a Typer app over the library, with errors mapped to exit codes in one place."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any, NoReturn

import typer

from cfipt_cli import __version__
from cfipt_cli.cli.argv import hoist_verbosity, usage_line
from cfipt_cli.cli.commands import evaluate, predict, prepare, regularize, reproduce, sample, suggest, train
from cfipt_cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, CfiptError, from_model_error
from cfipt_cli.log import configure_logging

app = typer.Typer(
    name="cfipt",
    help="Land-cover maps from co-registered hyperspectral + LiDAR/SAR imagery with CF-IPT "
    "(prompt tuning of a frozen CLIP).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"verbosity": 0}


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        int,
        typer.Option(
            "-v", "--verbose", count=True, help="More output (repeatable; also after the subcommand)."
        ),
    ] = 0,
    quiet: Annotated[
        int,
        typer.Option(
            "-q", "--quiet", count=True, help="Less output (repeatable; also after the subcommand)."
        ),
    ] = 0,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    _state["verbosity"] = verbose - quiet
    configure_logging(verbose - quiet)


def _epilog(name: str) -> str:
    """The line under each subcommand's options: where the root's -v/-q may go."""
    return f"-v/--verbose and -q/--quiet (repeatable) may also follow the subcommand: cfipt {name} ... -q"


app.command("prepare", no_args_is_help=True, epilog=_epilog("prepare"))(prepare.command)
app.command("train", no_args_is_help=True, epilog=_epilog("train"))(train.command)
app.command("predict", no_args_is_help=True, epilog=_epilog("predict"))(predict.command)
app.command("evaluate", no_args_is_help=True, epilog=_epilog("evaluate"))(evaluate.command)
app.command("sample", no_args_is_help=True, epilog=_epilog("sample"))(sample.command)
app.command("suggest", no_args_is_help=True, epilog=_epilog("suggest"))(suggest.command)
app.command("regularize", no_args_is_help=True, epilog=_epilog("regularize"))(regularize.command)
app.command("reproduce", no_args_is_help=True, epilog=_epilog("reproduce"))(reproduce.command)


def _fail(exc: CfiptError) -> NoReturn:
    if _state["verbosity"] >= 2:
        logging.getLogger("cfipt").exception("traceback")
    _error_line(str(exc))
    sys.exit(exc.exit_code)


def _error_line(message: str) -> None:
    """The one line every failure prints; line breaks inside it (a class name, a path, a GDAL message)
    are shown escaped, so that the promise of one line holds for any text the message quotes."""
    flat = message.strip().replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")
    print(f"cfipt: error: {flat}", file=sys.stderr)


def _command_tree() -> Any:
    """The click group Typer builds from `app` (what the parser knows of every option)."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit codes: 0 success, 1 runtime or data error, 2 usage error."""
    args = hoist_verbosity(_command_tree, list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="cfipt", standalone_mode=False)
    except CfiptError as exc:
        _fail(exc)
    except typer.Abort:
        _error_line("aborted")
        sys.exit(EXIT_ERROR)
    except typer.TyperException as exc:  # parser errors: one line, exit 2 for usage
        if type(exc).__name__ == "NoArgsIsHelpError":  # `cfipt`, `cfipt predict`: the help, on stderr
            exc.show()  # type: ignore[attr-defined]
        else:
            _error_line(usage_line(_command_tree(), exc, args))
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))
    except KeyboardInterrupt:
        _error_line("interrupted; no output was written")
        sys.exit(EXIT_INTERRUPTED)
    except _runtime_failures() as exc:  # a disk, permission or GDAL failure the command did not word
        if _state["verbosity"] >= 2:
            logging.getLogger("cfipt").exception("traceback")
        _error_line(_failure_line(exc))
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # an error of the models package, in the CLI's terms; anything else is a bug
        converted = from_model_error(exc)
        if converted is None:
            raise
        _fail(converted)
    if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C into Exit(130), silently
        _error_line("interrupted; no output was written")
    # With standalone_mode=False, typer.Exit (e.g. --version) comes back as its exit code.
    sys.exit(result if isinstance(result, int) else 0)


def _runtime_failures() -> tuple[type[BaseException], ...]:
    """OSError, and GDAL's errors when rasterio was loaded (evaluated only when an exception arrives)."""
    failures: tuple[type[BaseException], ...] = (OSError,)
    if "rasterio" in sys.modules:
        from cfipt_cli.io.gdal import gdal_errors

        failures += gdal_errors()
    return failures


def _failure_line(exc: BaseException) -> str:
    """One line for an unexpected OS or GDAL failure: what failed, and that outputs are left intact."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    else:
        from cfipt_cli.io.gdal import gdal_message

        text = gdal_message(exc)
    return (
        f"{text}; nothing was written over an existing output (-vv shows the traceback): fix the cause "
        "and rerun"
    )
