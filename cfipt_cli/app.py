"""The `cfipt` command: a Typer app over the library, with errors mapped to exit codes in one place."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer

from cfipt_cli import __version__
from cfipt_cli.commands import evaluate, predict, prepare, train
from cfipt_cli.errors import EXIT_ERROR, EXIT_USAGE, CfiptError
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


def _error_line(message: str) -> None:
    print(f"cfipt: error: {message}", file=sys.stderr)


# The root's counted -v/-q, as tokens that may also be typed after the subcommand.
_VERBOSITY = re.compile(r"-v+|-q+|--verbose|--quiet")


def _value_counts(params: Iterable[Any]) -> dict[str, int]:
    """Option name -> how many following tokens it takes (0 for flags and counters)."""
    counts: dict[str, int] = {}
    for param in params:
        if getattr(param, "param_type_name", None) != "option":
            continue
        takes = 0 if param.is_flag or param.count else max(int(param.nargs), 1)
        for name in [*param.opts, *param.secondary_opts]:
            counts[name] = takes
    return counts


def _values_after(token: str, counts: dict[str, int]) -> int:
    """How many of the tokens after `token` are its values, the way click's parser reads them."""
    if token == "-" or not token.startswith("-"):
        return 0
    if token.startswith("--"):
        return 0 if "=" in token else counts.get(token, 0)
    for position, char in enumerate(token[1:], start=2):  # -ab: flags; -ofoo: -o with value foo
        takes = counts.get(f"-{char}", 0)
        if takes:
            return takes - 1 if position < len(token) else takes
    return 0


def _subcommand_index(args: Sequence[str], root_counts: dict[str, int]) -> int | None:
    """Index of the subcommand name in `args` (the first token that is no root option or its value)."""
    pending = 0
    for index, token in enumerate(args):
        if pending:
            pending -= 1
        elif token == "--":
            return None
        elif token.startswith("-") and token != "-":
            pending = _values_after(token, root_counts)
        else:
            return index
    return None


def _hoist_verbosity(args: list[str]) -> list[str]:
    """Move -v/-q typed after the subcommand to before it, where the root parser reads them.

    Only exact verbosity tokens move (-v, -vv, --verbose, -q, --quiet...), never one that is the value of
    the option before it (`--label-field -q`), none after `--`, and none a subcommand defines itself.
    """
    if not any(_VERBOSITY.fullmatch(token) for token in args):
        return args
    group = typer.main.get_command(app)
    index = _subcommand_index(args, _value_counts(group.params))
    command = getattr(group, "commands", {}).get(args[index]) if index is not None else None
    if index is None or command is None:
        return args
    counts = _value_counts(command.params)
    moved: list[str] = []
    kept: list[str] = []
    pending = 0
    rest = args[index + 1 :]
    for position, token in enumerate(rest):
        if pending:
            pending -= 1
        elif token == "--":
            kept.extend(rest[position:])
            break
        elif _VERBOSITY.fullmatch(token) and token[:2] not in counts and token not in counts:
            moved.append(token)
            continue
        else:
            pending = _values_after(token, counts)
        kept.append(token)
    return [*args[:index], *moved, args[index], *kept]


def _usage_line(exc: Any, args: Sequence[str]) -> str:
    """Click's usage error as one line: its message, and where to read the help."""
    message = " ".join(line.strip() for line in str(exc.format_message()).splitlines() if line.strip())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        path = ctx.command_path
    else:  # e.g. "Option '--out' requires an argument." comes without a context
        group = typer.main.get_command(app)
        index = _subcommand_index(args, _value_counts(group.params))
        known = getattr(group, "commands", {})
        path = f"cfipt {args[index]}" if index is not None and args[index] in known else "cfipt"
    return f"{message} (see '{path} --help')"


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit codes: 0 success, 1 runtime or data error, 2 usage error."""
    args = _hoist_verbosity(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="cfipt", standalone_mode=False)
    except CfiptError as exc:
        if _state["verbosity"] >= 2:
            logging.getLogger("cfipt").exception("traceback")
        _error_line(str(exc))
        sys.exit(exc.exit_code)
    except typer.Abort:
        _error_line("aborted")
        sys.exit(EXIT_ERROR)
    except typer.TyperException as exc:  # parser errors: one line, exit 2 for usage
        if type(exc).__name__ == "NoArgsIsHelpError":  # `cfipt`, `cfipt predict`: the help, on stderr
            exc.show()  # type: ignore[attr-defined]
        else:
            _error_line(_usage_line(exc, args))
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))
    except KeyboardInterrupt:
        _error_line("interrupted; no output was written")
        sys.exit(130)
    # With standalone_mode=False, typer.Exit (e.g. --version) comes back as its exit code.
    sys.exit(result if isinstance(result, int) else 0)
