"""``exact-online emulator``: run the local Exact Online emulator, with the options, help and errors of every other
command.

The emulator's options are defined once, by its own argument parser (``exact_online_sdk.emulator.cli_args``, also
behind ``python -m exact_online_sdk.emulator``). This module turns each of them into a Typer option with the same
name, help and default, lets Typer parse and check the command line, then hands the options back to the emulator's
``main`` as arguments: an option added to the parser appears here with nothing to copy.
"""

from __future__ import annotations

import argparse
import enum
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from ._help import Command

PROG = "exact-online emulator"


def register(app: typer.Typer) -> None:
    """Add the emulator command to ``app``."""
    from ..emulator.cli_args import build_parser

    parser = build_parser(PROG)
    app.command(
        "emulator",
        cls=Command,
        help=(parser.description or "Run the local Exact Online emulator.")
        + " Log in with its default app (docs/emulator.md), or take a token from POST /_emulator/tokens.",
    )(command_for(parser, _run))


def _run(argv: list[str]) -> None:
    from ..emulator.cli_args import main

    main(argv, prog=PROG)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def _value_type(action: argparse.Action) -> Any:
    """The type Typer parses: a choice (an Enum), an int or float, else the text the parser converts itself."""
    if action.choices:
        return enum.Enum(action.dest.title().replace("_", ""), {str(c): str(c) for c in action.choices}, type=str)
    if action.type in (int, float):
        return action.type
    return str


def _default(action: argparse.Action, kind: Any) -> Any:
    """The parser's default in the type Typer parses (a tuple default is shown as the text that gives it)."""
    default = action.default
    if default in (None, argparse.SUPPRESS, []):
        return None
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(str(default))
    if kind is str:
        return ",".join(map(str, default)) if isinstance(default, tuple | list) else str(default)
    return default


def _parameter(action: argparse.Action) -> inspect.Parameter:
    long_names = [s for s in action.option_strings if s.startswith("--")]
    short_names = [s for s in action.option_strings if not s.startswith("--")]
    text = action.help or ""
    if isinstance(action, argparse.BooleanOptionalAction):
        positive = [s for s in long_names if not s.startswith("--no-")]
        decls = [f"{positive[0]}/--no-{positive[0][2:]}", *short_names]
        return _keyword(action.dest, Annotated[bool, typer.Option(*decls, help=text)], bool(action.default))
    if action.nargs == 0:  # store_true and friends: a flag
        return _keyword(action.dest, Annotated[bool, typer.Option(*action.option_strings, help=text)], False)
    metavar = action.metavar if isinstance(action.metavar, str) else None
    kind = _value_type(action)
    option = typer.Option(*action.option_strings, help=text, metavar=metavar)
    if isinstance(action, argparse._AppendAction):
        return _keyword(action.dest, Annotated[list[kind] | None, option], None)  # type: ignore[valid-type]
    return _keyword(action.dest, Annotated[kind | None, option], _default(action, kind))


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _argv(actions: Sequence[argparse.Action], values: dict[str, Any]) -> list[str]:
    """The emulator's own command line for the options Typer parsed (only those given)."""
    argv: list[str] = []
    for action in actions:
        value = values.get(action.dest)
        name = next(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse.BooleanOptionalAction):
            if value != action.default:
                argv.append(name if value else f"--no-{name[2:]}")
        elif action.nargs == 0:
            if value:
                argv.append(name)
        elif isinstance(action, argparse._AppendAction):
            for item in value or ():
                argv += [name, str(getattr(item, "value", item))]
        elif value is not None:
            argv += [name, str(getattr(value, "value", value))]
    return argv


def command_for(parser: argparse.ArgumentParser, run: Callable[[list[str]], None]) -> Callable[..., None]:
    """A function Typer can register whose options are ``parser``'s; calling it passes them on to ``run``."""
    actions = _options(parser)
    parameters = [_parameter(a) for a in actions]

    def command(**values: Any) -> None:
        run(_argv(actions, values))

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = parser.description
    return command
