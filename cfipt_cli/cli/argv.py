"""Command-line words before click parses them, and click's usage errors after: the CLI's two edges.

- `hoist_verbosity`: the root's counted -v/-q may also be typed after the subcommand
  (`cfipt train scene -q`); they are moved in front of it, where the root parser reads them.
- `usage_line`: click's usage error as one line naming the help to read.

Both need to know which options take values (so that `--label-field -q` stays a value); they ask the
click command tree built from the Typer app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

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


def hoist_verbosity(command_tree: Callable[[], Any], args: list[str]) -> list[str]:
    """Move -v/-q typed after the subcommand to before it, where the root parser reads them.

    Only exact verbosity tokens move (-v, -vv, --verbose, -q, --quiet...), never one that is the value of
    the option before it (`--label-field -q`), none after `--`, and none a subcommand defines itself.
    """
    if not any(_VERBOSITY.fullmatch(token) for token in args):
        return args
    group = command_tree()  # built only when a verbosity token is there to place
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


def usage_line(group: Any, exc: Any, args: Sequence[str]) -> str:
    """Click's usage error as one line: its message, and where to read the help."""
    message = " ".join(line.strip() for line in str(exc.format_message()).splitlines() if line.strip())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        path = ctx.command_path
    else:  # e.g. "Option '--out' requires an argument." comes without a context
        index = _subcommand_index(args, _value_counts(group.params))
        known = getattr(group, "commands", {})
        path = f"cfipt {args[index]}" if index is not None and args[index] in known else "cfipt"
    return f"{message} (see '{path} --help')"
